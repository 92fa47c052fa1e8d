//! tether-sim driven by kube 5's Api, the way tether's agent uses it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn status_of(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_with_real_server_semantics() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"a": "1"}})).unwrap();
    let c1 = cms.create(&PostParams::default(), &cm).await.unwrap();
    let meta = &c1.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    let rv1: u64 = meta.resource_version.as_deref().unwrap().parse().unwrap();

    let dup = status_of(cms.create(&PostParams::default(), &cm).await.unwrap_err());
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(dup.message, "configmaps \"cfg\" already exists");

    let missing = status_of(cms.get("nope").await.unwrap_err());
    assert_eq!(
        (
            missing.code,
            missing.reason.as_str(),
            missing.message.as_str()
        ),
        (404, "NotFound", "configmaps \"nope\" not found")
    );

    // Optimistic concurrency: a replace with a stale resourceVersion is a 409 Conflict.
    let mut fresh = c1.clone();
    fresh.data = Some([("a".to_string(), "2".to_string())].into());
    let c2 = cms
        .replace("cfg", &PostParams::default(), &fresh)
        .await
        .unwrap();
    let rv2: u64 = c2
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);
    let stale = status_of(
        cms.replace("cfg", &PostParams::default(), &fresh)
            .await
            .unwrap_err(),
    );
    assert_eq!((stale.code, stale.reason.as_str()), (409, "Conflict"));
    assert!(
        stale.message.contains("the object has been modified"),
        "{}",
        stale.message
    );

    // Invalid names are 422 Invalid, and nothing is stored.
    let bad: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "Not_Valid"}})).unwrap();
    let invalid = status_of(cms.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    assert!(
        invalid
            .message
            .starts_with("ConfigMap \"Not_Valid\" is invalid: metadata.name: Invalid value"),
        "{}",
        invalid.message
    );

    // Creating in a namespace that does not exist is 404 for the namespace.
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "ghost");
    let e = status_of(
        elsewhere
            .create(&PostParams::default(), &cm)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.message, "namespaces \"ghost\" not found");

    // Merge and JSON patches.
    let p = cms
        .patch(
            "cfg",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"b": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data.unwrap().get("b").map(String::as_str), Some("x"));
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/a", "value": "nope"}]))
            .unwrap();
    let failed = status_of(
        cms.patch("cfg", &PatchParams::default(), &Patch::<()>::Json(jp))
            .await
            .unwrap_err(),
    );
    assert_eq!(failed.code, 422);

    // Deleting a namespace deletes its contents.
    namespaces
        .delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(status_of(cms.get("cfg").await.unwrap_err()).code, 404);
    assert!(server.object("/configmaps", "team-a", "cfg").is_none());
    server.shutdown().await;
}

