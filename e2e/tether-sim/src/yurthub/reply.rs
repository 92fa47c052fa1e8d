//! The answers the double writes itself: JSON objects, `Status` errors (worded as the API
//! machinery yurthub uses words them), bare status codes, and bodies passed through.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};
use hyper::{Response, StatusCode, header};
use serde_json::Value;

use crate::apiserver::ApiError;

/// An error inside a streamed body: hyper then breaks the connection off.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every answer.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body of bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// `code` with a JSON document.
pub fn json(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(full(v.to_string()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

/// A `Status` error.
pub fn error(e: &ApiError) -> Response<Body> {
    json(e.code, &e.to_status())
}

/// A status code and nothing else (what `rw.WriteHeader` alone sends).
pub fn bare(code: StatusCode) -> Response<Body> {
    let mut r = Response::new(Empty::new().map_err(|e| match e {}).boxed_unsync());
    *r.status_mut() = code;
    r
}

/// 503 while the hub is not ready (`proxy.go:150-162`).
pub fn unavailable(why: &str) -> Response<Body> {
    let mut e = ApiError::internal(why);
    e.code = 503;
    e.reason = "ServiceUnavailable";
    error(&e)
}
