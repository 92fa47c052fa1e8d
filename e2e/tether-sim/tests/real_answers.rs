//! The double answers a strategic merge patch, a PATCH of an unaccepted type and an error
//! as kube-apiserver v1.34 does, down to the bytes of a Status body (issue 14).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

/// A raw request: (status, body as sent).
async fn raw(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .header("accept", "application/json")
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&bytes).into_owned())
}

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web", "namespace": "default", "finalizers": ["a.tether.dev/x", "b.tether.dev/y"],
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-1"},
                {"apiVersion": "v1", "kind": "Node", "name": "edge-1", "uid": "u-2"},
            ],
        },
        "spec": {"containers": [{"name": "main", "image": "busybox",
                                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]},
    })
}

async fn smp<K>(api: &Api<K>, name: &str, patch: Value) -> Value
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K: serde::Serialize,
{
    let out = api
        .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    serde_json::to_value(out).unwrap()
}

#[tokio::test]
async fn strategic_merge_patch_follows_the_go_types_patch_strategies() {
    let server = server().await;
    server.load_object(pod()).unwrap();
    server
        .load_object(json!({"apiVersion": "v1", "kind": "ServiceAccount",
                            "metadata": {"name": "agent", "namespace": "default"},
                            "secrets": [{"name": "old"}]}))
        .unwrap();
    let client = client(&server, server.admin_token()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    // finalizers: `patchStrategy:"merge"` on a list of strings — a set, new values first.
    let p = smp(
        &pods,
        "web",
        json!({"metadata": {"finalizers": ["c.tether.dev/z"]}}),
    )
    .await;
    assert_eq!(
        p["metadata"]["finalizers"],
        json!(["c.tether.dev/z", "a.tether.dev/x", "b.tether.dev/y"])
    );
    let p = smp(
        &pods,
        "web",
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a.tether.dev/x"]}}),
    )
    .await;
    assert_eq!(
        p["metadata"]["finalizers"],
        json!(["c.tether.dev/z", "b.tether.dev/y"])
    );

    // ownerReferences merge by uid; a `$patch: delete` item deletes, and is never stored.
    let p = smp(
        &pods,
        "web",
        json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "u-1"}]}}),
    )
    .await;
    assert_eq!(
        p["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Node", "name": "edge-1", "uid": "u-2"}])
    );
    let stored = server.object("/pods", "default", "web").unwrap();
    assert!(!stored.to_string().contains("$patch"), "{stored}");

    // Container env merges by name inside the container merged by name (in a pod
    // template: a pod's env may not change after creation).
    server
        .load_object(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod()["spec"]}}}))
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = smp(
        &deployments,
        "web",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "3"}]}]}}}}),
    )
    .await;
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}])
    );
    assert_eq!(container["image"], "busybox");

    // A ServiceAccount's secrets merge by name.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let sa = smp(&sas, "agent", json!({"secrets": [{"name": "new"}]})).await;
    assert_eq!(sa["secrets"], json!([{"name": "new"}, {"name": "old"}]));

    // A malformed directive: 400 with the mergepatch error's text, in Go's field order.
    let (code, body) = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/pods/web",
        "application/strategic-merge-patch+json",
        r#"{"metadata":{"$deleteFromPrimitiveListfinalizers":["x"]}}"#,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"invalid patch format of primitive list\",\"reason\":\"BadRequest\",\"code\":400}\n"
    );
}

#[tokio::test]
async fn custom_resources_refuse_strategic_merge_patch() {
    let server = server().await;
    server.load_yaml(CRD).unwrap();
    server.load_yaml(PROFILES).unwrap();
    let client = client(&server, server.admin_token()).await;
    let path = "/apis/tether.dev/v1alpha1/networkprofiles/camera";
    let (code, body) = raw(
        &client,
        "PATCH",
        path,
        "application/strategic-merge-patch+json",
        r#"{"spec":{"mtu":1500}}"#,
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml\",\"reason\":\"UnsupportedMediaType\",\"code\":415}\n"
    );
    let stored = server
        .object("tether.dev/networkprofiles", "", "camera")
        .unwrap();
    assert_eq!(stored["spec"]["mtu"], 1400);
    // What kubectl label/annotate and kube-rs' merge patches send still works.
    let (code, body) = raw(
        &client,
        "PATCH",
        path,
        "application/merge-patch+json",
        r#"{"spec":{"mtu":1500}}"#,
    )
    .await;
    assert_eq!((code, body.ends_with("}\n")), (200, true), "{body}");

    // A built-in route with no matching Consumes: go-restful's 415.
    let (code, body) = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/none",
        "text/plain",
        "x",
    )
    .await;
    assert_eq!(code, 415);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"415: Unsupported Media Type\",\"reason\":\"UnsupportedMediaType\",\"details\":{},\"code\":415}\n"
    );
}

#[tokio::test]
async fn status_bodies_keep_the_go_field_order_and_every_body_ends_in_a_newline() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let (code, body) = raw(
        &client,
        "GET",
        "/api/v1/namespaces/default/configmaps/missing",
        "application/json",
        "",
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"configmaps \\\"missing\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":\"missing\",\"kind\":\"configmaps\"},\"code\":404}\n"
    );
    // A failed JSON patch: 422 with the generic message and empty details.
    server
        .load_object(json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "cfg", "namespace": "default"}, "data": {"a": "1"}}))
        .unwrap();
    let (code, body) = raw(
        &client,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/cfg",
        "application/json-patch+json",
        r#"[{"op":"test","path":"/data/a","value":"2"}]"#,
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        body,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"the server rejected our request due to an error in our request\",\"reason\":\"Invalid\",\"details\":{},\"code\":422}\n"
    );
    for path in [
        "/api/v1/namespaces/default/configmaps/cfg",
        "/api/v1/namespaces/default/configmaps",
        "/api/v1",
    ] {
        let (code, body) = raw(&client, "GET", path, "application/json", "").await;
        assert_eq!(code, 200);
        assert!(
            body.ends_with("}\n") && !body.ends_with("}\n\n"),
            "{path}: {body}"
        );
    }
}
