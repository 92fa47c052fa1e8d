//! What the real control plane does around writes: CRD validation and registration,
//! namespace status, default ServiceAccounts, pod phase (deletions finish in `collector`).

use serde_json::{Value, json};

use super::admission::{BINDINGS, POLICIES};
use super::admission_objects::{binding_problems, policy_problems};
use super::crud::{self, Ctx};
use super::deletion;
use super::resources::{self, ResourceType};
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::store::{Generation, Key, Write};
use super::validate;

const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

fn validate_crd(crd: &Value) -> Vec<(String, String)> {
    let spec = &crd["spec"];
    let mut causes = Vec::new();
    let mut need = |field: &str, v: &Value| {
        if v.as_str().is_none_or(str::is_empty) {
            causes.push((field.to_string(), "Required value".to_string()));
        }
    };
    need("spec.group", &spec["group"]);
    need("spec.names.plural", &spec["names"]["plural"]);
    need("spec.names.kind", &spec["names"]["kind"]);
    if !matches!(spec["scope"].as_str(), Some("Namespaced" | "Cluster")) {
        causes.push((
            "spec.scope".into(),
            format!(
                "Unsupported value: {}: supported values: \"Cluster\", \"Namespaced\"",
                spec["scope"]
            ),
        ));
    }
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    if versions.is_empty() {
        causes.push((
            "spec.versions".into(),
            "Invalid value: null: must have exactly one version marked as storage version".into(),
        ));
    } else if versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count()
        != 1
    {
        causes.push((
            "spec.versions".into(),
            "Invalid value: must have exactly one version marked as storage version".into(),
        ));
    }
    let want = format!(
        "{}.{}",
        spec["names"]["plural"].as_str().unwrap_or_default(),
        spec["group"].as_str().unwrap_or_default()
    );
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if causes.is_empty() && name != want {
        causes.push((
            "metadata.name".into(),
            format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    causes
}

/// What the real server checks on an events.k8s.io/v1 Event create.
fn validate_new_event(ev: &Value) -> Vec<(String, String)> {
    let mut causes = Vec::new();
    for f in [
        "eventTime",
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if ev[f].as_str().is_none_or(str::is_empty) {
            causes.push((f.to_string(), "Required value".to_string()));
        }
    }
    for f in ["reportingInstance", "action", "reason"] {
        if ev[f].as_str().is_some_and(|s| s.len() > 128) {
            causes.push((
                f.to_string(),
                "Too long: may not be more than 128 bytes".into(),
            ));
        }
    }
    if ev["note"].as_str().is_some_and(|s| s.len() > 1024) {
        causes.push((
            "note".into(),
            "Too long: may not be more than 1024 bytes".into(),
        ));
    }
    match ev["type"].as_str() {
        Some("Normal" | "Warning") => {}
        other => causes.push((
            "type".into(),
            format!(
                "Unsupported value: {:?}: supported values: \"Normal\", \"Warning\"",
                other.unwrap_or_default()
            ),
        )),
    }
    let ns = ev["metadata"]["namespace"].as_str().unwrap_or_default();
    if let Some(rns) = ev["regarding"]["namespace"]
        .as_str()
        .filter(|r| !r.is_empty() && *r != ns)
    {
        causes.push((
            "regarding.namespace".into(),
            format!("Invalid value: {rns:?}: does not match event.namespace"),
        ));
    }
    causes
}

/// Validate and default an object about to be stored.
pub fn before_write(
    ctx: &Ctx,
    rt: &ResourceType,
    old: Option<&Value>,
    obj: &mut Value,
) -> ApiResult<()> {
    let st = ctx.st;
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if rt.custom {
        super::defaulting::apply(obj, &rt.schema);
        let found = validate::check_custom(obj, &rt.schema);
        if !found.invalid.is_empty() {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                &name,
                &found.invalid,
            ));
        }
        if ctx.strict && !found.unknown.is_empty() {
            let fields: Vec<String> = found
                .unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                rt.kind,
                rt.version,
                rt.kind,
                fields.join(", ")
            )));
        }
    }
    if let Some(old) = old {
        deletion::check_no_new_finalizers(rt, old, obj)?;
    }
    super::strategy::prepare(ctx, rt, old, obj)?;
    if rt.group == "events.k8s.io" && old.is_none() {
        let causes = validate_new_event(obj);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.group, &rt.kind, &name, &causes));
        }
    }
    match rt.id().as_str() {
        id @ (POLICIES | BINDINGS) => {
            let causes = if id == POLICIES {
                policy_problems(obj)
            } else {
                binding_problems(obj)
            };
            if !causes.is_empty() {
                return Err(ApiError::invalid(&rt.group, &rt.kind, &name, &causes));
            }
        }
        CRDS => {
            let causes = validate_crd(obj);
            if !causes.is_empty() {
                return Err(ApiError::invalid(&rt.group, &rt.kind, &name, &causes));
            }
            let group = obj["spec"]["group"].as_str().unwrap_or_default();
            let plural = obj["spec"]["names"]["plural"].as_str().unwrap_or_default();
            if old.is_none()
                && st
                    .registry()
                    .all()
                    .any(|r| !r.custom && r.group == group && r.plural == plural)
            {
                return Err(ApiError::invalid(
                    &rt.group,
                    &rt.kind,
                    &name,
                    &[(
                        "spec.group".into(),
                        "Invalid value: a built-in resource is served there".into(),
                    )],
                ));
            }
            let storage: Vec<Value> = obj["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect();
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let cond = |t: &str, reason: &str| json!({"type": t, "status": "True", "reason": reason, "message": "", "lastTransitionTime": now});
            obj["status"] = json!({
                "acceptedNames": obj["spec"]["names"],
                "conditions": [cond("NamesAccepted", "NoConflicts"), cond("Established", "InitialNamesAccepted")],
                "storedVersions": storage,
            });
        }
        "/namespaces" => {
            if obj["status"]["phase"].is_null() {
                obj["status"] = json!({"phase": "Active"});
            }
            if obj["spec"]["finalizers"].is_null() {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
            let labels = &mut obj["metadata"]["labels"];
            if labels.is_null() {
                *labels = json!({});
            }
            labels["kubernetes.io/metadata.name"] = json!(name);
        }
        "/pods" if old.is_none() && obj["status"]["phase"].is_null() => {
            obj["status"]["phase"] = json!("Pending");
        }
        _ => {}
    }
    Ok(())
}

/// Side effects of a committed write (`new` is `None` for deletes).
pub fn after_write(ctx: &Ctx, rt: &ResourceType, old: Option<&Value>, new: Option<&Value>) {
    super::strategy::after_write(ctx, rt, old, new);
    let st = ctx.st;
    match (rt.id().as_str(), new) {
        (CRDS, Some(crd)) => {
            let name = crd["metadata"]["name"].as_str().unwrap_or_default();
            st.registry_mut().set_crd(name, resources::from_crd(crd));
        }
        (CRDS, None) => {
            let Some(crd) = old else { return };
            let name = crd["metadata"]["name"].as_str().unwrap_or_default();
            let id = format!(
                "{}/{}",
                crd["spec"]["group"].as_str().unwrap_or_default(),
                crd["spec"]["names"]["plural"].as_str().unwrap_or_default()
            );
            delete_all(st, |k| k.resource == id);
            st.registry_mut().remove_crd(name);
        }
        ("/namespaces", Some(ns)) if old.is_none() => {
            let ns = ns["metadata"]["name"].as_str().unwrap_or_default();
            if let Some(sa_type) = st.find("", "v1", "serviceaccounts") {
                let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
                let sys = Ctx {
                    st,
                    user: ctx.user,
                    manager: "kube-controller-manager".into(),
                    strict: false,
                    dry_run: false,
                };
                // An existing "default" is fine: the controller only fills gaps.
                let _ = crud::create(&sys, &sa_type, ns, sa);
            }
        }
        _ => {}
    }
}

fn delete_all(st: &State, pred: impl Fn(&Key) -> bool) {
    for k in st.store.keys(pred) {
        // Already gone means another deleter won the race; nothing to do.
        let _ = st.store.write(&k, Generation::All, |cur| match cur {
            Some(_) => Ok(Write::Delete),
            None => Err(ApiError::not_found("", "", &k.name)),
        });
    }
}
