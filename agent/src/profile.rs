//! The `NetworkProfile` custom resource (`tether.dev/v1alpha1`, cluster-scoped) and the agent's
//! own validation of it.
//!
//! The API server validates with the schema generated here (ranges, patterns, CEL rules); the
//! agent validates again in [`compile`] because a profile may predate the schema, come from a
//! disk cache, or be served by an API double. An invalid profile is reported and ignored.

use std::collections::BTreeMap;

use cni::protocol::{Bandwidth, MTU_MAX, MTU_MIN, is_net_sysctl_key};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::quantity::{QuantityError, parse_bits};
use crate::selector::{Selector, SelectorError};

/// The sysctls a profile may set inside a pod's network namespace: Kubernetes' "safe",
/// network-namespaced sysctls plus `net.core.somaxconn`.
pub const ALLOWED_SYSCTLS: &[&str] = &[
    "net.core.somaxconn",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ping_group_range",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_wmem",
];

/// Largest priority a profile may carry (either sign).
pub const PRIORITY_LIMIT: i32 = 1_000_000;

const QUANTITY_PATTERN: &str = r"^[1-9][0-9]*(k|M|G|T|Ki|Mi|Gi|Ti)?$";
const SYSCTL_VALUE_PATTERN: &str = r"^[0-9]+([ \t][0-9]+)*$";

/// Desired network settings for the pods a profile selects.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tether.dev",
    version = "v1alpha1",
    kind = "NetworkProfile",
    plural = "networkprofiles",
    shortname = "netprof",
    status = "NetworkProfileStatus",
    printcolumn = r#"{"name":"Priority","type":"integer","jsonPath":".spec.priority"}"#,
    printcolumn = r#"{"name":"MTU","type":"integer","jsonPath":".spec.mtu"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct NetworkProfileSpec {
    /// Higher wins when several profiles select a pod; ties go to the name first in ascending order.
    #[serde(default)]
    #[schemars(range(min = -1_000_000, max = 1_000_000))]
    pub priority: i32,
    /// Pods this profile applies to; empty selects every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// Nodes on which this profile applies; empty selects every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<LabelSelector>,
    /// Traffic shaping, as Kubernetes-style quantities of bits (`10M`, `512k`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<BandwidthSpec>,
    /// MTU of the pod's interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 576, max = 9000))]
    pub mtu: Option<u32>,
    /// Allow-listed `net.*` sysctls to set in the pod's network namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "sysctls_schema")]
    pub sysctls: BTreeMap<String, String>,
}

/// Bandwidth limits; a direction needs both its rate (bits/s) and its burst (bits).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.ingressRate) == has(self.ingressBurst)", "message": "ingressRate and ingressBurst go together"},
    {"rule": "has(self.egressRate) == has(self.egressBurst)", "message": "egressRate and egressBurst go together"}
]))]
pub struct BandwidthSpec {
    /// Rate of traffic into the pod, bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub ingress_rate: Option<String>,
    /// Burst of traffic into the pod, bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub ingress_burst: Option<String>,
    /// Rate of traffic out of the pod, bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub egress_rate: Option<String>,
    /// Burst of traffic out of the pod, bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub egress_burst: Option<String>,
}

/// Observed state: one entry per node, each written only by that node's agent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NetworkProfileStatus {
    /// Per-node entries, a list-map keyed by `nodeName`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["nodeName"]))]
    pub nodes: Vec<NodeStatus>,
}

/// What one node's agent observed for a profile.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// The node this entry belongs to.
    pub node_name: String,
    /// Pods on the node whose effective profile this is.
    #[schemars(range(min = 0))]
    pub matched_pods: u32,
    /// `metadata.generation` of the profile the agent last resolved against.
    pub observed_generation: i64,
}

fn sysctls_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let allowed = ALLOWED_SYSCTLS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    schemars::json_schema!({
        "type": "object",
        "maxProperties": ALLOWED_SYSCTLS.len(),
        "additionalProperties": {"type": "string", "maxLength": 64, "pattern": SYSCTL_VALUE_PATTERN},
        "x-kubernetes-validations": [{
            "rule": format!("self.all(k, k in [{allowed}])"),
            "message": "only allow-listed net.* sysctls may be set"
        }]
    })
}

