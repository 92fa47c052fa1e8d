//! The client's layers, against a mock API server in the manner of kube-rs controller-rs's
//! ApiServerVerifier: retries of throttling answers honour Retry-After, spread over one more
//! Retry-After, keep the User-Agent and are counted.

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
    let throttled_at = tokio::time::Instant::now();
    send.send_response(
        Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("Retry-After", "1")
            .body(Body::empty())
            .unwrap(),
    );
    let (second, send) = handle.next_request().await.unwrap();
    let waited = throttled_at.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(2),
        "retried {waited:?} after a Retry-After of 1 s"
    );
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

#[test]
fn a_retry_after_is_a_floor_and_the_retries_it_asks_for_are_spread_over_one_more() {
    let now = tokio::time::Instant::now();
    let r = Duration::from_secs(1);
    let mut jitter = Jitter::seeded(3);
    let mut replay = Jitter::seeded(3);
    // kube's backoff is shorter than the Retry-After: Retry-After, then the spread.
    let at = after_retry_after(now, now + Duration::from_millis(100), Some(r), &mut jitter);
    assert_eq!(at, now + r + replay.spread(r));
    assert!(at >= now + r && at < now + 2 * r);
    // kube's backoff is longer: the backoff, then the spread.
    let late = now + Duration::from_secs(5);
    let at = after_retry_after(now, late, Some(r), &mut jitter);
    assert_eq!(at, late + replay.spread(r));
    // No Retry-After (a 503 without one): kube's backoff, as it is.
    assert_eq!(after_retry_after(now, late, None, &mut jitter), late);
}

#[test]
fn clients_throttled_together_do_not_come_back_together() {
    let now = tokio::time::Instant::now();
    let r = Duration::from_secs(1);
    let mut returns: Vec<_> = (1..=100)
        .map(|seed| after_retry_after(now, now, Some(r), &mut Jitter::seeded(seed)))
        .collect();
    returns.sort();
    returns.dedup();
    assert_eq!(returns.len(), 100, "a hundred clients, a hundred moments");
    assert!(returns.iter().all(|t| *t >= now + r && *t < now + 2 * r));
}

#[test]
fn retry_after_is_read_in_seconds_and_anything_else_is_none() {
    let headers = |v: &str| {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, v.parse().unwrap());
        h
    };
    assert_eq!(retry_after(&headers("1")), Some(Duration::from_secs(1)));
    assert_eq!(retry_after(&headers(" 30 ")), Some(Duration::from_secs(30)));
    assert_eq!(retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    assert_eq!(retry_after(&http::HeaderMap::new()), None);
}
