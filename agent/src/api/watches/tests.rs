//! The watches against a mock API server (the requests they send, in the manner of kube-rs
//! controller-rs's ApiServerVerifier) and event by event (what each does to the store).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher::Event;
use prometheus_client::metrics::counter::Counter;
use serde_json::json;

use super::*;
use crate::api::client::USER_AGENT_VALUE;
use crate::state::records::Kind;
use crate::test_support::{mock_client, respond};

fn pod_json(name: &str, node: &str) -> serde_json::Value {
    json!({"metadata": {"namespace": "ns", "name": name, "uid": name, "labels": {"app": "camera"}}, "spec": {"nodeName": node, "containers": []}})
}

fn pod_object(name: &str, node: &str) -> Pod {
    serde_json::from_value(pod_json(name, node)).unwrap()
}

#[test]
fn relists_replace_pods_and_keep_only_this_nodes() {
    let store = Store::new("edge-1");
    let mut listing = Vec::new();
    store.upsert_pod(pod_info(&pod_object("stale", "edge-1"), "edge-1").unwrap());
    for e in [
        Event::Init,
        Event::InitApply(pod_object("a", "edge-1")),
        Event::InitApply(pod_object("b", "edge-2")),
    ] {
        apply_pods(&store, e, &mut listing);
    }
    assert!(
        store.answer("ns", "stale", "").is_some(),
        "nothing replaced before the list completes"
    );
    apply_pods(&store, Event::InitDone, &mut listing);
    assert!(store.answer("ns", "stale", "").is_none());
    assert!(store.answer("ns", "b", "").is_none());
    assert_eq!(store.counts().0, 1);
    assert_eq!(store.origin(Kind::Pods), Origin::Api);
    assert!(store.pods_may_arrive());
}

#[test]
fn a_pod_moving_away_or_deleted_leaves_the_store() {
    let store = Store::new("edge-1");
    let mut listing = Vec::new();
    apply_pods(
        &store,
        Event::Apply(pod_object("a", "edge-1")),
        &mut listing,
    );
    apply_pods(
        &store,
        Event::Apply(pod_object("c", "edge-1")),
        &mut listing,
    );
    assert_eq!(store.counts().0, 2);
    apply_pods(
        &store,
        Event::Apply(pod_object("a", "edge-9")),
        &mut listing,
    );
    apply_pods(
        &store,
        Event::Delete(pod_object("c", "edge-1")),
        &mut listing,
    );
    assert_eq!(store.counts().0, 0);
}

#[test]
fn only_this_node_is_kept() {
    let store = Store::new("edge-1");
    let mut listing = Vec::new();
    let node = |name: &str| -> Node {
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "labels": {"x": name}}}),
        )
        .unwrap()
    };
    apply_node(&store, Event::Apply(node("edge-2")), &mut listing);
    assert_eq!(store.origin(Kind::Node), Origin::Empty);
    for e in [
        Event::Init,
        Event::InitApply(node("edge-2")),
        Event::InitApply(node("edge-1")),
        Event::InitDone,
    ] {
        apply_node(&store, e, &mut listing);
    }
    assert_eq!(store.contents().0.unwrap().labels["x"], "edge-1");
}

/// One request as the verifier saw it.
#[derive(Debug)]
struct Seen {
    path: String,
    query: String,
    user_agent: String,
}

#[tokio::test]
async fn watches_send_one_selector_per_resource_with_the_user_agent_and_filter_again() {
    let (client, mut handle) = mock_client(Counter::default());
    let store = Store::new("edge-1");
    let watches = tokio::spawn(run(client, store.clone(), Arc::new(Metrics::default())));
    let mut seen = Vec::new();
    // Three lists, then three watches that the mock leaves open.
    while seen.len() < 6 {
        let (req, send) = handle.next_request().await.unwrap();
        let uri = req.uri().clone();
        seen.push(Seen {
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            user_agent: req
                .headers()
                .get("user-agent")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
        });
        if uri.query().unwrap_or_default().contains("watch=true") {
            std::mem::forget(send);
            continue;
        }
        let list_meta = json!({"resourceVersion": "10"});
        let body = match uri.path() {
            // As yurthub does offline, the list ignores the selector: the agent filters again.
            "/api/v1/pods" => {
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": list_meta, "items": [pod_json("mine", "edge-1"), pod_json("theirs", "edge-2")]})
            }
            "/api/v1/nodes" => {
                json!({"kind": "NodeList", "apiVersion": "v1", "metadata": list_meta, "items": [
                {"metadata": {"name": "edge-2", "labels": {"pool": "b"}}},
                {"metadata": {"name": "edge-1", "labels": {"pool": "a"}}}]})
            }
            "/apis/tether.dev/v1alpha1/networkprofiles" => {
                json!({"kind": "NetworkProfileList", "apiVersion": "tether.dev/v1alpha1", "metadata": list_meta, "items": [
                {"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam", "generation": 3}, "spec": {"podSelector": {"matchLabels": {"app": "camera"}}, "mtu": 1400}}]})
            }
            other => panic!("unexpected request to {other}"),
        };
        send.send_response(respond(200, body));
    }
    for s in &seen {
        assert_eq!(s.user_agent, USER_AGENT_VALUE, "{s:?}");
        let selectors =
            s.query.matches("fieldSelector=").count() + s.query.matches("labelSelector=").count();
        match s.path.as_str() {
            "/api/v1/pods" => assert!(
                s.query.contains("fieldSelector=spec.nodeName%3Dedge-1") && selectors == 1,
                "{s:?}"
            ),
            "/api/v1/nodes" => assert!(
                s.query.contains("fieldSelector=metadata.name%3Dedge-1") && selectors == 1,
                "{s:?}"
            ),
            _ => assert_eq!(selectors, 0, "{s:?}"),
        }
    }
    let mut paths: Vec<_> = seen
        .iter()
        .map(|s| (s.path.as_str(), s.query.contains("watch=true")))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            ("/api/v1/nodes", false),
            ("/api/v1/nodes", true),
            ("/api/v1/pods", false),
            ("/api/v1/pods", true),
            ("/apis/tether.dev/v1alpha1/networkprofiles", false),
            ("/apis/tether.dev/v1alpha1/networkprofiles", true)
        ]
    );
    let mut changes = store.subscribe();
    changes.wait_for(|_| store.is_live()).await.unwrap();
    assert_eq!(store.counts(), (1, 1, 0));
    let answer = store.answer("ns", "mine", "mine").unwrap();
    assert_eq!(answer.source, cni::protocol::Source::Live);
    assert_eq!(answer.mtu, Some(1400));
    assert!(store.answer("ns", "theirs", "").is_none());
    assert_eq!(store.origin(Kind::Node), Origin::Api);
    watches.abort();
}
