//! `POST pods/<name>/binding`: what the scheduler does to put a pod on a node, the only
//! way `spec.nodeName` changes after creation (kubernetes v1.34
//! `pkg/registry/core/pod/storage/storage.go`, `BindingREST.Create`, `assignPod`,
//! `setPodNodeAndMetadata`): the node is set if none is, the binding's annotations are
//! copied, the `PodScheduled` condition turns True, and the answer is a Success Status.

use bytes::Bytes;
use serde_json::{Value, json};

use super::crud::{self, Ctx};
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult};
use super::store::{Generation, Write};

/// Bind pod `ns/name` to the node a Binding body names.
pub fn bind(
    ctx: &Ctx,
    pods: &ResourceType,
    ns: &str,
    name: &str,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Value> {
    let binding = crud::decode(body, ct, "Binding")?;
    let node = binding["target"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            name,
            &[("target.name".into(), "Required value".into())],
        ));
    }
    let conflict = |why: String| ApiError::conflict("", "pods/binding", name, &why);
    let current = crud::get(ctx.st, pods, ns, name)?;
    if !current["metadata"]["deletionTimestamp"].is_null() {
        return Err(conflict(format!(
            "pod {name} is being deleted, cannot be assigned to a host"
        )));
    }
    if let Some(on) = current["spec"]["nodeName"]
        .as_str()
        .filter(|n| !n.is_empty())
    {
        return Err(conflict(format!(
            "pod {name} is already assigned to node {on:?}"
        )));
    }
    let mut bound = current;
    bound["spec"]["nodeName"] = json!(node);
    for (k, v) in binding["metadata"]["annotations"]
        .as_object()
        .into_iter()
        .flatten()
    {
        bound["metadata"]["annotations"][k] = v.clone();
    }
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let scheduled = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let mut conditions: Vec<Value> = bound["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["type"] != "PodScheduled")
        .collect();
    conditions.push(scheduled);
    bound["status"]["conditions"] = json!(conditions);
    // Spec and status change together, past the pod-update rules, as the registry's
    // own GuaranteedUpdate does.
    let key = crud::key(pods, ns, name);
    let rv = bound["metadata"]["resourceVersion"].clone();
    ctx.st.store.write_or_preview(&key, Generation::IgnoreStatus, ctx.dry_run, |cur| match cur {
        Some(c) if c["metadata"]["resourceVersion"] == rv => Ok(Write::Put(bound)),
        Some(_) => Err(conflict("the object has been modified; please apply your changes to the latest version and try again".into())),
        None => Err(ApiError::not_found("", "pods", name)),
    })?;
    Ok(
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}
