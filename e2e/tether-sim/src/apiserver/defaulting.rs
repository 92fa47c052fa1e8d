//! Structural-schema defaulting of custom objects, as apiextensions-apiserver v0.34.0
//! does it (`pkg/apiserver/schema/defaulting/algorithm.go` `Default`): each property with
//! a `default` that is absent (or null where not `nullable`) gets a copy of it, then every
//! present property, `additionalProperties` value and list item is defaulted in turn, so
//! defaults apply inside objects that are present or were just defaulted. The real server
//! runs it when it decodes a request body and when it reads from storage
//! (`pkg/apiserver/customresource_handler.go:1178-1186`, the `unstructuredDefaulter` of
//! both codecs).

use serde_json::Value;

/// Default `v` in place against `schema` (an `openAPIV3Schema` or one of its nodes).
pub fn apply(v: &mut Value, schema: &Value) {
    match v {
        Value::Object(m) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, prop) in props.into_iter().flatten() {
                let Some(default) = prop.get("default") else {
                    continue;
                };
                let nullable = prop.get("nullable").and_then(Value::as_bool) == Some(true);
                if m.get(k).is_none_or(|x| x.is_null() && !nullable) {
                    m.insert(k.clone(), default.clone());
                }
            }
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (k, child) in m.iter_mut() {
                if let Some(s) = props.and_then(|p| p.get(k)).or(additional) {
                    apply(child, s);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for item in items {
                    apply(item, s);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_absent_and_non_nullable_null_fields_at_every_depth() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "priority": {"type": "integer", "default": 0},
                "shape": {"type": "object", "default": {},
                          "properties": {"mtu": {"type": "integer", "default": 1500}}},
                "note": {"type": "string", "nullable": true, "default": "n"},
                "ports": {"type": "array", "items": {"type": "object",
                          "properties": {"protocol": {"type": "string", "default": "TCP"}}}},
                "byName": {"type": "object", "additionalProperties": {"type": "object",
                           "properties": {"on": {"type": "boolean", "default": true}}}}}},
            "status": {"type": "object", "properties": {"nodes": {"type": "array", "default": []}}}}});
        let mut obj = json!({"spec": {"priority": null, "note": null,
            "ports": [{"port": 1}], "byName": {"a": {}}}});
        apply(&mut obj, &schema);
        assert_eq!(
            obj,
            json!({"spec": {"priority": 0, "note": null, "shape": {"mtu": 1500},
                "ports": [{"port": 1, "protocol": "TCP"}], "byName": {"a": {"on": true}}}})
        );
        let mut kept = json!({"spec": {"priority": 5}});
        apply(&mut kept, &schema);
        assert_eq!(kept["spec"]["priority"], 5);
        assert!(kept.get("status").is_none(), "no default of its own");
    }
}
