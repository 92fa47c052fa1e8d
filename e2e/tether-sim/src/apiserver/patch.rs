//! Patches (JSON merge, JSON patch, strategic merge) and server-side apply with
//! field managers.

use serde_json::{Map, Value, json};

use super::crud::PatchKind;
use super::fields::{self, FieldSet, ListMaps};
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult};
use super::strategic::{self, Schema};

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone)]
struct Manager {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: String,
    set: FieldSet,
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn read_managers(obj: &Value) -> Vec<Manager> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| Manager {
            manager: s(&e["manager"]),
            operation: s(&e["operation"]),
            api_version: s(&e["apiVersion"]),
            time: s(&e["time"]),
            subresource: s(&e["subresource"]),
            set: fields::from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

fn write_managers(obj: &mut Value, mut ms: Vec<Manager>) {
    for m in &mut ms {
        m.set.retain(|p| fields::get(obj, p).is_some());
    }
    ms.retain(|m| !m.set.is_empty());
    let entries: Vec<Value> = ms
        .iter()
        .map(|m| {
            let mut e = json!({
                "manager": m.manager, "operation": m.operation, "apiVersion": m.api_version,
                "time": m.time, "fieldsType": "FieldsV1", "fieldsV1": fields::to_fields_v1(&m.set),
            });
            if !m.subresource.is_empty() {
                e["subresource"] = json!(m.subresource);
            }
            e
        })
        .collect();
    if entries.is_empty() {
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(entries);
    }
}

fn list_maps(rt: &ResourceType) -> ListMaps {
    rt.list_map_keys.clone()
}

/// The part of an object a writer at this endpoint owns: status only for `/status`;
/// everything but status for the main resource of a type with a status subresource.
/// Metadata contributes labels and annotations only.
pub fn projected(obj: &Value, rt: &ResourceType, subresource: &str) -> Value {
    let mut out = Map::new();
    let Some(m) = obj.as_object() else {
        return Value::Object(out);
    };
    for (k, v) in m {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                let mut meta = Map::new();
                for f in ["labels", "annotations"] {
                    if let Some(x) = v
                        .get(f)
                        .filter(|x| x.as_object().is_some_and(|o| !o.is_empty()))
                    {
                        meta.insert(f.into(), x.clone());
                    }
                }
                if !meta.is_empty() && subresource.is_empty() {
                    out.insert(k.clone(), Value::Object(meta));
                }
            }
            "status" if subresource == "status" || !rt.status => {
                out.insert(k.clone(), v.clone());
            }
            _ if subresource.is_empty() => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

/// Server-side apply of `applied` by `manager` onto `live` (or a new object).
pub fn apply(
    live: &Value,
    applied: &Value,
    rt: &ResourceType,
    subresource: &str,
    manager: &str,
    force: bool,
) -> ApiResult<Value> {
    let lists = list_maps(rt);
    let view = projected(applied, rt, subresource);
    let set = fields::fields_of(&view, &lists);
    let mut managers = read_managers(live);
    let mine = managers.iter().position(|m| {
        m.manager == manager && m.operation == "Apply" && m.subresource == subresource
    });
    let mut conflicts: Vec<(String, Vec<String>)> = Vec::new();
    for p in &set {
        let (lv, av) = (fields::get(live, p), fields::get(&view, p));
        if lv.is_none() || lv == av || p.last().is_some_and(|l| l.starts_with("k:")) {
            continue;
        }
        for (i, m) in managers.iter_mut().enumerate() {
            if Some(i) != mine && m.set.contains(p) {
                if force {
                    m.set.remove(p);
                } else if m.operation == "Update" {
                    conflicts.push((
                        format!("{}\" using {}", m.manager, m.api_version),
                        p.clone(),
                    ));
                } else {
                    conflicts.push((format!("{}\"", m.manager), p.clone()));
                }
            }
        }
    }
    if !conflicts.is_empty() {
        let name = live["metadata"]["name"].as_str().unwrap_or_default();
        return Err(conflict_error(&conflicts, rt, name));
    }
    let mut result = live.clone();
    let previous = mine.map(|i| managers[i].set.clone()).unwrap_or_default();
    let mut gone: Vec<&Vec<String>> = previous
        .difference(&set)
        .filter(|p| {
            !managers
                .iter()
                .enumerate()
                .any(|(i, m)| Some(i) != mine && m.set.contains(*p))
        })
        .collect();
    // Shorter paths first: removing a list-map item takes its fields with it.
    gone.sort_by_key(|p| p.len());
    for p in gone {
        fields::remove(&mut result, p);
    }
    fields::merge(&mut result, &view, &mut Vec::new(), &lists);
    let entry = Manager {
        manager: manager.into(),
        operation: "Apply".into(),
        api_version: rt.api_version(),
        time: now(),
        subresource: subresource.into(),
        set,
    };
    match mine {
        Some(i) => managers[i] = entry,
        None => managers.push(entry),
    }
    write_managers(&mut result, managers);
    Ok(result)
}

fn conflict_error(conflicts: &[(String, Vec<String>)], rt: &ResourceType, name: &str) -> ApiError {
    let n = conflicts.len();
    let message = if n == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with \"{}: {}",
            conflicts[0].0,
            fields::display(&conflicts[0].1)
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| format!("conflict with \"{m}: {}", fields::display(p)))
            .collect();
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    let causes = conflicts
        .iter()
        .map(|(m, p)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{m}"), "field": fields::display(p)})
        })
        .collect();
    ApiError::apply_conflict(message, causes, &rt.group, &rt.plural, name)
}

/// Record a non-apply write (`operation: Update`): the writer takes the fields it changed.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    rt: &ResourceType,
    subresource: &str,
    manager: &str,
) {
    let lists = list_maps(rt);
    let mut managers = old.map(read_managers).unwrap_or_default();
    let view = projected(new, rt, subresource);
    let changed: FieldSet = fields::fields_of(&view, &lists)
        .into_iter()
        .filter(|p| old.is_none_or(|o| fields::get(o, p) != fields::get(new, p)))
        .collect();
    if !changed.is_empty() {
        for m in &mut managers {
            m.set.retain(|p| !changed.contains(p));
        }
        match managers.iter_mut().find(|m| {
            m.manager == manager && m.operation == "Update" && m.subresource == subresource
        }) {
            Some(m) => {
                m.set.extend(changed);
                m.time = now();
            }
            None => managers.push(Manager {
                manager: manager.into(),
                operation: "Update".into(),
                api_version: rt.api_version(),
                time: now(),
                subresource: subresource.into(),
                set: changed,
            }),
        }
    }
    write_managers(new, managers);
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("the server rejected our request due to an error in our request: invalid JSON patch: {e}")))?;
    json_patch::patch(target, &ops).map_err(|_| ApiError::invalid_patch())
}

/// Strategic merge patch by the Go types' patch strategies (see `strategic.rs`); kinds
/// without Go types (custom resources) never get here: their PATCH refuses the media type.
pub fn strategic_merge_patch(
    target: &mut Value,
    patch: &Value,
    rt: &ResourceType,
) -> ApiResult<()> {
    let schema = Schema::of_kind(&rt.group, &rt.kind)
        .ok_or_else(|| ApiError::unsupported_patch_type(&PatchKind::CUSTOM))?;
    strategic::apply(target, patch, schema).map_err(ApiError::from)
}
