//! rbac: the agent works with exactly the deploy/ RBAC — every request it made was allowed and
//! every rule of its ClusterRole was used — and what it must not do is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scenario;

use std::time::Duration;

use e2e::backend::{AGENT_USER, PodSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use rstest::rstest;
use serde_json::{Value, json};
use testkit::repo::deploy_documents;

use e2e::backend::Cluster;
use scenario::*;

/// `(apiGroup, resource or resource/subresource, verb)` of every rule of the agent's ClusterRole.
fn cluster_role_permissions() -> Vec<(String, String, String)> {
    let role = deploy_documents()
        .unwrap()
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "tether-agent")
        .expect("deploy/ has the tether-agent ClusterRole");
    let strings = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    assert_ne!(verb, "*", "no wildcard verbs");
                    assert_ne!(resource, "*", "no wildcard resources");
                    out.push((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out
}

/// The server-side apply body of one status entry of profile `camera`, for the node the API
/// server calls `node_name` (never the scenario's alias: they differ on kind).
fn status_apply(node_name: &str, matched_pods: i64, generation: i64) -> Value {
    json!({
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "NetworkProfile",
        "metadata": {"name": "camera"},
        "status": {"nodes": [{"nodeName": node_name, "matchedPods": matched_pods, "observedGeneration": generation}]},
    })
}

/// deploy/admission.yaml lets an agent write the entry whose `nodeName` is the node its
/// pod-bound token names, and on kind that is the Kubernetes node name, not the scenario's
/// `edge-1`: the scenario must write `cluster.node_name(alias)` (issue 15, item 6).
#[test]
fn own_node_entries_are_written_under_the_kubernetes_node_name() {
    let policy = deploy_documents()
        .unwrap()
        .into_iter()
        .find(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .expect("deploy/ has the admission policy");
    let text = policy.to_string();
    assert!(
        text.contains("authentication.kubernetes.io/node-name")
            && text.contains("e.nodeName != variables.node"),
        "the policy compares nodeName with the token's node"
    );
    let work = std::env::temp_dir().join("tether-rbac-names");
    let mut kind = e2e::kind::KindConfig::new(testkit::repo::deploy_dir(), work);
    kind.cluster_name = e2e::kind::config::unique_cluster_name();
    let node = kind.node_name("edge-1").unwrap();
    assert_eq!(node, format!("{}-worker", kind.cluster_name));
    assert_ne!(node, "edge-1");
    assert_eq!(
        status_apply(&node, 1, 1)["status"]["nodes"][0]["nodeName"],
        node
    );
}

fn is_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn the_agent_needs_exactly_its_cluster_role(#[future] cluster: Option<Cluster>) {
    let Some(cluster) = cluster.await else {
        return;
    };
    let admin = cluster.admin();
    let generation = create_profile(&admin, "camera", camera_spec()).await;
    // A pod with a profile makes the agent do everything it does: watch, answer, report.
    let pod = cluster
        .add_pod("edge-1", &PodSpec::labelled("cam-1", "app", "camera"))
        .await
        .unwrap();
    assert_eq!(pod.profile(), Some("camera"));
    await_status(
        &cluster,
        "camera",
        "edge-1",
        1,
        generation,
        Duration::from_secs(30),
    )
    .await;
    // The Event goes out through the rate-limited outbox.
    await_events(&admin, "default", Duration::from_secs(30), |events| {
        events.iter().any(|e| regarding(e) == Some("cam-1"))
    })
    .await;

    // Everything the agent itself sent was allowed, and every rule it holds was used.
    let audit = cluster.audit().await.unwrap();
    let agent: Vec<_> = audit
        .iter()
        .filter(|r| r.user == AGENT_USER && r.user_agent.starts_with("tether-agent/"))
        .collect();
    assert!(
        !agent.is_empty(),
        "no requests from the agent in the audit log"
    );
    for r in &agent {
        assert!(
            r.code < 400,
            "the agent got {} for {} {}",
            r.code,
            r.verb,
            r.uri
        );
    }
    let permissions = cluster_role_permissions();
    assert!(!permissions.is_empty(), "the ClusterRole grants nothing");
    for (group, resource, verb) in permissions {
        let (resource, subresource) = resource
            .split_once('/')
            .map_or((resource.as_str(), ""), |(r, s)| (r, s));
        assert!(
            agent.iter().any(|r| r.api_group == group
                && r.resource == resource
                && r.subresource == subresource
                && r.verb == verb),
            "ClusterRole grants {verb} on {group}/{resource}/{subresource} but the agent never used it"
        );
    }

    // What the agent's identity must not do.
    let as_agent = cluster.as_agent().await.unwrap();
    is_forbidden(
        Api::<Secret>::all(as_agent.clone())
            .list(&ListParams::default())
            .await,
        "list secrets",
    );
    is_forbidden(
        Api::<ConfigMap>::namespaced(as_agent.clone(), "kube-system")
            .list(&ListParams::default())
            .await,
        "list configmaps",
    );
    is_forbidden(
        Api::<Pod>::namespaced(as_agent.clone(), "default")
            .delete("cam-1", &DeleteParams::default())
            .await,
        "delete a pod",
    );
    let edge_1 = cluster.node_name("edge-1").unwrap();
    let edge_2 = cluster.node_name("edge-2").unwrap();
    is_forbidden(
        Api::<Node>::all(as_agent.clone())
            .patch(
                &edge_1,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await,
        "label a node",
    );
    is_forbidden(
        profiles(as_agent.clone())
            .patch(
                "camera",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"mtu": 9000}})),
            )
            .await,
        "change a profile's spec",
    );
    is_forbidden(
        profiles(as_agent.clone())
            .delete("camera", &DeleteParams::default())
            .await,
        "delete a profile",
    );

    // RBAC cannot tell one node's agent from another's (they share the ServiceAccount);
    // deploy/admission.yaml can, by the node its pod-bound token names.
    let on_edge_1 = cluster.as_agent_on("edge-1").await.unwrap();
    let before = profiles(admin.clone()).get("camera").await.unwrap();
    // Entries name nodes as Kubernetes does, as the token does: on kind `<cluster>-worker`.
    let other_node = status_apply(&edge_2, 7, generation);
    let refused = profiles(on_edge_1.clone())
        .patch_status(
            "camera",
            &PatchParams::apply(&format!("tether-agent/{edge_2}")).force(),
            &Patch::Apply(&other_node),
        )
        .await;
    match &refused {
        Err(kube::Error::Api(status)) if status.code == 403 => assert!(
            status
                .message
                .contains("ValidatingAdmissionPolicy 'tether-agent-own-node-status'"),
            "{status:?}"
        ),
        other => panic!("writing edge-2's status entry from edge-1: expected 403, got {other:?}"),
    }
    let after = profiles(admin.clone()).get("camera").await.unwrap();
    assert_eq!(
        after.data["status"], before.data["status"],
        "a refused write changed nothing"
    );
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "a refused write changed nothing"
    );
    // The same identity may write its own node's entry.
    let own_node = status_apply(&edge_1, 1, generation);
    profiles(on_edge_1)
        .patch_status(
            "camera",
            &PatchParams::apply(&format!("tether-agent/{edge_1}")).force(),
            &Patch::Apply(&own_node),
        )
        .await
        .unwrap();
    cluster.down().await.unwrap();
}
