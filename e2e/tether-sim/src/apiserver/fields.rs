//! Field sets as server-side apply tracks them (`FieldsV1`): paths of `f:<field>` and
//! `k:{<list-map keys>}` elements.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};

/// A path in an object: `f:name` for fields, `k:{"key":"v"}` for list-map items.
pub type Path = Vec<String>;
/// A set of owned paths (leaves and list-map items).
pub type FieldSet = BTreeSet<Path>;
/// List fields merged as maps: field-name path → key fields.
pub type ListMaps = HashMap<Vec<String>, Vec<String>>;

fn names(path: &[String]) -> Vec<String> {
    path.iter()
        .filter_map(|p| p.strip_prefix("f:").map(String::from))
        .collect()
}

/// The `k:{...}` element naming one list-map item.
pub fn item_key(item: &Value, keys: &[String]) -> String {
    let mut m = Map::new();
    for k in keys {
        m.insert(k.clone(), item.get(k).cloned().unwrap_or(Value::Null));
    }
    format!("k:{}", Value::Object(m))
}

/// The paths an object sets.
pub fn fields_of(obj: &Value, lists: &ListMaps) -> FieldSet {
    let mut out = FieldSet::new();
    walk(obj, &mut Vec::new(), lists, &mut out);
    out
}

fn walk(v: &Value, path: &mut Path, lists: &ListMaps, out: &mut FieldSet) {
    let Some(m) = v.as_object() else { return };
    for (k, child) in m {
        path.push(format!("f:{k}"));
        match child {
            Value::Object(inner) if !inner.is_empty() => walk(child, path, lists, out),
            Value::Array(items) if lists.contains_key(&names(path)) => {
                let keys = lists.get(&names(path)).cloned().unwrap_or_default();
                for item in items {
                    path.push(item_key(item, &keys));
                    out.insert(path.clone());
                    walk(item, path, lists, out);
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        }
        path.pop();
    }
}

fn matches_key(item: &Value, elem: &str) -> bool {
    let Some(json) = elem.strip_prefix("k:") else {
        return false;
    };
    let Ok(Value::Object(want)) = serde_json::from_str::<Value>(json) else {
        return false;
    };
    want.iter().all(|(k, v)| item.get(k) == Some(v))
}

/// The value at a path.
pub fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for elem in path {
        cur = if let Some(f) = elem.strip_prefix("f:") {
            cur.get(f)?
        } else {
            cur.as_array()?.iter().find(|i| matches_key(i, elem))?
        };
    }
    Some(cur)
}

/// Remove the value at a path (a field, or a whole list-map item).
pub fn remove(obj: &mut Value, path: &[String]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for elem in parent {
        let next = if let Some(f) = elem.strip_prefix("f:") {
            cur.get_mut(f)
        } else {
            cur.as_array_mut()
                .and_then(|a| a.iter_mut().find(|i| matches_key(i, elem)))
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(a) = cur.as_array_mut() {
        a.retain(|i| !matches_key(i, last));
    }
}

/// Merge an applied configuration into a live object: maps field by field, list-maps
/// item by item (by key), everything else replaced.
pub fn merge(live: &mut Value, applied: &Value, path: &mut Vec<String>, lists: &ListMaps) {
    match (live.as_object_mut(), applied.as_object()) {
        (Some(l), Some(a)) => {
            for (k, av) in a {
                path.push(k.clone());
                match l.get_mut(k) {
                    Some(lv) => merge(lv, av, path, lists),
                    None => {
                        l.insert(k.clone(), av.clone());
                    }
                }
                path.pop();
            }
            return;
        }
        (None, Some(_)) => {
            *live = applied.clone();
            return;
        }
        _ => {}
    }
    if let (Some(keys), Some(items), true) = (
        lists.get(path.as_slice()),
        applied.as_array(),
        live.is_array(),
    ) {
        let keys = keys.clone();
        if let Some(l) = live.as_array_mut() {
            for item in items {
                let k = item_key(item, &keys);
                match l.iter_mut().find(|i| matches_key(i, &k)) {
                    Some(li) => merge(li, item, path, lists),
                    None => l.push(item.clone()),
                }
            }
        }
        return;
    }
    *live = applied.clone();
}

/// A field set as `fieldsV1` JSON.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        insert(&mut root, path);
    }
    Value::Object(root)
}

fn insert(m: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Value::Object(child) = m.entry(first.clone()).or_insert_with(|| json!({})) {
        if !rest.is_empty() {
            insert(child, rest);
        } else if first.starts_with("k:") {
            child.insert(".".into(), json!({}));
        }
    }
}

/// Parse `fieldsV1` JSON back into a field set.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    fn rec(v: &Value, path: &mut Path, out: &mut FieldSet) {
        let Some(m) = v.as_object() else { return };
        if !path.is_empty() && (m.is_empty() || m.contains_key(".")) {
            out.insert(path.clone());
        }
        for (k, child) in m.iter().filter(|(k, _)| *k != ".") {
            path.push(k.clone());
            rec(child, path, out);
            path.pop();
        }
    }
    rec(v, &mut Vec::new(), &mut out);
    out
}

/// `.status.nodes[nodeName="edge-1"].matchedPods`, as conflict messages print paths.
pub fn display(path: &[String]) -> String {
    let mut s = String::new();
    for elem in path {
        if let Some(f) = elem.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(Ok(Value::Object(m))) =
            elem.strip_prefix("k:").map(serde_json::from_str::<Value>)
        {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> ListMaps {
        [(
            vec!["status".to_string(), "nodes".to_string()],
            vec!["nodeName".to_string()],
        )]
        .into_iter()
        .collect()
    }

    #[test]
    fn fields_round_trip_through_fields_v1() {
        let obj = json!({"status": {"nodes": [{"nodeName": "a", "matchedPods": 1}]}, "spec": {"mtu": 1400}});
        let set = fields_of(&obj, &lists());
        assert!(set.contains(&vec!["f:spec".to_string(), "f:mtu".to_string()]));
        let item = vec![
            "f:status".to_string(),
            "f:nodes".to_string(),
            "k:{\"nodeName\":\"a\"}".to_string(),
        ];
        assert!(set.contains(&item));
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
        assert_eq!(display(&item), ".status.nodes[nodeName=\"a\"]");
    }

    #[test]
    fn list_map_merge_and_remove() {
        let mut live = json!({"status": {"nodes": [{"nodeName": "a", "matchedPods": 1}]}});
        merge(
            &mut live,
            &json!({"status": {"nodes": [{"nodeName": "b", "matchedPods": 2}]}}),
            &mut vec![],
            &lists(),
        );
        merge(
            &mut live,
            &json!({"status": {"nodes": [{"nodeName": "a", "matchedPods": 3}]}}),
            &mut vec![],
            &lists(),
        );
        assert_eq!(
            live["status"]["nodes"],
            json!([{"nodeName": "a", "matchedPods": 3}, {"nodeName": "b", "matchedPods": 2}])
        );
        let item = vec![
            "f:status".to_string(),
            "f:nodes".to_string(),
            "k:{\"nodeName\":\"a\"}".to_string(),
        ];
        remove(&mut live, &item);
        assert_eq!(
            live["status"]["nodes"],
            json!([{"nodeName": "b", "matchedPods": 2}])
        );
    }
}
