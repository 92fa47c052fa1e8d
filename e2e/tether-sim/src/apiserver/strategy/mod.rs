//! Per-kind defaulting, admission and validation of the built-in kinds, as the real
//! server's registry strategies, v1 defaulters and admission plugins do them: pods
//! (`pod.rs`, the token volume `pod_token.rs`), every pod spec and template (`pod_spec.rs`, `pod_validation.rs`), the apps kinds and
//! replication controllers (`apps.rs`), services (`service.rs`), jobs and cron jobs
//! (`batch.rs`). Runs inside the store's write (it must not read the store).

pub mod apps;
pub mod batch;
pub mod pod;
pub mod pod_spec;
pub mod pod_token;
pub mod pod_validation;
pub mod service;

use serde_json::{Value, json};

use super::crud::Ctx;
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult};

/// The storage ids of the kinds this module prepares.
const HANDLED: [&str; 9] = [
    "/pods",
    "apps/deployments",
    "apps/daemonsets",
    "apps/replicasets",
    "apps/statefulsets",
    "/replicationcontrollers",
    "/services",
    "batch/jobs",
    "batch/cronjobs",
];

/// The status a created object starts with (the strategies' `PrepareForCreate` reset it;
/// Go writes the non-`omitempty` counters).
fn initial_status(kind: &str) -> Value {
    match kind {
        "DaemonSet" => json!({"currentNumberScheduled": 0, "numberMisscheduled": 0,
                              "desiredNumberScheduled": 0, "numberReady": 0}),
        "ReplicaSet" | "ReplicationController" => json!({"replicas": 0}),
        "StatefulSet" => json!({"replicas": 0, "availableReplicas": 0}),
        _ => json!({}),
    }
}

/// Default, admit and validate `obj` (`old`: the stored object on update). A body whose
/// fields have the wrong JSON types (say `spec: 5`) is refused with 400, as the real
/// server's decoding into the Go types refuses it: `spec` and `status` are checked here,
/// and indexing a deeper wrongly typed value to default it panics, which is caught.
pub fn prepare(
    ctx: &Ctx,
    rt: &ResourceType,
    old: Option<&Value>,
    obj: &mut Value,
) -> ApiResult<()> {
    if !HANDLED.contains(&rt.id().as_str()) {
        return Ok(());
    }
    let wrong_type = || {
        ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: a field has the wrong type",
            kind = rt.kind,
            version = rt.version
        ))
    };
    if ["spec", "status"]
        .iter()
        .any(|f| obj.get(*f).is_some_and(|v| !v.is_object() && !v.is_null()))
    {
        return Err(wrong_type());
    }
    let mut work = obj.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        prepare_typed(ctx, rt, old, &mut work)
    }));
    match outcome {
        Ok(result) => {
            *obj = work;
            result
        }
        Err(_) => Err(wrong_type()),
    }
}

fn prepare_typed(
    ctx: &Ctx,
    rt: &ResourceType,
    old: Option<&Value>,
    obj: &mut Value,
) -> ApiResult<()> {
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let invalid =
        |causes: &[(String, String)]| ApiError::invalid(&rt.group, &rt.kind, &name, causes);
    let mut causes = match rt.id().as_str() {
        "/pods" => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec::default(spec);
                pod_spec::default_pod(spec);
            }
            match old {
                None => match pod::admit_create(obj) {
                    Ok(()) => Vec::new(),
                    Err(m) => {
                        return Err(ApiError::forbidden(
                            format!("pods {name:?} is forbidden: {m}"),
                            &name,
                            "",
                            "pods",
                        ));
                    }
                },
                Some(o) => {
                    pod::admit_update(o, obj);
                    pod::validate_update(o, obj)
                }
            }
        }
        "apps/deployments"
        | "apps/daemonsets"
        | "apps/replicasets"
        | "apps/statefulsets"
        | "/replicationcontrollers" => {
            apps::default(&rt.kind, old, obj);
            if old.is_none() {
                obj["status"] = initial_status(&rt.kind);
            }
            apps::validate(&rt.kind, obj)
        }
        "/services" => service::prepare(
            &ctx.st.services,
            &format!("{ns}/{name}"),
            old,
            obj,
            ctx.dry_run,
        ),
        "batch/jobs" => {
            // The selector names the uid, which the store keeps when one is set.
            let uid = match obj["metadata"]["uid"].as_str().filter(|u| !u.is_empty()) {
                Some(u) => u.to_string(),
                None => uuid::Uuid::new_v4().to_string(),
            };
            if old.is_none() {
                obj["metadata"]["uid"] = json!(uid);
                obj["status"] = initial_status(&rt.kind);
            }
            batch::default_job(old, obj, &uid);
            Vec::new()
        }
        "batch/cronjobs" => {
            batch::default_cron_job(obj);
            Vec::new()
        }
        _ => Vec::new(),
    };
    if let Some(path) = template_spec_path(&rt.id()) {
        let spec = path.split('.').fold(&*obj, |at, field| &at[field]);
        causes.extend(pod_validation::validate(spec, path));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(&causes))
    }
}

/// Where the pod spec of a kind is, as a dotted path.
fn template_spec_path(id: &str) -> Option<&'static str> {
    match id {
        "/pods" => Some("spec"),
        "apps/deployments"
        | "apps/daemonsets"
        | "apps/replicasets"
        | "apps/statefulsets"
        | "/replicationcontrollers"
        | "batch/jobs" => Some("spec.template.spec"),
        "batch/cronjobs" => Some("spec.jobTemplate.spec.template.spec"),
        _ => None,
    }
}

/// Side effects of a committed write (`new` is `None` for deletes): a deleted Service
/// frees its ClusterIP and node ports.
pub fn after_write(ctx: &Ctx, rt: &ResourceType, old: Option<&Value>, new: Option<&Value>) {
    if rt.id() == "/services"
        && new.is_none()
        && let Some(o) = old
    {
        let owner = format!(
            "{}/{}",
            o["metadata"]["namespace"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        );
        ctx.st.services.release(&owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::rbac::UserInfo;
    use crate::apiserver::state::State;

    #[test]
    fn wrongly_typed_fields_are_a_bad_request_not_a_panic() {
        let st = State::for_tests();
        let user = UserInfo::default();
        let ctx = Ctx {
            st: &st,
            user: &user,
            manager: "m".into(),
            strict: false,
            dry_run: false,
        };
        let pods = st.find("", "v1", "pods").unwrap();
        let old = json!({"metadata": {"name": "p"}, "spec": {"containers": []}});
        let mut bad = json!({"metadata": {"name": "p"}, "spec": [1]});
        let e = prepare(&ctx, &pods, Some(&old), &mut bad).unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(bad["spec"], json!([1]), "left as it was");
        let mut svc_bad = json!({"metadata": {"name": "s"}, "spec": {"ports": [1]}});
        let svc = st.find("", "v1", "services").unwrap();
        assert_eq!(
            prepare(&ctx, &svc, None, &mut svc_bad).unwrap_err().code,
            400
        );
    }
}
