//! Watches, reflectors and server-side apply through kube 5, as tether's agent does them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::CustomResource;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tether_sim::apiserver::SimConfig;

/// The NetworkProfile shape the agent will use (subset).
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "tether.dev",
    version = "v1alpha1",
    kind = "NetworkProfile",
    status = "NetworkProfileStatus"
)]
pub struct NetworkProfileSpec {
    /// Priority.
    pub priority: i64,
    /// MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
}

/// Status with one entry per node.
#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
pub struct NetworkProfileStatus {
    /// Per-node entries.
    #[serde(default)]
    pub nodes: Vec<NodeEntry>,
}

/// One node's report.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeEntry {
    /// Node.
    pub node_name: String,
    /// Matched pods.
    pub matched_pods: i64,
}

fn pod(name: &str, node: &str) -> Pod {
    let mut p = json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    if !node.is_empty() {
        p["spec"]["nodeName"] = json!(node);
    }
    serde_json::from_value(p).unwrap()
}

fn names<K: kube::Resource + Clone>(store: &reflector::Store<K>) -> Vec<String>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    let mut v: Vec<String> = store
        .state()
        .iter()
        .map(|o| o.meta().name.clone().unwrap_or_default())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn reflector_follows_pods_of_one_node() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("before", "edge-1"))
        .await
        .unwrap();
    let (reader, writer) = reflector::store();
    let cfg = watcher::Config::default().fields("spec.nodeName=edge-1");
    let stream = reflector(writer, watcher(Api::<Pod>::all(client.clone()), cfg)).applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    assert_eq!(names(&reader), ["before"]);

    pods.create(&PostParams::default(), &pod("mine", "edge-1"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("theirs", "edge-2"))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("unbound", ""))
        .await
        .unwrap();
    eventually(5, "mine in the store", || async {
        (names(&reader) == ["before", "mine"]).then_some(())
    })
    .await;
    // Binding a pod to the node makes it enter the selection (ADDED to the watcher); a
    // binding is the only way its nodeName changes.
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "unbound"},
                         "target": {"kind": "Node", "name": "edge-1"}});
    pods.create_subresource::<Value, Value>("binding", "unbound", &PostParams::default(), &binding)
        .await
        .unwrap();
    let again = pods
        .create_subresource::<Value, Value>("binding", "unbound", &PostParams::default(), &binding)
        .await
        .unwrap_err();
    assert!(
        again
            .to_string()
            .contains("pod unbound is already assigned to node \"edge-1\""),
        "{again}"
    );
    eventually(5, "bound pod", || async {
        (names(&reader) == ["before", "mine", "unbound"]).then_some(())
    })
    .await;
    pods.patch_status(
        "mine",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    eventually(5, "status change", || async {
        reader
            .state()
            .iter()
            .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .then_some(())
    })
    .await;
    // A bound pod goes at once only with grace 0 (else it waits for its kubelet).
    pods.delete("before", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eventually(5, "deletion", || async {
        (names(&reader) == ["mine", "unbound"]).then_some(())
    })
    .await;
    task.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn watcher_on_one_node_by_name_and_streaming_lists() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let nodes: Api<Node> = Api::all(client.clone());
    for n in ["edge-1", "edge-2"] {
        nodes
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": n}})).unwrap(),
            )
            .await
            .unwrap();
    }
    // Both the default list-then-watch and the streaming-list (sendInitialEvents) strategies.
    for cfg in [
        watcher::Config::default(),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut events = watcher(nodes.clone(), cfg.fields("metadata.name=edge-1")).boxed();
        let mut seen = Vec::new();
        while let Some(ev) = events.try_next().await.unwrap() {
            match ev {
                watcher::Event::InitApply(n) => seen.push(n.metadata.name.unwrap()),
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
        assert_eq!(seen, ["edge-1"]);
        let label = format!("v{}", server.resource_version());
        nodes
            .patch(
                "edge-2",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": label}}})),
            )
            .await
            .unwrap();
        nodes
            .patch(
                "edge-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": label}}})),
            )
            .await
            .unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match next {
            watcher::Event::Apply(n) => {
                assert_eq!(
                    n.metadata.name.as_deref(),
                    Some("edge-1"),
                    "edge-2's change is filtered out"
                );
                assert_eq!(n.metadata.labels.unwrap()["x"], label);
            }
            other => panic!("expected Apply, got {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn old_resource_versions_are_gone_and_bookmarks_and_timeouts_work() {
    let config = SimConfig {
        watch_history: 5,
        bookmark_interval: Duration::from_millis(100),
        ..SimConfig::default()
    };
    let server = server_with(config).await;
    let client = client(&server, server.admin_token()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let start = server.resource_version().to_string();
    for i in 0..10 {
        pods.create(&PostParams::default(), &pod(&format!("p{i}"), "edge-1"))
            .await
            .unwrap();
    }
    let mut stream = pods
        .watch(&WatchParams::default(), &start)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(
                e.message
                    .starts_with(&format!("too old resource version: {start} (")),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    // A recent version works, with bookmarks; the stream ends at timeoutSeconds.
    let now = server.resource_version().to_string();
    let mut wp = WatchParams::default().timeout(1);
    wp.bookmarks = true;
    let mut stream = pods.watch(&wp, &now).await.unwrap().boxed();
    pods.create(&PostParams::default(), &pod("late", "edge-1"))
        .await
        .unwrap();
    let (mut added, mut bookmarks) = (Vec::new(), 0);
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            WatchEvent::Added(p) => added.push(p.metadata.name.unwrap()),
            WatchEvent::Bookmark(b) => {
                bookmarks += 1;
                assert!(
                    b.metadata.resource_version.parse::<u64>().unwrap()
                        >= now.parse::<u64>().unwrap()
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, ["late"]);
    assert!(bookmarks > 0, "bookmarks were asked for");
    server.shutdown().await;
}

#[tokio::test]
async fn status_server_side_apply_from_two_node_managers() {
    let server = server().await;
    server.load_yaml(CRD).unwrap();
    let client = client(&server, server.admin_token()).await;
    let profiles: Api<NetworkProfile> = Api::all(client.clone());
    let created = profiles
        .create(
            &PostParams::default(),
            &NetworkProfile::new(
                "camera",
                NetworkProfileSpec {
                    priority: 10,
                    mtu: Some(1400),
                },
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));

    let (reader, writer) = reflector::store();
    let stream = reflector(
        writer,
        watcher(profiles.clone(), watcher::Config::default()),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));

    let report = |node: &str, pods: i64| {
        json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "camera"},
               "status": {"nodes": [{"nodeName": node, "matchedPods": pods, "observedGeneration": 1}]}})
    };
    let pp = |node: &str| PatchParams::apply(&format!("tether-agent-{node}"));
    profiles
        .patch_status("camera", &pp("edge-1"), &Patch::Apply(report("edge-1", 3)))
        .await
        .unwrap();
    profiles
        .patch_status("camera", &pp("edge-2"), &Patch::Apply(report("edge-2", 5)))
        .await
        .unwrap();
    let after = profiles
        .patch_status("camera", &pp("edge-1"), &Patch::Apply(report("edge-1", 4)))
        .await
        .unwrap();
    let entries = after.status.clone().unwrap().nodes;
    assert_eq!(
        entries,
        [
            NodeEntry {
                node_name: "edge-1".into(),
                matched_pods: 4
            },
            NodeEntry {
                node_name: "edge-2".into(),
                matched_pods: 5
            }
        ]
    );
    assert_eq!(
        after.metadata.generation,
        Some(1),
        "status changes do not bump generation"
    );
    let managers: Vec<String> = after
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(
        managers.contains(&"tether-agent-edge-1".to_string())
            && managers.contains(&"tether-agent-edge-2".to_string())
    );
    eventually(5, "reflector sees both entries", || async {
        reader
            .get(&reflector::ObjectRef::new("camera"))
            .and_then(|p| (p.status.as_ref()?.nodes.len() == 2).then_some(()))
    })
    .await;

    // A manager that stops applying its entry removes it, and only it.
    let empty = json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "camera"}, "status": {}});
    let after = profiles
        .patch_status("camera", &pp("edge-1"), &Patch::Apply(empty))
        .await
        .unwrap();
    assert_eq!(
        after.status.unwrap().nodes,
        [NodeEntry {
            node_name: "edge-2".into(),
            matched_pods: 5
        }]
    );

    // Spec changes bump generation; two appliers of one field conflict unless forced.
    let spec = |p: i64| json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "camera"}, "spec": {"priority": p}});
    let err = profiles
        .patch(
            "camera",
            &PatchParams::apply("ops-a"),
            &Patch::Apply(spec(20)),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("expected a Status")
    };
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"tether-agent\" using tether.dev/v1alpha1: .spec.priority"
    );
    let a = profiles
        .patch(
            "camera",
            &PatchParams::apply("ops-a").force(),
            &Patch::Apply(spec(20)),
        )
        .await
        .unwrap();
    assert_eq!(a.metadata.generation, Some(2));
    let err = profiles
        .patch(
            "camera",
            &PatchParams::apply("ops-b"),
            &Patch::Apply(spec(30)),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("expected a Status")
    };
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"ops-a\": .spec.priority"
    );
    let forced = profiles
        .patch(
            "camera",
            &PatchParams::apply("ops-b").force(),
            &Patch::Apply(spec(30)),
        )
        .await
        .unwrap();
    assert_eq!(
        (forced.spec.priority, forced.metadata.generation),
        (30, Some(3))
    );
    // Applying the spec endpoint never touches status.
    assert_eq!(forced.status.unwrap().nodes.len(), 1);
    task.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn events_k8s_io_v1_are_created_and_listed() {
    use k8s_openapi::api::events::v1::Event;
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let ev: Event = serde_json::from_value(json!({
        "metadata": {"generateName": "camera."},
        "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "tether.dev/agent",
        "reportingInstance": "edge-1", "action": "Applied", "reason": "ProfileApplied", "type": "Normal",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "cam-0"}, "note": "camera applied",
    }))
    .unwrap();
    let created = events.create(&PostParams::default(), &ev).await.unwrap();
    assert!(created.metadata.name.unwrap().starts_with("camera."));
    let listed = events
        .list(&kube::api::ListParams::default().fields("regarding.name=cam-0"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].note.as_deref(), Some("camera applied"));
    // The same event through the core API, as `kubectl get events` sees it.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let seen = core
        .list(&kube::api::ListParams::default().fields("involvedObject.name=cam-0"))
        .await
        .unwrap();
    assert_eq!(seen.items.len(), 1);
    assert_eq!(
        (
            seen.items[0].message.as_deref(),
            seen.items[0].reporting_component.as_deref()
        ),
        (Some("camera applied"), Some("tether.dev/agent"))
    );
    // The real server's create validation.
    let bad: Event = serde_json::from_value(
        json!({"metadata": {"name": "bad"}, "type": "Odd", "regarding": {"namespace": "other"}}),
    )
    .unwrap();
    let kube::Error::Api(s) = events
        .create(&PostParams::default(), &bad)
        .await
        .unwrap_err()
    else {
        panic!("expected a Status")
    };
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(s.message.starts_with("Event.events.k8s.io \"bad\" is invalid: [eventTime: Required value, reportingController: Required value"), "{}", s.message);
    assert!(
        s.message.contains("type: Unsupported value: \"Odd\"")
            && s.message.contains(
                "regarding.namespace: Invalid value: \"other\": does not match event.namespace"
            ),
        "{}",
        s.message
    );
    server.shutdown().await;
}

