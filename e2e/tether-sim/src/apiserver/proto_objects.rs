//! Protobuf decoding of the ordinary objects kubectl's typed generators send
//! (`kubectl create namespace|configmap|serviceaccount|role|clusterrole|rolebinding|
//! clusterrolebinding`), into their JSON form.

use serde_json::{Map, Value, json};

use super::proto::fields;
use super::status::{ApiError, ApiResult};

fn text(b: &[u8]) -> Option<Value> {
    String::from_utf8(b.to_vec()).ok().map(Value::String)
}

/// A message of string fields (`repeated` ones become arrays).
fn strings(b: &[u8], names: &[(u64, &str, bool)]) -> Option<Value> {
    let mut o = Map::new();
    for (n, v) in fields(b)? {
        if let Some((_, name, repeated)) = names.iter().find(|(k, _, _)| *k == n) {
            let s = text(v)?;
            if *repeated {
                o.entry(name.to_string())
                    .or_insert_with(|| json!([]))
                    .as_array_mut()?
                    .push(s);
            } else if s.as_str().is_some_and(|t| !t.is_empty()) {
                // Go's omitempty: an empty optional string is not part of the JSON form.
                o.insert(name.to_string(), s);
            }
        }
    }
    Some(Value::Object(o))
}

/// A `map<string, string>` entry list.
fn string_map(entries: &[&[u8]]) -> Option<Value> {
    let mut m = Map::new();
    for e in entries {
        let kv = strings(e, &[(1, "key", false), (2, "value", false)])?;
        let key = kv["key"].as_str().unwrap_or_default().to_string();
        m.insert(key, kv.get("value").cloned().unwrap_or_else(|| json!("")));
    }
    Some(Value::Object(m))
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let f = fields(b)?;
    let mut meta = strings(
        b,
        &[
            (1, "name", false),
            (2, "generateName", false),
            (3, "namespace", false),
        ],
    )?;
    for (n, key) in [(11, "labels"), (12, "annotations")] {
        let entries: Vec<&[u8]> = f.iter().filter(|(k, _)| *k == n).map(|(_, v)| *v).collect();
        if !entries.is_empty() {
            meta[key] = string_map(&entries)?;
        }
    }
    Some(meta)
}

const RULE: &[(u64, &str, bool)] = &[
    (1, "verbs", true),
    (2, "apiGroups", true),
    (3, "resources", true),
    (4, "resourceNames", true),
    (5, "nonResourceURLs", true),
];
const SUBJECT: &[(u64, &str, bool)] = &[
    (1, "kind", false),
    (2, "apiGroup", false),
    (3, "name", false),
    (4, "namespace", false),
];
const ROLE_REF: &[(u64, &str, bool)] = &[
    (1, "apiGroup", false),
    (2, "kind", false),
    (3, "name", false),
];

fn body(kind: &str, raw: &[u8]) -> Option<Value> {
    let mut o = json!({});
    let f = fields(raw)?;
    let all = |n: u64| f.iter().filter(move |(k, _)| *k == n).map(|(_, v)| *v);
    if let Some(m) = all(1).next() {
        o["metadata"] = object_meta(m)?;
    }
    match kind {
        "Namespace" => {
            if let Some(spec) = all(2).next() {
                o["spec"] = strings(spec, &[(1, "finalizers", true)])?;
            }
        }
        "ConfigMap" => o["data"] = string_map(&all(2).collect::<Vec<_>>())?,
        "ServiceAccount" => {}
        "Role" | "ClusterRole" => {
            o["rules"] = all(2)
                .map(|r| strings(r, RULE))
                .collect::<Option<Vec<_>>>()?
                .into()
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            o["subjects"] = all(2)
                .map(|s| strings(s, SUBJECT))
                .collect::<Option<Vec<_>>>()?
                .into();
            o["roleRef"] = strings(all(3).next()?, ROLE_REF)?;
        }
        _ => return None,
    }
    Some(o)
}

/// Decode a protobuf object body (`k8s\0` envelope) of the kinds above.
pub fn decode_object(bytes: &[u8], content_type: &str) -> ApiResult<Value> {
    let unsupported = || ApiError::unsupported_media_type(content_type);
    let envelope = bytes.strip_prefix(b"k8s\x00").ok_or_else(unsupported)?;
    let f = fields(envelope).ok_or_else(unsupported)?;
    let type_meta = f
        .iter()
        .find(|(n, _)| *n == 1)
        .map(|(_, v)| *v)
        .ok_or_else(unsupported)?;
    let tm = strings(type_meta, &[(1, "apiVersion", false), (2, "kind", false)])
        .ok_or_else(unsupported)?;
    let kind = tm["kind"].as_str().unwrap_or_default().to_string();
    let raw = f
        .iter()
        .find(|(n, _)| *n == 2)
        .map(|(_, v)| *v)
        .ok_or_else(unsupported)?;
    let mut obj = body(&kind, raw).ok_or_else(unsupported)?;
    obj["apiVersion"] = tm["apiVersion"].clone();
    obj["kind"] = json!(kind);
    Ok(obj)
}