#[tokio::test]
async fn list_with_selectors_and_pages() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (i, (app, node)) in [
        ("camera", "edge-1"),
        ("camera", "edge-2"),
        ("radar", "edge-1"),
        ("lidar", ""),
    ]
    .iter()
    .enumerate()
    {
        let mut p = json!({"metadata": {"name": format!("p{i}"), "labels": {"app": app}},
                           "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        if !node.is_empty() {
            p["spec"]["nodeName"] = json!(node);
        }
        pods.create(&PostParams::default(), &serde_json::from_value(p).unwrap())
            .await
            .unwrap();
    }
    let names = |l: kube::api::ObjectList<Pod>| {
        l.items
            .into_iter()
            .map(|p| p.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("spec.nodeName=edge-1"))
                .await
                .unwrap()
        ),
        ["p0", "p2"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("spec.nodeName="))
                .await
                .unwrap()
        ),
        ["p3"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("app in (camera,lidar),app!=lidar"))
                .await
                .unwrap()
        ),
        ["p0", "p1"]
    );
    assert_eq!(
        names(
            pods.list(
                &ListParams::default()
                    .labels("app notin (camera)")
                    .fields("status.phase=Pending")
            )
            .await
            .unwrap()
        ),
        ["p2", "p3"]
    );
    let bad = status_of(
        pods.list(&ListParams::default().fields("spec.bogus=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (bad.code, bad.message.as_str()),
        (400, "field label not supported: spec.bogus")
    );

    let first = pods.list(&ListParams::default().limit(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let token = first.metadata.continue_.clone().unwrap();
    let rest = pods
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(rest.clone()), ["p3"]);
    assert!(rest.metadata.continue_.is_none_or(|c| c.is_empty()));
    server.shutdown().await;
}

#[tokio::test]
async fn custom_objects_are_validated_against_the_crd_schema() {
    use kube::api::DynamicObject;
    use kube::core::{ApiResource, GroupVersionKind};
    let server = server().await;
    server.load_yaml(CRD).unwrap();
    let client = client(&server, server.admin_token()).await;
    let gvk = GroupVersionKind::gvk("tether.dev", "v1alpha1", "NetworkProfile");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "networkprofiles");
    let api: Api<DynamicObject> = Api::all_with(client, &ar);
    let obj = |spec: serde_json::Value| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "p"}, "spec": spec})).unwrap()
    };
    let e = status_of(
        api.create(
            &PostParams::default(),
            &obj(json!({"priority": 1, "mtu": 100})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        e.message,
        "NetworkProfile.tether.dev \"p\" is invalid: spec.mtu: Invalid value: 100: spec.mtu in body should be greater than or equal to 576"
    );
    let e = status_of(
        api.create(&PostParams::default(), &obj(json!({"priority": "high"})))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    // Unknown fields are pruned, as the real server does for structural schemas.
    let created = api
        .create(
            &PostParams::default(),
            &obj(json!({"priority": 1, "bogus": true})),
        )
        .await
        .unwrap();
    assert_eq!(created.data["spec"], json!({"priority": 1}));
    server.shutdown().await;
}

#[tokio::test]
async fn kube_event_recorder_creates_then_patches_a_series() {
    use k8s_openapi::api::events::v1::Event;
    use kube::Resource;
    use kube::runtime::events::{Event as Ev, EventType, Recorder, Reporter};
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "cam-0"},
            "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}}))
    .unwrap();
    let pod = pods.create(&PostParams::default(), &pod).await.unwrap();
    let reporter = Reporter {
        controller: "tether-agent".into(),
        instance: Some("edge-1".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let ev = Ev {
        type_: EventType::Normal,
        reason: "ProfileApplied".into(),
        note: Some("camera".into()),
        action: "Apply".into(),
        secondary: None,
    };
    recorder.publish(&ev, &pod.object_ref(&())).await.unwrap();
    recorder.publish(&ev, &pod.object_ref(&())).await.unwrap();
    let events: Api<Event> = Api::namespaced(client, "default");
    let listed = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        listed.items.len(),
        1,
        "the repeat became a series, not a second event"
    );
    let e = &listed.items[0];
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
    assert_eq!(
        (
            e.reporting_controller.as_deref(),
            e.reporting_instance.as_deref()
        ),
        (Some("tether-agent"), Some("edge-1"))
    );
    let verbs: Vec<String> = server
        .audit_events()
        .iter()
        .filter(|a| a.resource == "events")
        .map(|a| a.verb.clone())
        .collect();
    assert_eq!(verbs, ["create", "patch", "list"]);
    server.shutdown().await;
}

#[tokio::test]
async fn node_leases_are_served_like_other_built_ins() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::api::WatchEvent;
    use kube::api::WatchParams;

    let server = server().await;
    let admin = client(&server, server.admin_token()).await;
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "kube-node-lease");
    let from = server.resource_version().to_string();
    let mut events = leases
        .watch(&WatchParams::default(), &from)
        .await
        .unwrap()
        .boxed();
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "edge-1"},
        "spec": {"holderIdentity": "edge-1", "leaseDurationSeconds": 40,
                 "renewTime": "2026-01-01T00:00:00.000000Z"}
    }))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut renewed = created.clone();
    renewed.spec.as_mut().unwrap().renew_time =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
            "2026-01-01T00:00:10.000000Z".parse().unwrap(),
        ));
    leases
        .replace("edge-1", &PostParams::default(), &renewed)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match events.try_next().await.unwrap().unwrap() {
            WatchEvent::Added(l) | WatchEvent::Modified(l) => {
                seen.push(l.spec.unwrap().renew_time.unwrap().0.to_string())
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z"]);

    // Discovery announces them, namespaced, with every stored verb.
    let doc: serde_json::Value = admin
        .request(
            http::Request::get("/apis/coordination.k8s.io/v1")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let entry = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "leases")
        .cloned()
        .unwrap();
    assert_eq!(
        (entry["kind"].as_str(), entry["namespaced"].as_bool()),
        (Some("Lease"), Some(true))
    );
    assert!(
        entry["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "update")
    );

    // RBAC applies: a ServiceAccount without a binding is refused, worded as the real server.
    let sa = server.mint_service_account_token("default", "nobody");
    let nobody: Api<Lease> = Api::namespaced(client(&server, &sa).await, "kube-node-lease");
    let refused = status_of(nobody.get("edge-1").await.unwrap_err());
    assert_eq!(refused.code, 403);
    assert!(
        refused
            .message
            .contains("cannot get resource \"leases\" in API group \"coordination.k8s.io\""),
        "{}",
        refused.message
    );
}