#[tokio::test]
async fn watcher_relists_after_410_and_its_store_stays_right() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let server = server_with(SimConfig {
        watch_history: 5,
        ..SimConfig::default()
    })
    .await;
    let client = client(&server, server.admin_token()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm =
        |n: &str| serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": n}})).unwrap();
    cms.create(&PostParams::default(), &cm("first"))
        .await
        .unwrap();
    let cfg = watcher::Config::default().disable_bookmarks();
    let (reader, writer) = reflector::store();
    let mut stream = reflector(writer, watcher(cms.clone(), cfg)).boxed();
    let mut inits = 0;
    while let Some(ev) = stream.next().await {
        if let Ok(watcher::Event::InitDone) = ev {
            inits += 1;
            break;
        }
    }
    cms.create(&PostParams::default(), &cm("second"))
        .await
        .unwrap();
    // The watcher opens its watch (from the list's version) only when polled again; writes
    // elsewhere push that version out of the history first, so the server answers 410.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..10 {
        pods.create(&PostParams::default(), &pod(&format!("p{i}"), "edge-1"))
            .await
            .unwrap();
    }
    cms.delete("first", &DeleteParams::default()).await.unwrap();
    let mut saw_gone = false;
    while inits < 2 {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
        {
            Some(Err(watcher::Error::WatchError(e))) if e.code == 410 => saw_gone = true,
            Some(Ok(watcher::Event::InitDone)) => inits += 1,
            Some(_) => {}
            None => panic!("watcher ended"),
        }
    }
    assert!(saw_gone, "the re-watch was answered 410 Gone");
    assert_eq!(
        names(&reader),
        ["second"],
        "the relist dropped the deleted object"
    );
    server.shutdown().await;
}
