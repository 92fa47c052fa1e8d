//! Deletion as kube-apiserver v1.34 does it (issue 14): what each kind answers, finalizers,
//! graceful deletion of bound pods, namespace termination, propagation policies through the
//! double's garbage collector, and the pod subresources — driven by kube 5 and kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::{Value, json};

/// A raw request: (status, body).
async fn raw(client: &kube::Client, method: &str, path: &str, body: Value) -> (u16, String) {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(kube::client::Body::from(bytes))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&bytes).into_owned())
}

fn status_of(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

fn cm(name: &str, extra: Value) -> ConfigMap {
    let mut v = json!({"metadata": {"name": name}, "data": {"a": "1"}});
    if let (Some(m), Some(x)) = (v["metadata"].as_object_mut(), extra.as_object()) {
        m.extend(x.clone());
    }
    serde_json::from_value(v).unwrap()
}

fn pod(name: &str, node: &str, extra_meta: Value) -> Pod {
    let mut v = json!({"metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "busybox"}], "terminationGracePeriodSeconds": 20}});
    if !node.is_empty() {
        v["spec"]["nodeName"] = json!(node);
    }
    if let (Some(m), Some(x)) = (v["metadata"].as_object_mut(), extra_meta.as_object()) {
        m.extend(x.clone());
    }
    serde_json::from_value(v).unwrap()
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

#[tokio::test]
async fn each_kind_answers_a_delete_as_its_real_storage_does() {
    let server = server().await;
    server.load_yaml(CRD).unwrap();
    let client = client(&server, server.admin_token()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let made = cms
        .create(&PostParams::default(), &cm("cfg", json!({})))
        .await
        .unwrap();
    let uid = made.metadata.uid.unwrap();
    // ConfigMaps: a Status naming the resource (not the kind), with the uid; no code.
    let (code, body) = raw(
        &client,
        "DELETE",
        "/api/v1/namespaces/default/configmaps/cfg",
        Value::Null,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        format!(
            "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Success\",\"details\":{{\"name\":\"cfg\",\"kind\":\"configmaps\",\"uid\":\"{uid}\"}}}}\n"
        )
    );
    // Pods: the object.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("p", "", json!({})))
        .await
        .unwrap();
    let answered = pods.delete("p", &DeleteParams::default()).await.unwrap();
    let answered = answered.left().expect("a pod delete answers the pod");
    assert_eq!(answered.metadata.name.as_deref(), Some("p"));
    // Custom resources: a Status with the group.
    let profile = json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
        "metadata": {"name": "camera"}, "spec": {"priority": 1}});
    let path = "/apis/tether.dev/v1alpha1/networkprofiles";
    let (code, created) = raw(&client, "POST", path, profile).await;
    assert_eq!(code, 201, "{created}");
    let (code, body) = raw(&client, "DELETE", &format!("{path}/camera"), Value::Null).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200);
    assert_eq!(v["status"], "Success");
    assert_eq!(v["details"]["group"], "tether.dev");
    assert_eq!(v["details"]["kind"], "networkprofiles");
    // deletecollection: the list as it was before the deletes.
    for n in ["a", "b"] {
        cms.create(&PostParams::default(), &cm(n, json!({})))
            .await
            .unwrap();
    }
    let list = cms
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    let list = list.left().expect("deletecollection answers the list");
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(
        cms.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn finalizers_keep_an_object_until_an_update_empties_them() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(
        &PostParams::default(),
        &cm("held", json!({"finalizers": ["tether.dev/hold"]})),
    )
    .await
    .unwrap();
    let (code, body) = raw(
        &client,
        "DELETE",
        "/api/v1/namespaces/default/configmaps/held",
        Value::Null,
    )
    .await;
    assert_eq!(code, 200);
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        first["kind"], "ConfigMap",
        "a marked object answers as itself: {body}"
    );
    assert!(first["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(first["metadata"]["deletionGracePeriodSeconds"], 0);
    // A second DELETE changes nothing and answers the object again.
    let (code, body) = raw(
        &client,
        "DELETE",
        "/api/v1/namespaces/default/configmaps/held",
        Value::Null,
    )
    .await;
    let second: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200);
    assert_eq!(
        second["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    // orphanDependents=false on a kept object: 202.
    let (code, _) = raw(
        &client,
        "DELETE",
        "/api/v1/namespaces/default/configmaps/held",
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "orphanDependents": false}),
    )
    .await;
    assert_eq!(code, 202);
    // No finalizer may be added now.
    let add =
        Patch::Merge(json!({"metadata": {"finalizers": ["tether.dev/hold", "tether.dev/more"]}}));
    let e = status_of(
        cms.patch("held", &PatchParams::default(), &add)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "ConfigMap \"held\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"tether.dev/more\"}"
    );
    // Emptying them deletes it; the patch answers the object as patched.
    let empty = Patch::Merge(json!({"metadata": {"finalizers": null}}));
    let last = cms
        .patch("held", &PatchParams::default(), &empty)
        .await
        .unwrap();
    assert!(last.metadata.finalizers.is_none());
    assert_eq!(status_of(cms.get("held").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn a_bound_pod_is_deleted_gracefully_and_goes_with_grace_zero() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let made = pods
        .create(&PostParams::default(), &pod("web", "edge-1", json!({})))
        .await
        .unwrap();
    let before = chrono::Utc::now();
    let marked = pods
        .delete("web", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("a pod delete answers the pod");
    assert_eq!(marked.metadata.deletion_grace_period_seconds, Some(20));
    let at = marked.metadata.deletion_timestamp.unwrap().0;
    let lead = at.as_second() - before.timestamp();
    assert!(
        (18..=21).contains(&lead),
        "deletionTimestamp is now + 20 s, was {lead} s ahead"
    );
    assert!(
        pods.get("web").await.is_ok(),
        "it stays until its kubelet finishes"
    );
    // A stale uid precondition: 409 worded on the kind, as rest.BeforeDelete words it.
    let stale = DeleteParams::default()
        .grace_period(0)
        .preconditions(Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        });
    let e = status_of(pods.delete("web", &stale).await.unwrap_err());
    assert_eq!(e.code, 409);
    assert_eq!(
        e.message,
        format!(
            "Operation cannot be fulfilled on Pod \"web\": the UID in the precondition (not-the-uid) does not match the UID in record ({}). The object might have been deleted and then recreated",
            made.metadata.uid.clone().unwrap()
        )
    );
    // kubelet's final delete: grace 0 with the uid precondition.
    let kubelet = DeleteParams::default()
        .grace_period(0)
        .preconditions(Preconditions {
            uid: made.metadata.uid.clone(),
            resource_version: None,
        });
    pods.delete("web", &kubelet).await.unwrap();
    assert_eq!(status_of(pods.get("web").await.unwrap_err()).code, 404);
    // A pod with no node goes at once.
    pods.create(&PostParams::default(), &pod("pending", "", json!({})))
        .await
        .unwrap();
    pods.delete("pending", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(status_of(pods.get("pending").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn a_namespace_terminates_refuses_content_and_goes_when_empty() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    create_namespace(&client, "team").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    cms.create(&PostParams::default(), &cm("plain", json!({})))
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &cm("held", json!({"finalizers": ["tether.dev/hold"]})),
    )
    .await
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = namespaces
        .delete("team", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("a namespace delete answers the namespace");
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let e = status_of(
        cms.create(&PostParams::default(), &cm("late", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        e.message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace team because it is being terminated"
    );
    // Server-side apply creating an object is a create too.
    let apply = Patch::Apply(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}}),
    );
    let e = status_of(
        cms.patch("applied", &PatchParams::apply("test"), &apply)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403, "{}", e.message);
    // The plain ConfigMap is gone; the held one stays, and the namespace says why.
    assert_eq!(status_of(cms.get("plain").await.unwrap_err()).code, 404);
    let stuck = namespaces.get("team").await.unwrap();
    let conds = stuck.status.unwrap().conditions.unwrap();
    let fin = conds
        .iter()
        .find(|c| c.type_ == "NamespaceFinalizersRemaining")
        .unwrap();
    assert_eq!(fin.status, "True");
    assert_eq!(
        fin.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: tether.dev/hold in 1 resource instances"
        )
    );
    let e = status_of(
        namespaces
            .delete("team", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e.code, 409,
        "a second DELETE while content remains: {}",
        e.message
    );
    // Releasing the last finalizer lets the namespace go.
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(
        status_of(namespaces.get("team").await.unwrap_err()).code,
        404
    );
    // Some namespaces may never be deleted.
    let e = status_of(
        namespaces
            .delete("default", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    assert_eq!(
        e.message,
        "namespaces \"default\" is forbidden: this namespace may not be deleted"
    );
}

fn owned_by(owner: &ConfigMap, block: bool) -> Value {
    json!({"ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
        "name": owner.metadata.name, "uid": owner.metadata.uid, "blockOwnerDeletion": block}]})
}

#[tokio::test]
async fn propagation_policies_go_through_the_garbage_collector() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // Background (the default): the dependents of a removed owner are deleted.
    let owner = cms
        .create(&PostParams::default(), &cm("bg", json!({})))
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &cm("bg-dep", owned_by(&owner, false)),
    )
    .await
    .unwrap();
    cms.delete("bg", &DeleteParams::default()).await.unwrap();
    assert_eq!(status_of(cms.get("bg-dep").await.unwrap_err()).code, 404);
    // Orphan: the owner goes, its dependents stay without the reference.
    let owner = cms
        .create(&PostParams::default(), &cm("or", json!({})))
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &cm("or-dep", owned_by(&owner, true)),
    )
    .await
    .unwrap();
    let marked = cms
        .delete("or", &DeleteParams::orphan())
        .await
        .unwrap()
        .left()
        .expect("an object kept for its orphan finalizer answers as itself");
    assert_eq!(marked.metadata.finalizers, Some(vec!["orphan".to_string()]));
    assert_eq!(status_of(cms.get("or").await.unwrap_err()).code, 404);
    let orphan = cms.get("or-dep").await.unwrap();
    assert!(orphan.metadata.owner_references.is_none());
    // Foreground: the owner waits for its blocking dependents — here a bound pod.
    let owner = cms
        .create(&PostParams::default(), &cm("fg", json!({})))
        .await
        .unwrap();
    let dep = pods
        .create(
            &PostParams::default(),
            &pod("fg-pod", "edge-1", owned_by(&owner, true)),
        )
        .await
        .unwrap();
    let marked = cms
        .delete("fg", &DeleteParams::foreground())
        .await
        .unwrap()
        .left()
        .expect("an object kept for foreground deletion answers as itself");
    assert_eq!(
        marked.metadata.finalizers,
        Some(vec!["foregroundDeletion".to_string()])
    );
    assert!(marked.metadata.deletion_timestamp.is_some());
    let waiting = pods.get("fg-pod").await.unwrap();
    assert!(
        waiting.metadata.deletion_timestamp.is_some(),
        "the dependent is being deleted"
    );
    assert!(cms.get("fg").await.is_ok(), "the owner waits for it");
    let kubelet = DeleteParams::default()
        .grace_period(0)
        .preconditions(Preconditions {
            uid: dep.metadata.uid.clone(),
            resource_version: None,
        });
    pods.delete("fg-pod", &kubelet).await.unwrap();
    assert_eq!(status_of(cms.get("fg").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn pod_subresources_answer_for_the_pod_s_state() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod("p", "", json!({})))
        .await
        .unwrap();
    let base = "/api/v1/namespaces/default/pods/p";
    // No node: logs are empty, exec/attach/portforward are 400.
    let (code, body) = raw(&client, "GET", &format!("{base}/log"), Value::Null).await;
    assert_eq!((code, body.as_str()), (200, ""));
    for sub in ["exec?command=ls", "attach", "portforward"] {
        let (code, body) = raw(&client, "POST", &format!("{base}/{sub}"), Value::Null).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (code, v["message"].as_str()),
            (400, Some("pod p does not have a host assigned")),
            "{sub}"
        );
    }
    let (code, body) = raw(
        &client,
        "GET",
        &format!("{base}/exec?container=nope"),
        Value::Null,
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body.contains("container nope is not valid for pod p"),
        "{body}"
    );
    // Binding: once.
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "edge-1"}});
    let (code, body) = raw(&client, "POST", &format!("{base}/binding"), binding.clone()).await;
    assert_eq!(code, 201);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\",\"code\":201}\n"
    );
    assert_eq!(
        pods.get("p")
            .await
            .unwrap()
            .spec
            .unwrap()
            .node_name
            .as_deref(),
        Some("edge-1")
    );
    let (code, body) = raw(&client, "POST", &format!("{base}/binding"), binding).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 409);
    assert_eq!(
        v["message"],
        "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"edge-1\""
    );
    // Bound to a node the API does not know: the connection lookup's 404.
    let (code, body) = raw(
        &client,
        "POST",
        &format!("{base}/exec?command=ls"),
        Value::Null,
    )
    .await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("nodes \\\"edge-1\\\" not found"), "{body}");
    // Eviction deletes the pod (gracefully: it is bound).
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 0}});
    let (code, _) = raw(&client, "POST", &format!("{base}/eviction"), eviction).await;
    assert_eq!(code, 201);
    assert_eq!(status_of(pods.get("p").await.unwrap_err()).code, 404);
}

