//! The offline answers: yurthub's local proxy (`pkg/yurthub/proxy/local/local.go`), used
//! while the cloud is unhealthy. Several say a write succeeded when it was dropped.
//!
//! | request | answer |
//! | --- | --- |
//! | not a resource request (discovery …) | 400 (`:88-91`) |
//! | watch | 200, no events (`watches.rs`) |
//! | create | 201 echoing the request body; nothing is forwarded, ever (`:118-163`) |
//! | delete, deletecollection | 403 Status, `details.group` = the namespace (`:94-116`) |
//! | get, list, update, patch | not cacheable → 400 (`:216-219`); else the cached object or list, 200 — for update and patch the stale object, the change dropped; nothing cached → 404 (`:221-237`) |

use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Response, StatusCode, header};
use serde_json::json;

use crate::apiserver::ApiError;

use super::cache_manager::{self, Miss};
use super::cacheable::can_cache_for;
use super::hub::Hub;
use super::reply::{self, Body};
use super::request::HubRequest;
use super::watches;

/// Answer `req` (sent to `uri` with `headers` and `body`) from the node alone.
pub fn serve(
    hub: &Arc<Hub>,
    req: &HubRequest,
    uri: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if !req.info.resource_request {
        return reply::error(&ApiError::bad_request(format!(
            "local proxy does not support request({})",
            req.describe(uri)
        )));
    }
    match req.info.verb.as_str() {
        "watch" => watches::local(hub, req),
        "create" => post(hub, req, headers, body),
        "delete" | "deletecollection" => forbidden(req),
        _ => from_cache(hub, req, uri),
    }
}

/// 403 Forbidden, with the namespace where the group belongs (`local.go:103-113`).
fn forbidden(req: &HubRequest) -> Response<Body> {
    let mut details = serde_json::Map::new();
    for (k, v) in [
        ("name", &req.info.name),
        ("group", &req.info.namespace),
        ("kind", &req.info.resource),
    ] {
        if !v.is_empty() {
            details.insert(k.into(), json!(v));
        }
    }
    reply::json(
        403,
        &json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "delete request is not supported in local cache",
            "reason": "Forbidden", "details": details, "code": 403,
        }),
    )
}

/// 201 with the request body as the answer (`local.go:118-163`). An event from a component
/// is also put into that component's cache (`:129-139`), never sent.
fn post(hub: &Hub, req: &HubRequest, headers: &HeaderMap, body: Bytes) -> Response<Body> {
    if req.info.resource == "events" && !req.accept.is_empty() {
        cache_manager::save_one(hub, req, &body);
    }
    let mut r = Response::new(reply::full(body));
    *r.status_mut() = StatusCode::CREATED;
    for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH] {
        for v in headers.get_all(&name) {
            r.headers_mut().append(name.clone(), v.clone());
        }
    }
    r
}

/// `localReqCache` (`local.go:214-238`).
fn from_cache(hub: &Hub, req: &HubRequest, uri: &str) -> Response<Body> {
    if !can_cache_for(hub, req) {
        return reply::error(&ApiError::bad_request(format!(
            "can not cache for {}",
            req.describe(uri)
        )));
    }
    match cache_manager::query(hub, req) {
        Ok(obj) => reply::json(200, &obj),
        Err(Miss::NotFound) => reply::error(&ApiError::not_found(
            &req.info.group,
            &req.info.resource,
            &req.info.name,
        )),
        Err(Miss::Other(e)) => reply::error(&ApiError::internal(e)),
    }
}
