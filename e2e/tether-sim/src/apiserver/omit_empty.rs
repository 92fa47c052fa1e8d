//! What decoding into the Go types and encoding again drops: `omitempty` fields left
//! empty. Every object's `metadata` is an `ObjectMeta` round trip (custom resources too:
//! apiextensions-apiserver v0.34.0 `pkg/apiserver/customresource_handler.go:1353,1403`
//! reads it into `metav1.ObjectMeta` and writes it back with
//! `runtime.DefaultUnstructuredConverter`, whose `isEmpty` counts 0-length maps and
//! lists, apimachinery `pkg/runtime/converter.go:785-799,826`), so a patch removing the
//! last label leaves no `labels`. Of built-in bodies only a ConfigMap's data maps
//! are dropped here; a custom resource's own fields are unstructured and kept.

use serde_json::Value;

use super::resources::ResourceType;

/// Whether a JSON value is what `omitempty` leaves out of a string, map or list field.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Drop the empty `omitempty` fields `keys` of `obj` (all of them when `keys` is empty).
fn drop_empty(obj: &mut Value, keys: &[&str]) {
    if let Some(m) = obj.as_object_mut() {
        m.retain(|k, v| !(is_empty(v) && (keys.is_empty() || keys.contains(&k.as_str()))));
    }
}

/// Leave out of `obj` (of type `rt`) what the real server's Go round trip leaves out.
pub fn apply(rt: &ResourceType, obj: &mut Value) {
    // ObjectMeta's strings, maps and lists are all `omitempty` (its numbers are pointers
    // or never empty once set, and `creationTimestamp` is a struct).
    if let Some(meta) = obj.get_mut("metadata") {
        drop_empty(meta, &[]);
    }
    if rt.custom {
        return;
    }
    if rt.id() == "/configmaps" {
        drop_empty(obj, &["data", "binaryData"]);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::apiserver::builtins::builtins;
    use serde_json::json;

    #[test]
    fn emptied_metadata_and_data_maps_vanish_but_a_custom_body_keeps_its_own() {
        let all = builtins();
        let cm = all.iter().find(|r| r.plural == "configmaps").unwrap();
        let mut obj = json!({"metadata": {"name": "c", "labels": {}, "annotations": {},
            "finalizers": [], "generateName": "", "deletionGracePeriodSeconds": 0},
            "data": {}, "binaryData": {}});
        apply(cm, &mut obj);
        assert_eq!(
            obj,
            json!({"metadata": {"name": "c", "deletionGracePeriodSeconds": 0}})
        );
        let mut custom = cm.clone();
        custom.custom = true;
        let mut cr =
            json!({"metadata": {"name": "n", "labels": {}}, "data": {}, "spec": {"m": {}}});
        apply(&custom, &mut cr);
        assert_eq!(
            cr,
            json!({"metadata": {"name": "n"}, "data": {}, "spec": {"m": {}}})
        );
    }
}
