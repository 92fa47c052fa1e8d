//! The `scale` subresource of deployments, replicasets, statefulsets and
//! replicationcontrollers: an `autoscaling/v1` Scale read from and written to the parent's
//! `spec.replicas` (kubernetes v1.34 `pkg/registry/apps/deployment/storage/storage.go`
//! `ScaleREST`, `scaleFromDeployment`; the same shape for the other three).

use bytes::Bytes;
use serde_json::{Value, json};

use super::builtins::builtin;
use super::crud::{self, Ctx, PatchKind};
use super::modify::{self, Change};
use super::patch;
use super::resources::ResourceType;
use super::select::LabelSelector;
use super::status::{ApiError, ApiResult};

/// The Scale of `obj`: its name, namespace, uid, resourceVersion and creationTimestamp;
/// `spec.replicas`; `status.replicas` and the selector as text (a replication controller's
/// is a plain label map).
pub fn of(obj: &Value, rt: &ResourceType) -> Value {
    let sel = &obj["spec"]["selector"];
    let selector = if rt.group.is_empty() {
        LabelSelector::from_object(&json!({ "matchLabels": sel }))
    } else {
        LabelSelector::from_object(sel)
    }
    .to_string();
    let meta = &obj["metadata"];
    let mut spec = json!({});
    // `replicas,omitempty` on ScaleSpec; `replicas` always on ScaleStatus.
    if let Some(n) = obj["spec"]["replicas"].as_i64().filter(|n| *n != 0) {
        spec["replicas"] = json!(n);
    }
    let mut status = json!({"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0)});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
           "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                        "resourceVersion": meta["resourceVersion"],
                        "creationTimestamp": meta["creationTimestamp"]},
           "spec": spec, "status": status})
}

/// The Scale type itself, for checking bodies and strategic merge patches.
fn scale_type() -> ResourceType {
    builtin("autoscaling", "v1", "scale", "Scale", true, false)
}

/// Write the replicas of `scale` into the parent; its resourceVersion, if set, must be
/// the parent's (409 otherwise).
fn write(ctx: &Ctx, rt: &ResourceType, ns: &str, name: &str, scale: &Value) -> ApiResult<Value> {
    let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            &[(
                "spec.replicas".into(),
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    let mut change = json!({"spec": {"replicas": replicas}});
    if let Some(rv) = scale["metadata"]["resourceVersion"]
        .as_str()
        .filter(|r| !r.is_empty())
    {
        change["metadata"] = json!({ "resourceVersion": rv });
    }
    let stored = modify::modify(
        ctx,
        rt,
        ns,
        name,
        "scale",
        Change::Patch(PatchKind::Merge, change, false),
    )?;
    Ok(of(&stored, rt))
}

/// Answer get, update or patch of `<rt>/<name>/scale`.
pub fn handle(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    verb: &str,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Value> {
    let scale_rt = scale_type();
    match verb {
        "get" => Ok(of(&crud::get(ctx.st, rt, ns, name)?, rt)),
        "update" => {
            let mut scale = crud::decode(body, ct, "Scale")?;
            crud::check_type(&mut scale, &scale_rt)?;
            if let Some(n) = scale["metadata"]["name"].as_str().filter(|n| *n != name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            write(ctx, rt, ns, name, &scale)
        }
        "patch" => {
            let kind = PatchKind::for_resource(ct, &scale_rt)?;
            let mut scale = of(&crud::get(ctx.st, rt, ns, name)?, rt);
            // A patch without a resourceVersion applies to whatever is current.
            scale["metadata"]["resourceVersion"] = Value::Null;
            let p: Value = if kind == PatchKind::Apply {
                crud::decode(body, "application/yaml", "Scale")?
            } else {
                serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
            };
            match kind {
                PatchKind::Merge | PatchKind::Apply => patch::merge_patch(&mut scale, &p),
                PatchKind::Json => patch::json_patch(&mut scale, &p)?,
                PatchKind::Strategic => patch::strategic_merge_patch(&mut scale, &p, &scale_rt)?,
            }
            write(ctx, rt, ns, name, &scale)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_scale_carries_replicas_and_selector_text() {
        let rt = builtin("apps", "v1", "deployments", "Deployment", true, true);
        let d = json!({"metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"}}},
            "status": {"replicas": 2}});
        let s = of(&d, &rt);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(
            s["status"],
            json!({"replicas": 2, "selector": "app=web,tier=fe"})
        );
        assert_eq!(s["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn zero_replicas_are_omitted_from_spec_but_not_status() {
        let rt = builtin(
            "",
            "v1",
            "replicationcontrollers",
            "ReplicationController",
            true,
            true,
        );
        let rc =
            json!({"metadata": {"name": "r"}, "spec": {"replicas": 0, "selector": {"a": "b"}}});
        let s = of(&rc, &rt);
        assert_eq!(s["spec"], json!({}));
        assert_eq!(s["status"], json!({"replicas": 0, "selector": "a=b"}));
    }
}
