//! `result_conversion`: a CNI result (a `prevResult`) read at one version and written at
//! another, as `tether-cni` passes it on to its delegates and back to the runtime.
//!
//! Input: byte 0 picks the version the input claims (`cniVersion` is set to it unless the
//! byte's high bit is set, which keeps the input's own), byte 1 the version to convert to;
//! the rest is the JSON.
//!
//! Invariants, for a result `CniResult::from_value` accepts and every version `v`:
//! - `to_value(v)` has `cniVersion: v` and reads back; read back, it is the result itself when
//!   `v` is 1.1.0 (the superset) and the result without the 1.1.0-only fields (interface
//!   `mtu` and the other new interface and route keys) below it: interfaces, IPs, gateways,
//!   interface indices, routes and DNS survive every version;
//! - writing the read-back result at `v` again gives the same JSON (conversion is idempotent);
//! - `ips[].version` is present, and the address's family, exactly below 1.0.0;
//! - converting through the second version and then to the first equals converting directly
//!   when the second is 1.1.0, and equals the stripped result's conversion otherwise.

use cni::spec::{CniResult, CniVersion};
use serde_json::Value;

use crate::input::mode;

/// Runs one input; panics on a broken invariant.
pub fn result_conversion(data: &[u8]) {
    let Some((from, rest)) = mode(data) else {
        return;
    };
    let Some((to, json)) = mode(rest) else { return };
    let Ok(mut value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let from_version = version(from);
    let to_version = version(to);
    if from & 0x80 == 0
        && let Some(obj) = value.as_object_mut()
    {
        obj.insert("cniVersion".into(), from_version.as_str().into());
    }
    let Ok(result) = CniResult::from_value(value) else {
        return;
    };
    let stripped = strip(&result);
    for v in CniVersion::ALL {
        let out = result.to_value(v);
        assert_eq!(out["cniVersion"], v.as_str());
        check_ip_versions(&out, v);
        let back = CniResult::from_value(out.clone())
            .unwrap_or_else(|e| panic!("{v} output does not read back: {e}: {out}"));
        let expected = if v == CniVersion::V1_1_0 {
            &result
        } else {
            &stripped
        };
        assert_eq!(&back, expected, "round trip through {v}");
        assert_eq!(back.to_value(v), out, "second conversion to {v}");
    }
    let via = CniResult::from_value(result.to_value(to_version)).expect("checked above");
    let expected = if to_version == CniVersion::V1_1_0 {
        result.to_value(from_version)
    } else {
        stripped.to_value(from_version)
    };
    assert_eq!(
        via.to_value(from_version),
        expected,
        "{from_version} -> {to_version} -> {from_version}"
    );
}

fn version(byte: u8) -> CniVersion {
    CniVersion::ALL[usize::from(byte & 0x7f) % CniVersion::ALL.len()]
}

/// The result as a version before 1.1.0 keeps it.
fn strip(result: &CniResult) -> CniResult {
    let mut out = result.clone();
    for i in &mut out.interfaces {
        i.mtu = None;
        i.v1_1.clear();
    }
    for r in &mut out.routes {
        r.v1_1.clear();
    }
    out
}

fn check_ip_versions(out: &Value, v: CniVersion) {
    for ip in out["ips"].as_array().into_iter().flatten() {
        let address = ip["address"].as_str().unwrap_or_default();
        let family = match address.split_once('/').map(|(a, _)| a.parse()) {
            Some(Ok(std::net::IpAddr::V4(_))) => "4",
            Some(Ok(std::net::IpAddr::V6(_))) => "6",
            _ => panic!("{v} output has ips[].address {address:?}"),
        };
        if v < CniVersion::V1_0_0 {
            assert_eq!(ip["version"], family, "{v}: {ip}");
        } else {
            assert!(ip.get("version").is_none(), "{v}: {ip}");
        }
    }
}
