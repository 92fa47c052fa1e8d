//! Watches both ways.
//!
//! Offline (`pkg/yurthub/proxy/local/local.go:165-212`): 200, chunked, and **no events**;
//! the stream ends at `timeoutSeconds`, or without it after `--min-request-timeout` times a
//! random factor in [1, 2), or at the first 2 s tick after the cloud is healthy again, or
//! when the client goes away.
//!
//! Online (`proxy/remote/loadbalancer.go:352-444`, `cachemanager/cache_manager.go:363-467`):
//! the cloud's stream passes through unchanged while a cache agent's events are applied to
//! the cache as they go by.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Response, header};
use serde_json::Value;
use tokio::sync::mpsc;

use super::cache_manager;
use super::hub::Hub;
use super::reply::{Body, BoxError};
use super::request::HubRequest;

/// How often an offline watch looks at the cloud's health (`local.go:44-46`).
const HEALTH_CHECK: Duration = Duration::from_secs(2);

/// A random factor in [1, 2).
fn one_to_two() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() as u64;
    1.0 + (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The offline answer to a watch.
pub fn local(hub: &Arc<Hub>, req: &HubRequest) -> Response<Body> {
    let seconds = req
        .info
        .q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0);
    let timeout = if seconds > 0 {
        Duration::from_secs(seconds)
    } else {
        hub.min_request_timeout.mul_f64(one_to_two())
    };
    let (tx, mut rx) = mpsc::channel::<Bytes>(1);
    let hub = hub.clone();
    tokio::spawn(async move {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + HEALTH_CHECK, HEALTH_CHECK);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = tx.closed() => break,
                _ = tick.tick() => if hub.health.is_healthy() { break },
            }
        }
        drop(tx);
    });
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .map(|b| Ok::<_, BoxError>(Frame::data(b)));
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
    let content_type = if req.accept.is_empty() {
        "application/json"
    } else {
        req.accept.as_str()
    };
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// Pass a cloud watch stream through, applying a cache agent's events to the cache.
pub fn pass_through(hub: Arc<Hub>, req: HubRequest, body: kube::client::Body, cache: bool) -> Body {
    let mut pending: Vec<u8> = Vec::new();
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(BoxError::from)?;
        if cache {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Ok(event) = serde_json::from_slice::<Value>(&line) {
                    cache_manager::apply_event(&hub, &req, &event);
                }
            }
        }
        Ok(Frame::data(chunk))
    });
    BodyExt::boxed_unsync(StreamBody::new(stream))
}
