//! A minimal OpenAPI v3 surface: kubectl reads it to learn that the server validates
//! fields itself (`fieldValidation`), after which it needs no schemas.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};

use super::resources::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the group-versions and where their documents are. The hash in each
/// URL is of the document itself, so clients refetch exactly when it changes.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for r in reg.all() {
        let p = gv_path(&r.group, &r.version);
        if paths.contains_key(&p) {
            continue;
        }
        let Some(doc) = group_version(reg, &r.group, &r.version) else {
            continue;
        };
        let mut h = std::hash::DefaultHasher::new();
        doc.to_string().hash(&mut h);
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={:016X}", h.finish())}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`.
pub fn group_version(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut paths = Map::new();
    for r in reg
        .all()
        .filter(|r| r.group == group && r.version == version && r.stored)
    {
        let base = format!("/{}", gv_path(&r.group, &r.version));
        let path = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{base}/{}/{{name}}", r.plural)
        };
        let op = json!({
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "parameters": [
                {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
            ],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(path, json!({"patch": op}));
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
