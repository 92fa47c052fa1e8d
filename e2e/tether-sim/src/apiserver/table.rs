//! `meta.k8s.io/v1` Table answers, which `kubectl get` asks for to print columns.

use serde_json::{Value, json};

fn columns() -> Value {
    json!([
        {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
        {"name": "Created At", "type": "date", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
    ])
}

fn row(o: &Value, include: Option<&str>) -> Value {
    let object = if include == Some("Object") {
        o.clone()
    } else {
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
    };
    json!({"cells": [o["metadata"]["name"], o["metadata"]["creationTimestamp"]], "object": object})
}

/// A Table of one object.
pub fn of_object(o: &Value, include: Option<&str>) -> Value {
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": o["metadata"]["resourceVersion"]},
           "columnDefinitions": columns(), "rows": [row(o, include)]})
}

/// A Table of a list.
pub fn of_list(l: &Value, include: Option<&str>) -> Value {
    let rows: Vec<Value> = l["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| row(o, include))
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": l["metadata"], "columnDefinitions": columns(), "rows": rows})
}
