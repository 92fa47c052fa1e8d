//! The `NetworkProfile` custom resource (`tether.dev/v1alpha1`, cluster-scoped) as the API server
//! stores it: the Rust types `tether-agent crd` and `deploy/crd.yaml` are generated from.
//!
//! The API server validates with the schema generated here (ranges, patterns, CEL rules); the
//! agent validates again in [`compile`](crate::profile::compile::compile), with the limits
//! defined here.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    printcolumn = r#"{"name":"Pods","type":"integer","jsonPath":".status.matchedPods"}"#,
    printcolumn = r#"{"name":"Nodes","type":"integer","jsonPath":".status.nodesReporting"}"#,
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

/// Observed state: one entry per node, each written only by that node's agent, and a summary
/// of the entries for `kubectl get` (a printer column shows one JSONPath result, not a sum).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NetworkProfileStatus {
    /// Per-node entries, a list-map keyed by `nodeName`.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["nodeName"]))]
    pub nodes: Vec<NodeStatus>,
    /// The entries summed up, kept by the agents.
    #[serde(flatten)]
    pub summary: StatusSummary,
}

/// What `status.nodes` adds up to. Advisory: any agent rewrites it, best effort, after its own
/// entry is applied, so it is right once the last writer's correction has landed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusSummary {
    /// Summary kept by the agents: the `matchedPods` of every entry of `nodes`, added up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub matched_pods: Option<u32>,
    /// Summary kept by the agents: how many entries `nodes` has (nodes reporting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub nodes_reporting: Option<u32>,
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

#[cfg(test)]
mod tests;
