//! What goes into the cache from the cloud's answers and what comes out of it for a
//! request: yurthub's cache manager (`pkg/yurthub/cachemanager/cache_manager.go`).
//!
//! In: a get/create/update/patch answer is stored under the request's name (a create's under
//! the object's own name), a `/status` answer under its parent (the key has no subresource,
//! `:567-638`); a list answer replaces everything the component has under that resource
//! (and namespace), objects cached by gets included (`:469-565`); watch events are applied
//! as they pass (`:363-467`). Status objects are not stored; a Pod without a node is not
//! stored (`:709-722`); an older resourceVersion never replaces a newer one.
//!
//! Out: a get (and an offline update or patch) returns the stored object (`:247-306`); a
//! list returns everything stored for the component under that resource, whatever the
//! selector (`:162-245`).

use std::path::PathBuf;

use serde_json::{Value, json};

use super::cache::resource_version;
use super::cacheable::gvr;
use super::hub::Hub;
use super::request::HubRequest;

/// Why the cache cannot answer.
pub enum Miss {
    /// Nothing stored, or a resource yurthub does not recognise: 404.
    NotFound,
    /// Anything else: 500.
    Other(String),
}

/// Fill in `kind` and `apiVersion` as yurthub does for list items (`:541-542`).
fn typed(mut obj: Value, api_version: &str, kind: &str) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), api_version.into());
        m.insert("kind".into(), kind.into());
    }
    obj
}

