//! `Status` answers, worded like the real API server's and encoded in `metav1.Status`'s
//! field order (apimachinery v0.34.1 `pkg/apis/meta/v1/types.go:761-792`, `StatusDetails`
//! `:800-828`, `StatusCause` `:1006-1026`), which Go's encoder follows and serde_json's
//! sorted maps would not.

use serde::Serialize;
use serde_json::{Value, json};

/// An API error that becomes a `kind: Status` body with the matching HTTP code.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Optional `details` object.
    pub details: Option<Value>,
}

/// Result of an API operation.
pub type ApiResult<T> = Result<T, ApiError>;

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut d = json!({ "kind": kind });
    if !name.is_empty() {
        d["name"] = json!(name);
    }
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d
}

/// The `StatusCause` reason of a field error, from the words its message starts with
/// (apimachinery `pkg/util/validation/field/errors.go` `ErrorType.String`).
fn cause_reason(message: &str) -> &'static str {
    const TYPES: [(&str, &str); 9] = [
        ("Required value", "FieldValueRequired"),
        ("Duplicate value", "FieldValueDuplicate"),
        ("Forbidden", "FieldValueForbidden"),
        ("Unsupported value", "FieldValueNotSupported"),
        ("Too long", "FieldValueTooLong"),
        ("Too many", "FieldValueTooMany"),
        ("Not found", "FieldValueNotFound"),
        ("Internal error", "InternalError"),
        ("Invalid value", "FieldValueInvalid"),
    ];
    TYPES
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map_or("FieldValueInvalid", |(_, reason)| reason)
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 Forbidden with a pre-worded message.
    pub fn forbidden(message: impl Into<String>, name: &str, group: &str, resource: &str) -> Self {
        let mut e = Self::new(403, "Forbidden", message);
        e.details = Some(details(name, group, resource));
        e
    }

    /// 404 for a named object: `pods "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, resource)),
        );
        e.details = Some(details(name, group, resource));
        e
    }

    /// 404 for a path the server does not serve.
    pub fn path_not_found() -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(json!({}));
        e
    }

    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, resource)),
        );
        e.details = Some(details(name, group, resource));
        e
    }

    /// 409 Conflict for a stale resourceVersion or failed precondition.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, resource)
            ),
        );
        e.details = Some(details(name, group, resource));
        e
    }

    /// 409 Conflict for a server-side apply field-ownership conflict.
    pub fn apply_conflict(
        message: String,
        causes: Value,
        group: &str,
        resource: &str,
        name: &str,
    ) -> Self {
        let mut e = Self::new(409, "Conflict", message);
        let mut d = details(name, group, resource);
        d["causes"] = causes;
        e.details = Some(d);
        e
    }

    /// 410 Gone (reason Expired): a resourceVersion older than the history kept.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 422 Invalid: `Pod "x" is invalid: <field>: <problem>`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: &[(String, String)]) -> Self {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let what = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let message = if text.len() == 1 {
            format!("{what} \"{name}\" is invalid: {}", text.join(""))
        } else {
            format!("{what} \"{name}\" is invalid: [{}]", text.join(", "))
        };
        let mut e = Self::new(422, "Invalid", message);
        let mut d = details(name, group, kind);
        d["causes"] = causes
            .iter()
            .map(|(f, m)| json!({ "reason": cause_reason(m), "message": m, "field": f }))
            .collect();
        e.details = Some(d);
        e
    }

    /// 422 for a patch that cannot be applied (a failed JSON patch `test`, a missing path,
    /// a strategic merge patch's list of lists): `NewGenericServerResponse` keeps none of
    /// the cause (apimachinery `pkg/api/errors/errors.go:436-523`).
    pub fn invalid_patch() -> Self {
        let mut e = Self::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        );
        e.details = Some(json!({}));
        e
    }

    /// 500 for an error that is not a Status: reason unknown (empty), its text as the
    /// message (apiserver `pkg/endpoints/handlers/responsewriters/status.go:60-82`).
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(500, "", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; got {ct:?}"
            ),
        )
    }

    /// 415 for a PATCH whose Content-Type the endpoint does not accept, listing those it
    /// does (apiserver `pkg/endpoints/handlers/negotiation/errors.go:78-101`).
    pub fn unsupported_patch_type(accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
    }

    /// 415 as go-restful answers for a built-in route no `Consumes` matches, through the
    /// server's service error handler (go-restful v3.12.2 `jsr311.go:114-130`, apiserver
    /// `pkg/server/handler.go:176-184`).
    pub fn unsupported_route_media_type() -> Self {
        let mut e = Self::new(415, "UnsupportedMediaType", "415: Unsupported Media Type");
        e.details = Some(json!({}));
        e
    }

    /// 429 TooManyRequests (APF).
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
        );
        e.details = Some(json!({ "retryAfterSeconds": retry_after }));
        e
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `kind: Status` body (as a map: encode it with [`encode`] for the real order).
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if !self.reason.is_empty() {
            s["reason"] = json!(self.reason);
        }
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

