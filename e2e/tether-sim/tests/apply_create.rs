//! Server-side apply of an object that does not exist yet creates it (and a missing
//! namespace is a 404), as on the real server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

#[tokio::test]
async fn apply_creates_a_namespaced_object() {
    let server = server().await;
    let admin = client(&server, server.admin_token()).await;
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1"}});
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
    let created = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        cms.patch("x", &PatchParams::apply("test"), &Patch::Apply(&body)),
    )
    .await
    .expect("apply of a new object answered")
    .unwrap();
    assert_eq!(created.data.unwrap()["a"], "1");
    let missing: Api<ConfigMap> = Api::namespaced(admin, "nowhere");
    match missing
        .patch("x", &PatchParams::apply("test"), &Patch::Apply(&body))
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(
            (s.code, s.message.as_str()),
            (404, "namespaces \"nowhere\" not found")
        ),
        other => panic!("expected 404, got {other:?}"),
    }
}
