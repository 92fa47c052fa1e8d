use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::watcher::Event;

use super::*;

fn pod(name: &str, node: &str) -> Pod {
    serde_json::from_value(serde_json::json!({"metadata": {"namespace": "ns", "name": name, "uid": name}, "spec": {"nodeName": node, "containers": []}})).unwrap()
}

#[test]
fn relists_replace_pods_and_keep_only_this_nodes() {
    let store = Store::new("edge-1");
    let mut listing = Vec::new();
    store.upsert_pod(pod_info(&pod("stale", "edge-1"), "edge-1").unwrap());
    for e in [
        Event::Init,
        Event::InitApply(pod("a", "edge-1")),
        Event::InitApply(pod("b", "edge-2")),
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
    assert_eq!(store.origin(crate::store::Kind::Pods), Origin::Live);
    assert!(store.pods_may_arrive());
}

#[test]
fn a_pod_moving_away_or_deleted_leaves_the_store() {
    let store = Store::new("edge-1");
    let mut listing = Vec::new();
    apply_pods(&store, Event::Apply(pod("a", "edge-1")), &mut listing);
    apply_pods(&store, Event::Apply(pod("c", "edge-1")), &mut listing);
    assert_eq!(store.counts().0, 2);
    apply_pods(&store, Event::Apply(pod("a", "edge-9")), &mut listing);
    apply_pods(&store, Event::Delete(pod("c", "edge-1")), &mut listing);
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
    assert_eq!(store.origin(crate::store::Kind::Node), Origin::Empty);
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
