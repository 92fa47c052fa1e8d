//! Forwarding to the cloud while it is healthy: yurthub's remote proxy and load balancer
//! (`pkg/yurthub/proxy/remote/{remote,loadbalancer}.go`).
//!
//! - The request goes as it came, with the client's own bearer token when it has one (the
//!   API server then authorises the client, not yurthub), else with yurthub's identity
//!   (`remote.go:127-148`).
//! - A 2xx answer (200–206) to a cache agent is cached on its way back
//!   (`loadbalancer.go:376-412,431-444`); a 404 to a list makes yurthub forget that custom
//!   resource (`:413-427`).
//! - A failed round trip (the cloud went away before the probe noticed) answers a cache
//!   agent's get or list from the cache when it can, and everything else with a bare 502
//!   and an empty body (`:332-350`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{HeaderMap, Response, StatusCode, header};

use super::cache_manager;
use super::cacheable::{can_cache_for, gvr};
use super::hub::Hub;
use super::reply::{self, Body, BoxError};
use super::request::HubRequest;
use super::watches;

/// Headers that belong to one hop, not to the request (Go's `httputil.ReverseProxy`
/// drops the same). `accept-encoding` is dropped too: the double cannot read compressed
/// answers to cache them (a difference, see the README).
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "accept-encoding",
];

fn forwardable(name: &header::HeaderName) -> bool {
    !NOT_FORWARDED.contains(&name.as_str())
}

/// Forward one request and bring back the answer.
pub async fn serve(
    hub: &Arc<Hub>,
    req: HubRequest,
    method: &hyper::Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let mut builder = hyper::Request::builder().method(method).uri(path_and_query);
    for (name, value) in headers.iter().filter(|(n, _)| forwardable(n)) {
        builder = builder.header(name, value);
    }
    if let Some(peer) = peer {
        builder = builder.header("x-forwarded-for", peer.ip().to_string());
    }
    let Ok(upstream) = builder.body(kube::client::Body::from(body.to_vec())) else {
        return reply::bare(StatusCode::BAD_REQUEST);
    };
    let client = if req.bearer {
        &hub.clients.bearer
    } else {
        &hub.clients.identity
    };
    match client.send(upstream).await {
        Ok(answer) => answered(hub, req, answer).await,
        Err(_) => round_trip_failed(hub, &req),
    }
}

/// `errorHandler` (`loadbalancer.go:332-350`).
fn round_trip_failed(hub: &Hub, req: &HubRequest) -> Response<Body> {
    if can_cache_for(hub, req)
        && matches!(req.info.verb.as_str(), "get" | "list")
        && let Ok(obj) = cache_manager::query(hub, req)
    {
        return reply::json(200, &obj);
    }
    reply::bare(StatusCode::BAD_GATEWAY)
}

/// `modifyResponse` (`loadbalancer.go:352-429`).
async fn answered(
    hub: &Arc<Hub>,
    req: HubRequest,
    answer: Response<kube::client::Body>,
) -> Response<Body> {
    let (parts, body) = answer.into_parts();
    let mut out = Response::new(reply::full(Bytes::new()));
    *out.status_mut() = parts.status;
    for (name, value) in parts.headers.iter().filter(|(n, _)| forwardable(n)) {
        out.headers_mut().append(name, value.clone());
    }
    let code = parts.status.as_u16();
    if code == 404 && req.info.verb == "list" {
        hub.kinds.forget(&gvr(&req));
    }
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| req.accept.clone())
        .starts_with("application/json");
    let cache = (200..=206).contains(&code) && can_cache_for(hub, &req) && json;
    if req.info.verb == "watch" {
        *out.body_mut() = watches::pass_through(hub.clone(), req, body, cache);
        return out;
    }
    if !cache {
        *out.body_mut() = body.map_err(BoxError::from).boxed_unsync();
        return out;
    }
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return round_trip_failed(hub, &req),
    };
    if req.info.verb == "list" {
        cache_manager::save_list(hub, &req, &bytes);
    } else {
        cache_manager::save_one(hub, &req, &bytes);
    }
    *out.body_mut() = reply::full(bytes);
    out
}
