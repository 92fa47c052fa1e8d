//! Nodes: `printNode` of `pkg/printers/internalversion/printers.go` (Kubernetes v1.34).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::age::{self, Now};
use super::columns::{Column, Row, text};
use super::docs;

/// NAME STATUS ROLES AGE VERSION | wide: INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION
/// CONTAINER-RUNTIME.
pub fn columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("Status", "The status of the node"),
        Column::text("Roles", "The roles of the node"),
        Column::age(),
        Column::text("Version", docs::NODE_KUBELET_VERSION),
        Column::text("Internal-IP", docs::NODE_ADDRESSES).wide(),
        Column::text("External-IP", docs::NODE_ADDRESSES).wide(),
        Column::text("OS-Image", docs::NODE_OS_IMAGE).wide(),
        Column::text("Kernel-Version", docs::NODE_KERNEL_VERSION).wide(),
        Column::text("Container-Runtime", docs::NODE_CONTAINER_RUNTIME).wide(),
    ]
}

/// `Ready`, `NotReady` or `Unknown` from the Ready condition, then `SchedulingDisabled`
/// for a cordoned node.
fn status(node: &Value) -> String {
    let ready = node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        // Later entries of one type win, as in the printer's map.
        .rfind(|c| c["type"] == "Ready");
    let mut status = vec![match ready {
        Some(c) if c["status"] == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node["spec"]["unschedulable"] == true {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role` values,
/// sorted, or `<none>`.
fn roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (k, v) in node["metadata"]["labels"].as_object().into_iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role" && !text(v).is_empty() {
            roles.insert(text(v).to_string());
        }
    }
    if roles.is_empty() {
        return "<none>".into();
    }
    roles.into_iter().collect::<Vec<_>>().join(",")
}

/// The first address of `kind`, or `<none>`.
fn address(node: &Value, kind: &str) -> String {
    node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == kind)
        .map_or("<none>".into(), |a| text(&a["address"]).to_string())
}

/// The row of one node, computed at `now`.
pub fn row(node: &Value, now: Now) -> Row {
    let info = &node["status"]["nodeInfo"];
    let or_unknown = |v: &Value| match text(v) {
        "" => "<unknown>".to_string(),
        s => s.to_string(),
    };
    vec![
        node["metadata"]["name"].clone(),
        json!(status(node)),
        json!(roles(node)),
        json!(age::since(&node["metadata"]["creationTimestamp"], now)),
        json!(text(&info["kubeletVersion"])),
        json!(address(node, "InternalIP")),
        json!(address(node, "ExternalIP")),
        json!(or_unknown(&info["osImage"])),
        json!(or_unknown(&info["kernelVersion"])),
        json!(or_unknown(&info["containerRuntimeVersion"])),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_roles_version_and_wide_cells() {
        let now = age::parse(&json!("2025-01-03T00:00:00Z")).unwrap();
        let node = json!({
            "metadata": {"name": "edge-1", "creationTimestamp": "2025-01-01T00:00:00Z",
                "labels": {"node-role.kubernetes.io/edge": "", "node-role.kubernetes.io/": "x",
                           "kubernetes.io/role": "worker", "other": "y"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "edge-1"}, {"type": "InternalIP", "address": "10.0.0.1"}],
                "nodeInfo": {"kubeletVersion": "v1.34.1", "osImage": "Ubuntu"}}});
        assert_eq!(
            row(&node, now).cells,
            vec![
                json!("edge-1"),
                json!("Ready,SchedulingDisabled"),
                json!("edge,worker"),
                json!("2d"),
                json!("v1.34.1"),
                json!("10.0.0.1"),
                json!("<none>"),
                json!("Ubuntu"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
    }

    #[test]
    fn not_ready_and_unknown() {
        let n = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(status(&n), "NotReady");
        assert_eq!(status(&json!({"metadata": {"name": "x"}})), "Unknown");
        assert_eq!(roles(&json!({"metadata": {"labels": {}}})), "<none>");
    }
}
