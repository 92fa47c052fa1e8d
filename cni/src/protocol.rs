//! Agent wire protocol v1: the JSON bodies `tether-cni` and `tether-agent` exchange over
//! HTTP/1.1 on the agent's Unix socket (see DESIGN.md, "Agent wire protocol v1").
//!
//! These types are shared by both sides so the protocol cannot drift between them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Path of the ADD query.
pub const ADD_PATH: &str = "/v1/cni/add";
/// Path of the health probe; 200 when the agent can serve.
pub const HEALTHZ_PATH: &str = "/v1/healthz";
/// The agent's socket when nothing else is configured.
pub const DEFAULT_SOCKET: &str = "/run/tether/agent.sock";
/// Smallest MTU a profile may set (the IPv4 minimum datagram size).
pub const MTU_MIN: u32 = 576;
/// Largest MTU a profile may set (jumbo frames).
pub const MTU_MAX: u32 = 9000;

/// `POST /v1/cni/add` request: which pod is being attached. Unknown fields are ignored, so a
/// newer plugin can talk to an older agent during a rolling upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddRequest {
    /// `CNI_CONTAINERID` of the sandbox.
    pub container_id: String,
    /// `CNI_IFNAME` inside the sandbox.
    pub ifname: String,
    /// `CNI_NETNS` of the sandbox.
    pub netns: String,
    /// `K8S_POD_NAMESPACE` from `CNI_ARGS`.
    pub pod_namespace: String,
    /// `K8S_POD_NAME` from `CNI_ARGS`.
    pub pod_name: String,
    /// `K8S_POD_UID` from `CNI_ARGS`; empty when the runtime did not pass it.
    #[serde(default)]
    pub pod_uid: String,
}

/// `POST /v1/cni/add` 200 response: the effective profile for the pod.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddResponse {
    /// The NetworkProfile that won, or `None` when none matches.
    pub profile: Option<ProfileRef>,
    /// Traffic shaping to apply, if the profile sets any.
    pub bandwidth: Option<Bandwidth>,
    /// MTU of the pod's interface, if the profile sets one.
    pub mtu: Option<u32>,
    /// Allow-listed `net.*` sysctls to set inside the pod's network namespace.
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    /// Where the agent's answer came from.
    pub source: Source,
}

/// Name and generation of the NetworkProfile an answer was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileRef {
    /// `metadata.name` of the profile (cluster-scoped).
    pub name: String,
    /// `metadata.generation` the answer reflects.
    pub generation: i64,
}

/// Traffic shaping in the units of the `bandwidth` CNI plugin: rates in bits per second,
/// bursts in bits. A direction is shaped only when both its rate and burst are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bandwidth {
    /// Rate of traffic into the pod, bits/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_rate: Option<u64>,
    /// Burst of traffic into the pod, bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_burst: Option<u64>,
    /// Rate of traffic out of the pod, bits/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_rate: Option<u64>,
    /// Burst of traffic out of the pod, bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_burst: Option<u64>,
}

/// Where the agent found the data behind an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The agent's live watch of the API server.
    Live,
    /// The agent's disk cache, while the API server is unreachable.
    Cache,
    /// Nothing known about the pod: no profile applies.
    #[default]
    Default,
}

/// `GET /v1/healthz` 200 response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Always true in a 200: the agent can answer ADD queries.
    pub ok: bool,
    /// Whether every watch has listed live in this process (else answers come from the
    /// disk cache or defaults).
    pub live: bool,
}

/// Body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What was wrong with the request.
    pub error: String,
}

/// Why an [`AddResponse`] cannot be applied as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InvalidResponse {
    /// The MTU is outside [`MTU_MIN`]..=[`MTU_MAX`].
    #[error("mtu {0} is outside {MTU_MIN}..={MTU_MAX}")]
    Mtu(u32),
    /// A direction has a rate without a burst, or the reverse, or a zero value.
    #[error("bandwidth {0}: rate and burst must both be set and non-zero")]
    Bandwidth(&'static str),
    /// A sysctl key that does not name a `net.*` sysctl.
    #[error("sysctl {0:?} is not a net.* key")]
    Sysctl(String),
    /// Settings without the profile they came from.
    #[error("settings without a profile")]
    SettingsWithoutProfile,
}

impl AddResponse {
    /// Whether the answer asks for anything to be applied.
    pub fn has_settings(&self) -> bool {
        self.bandwidth.is_some() || self.mtu.is_some() || !self.sysctls.is_empty()
    }

