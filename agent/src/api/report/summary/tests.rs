//! The summary is the entries added up; a correction is due only when the answer disagrees, and
//! carries the answer's `resourceVersion` and the two fields, never the list.

use serde_json::{Value, json};

use super::*;
use crate::profile::crd::NetworkProfileStatus;

fn entry(node: &str, matched_pods: u32) -> NodeStatus {
    NodeStatus {
        node_name: node.into(),
        matched_pods,
        observed_generation: 3,
    }
}

fn answer(status: Value, resource_version: Option<&str>) -> NetworkProfile {
    let mut p: NetworkProfile = serde_json::from_value(json!({
        "apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
        "metadata": {"name": "cam"}, "spec": {}, "status": status,
    }))
    .unwrap();
    p.metadata.resource_version = resource_version.map(str::to_owned);
    p
}

#[test]
fn the_summary_adds_up_the_entries_and_counts_them() {
    assert_eq!(
        due(&[entry("edge-1", 2), entry("edge-2", 3), entry("edge-3", 0)]),
        StatusSummary {
            matched_pods: Some(5),
            nodes_reporting: Some(3),
        }
    );
    assert_eq!(
        due(&[]),
        StatusSummary {
            matched_pods: Some(0),
            nodes_reporting: Some(0),
        },
        "no entry: zero, not absent, so the columns say 0"
    );
    assert_eq!(
        due(&[entry("edge-1", u32::MAX), entry("edge-2", 1)]).matched_pods,
        Some(u32::MAX),
        "saturates instead of wrapping"
    );
}

#[test]
fn the_summary_fields_round_trip_beside_the_entries() {
    let p = answer(
        json!({"nodes": [{"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 3}], "matchedPods": 2, "nodesReporting": 1}),
        Some("7"),
    );
    let status = p.status.as_ref().unwrap();
    assert_eq!(status.nodes, vec![entry("edge-1", 2)]);
    assert_eq!(status.summary, due(&status.nodes));
    let back = serde_json::to_value(status).unwrap();
    assert_eq!(
        back,
        json!({"nodes": [{"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 3}], "matchedPods": 2, "nodesReporting": 1})
    );
    let without = serde_json::to_value(NetworkProfileStatus::default()).unwrap();
    assert_eq!(
        without,
        json!({"nodes": []}),
        "an absent summary is not sent"
    );
}

#[test]
fn no_correction_when_the_summary_already_matches() {
    let right = answer(
        json!({"nodes": [{"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 3}, {"nodeName": "edge-2", "matchedPods": 1, "observedGeneration": 3}],
               "matchedPods": 3, "nodesReporting": 2}),
        Some("7"),
    );
    assert_eq!(correction(&right), None);
}

#[test]
fn a_correction_is_due_when_the_summary_is_absent_or_wrong() {
    let nodes = json!([{"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 3}, {"nodeName": "edge-2", "matchedPods": 1, "observedGeneration": 3}]);
    let want = Correction {
        summary: StatusSummary {
            matched_pods: Some(3),
            nodes_reporting: Some(2),
        },
        resource_version: "7".into(),
    };
    let absent = answer(json!({"nodes": nodes}), Some("7"));
    assert_eq!(correction(&absent).as_ref(), Some(&want));
    let stale_count = answer(
        json!({"nodes": nodes, "matchedPods": 2, "nodesReporting": 2}),
        Some("7"),
    );
    assert_eq!(correction(&stale_count).as_ref(), Some(&want));
    let stale_nodes = answer(
        json!({"nodes": nodes, "matchedPods": 3, "nodesReporting": 1}),
        Some("7"),
    );
    assert_eq!(correction(&stale_nodes).as_ref(), Some(&want));
    let half = answer(json!({"nodes": nodes, "matchedPods": 3}), Some("7"));
    assert_eq!(correction(&half).as_ref(), Some(&want));
}

#[test]
fn no_correction_without_a_resource_version_to_make_it_conditional() {
    let nodes =
        json!({"nodes": [{"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 3}]});
    assert_eq!(correction(&answer(nodes.clone(), None)), None);
    assert_eq!(correction(&answer(nodes, Some(""))), None);
}

#[test]
fn the_patch_sets_the_two_fields_with_the_precondition_and_leaves_the_list_alone() {
    let c = Correction {
        summary: StatusSummary {
            matched_pods: Some(3),
            nodes_reporting: Some(2),
        },
        resource_version: "7".into(),
    };
    assert_eq!(
        c.patch(),
        json!({"metadata": {"resourceVersion": "7"}, "status": {"matchedPods": 3, "nodesReporting": 2}})
    );
}

fn api_error(code: u16) -> kube::Error {
    kube::Error::Api(
        kube::core::Status::failure("m", "r")
            .with_code(code)
            .boxed(),
    )
}

#[test]
fn results_say_what_the_answer_proves() {
    let sent = StatusSummary {
        matched_pods: Some(3),
        nodes_reporting: Some(2),
    };
    let nodes = json!([{"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 3}, {"nodeName": "edge-2", "matchedPods": 1, "observedGeneration": 3}]);
    let applied = answer(
        json!({"nodes": nodes, "matchedPods": 3, "nodesReporting": 2}),
        Some("8"),
    );
    assert_eq!(result(&sent, &Ok(applied)), "written");
    let stale = answer(json!({"nodes": nodes}), Some("7"));
    assert_eq!(
        result(&sent, &Ok(stale)),
        "unconfirmed",
        "yurthub's stale object"
    );
    assert_eq!(result(&sent, &Err(api_error(409))), "conflict");
    assert_eq!(result(&sent, &Err(api_error(403))), "failed");
    assert_eq!(result(&sent, &Err(api_error(502))), "failed");
}