#[test]
fn kubectl_sees_a_terminating_pod_until_it_goes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(server());
    let k = Kubectl::new(&server, server.admin_token());
    let manifest = k.file(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default}\nspec:\n  nodeName: edge-1\n  containers: [{name: main, image: busybox}]\n",
    );
    k.ok(&["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        k.ok(&["delete", "pod", "web", "--wait=false"])
            .contains("pod \"web\" deleted")
    );
    let row = k.ok(&["get", "pod", "web", "--no-headers"]);
    assert!(row.contains("Terminating"), "{row}");
    k.ok(&["delete", "pod", "web", "--grace-period=0", "--force"]);
    let gone = k.fails(&["get", "pod", "web"]);
    assert!(gone.contains("pods \"web\" not found"), "{gone}");
}

#[tokio::test]
async fn a_crd_is_answered_marked_and_goes_with_its_objects() {
    let server = server().await;
    server.load_yaml(CRD).unwrap();
    let client = client(&server, server.admin_token()).await;
    let path = "/apis/tether.dev/v1alpha1/networkprofiles";
    let profile = json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
        "metadata": {"name": "camera"}, "spec": {"priority": 1}});
    assert_eq!(raw(&client, "POST", path, profile).await.0, 201);
    let crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/networkprofiles.tether.dev";
    let (code, body) = raw(&client, "DELETE", crd, Value::Null).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200);
    assert_eq!(v["kind"], "CustomResourceDefinition", "{body}");
    assert_eq!(
        v["metadata"]["finalizers"],
        json!(["customresourcecleanup.apiextensions.k8s.io"])
    );
    let terminating = v["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Terminating")
        .unwrap();
    assert_eq!(terminating["reason"], "InstanceDeletionPending");
    // Its finalizer controller has emptied it: the CRD and its objects are gone.
    assert_eq!(raw(&client, "GET", crd, Value::Null).await.0, 404);
    assert_eq!(
        raw(&client, "GET", &format!("{path}/camera"), Value::Null)
            .await
            .0,
        404
    );
}
