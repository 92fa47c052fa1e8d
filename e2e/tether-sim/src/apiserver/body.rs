//! Request bodies: decoding JSON or YAML, checking apiVersion and kind.

use serde_json::{Value, json};

use super::resources::ResourceType;
use super::status::{ApiError, ApiResult};

/// Decode a JSON (or YAML) body into an object.
pub fn decode(bytes: &[u8], content_type: &str, kind: &str) -> ApiResult<Value> {
    if content_type.starts_with(super::proto::MEDIA_TYPE) {
        return super::proto_objects::decode_object(bytes, content_type);
    }
    let v: Value = if content_type.contains("yaml") {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: {e}"
            ))
        })?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): not an object"
        )));
    }
    Ok(v)
}

/// Fill in or check apiVersion and kind against the endpoint's type.
pub fn check_type(obj: &mut Value, rt: &ResourceType) -> ApiResult<()> {
    match obj["kind"].as_str() {
        None | Some("") => obj["kind"] = json!(rt.kind),
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): kind {k:?} is not {:?}",
                rt.kind, rt.kind
            )));
        }
    }
    match obj["apiVersion"].as_str() {
        None | Some("") => obj["apiVersion"] = json!(rt.api_version()),
        Some(v) if v == rt.api_version() => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
    }
    if !obj["metadata"].is_object() && !obj["metadata"].is_null() {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}