/// Why a profile is ignored by the agent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProfileError {
    /// The priority is outside `-PRIORITY_LIMIT..=PRIORITY_LIMIT`.
    #[error("priority {0} is outside ±{PRIORITY_LIMIT}")]
    Priority(i32),
    /// The MTU is outside the range the plugin accepts.
    #[error("mtu {0} is outside {MTU_MIN}..={MTU_MAX}")]
    Mtu(u32),
    /// A bandwidth quantity does not parse.
    #[error("bandwidth {field}: {source}")]
    Quantity {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        source: QuantityError,
    },
    /// A direction has a rate without a burst or the reverse.
    #[error("bandwidth {0}: rate and burst must both be set")]
    HalfDirection(&'static str),
    /// A sysctl that is not allow-listed.
    #[error("sysctl {0:?} is not allow-listed")]
    Sysctl(String),
    /// A sysctl value that is not a list of integers.
    #[error("sysctl {key:?} has value {value:?}, want integers separated by spaces")]
    SysctlValue {
        /// The sysctl.
        key: String,
        /// Its rejected value.
        value: String,
    },
    /// A selector the agent cannot evaluate.
    #[error("{which}: {source}")]
    Selector {
        /// `podSelector` or `nodeSelector`.
        which: &'static str,
        /// What is wrong with it.
        source: SelectorError,
    },
}

/// The settings a valid profile hands to the plugin, in wire-protocol units.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// Traffic shaping, if any direction is set.
    pub bandwidth: Option<Bandwidth>,
    /// MTU, if set.
    pub mtu: Option<u32>,
    /// Sysctls to set.
    pub sysctls: BTreeMap<String, String>,
}

/// A validated profile, ready for matching.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledProfile {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.generation` (0 when the API server did not set one).
    pub generation: i64,
    /// `spec.priority`.
    pub priority: i32,
    /// Compiled `spec.podSelector`.
    pub pod_selector: Selector,
    /// Compiled `spec.nodeSelector`.
    pub node_selector: Selector,
    /// What to apply.
    pub settings: Settings,
}

/// Validates a profile's spec and compiles its selectors and quantities.
pub fn compile(
    name: &str,
    generation: i64,
    spec: &NetworkProfileSpec,
) -> Result<CompiledProfile, ProfileError> {
    if spec.priority.abs() > PRIORITY_LIMIT {
        return Err(ProfileError::Priority(spec.priority));
    }
    if let Some(mtu) = spec.mtu
        && !(MTU_MIN..=MTU_MAX).contains(&mtu)
    {
        return Err(ProfileError::Mtu(mtu));
    }
    for (key, value) in &spec.sysctls {
        if !ALLOWED_SYSCTLS.contains(&key.as_str()) || !is_net_sysctl_key(key) {
            return Err(ProfileError::Sysctl(key.clone()));
        }
        if !is_sysctl_value(value) {
            return Err(ProfileError::SysctlValue {
                key: key.clone(),
                value: value.clone(),
            });
        }
    }
    let pod_selector =
        Selector::compile(spec.pod_selector.as_ref()).map_err(|source| ProfileError::Selector {
            which: "podSelector",
            source,
        })?;
    let node_selector = Selector::compile(spec.node_selector.as_ref()).map_err(|source| {
        ProfileError::Selector {
            which: "nodeSelector",
            source,
        }
    })?;
    let bandwidth = spec
        .bandwidth
        .as_ref()
        .map(compile_bandwidth)
        .transpose()?
        .flatten();
    Ok(CompiledProfile {
        name: name.to_owned(),
        generation,
        priority: spec.priority,
        pod_selector,
        node_selector,
        settings: Settings {
            bandwidth,
            mtu: spec.mtu,
            sysctls: spec.sysctls.clone(),
        },
    })
}

/// Compiles a stored `NetworkProfile` object.
pub fn compile_object(profile: &NetworkProfile) -> Result<CompiledProfile, ProfileError> {
    let name = profile.metadata.name.as_deref().unwrap_or_default();
    compile(
        name,
        profile.metadata.generation.unwrap_or(0),
        &profile.spec,
    )
}

fn is_sysctl_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .split([' ', '\t'])
            .all(|part| !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit()))
}

fn compile_bandwidth(spec: &BandwidthSpec) -> Result<Option<Bandwidth>, ProfileError> {
    let bits = |field: &'static str, q: &Option<String>| {
        q.as_deref()
            .map(parse_bits)
            .transpose()
            .map_err(|source| ProfileError::Quantity { field, source })
    };
    let bw = Bandwidth {
        ingress_rate: bits("ingressRate", &spec.ingress_rate)?,
        ingress_burst: bits("ingressBurst", &spec.ingress_burst)?,
        egress_rate: bits("egressRate", &spec.egress_rate)?,
        egress_burst: bits("egressBurst", &spec.egress_burst)?,
    };
    if bw.ingress_rate.is_some() != bw.ingress_burst.is_some() {
        return Err(ProfileError::HalfDirection("ingress"));
    }
    if bw.egress_rate.is_some() != bw.egress_burst.is_some() {
        return Err(ProfileError::HalfDirection("egress"));
    }
    Ok((bw != Bandwidth::default()).then_some(bw))
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
