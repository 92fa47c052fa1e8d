//! Strategic merge patch of the built-in kinds, as kube-apiserver v1.34 applies it
//! (apimachinery v0.34.1 `pkg/util/strategicpatch/patch.go`, `StrategicMergeMapPatch` with
//! `MergeParallelList` and `IgnoreUnmatchedNulls`): maps merge, lists replace unless their
//! field is tagged `patchStrategy:"merge"` (see `strategic/meta.rs`), and the directives
//! `$patch: replace|delete|merge`, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
//! `$setElementOrder/<field>` apply.

mod go_fmt;
mod lists;
mod meta;

use serde_json::{Map, Value};

pub use meta::Schema;

use super::status::ApiError;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Why a patch failed, by the HTTP answer `interpretStrategicMergePatchError` gives it
/// (apiserver `pkg/endpoints/handlers/patch.go`).
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// A malformed directive (`mergepatch.ErrBadPatchFormatFor…`): 400.
    BadRequest(String),
    /// Lists of lists, or content outside `$retainKeys`: 422 with a fixed message.
    Invalid,
    /// Any other error is not a Status: 500, reason unknown, the error's text.
    Internal(String),
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::BadRequest(m) => ApiError::bad_request(m),
            Failure::Invalid => ApiError::invalid_patch(),
            Failure::Internal(m) => ApiError::unknown(m),
        }
    }
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> Failure {
    Failure::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        go_fmt::v(&Value::Object(m.clone()))
    ))
}

fn bad_arg_type(expected: &str, actual: &Value) -> Failure {
    Failure::Internal(format!(
        "expected a {expected}, but received a {}",
        go_fmt::type_name(actual)
    ))
}

fn bad_patch_type(directive: &Value, m: &Map<String, Value>) -> Failure {
    Failure::Internal(format!(
        "unknown patch type: {} in map: {}",
        go_fmt::s(directive),
        go_fmt::v(&Value::Object(m.clone()))
    ))
}

/// Apply `patch` to `target` (an object of the kind `schema` describes). Directives left
/// in the result are dropped, as decoding it into the Go type drops unknown fields.
pub fn apply(target: &mut Value, patch: &Value, schema: Schema) -> Result<(), Failure> {
    let Value::Object(p) = patch else {
        return Err(Failure::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(patch)
        )));
    };
    let original = match target.take() {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let mut merged = Value::Object(merge_map(original, p.clone(), schema)?);
    drop_directives(&mut merged);
    *target = merged;
    Ok(())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        _ => "object",
    }
}

/// `mergeMap`.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Schema,
) -> Result<Map<String, Value>, Failure> {
    if let Some(d) = patch.get(DIRECTIVE) {
        return match d.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(bad_patch_type(d, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    lists::merge_ordered_lists(&mut original, &mut patch, schema)?;
    for (k, patch_value) in patch {
        let (key, delete_list) = if k.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (extract_key(&k, DELETE_FROM_PRIMITIVE_LIST)?, true)
        } else {
            (k, false)
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(current) = original.remove(&key) else {
            if !delete_list {
                put_patch_value(&mut original, key, patch_value);
            }
            continue;
        };
        if go_fmt::type_name(&current) != go_fmt::type_name(&patch_value) {
            if delete_list {
                original.insert(key, current);
            } else {
                put_patch_value(&mut original, key, patch_value);
            }
            continue;
        }
        let merged = match (current, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let (sub, meta) = schema.for_struct(&key)?;
                let (_, strategy) = retain_keys_strategy(&meta.strategies)?;
                if strategy == "replace" {
                    Value::Object(p)
                } else {
                    Value::Object(merge_map(o, p, sub)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                let (sub, meta) = schema.for_slice(&key)?;
                let (_, strategy) = retain_keys_strategy(&meta.strategies)?;
                Value::Array(lists::merge_by_strategy(
                    o,
                    p,
                    sub,
                    &strategy,
                    &meta.key,
                    delete_list,
                )?)
            }
            (_, p) => match remove_directives(p) {
                Some(v) => v,
                None => continue,
            },
        };
        original.insert(key, merged);
    }
    Ok(original)
}

/// A patch value for a field the original lacks (or holds with another type).
fn put_patch_value(original: &mut Map<String, Value>, key: String, mut value: Value) {
    discard_nulls(&mut value);
    match remove_directives(value) {
        Some(v) => {
            original.insert(key, v);
        }
        None => {
            original.remove(&key);
        }
    }
}

/// `applyRetainKeysDirective`: clear what the list leaves out; the patch may set only what
/// it names.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), Failure> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = || Failure::BadRequest("invalid patch format of retainKeys".into());
    let Value::Array(keep) = retain else {
        return Err(bad());
    };
    let kept = |k: &str| keep.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !kept(k) {
            return Err(bad());
        }
    }
    original.retain(|k, _| kept(k));
    Ok(())
}

/// `extractKey`: the field a `$directive/<field>` key names.
fn extract_key(key: &str, prefix: &str) -> Result<String, Failure> {
    match key.split_once('/') {
        Some((p, field)) if p == prefix => Ok(field.to_string()),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => Err(Failure::BadRequest(
            "invalid patch format of primitive list".into(),
        )),
        _ => Err(Failure::BadRequest(
            "invalid patch format of setElementOrder list".into(),
        )),
    }
}

/// `extractRetainKeysPatchStrategy`: whether `retainKeys` is among the strategies, and the
/// other one.
fn retain_keys_strategy(strategies: &[String]) -> Result<(bool, String), Failure> {
    match strategies {
        [] => Ok((false, String::new())),
        [one] if one == "retainKeys" => Ok((true, String::new())),
        [one] => Ok((false, one.clone())),
        [a, b] if a == "retainKeys" => Ok((true, b.clone())),
        [a, b] if b == "retainKeys" => Ok((true, a.clone())),
        _ => Err(Failure::Internal(format!(
            "unexpected patch strategy: [{}]",
            strategies.join(" ")
        ))),
    }
}

/// `removeDirectives`: `None` for a map carrying `$patch`, which is then not kept.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(m) if m.contains_key(DIRECTIVE) => None,
        Value::Object(m) => Some(Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// `discardNullValuesFromPatch`.
fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// No Go type has a field named `$…`: decoding the result drops every directive left.
fn drop_directives(value: &mut Value) {
    match value {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(drop_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
