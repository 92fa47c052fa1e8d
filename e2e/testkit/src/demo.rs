//! The demo NetworkProfile: the one profile the sim demo, the kind demo and the scenarios
//! apply, so that what a user sees in the demo is what the suite proves.

use serde_json::{Value, json};

/// Name of the demo profile.
pub const PROFILE_NAME: &str = "camera";
/// The label its pods carry.
pub const POD_LABEL: (&str, &str) = ("app", "camera");
/// The node pool it selects.
pub const POOL: &str = "hangzhou";
/// Namespace of the demo's pods.
pub const NAMESPACE: &str = "default";

/// The profile's spec: pods `app=camera` in pool `hangzhou` get 10 Mbit/s in, 5 Mbit/s out,
/// MTU 1400 and a shorter TCP keepalive.
pub fn profile_spec() -> Value {
    json!({
        "priority": 10,
        "podSelector": {"matchLabels": {POD_LABEL.0: POD_LABEL.1}},
        "nodeSelector": {"matchLabels": {"apps.openyurt.io/nodepool": POOL}},
        "bandwidth": {"ingressRate": "10M", "ingressBurst": "1M", "egressRate": "5M", "egressBurst": "512k"},
        "mtu": 1400,
        "sysctls": {"net.ipv4.tcp_keepalive_time": "60"}
    })
}

/// The whole NetworkProfile object.
pub fn profile() -> Value {
    json!({
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "NetworkProfile",
        "metadata": {"name": PROFILE_NAME},
        "spec": profile_spec(),
    })
}

/// What the profile means in the kernel, for assertions: bits per second and MTU.
pub mod expected {
    /// Ingress rate, bits/s (`10M`).
    pub const INGRESS_BITS: u64 = 10_000_000;
    /// Egress rate, bits/s (`5M`).
    pub const EGRESS_BITS: u64 = 5_000_000;
    /// MTU.
    pub const MTU: u64 = 1400;
    /// The sysctl and its value.
    pub const SYSCTL: (&str, &str) = ("net.ipv4.tcp_keepalive_time", "60");
}