fn unassigned_pod(obj: &Value) -> bool {
    obj["kind"] == "Pod"
        && obj["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
}

/// Whether a decoded answer is something to store at all: an object, not a Status or a
/// Table (kubectl asks for Tables; yurthub would choke on them too, see the README).
fn storable(obj: &Value) -> bool {
    let kind = obj["kind"].as_str().unwrap_or_default();
    obj.is_object()
        && !matches!(kind, "Status" | "Table")
        && !kind.starts_with("PartialObjectMetadata")
}

/// Store one object under `namespace/name` for the request's component.
fn store_one(hub: &Hub, req: &HubRequest, namespace: &str, name: &str, obj: &Value) {
    let Some(component) = req.component() else {
        return;
    };
    if name.is_empty() || unassigned_pod(obj) {
        return;
    }
    if let Some(key) = hub.cache.key(component, &gvr(req), namespace, name) {
        let _ = hub.cache.store(&key, obj);
    }
}

/// `saveOneObject` for a get, create, update or patch answer (or an offline event).
pub fn save_one(hub: &Hub, req: &HubRequest, body: &[u8]) {
    let Ok(obj) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if !storable(&obj) {
        return;
    }
    let name = if req.info.verb == "create" {
        obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    } else {
        req.info.name.clone()
    };
    hub.kinds.learn(
        obj["apiVersion"].as_str().unwrap_or_default(),
        obj["kind"].as_str().unwrap_or_default(),
    );
    store_one(hub, req, &req.info.namespace, &name, &obj);
}

/// `saveListObject`.
pub fn save_list(hub: &Hub, req: &HubRequest, body: &[u8]) {
    let Ok(list) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let list_kind = list["kind"].as_str().unwrap_or_default();
    let Some(kind) = list_kind.strip_suffix("List") else {
        return;
    };
    if !storable(&list) || kind.starts_with("PartialObjectMetadata") {
        return;
    }
    let api_version = list["apiVersion"].as_str().unwrap_or_default().to_string();
    hub.kinds.learn(&api_version, kind);
    let items: Vec<Value> = list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|i| typed(i, &api_version, kind))
        .collect();
    let Some(component) = req.component() else {
        return;
    };
    let info = &req.info;
    let namespace_of = |i: &Value| {
        i["metadata"]["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(&info.namespace)
            .to_string()
    };
    if !info.name.is_empty() && items.len() == 1 {
        let ns = namespace_of(&items[0]);
        let name = items[0]["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        store_one(hub, req, &ns, &name, &items[0]);
        return;
    }
    let gvr = gvr(req);
    let Some(dir) = hub.cache.key(component, &gvr, &info.namespace, "") else {
        return;
    };
    let objects: Vec<(PathBuf, Value)> = items
        .into_iter()
        .filter(|i| !unassigned_pod(i))
        .filter_map(|i| {
            let name = i["metadata"]["name"].as_str()?.to_string();
            let key = hub.cache.key(component, &gvr, &namespace_of(&i), &name)?;
            Some((key, i))
        })
        .collect();
    let _ = hub.cache.replace(&dir, &objects);
}

/// One event of a watch answer (`saveWatchObject`): ADDED and MODIFIED store, DELETED
/// removes, BOOKMARK and ERROR change nothing.
pub fn apply_event(hub: &Hub, req: &HubRequest, event: &Value) {
    let obj = &event["object"];
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    if name.is_empty() {
        return;
    }
    match event["type"].as_str() {
        Some("ADDED" | "MODIFIED") => store_one(hub, req, ns, name, obj),
        Some("DELETED") => {
            if let Some(component) = req.component()
                && let Some(key) = hub.cache.key(component, &gvr(req), ns, name)
            {
                let _ = hub.cache.delete(&key);
            }
        }
        _ => {}
    }
}

/// `QueryCache`: the stored answer to a get, update, patch or list.
pub fn query(hub: &Hub, req: &HubRequest) -> Result<Value, Miss> {
    match req.info.verb.as_str() {
        "list" => query_list(hub, req),
        "get" | "patch" | "update" => query_one(hub, req),
        verb => Err(Miss::Other(format!(
            "could not QueryCache, unsupported verb {verb} of request {}",
            req.info.path
        ))),
    }
}

fn query_one(hub: &Hub, req: &HubRequest) -> Result<Value, Miss> {
    let component = req.component().unwrap_or_default();
    let info = &req.info;
    let key = hub
        .cache
        .key(component, &gvr(req), &info.namespace, &info.name)
        .ok_or(Miss::NotFound)?;
    match hub.cache.get(&key) {
        Ok(Some(obj)) => Ok(obj),
        Ok(None) => Err(Miss::NotFound),
        Err(e) => Err(Miss::Other(e.to_string())),
    }
}

fn query_list(hub: &Hub, req: &HubRequest) -> Result<Value, Miss> {
    let component = req.component().unwrap_or_default();
    let info = &req.info;
    let gvr = gvr(req);
    let mut kind = hub.kinds.kind_for(&gvr).ok_or(Miss::NotFound)?;
    let empty = |kind: &str| {
        json!({"kind": format!("{kind}List"), "apiVersion": gvr.api_version(),
               "metadata": {"resourceVersion": "0"}, "items": []})
    };
    let key = hub
        .cache
        .key(component, &gvr, &info.namespace, &info.name)
        .ok_or(Miss::NotFound)?;
    let objs = match hub.cache.list(&key) {
        Err(e) => return Err(Miss::Other(e.to_string())),
        // A list pinned to a name answers empty rather than 404, like the API server (:208-211).
        Ok(None) if !info.name.is_empty() => return Ok(empty(&kind)),
        Ok(None) => return Err(Miss::NotFound),
        Ok(Some(objs)) => objs,
    };
    if objs.is_empty() {
        if component == "kubelet" && info.resource == "pods" {
            // kubelet must never see its pods vanish (:215-224).
            return Err(Miss::NotFound);
        }
        return Ok(empty(&kind));
    }
    if let Some(k) = objs[0]["kind"].as_str()
        && k != kind
    {
        kind = k.to_string();
    }
    let rv = objs.iter().map(resource_version).max().unwrap_or(0);
    Ok(json!({
        "kind": format!("{kind}List"),
        "apiVersion": gvr.api_version(),
        "metadata": {"resourceVersion": rv.to_string()},
        "items": objs,
    }))
}
