//! Tests of the exact requests the agent sends, against a mock API server in the manner of
//! kube-rs controller-rs's ApiServerVerifier.

use std::sync::Arc;

use http::{Response, StatusCode};
use kube::client::Body;
use prometheus_client::metrics::counter::Counter;
use serde_json::json;

use super::*;
use crate::metrics::Metrics;
use crate::store::{Origin, Store};

use crate::test_support::mock_client;

fn ok(body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(200)
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn pod(name: &str, node: &str) -> serde_json::Value {
    json!({"metadata": {"namespace": "ns", "name": name, "uid": name, "labels": {"app": "camera"}}, "spec": {"nodeName": node, "containers": []}})
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
    let watches = tokio::spawn(crate::watch::run(
        client,
        store.clone(),
        Arc::new(Metrics::default()),
    ));
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
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": list_meta, "items": [pod("mine", "edge-1"), pod("theirs", "edge-2")]})
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
        send.send_response(ok(body));
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
    assert_eq!(store.origin(crate::store::Kind::Node), Origin::Live);
    watches.abort();
}

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
    send.send_response(ok(
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "edge-1"}}),
    ));
    let node = get.await.unwrap().unwrap();
    assert_eq!(node.metadata.name.as_deref(), Some("edge-1"));
    assert_eq!(retried.get(), 1);
}
