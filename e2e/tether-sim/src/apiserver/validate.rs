//! Validation and pruning of custom objects against their CRD's OpenAPI v3 schema, as
//! the real server does for structural schemas.

use serde_json::{Map, Value};

/// What validation found: `(field, problem)` causes for a 422, and unknown fields.
#[derive(Debug, Default)]
pub struct Findings {
    /// Invalid values (→ 422).
    pub invalid: Vec<(String, String)>,
    /// Fields not declared in the schema (pruned; an error under `fieldValidation=Strict`).
    pub unknown: Vec<String>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

/// Validate `v` (and prune unknown fields in place) against `schema`.
pub fn check(v: &mut Value, schema: &Value, path: &str, out: &mut Findings) {
    let bad = |out: &mut Findings, msg: String| out.invalid.push((path.to_string(), msg));
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        if !(v.is_string() || type_name(v) == "integer") {
            bad(
                out,
                format!(
                    "Invalid value: {v}: {path} in body must be of type integer,string: \"{}\"",
                    type_name(v)
                ),
            );
        }
        return;
    }
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_name(v);
        let ok = got == want
            || (want == "number" && got == "integer")
            || (v.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true));
        if !ok {
            bad(
                out,
                format!(
                    "Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""
                ),
            );
            return;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(v)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        bad(
            out,
            format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
        );
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema
            .get("minimum")
            .and_then(Value::as_f64)
            .filter(|m| n < *m)
        {
            bad(
                out,
                format!(
                    "Invalid value: {v}: {path} in body should be greater than or equal to {min}"
                ),
            );
        }
        if let Some(max) = schema
            .get("maximum")
            .and_then(Value::as_f64)
            .filter(|m| n > *m)
        {
            bad(
                out,
                format!("Invalid value: {v}: {path} in body should be less than or equal to {max}"),
            );
        }
    }
    if let Some(s) = v.as_str() {
        let len = s.chars().count() as u64;
        if let Some(max) = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .filter(|m| len > *m)
        {
            bad(out, format!("Too long: may not be more than {max} bytes"));
        }
        if let Some(min) = schema
            .get("minLength")
            .and_then(Value::as_u64)
            .filter(|m| len < *m)
        {
            bad(
                out,
                format!("Invalid value: {v}: {path} in body should be at least {min} chars long"),
            );
        }
    }
    match v {
        Value::Object(m) => check_object(m, schema, path, out),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn check_object(m: &mut Map<String, Value>, schema: &Value, path: &str, out: &mut Findings) {
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !m.contains_key(r) {
            out.invalid.push((join(path, r), "Required value".into()));
        }
    }
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let keys: Vec<String> = m.keys().cloned().collect();
    for k in keys {
        let sub = props.and_then(|p| p.get(&k)).or(additional);
        match (sub, m.get_mut(&k)) {
            (Some(s), Some(child)) => check(child, s, &join(path, &k), out),
            (None, _) if preserve || (props.is_none() && schema.get("type").is_none()) => {}
            (None, _) => {
                m.remove(&k);
                out.unknown.push(join(path, &k));
            }
            _ => {}
        }
    }
}

/// Validate a whole custom object: everything but apiVersion, kind and metadata.
pub fn check_custom(obj: &mut Value, schema: &Value) -> Findings {
    let mut out = Findings::default();
    let Some(m) = obj.as_object_mut() else {
        return out;
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let keys: Vec<String> = m
        .keys()
        .filter(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
        .cloned()
        .collect();
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    for k in keys {
        match (props.and_then(|p| p.get(&k)), m.get_mut(&k)) {
            (Some(s), Some(child)) => check(child, s, &k, &mut out),
            (None, _) if preserve || schema.is_null() => {}
            (None, _) => {
                m.remove(&k);
                out.unknown.push(k);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_and_prunes() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["priority"],
            "properties": {"priority": {"type": "integer"}, "mtu": {"type": "integer", "minimum": 576, "maximum": 9000},
                           "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
                             "spec": {"priority": 1, "mtu": 100, "bogus": true, "free": {"any": 1}}});
        let f = check_custom(&mut obj, &schema);
        assert_eq!(f.unknown, ["spec.bogus"]);
        assert_eq!(
            f.invalid,
            [(
                "spec.mtu".to_string(),
                "Invalid value: 100: spec.mtu in body should be greater than or equal to 576"
                    .to_string()
            )]
        );
        assert_eq!(obj["spec"]["free"]["any"], 1);
        assert!(
            obj["spec"].get("bogus").is_none(),
            "unknown fields are pruned"
        );
        let mut typed = json!({"spec": {"priority": "high"}});
        let f = check_custom(&mut typed, &schema);
        assert_eq!(
            f.invalid[0].1,
            "Invalid value: \"string\": spec.priority in body must be of type integer: \"string\""
        );
        let mut missing = json!({"spec": {}});
        assert_eq!(
            check_custom(&mut missing, &schema).invalid[0],
            ("spec.priority".to_string(), "Required value".to_string())
        );
    }
}