/// `pods` for the core group, `networkprofiles.tether.dev` otherwise.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// A JSON response body as kube-apiserver's encoder writes it: a `Status` in its struct's
/// field order, anything else as it is; always followed by the newline `json.Encoder`
/// writes (apimachinery `pkg/runtime/serializer/json/json.go:257-258`; lists too,
/// `collections.go:121,176`).
pub fn encode(v: &Value) -> String {
    let mut out = if is_status(v) {
        serde_json::to_string(&ordered(v)).unwrap_or_else(|_| v.to_string())
    } else {
        v.to_string()
    };
    out.push('\n');
    out
}

fn is_status(v: &Value) -> bool {
    v["kind"] == "Status" && v["apiVersion"] == "v1"
}

/// `metav1.Status` (`ListMeta` always encodes, possibly as `{}`).
#[derive(Serialize)]
struct OrderedStatus<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: Value,
    #[serde(skip_serializing_if = "str::is_empty")]
    status: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<OrderedDetails<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    code: u64,
}

/// `metav1.StatusDetails`.
#[derive(Serialize)]
struct OrderedDetails<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    group: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    uid: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    causes: Vec<OrderedCause<'a>>,
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "is_zero")]
    retry_after_seconds: u64,
}

/// `metav1.StatusCause`.
#[derive(Serialize)]
struct OrderedCause<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    field: &'a str,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn text(x: &Value) -> &str {
    x.as_str().unwrap_or_default()
}

fn ordered(v: &Value) -> OrderedStatus<'_> {
    let s = text;
    let metadata = if v["metadata"].is_object() {
        v["metadata"].clone()
    } else {
        json!({})
    };
    let details = v
        .get("details")
        .filter(|d| d.is_object())
        .map(|d| OrderedDetails {
            name: s(&d["name"]),
            group: s(&d["group"]),
            kind: s(&d["kind"]),
            uid: s(&d["uid"]),
            causes: d["causes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| OrderedCause {
                    reason: s(&c["reason"]),
                    message: s(&c["message"]),
                    field: s(&c["field"]),
                })
                .collect(),
            retry_after_seconds: d["retryAfterSeconds"].as_u64().unwrap_or_default(),
        });
    OrderedStatus {
        kind: "Status",
        api_version: "v1",
        metadata,
        status: s(&v["status"]),
        message: s(&v["message"]),
        reason: s(&v["reason"]),
        details,
        code: v["code"].as_u64().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_encodes_in_the_go_struct_order_with_a_newline() {
        let e = ApiError::not_found("", "pods", "x");
        assert_eq!(
            encode(&e.to_status()),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"pods \\\"x\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":\"x\",\"kind\":\"pods\"},\"code\":404}\n"
        );
        let unknown = encode(&ApiError::unknown("boom").to_status());
        assert_eq!(
            unknown,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"boom\",\"code\":500}\n"
        );
    }
}
