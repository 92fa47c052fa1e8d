//! The `note` of the Event the agent records when a pod gets a profile. People read it with
//! `kubectl describe pod`, so it is plain words and units: rates with k/M/G/T prefixes, only the
//! settings the profile has, and the generation the e2e scenarios match on.

use cni::protocol::{AddResponse, ProfileRef};

/// What was applied, e.g. `profile camera (generation 4): 10 Mbit/s in, 5 Mbit/s out, MTU 1400,
/// 1 sysctl`. Absent settings are left out; a profile with none says `no settings`.
pub fn describe(profile: &ProfileRef, answer: &AddResponse) -> String {
    let mut parts = Vec::new();
    if let Some(bw) = &answer.bandwidth {
        if let Some(bits) = bw.ingress_rate {
            parts.push(format!("{} in", rate(bits)));
        }
        if let Some(bits) = bw.egress_rate {
            parts.push(format!("{} out", rate(bits)));
        }
    }
    if let Some(mtu) = answer.mtu {
        parts.push(format!("MTU {mtu}"));
    }
    match answer.sysctls.len() {
        0 => {}
        1 => parts.push("1 sysctl".to_owned()),
        n => parts.push(format!("{n} sysctls")),
    }
    let settings = if parts.is_empty() {
        "no settings".to_owned()
    } else {
        parts.join(", ")
    };
    format!(
        "profile {} (generation {}): {settings}",
        profile.name, profile.generation
    )
}

/// A rate in bits per second with the largest decimal prefix it reaches, exactly: `1500000` is
/// `1.5 Mbit/s`, `999` is `999 bit/s`, `1048576` (`1Mi`) is `1.048576 Mbit/s`.
pub fn rate(bits_per_second: u64) -> String {
    const PREFIXES: [(u64, &str); 4] = [
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
        (1_000, "k"),
    ];
    let (scale, prefix) = PREFIXES
        .into_iter()
        .find(|(scale, _)| bits_per_second >= *scale)
        .unwrap_or((1, ""));
    let (whole, fraction) = (bits_per_second / scale, bits_per_second % scale);
    if fraction == 0 {
        return format!("{whole} {prefix}bit/s");
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{} {prefix}bit/s", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests;