    /// Checks what the plugin would hand to `bandwidth` and `tuning`: an agent answering
    /// nonsense must not reach the kernel.
    pub fn validate(&self) -> Result<(), InvalidResponse> {
        if self.profile.is_none() && self.has_settings() {
            return Err(InvalidResponse::SettingsWithoutProfile);
        }
        if let Some(mtu) = self.mtu
            && !(MTU_MIN..=MTU_MAX).contains(&mtu)
        {
            return Err(InvalidResponse::Mtu(mtu));
        }
        if let Some(bw) = &self.bandwidth {
            check_direction("ingress", bw.ingress_rate, bw.ingress_burst)?;
            check_direction("egress", bw.egress_rate, bw.egress_burst)?;
        }
        if let Some(key) = self.sysctls.keys().find(|k| !is_net_sysctl_key(k)) {
            return Err(InvalidResponse::Sysctl(key.clone()));
        }
        Ok(())
    }
}

fn check_direction(
    direction: &'static str,
    rate: Option<u64>,
    burst: Option<u64>,
) -> Result<(), InvalidResponse> {
    match (rate, burst) {
        (None, None) => Ok(()),
        (Some(r), Some(b)) if r > 0 && b > 0 => Ok(()),
        _ => Err(InvalidResponse::Bandwidth(direction)),
    }
}

/// Whether `key` names a sysctl under `net.` in dotted form, with nothing that could
/// escape `/proc/sys/net` once the dots become slashes.
pub fn is_net_sysctl_key(key: &str) -> bool {
    key.strip_prefix("net.").is_some_and(|rest| {
        !rest.is_empty()
            && rest.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn camera() -> AddResponse {
        serde_json::from_value(json!({
            "profile": {"name": "camera", "generation": 4},
            "bandwidth": {"ingressRate": 10_000_000, "ingressBurst": 1_000_000, "egressRate": 5_000_000, "egressBurst": 512_000},
            "mtu": 1400,
            "sysctls": {"net.ipv4.tcp_keepalive_time": "60"},
            "source": "live"
        }))
        .unwrap()
    }

    #[test]
    fn the_design_examples_parse() {
        let request: AddRequest = serde_json::from_value(json!({
            "containerId": "c1", "ifname": "eth0", "netns": "/var/run/netns/x",
            "podNamespace": "ns", "podName": "p", "podUid": "u", "fromANewerPlugin": true
        }))
        .unwrap();
        assert_eq!(request.pod_name, "p");
        camera().validate().unwrap();
        let none: AddResponse = serde_json::from_value(
            json!({"profile": null, "bandwidth": null, "mtu": null, "sysctls": {}, "source": "default"}),
        )
        .unwrap();
        assert!(!none.has_settings());
        none.validate().unwrap();
    }

    #[test]
    fn nonsense_is_refused() {
        let mut bad = camera();
        bad.mtu = Some(100);
        assert_eq!(bad.validate(), Err(InvalidResponse::Mtu(100)));
        let mut bad = camera();
        bad.bandwidth = Some(Bandwidth {
            ingress_rate: Some(1),
            ..Bandwidth::default()
        });
        assert_eq!(bad.validate(), Err(InvalidResponse::Bandwidth("ingress")));
        let mut bad = camera();
        bad.bandwidth = Some(Bandwidth {
            egress_rate: Some(0),
            egress_burst: Some(5),
            ..Bandwidth::default()
        });
        assert_eq!(bad.validate(), Err(InvalidResponse::Bandwidth("egress")));
        let mut bad = camera();
        bad.profile = None;
        assert_eq!(bad.validate(), Err(InvalidResponse::SettingsWithoutProfile));
        for key in [
            "kernel.panic",
            "net.",
            "net..x",
            "net.ipv4/../../kernel",
            "net.ipv4.a b",
            "net.ipv4.x.",
        ] {
            let mut bad = camera();
            bad.sysctls = BTreeMap::from([(key.to_string(), "1".to_string())]);
            assert_eq!(
                bad.validate(),
                Err(InvalidResponse::Sysctl(key.into())),
                "{key}"
            );
        }
        assert!(is_net_sysctl_key("net.ipv4.conf.eth0.forwarding"));
        assert!(is_net_sysctl_key("net.core.somaxconn"));
    }
}
