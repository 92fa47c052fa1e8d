//! The client's layers, against a mock API server in the manner of kube-rs controller-rs's
//! ApiServerVerifier: retries of throttling answers honour Retry-After, keep the User-Agent
//! and are counted.

use http::{Response, StatusCode};
use kube::client::Body;
use prometheus_client::metrics::counter::Counter;
use serde_json::json;

use super::*;
use crate::test_support::{mock_client, respond};

#[tokio::test(start_paused = true)]
async fn throttling_answers_are_retried_honouring_retry_after_and_counted() {
    let retried = Counter::default();
    let (client, mut handle) = mock_client(retried.clone());
    let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
    let get = tokio::spawn(async move { api.get("edge-1").await });
    let (first, send) = handle.next_request().await.unwrap();
    send.send_response(
        Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("Retry-After", "1")
            .body(Body::empty())
            .unwrap(),
    );
    let (second, send) = handle.next_request().await.unwrap();
    assert_eq!(first.uri(), second.uri());
    assert_eq!(
        second.headers().get("user-agent").unwrap(),
        USER_AGENT_VALUE
    );
    send.send_response(respond(
        200,
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1"}}),
    ));
    let node = get.await.unwrap().unwrap();
    assert_eq!(node.metadata.name.as_deref(), Some("edge-1"));
    assert_eq!(retried.get(), 1);
}
