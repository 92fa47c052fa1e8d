//! Create, get and list of stored objects (update and patch: `modify`; delete: `deletion`).

use base64::Engine;
use serde_json::{Value, json};

use super::admission::{Admission, Attempt};
pub use super::body::{check_type, decode};
use super::convert;
use super::hooks;
use super::names;
use super::namespaces;
use super::patch;
use super::rbac::UserInfo;
use super::resources::ResourceType;
use super::select::{FieldSelector, LabelSelector};
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::store::{Generation, Key, Write};

/// Who writes, and under which field manager.
pub struct Ctx<'a> {
    /// Server state.
    pub st: &'a State,
    /// The requester.
    pub user: &'a UserInfo,
    /// Field manager for managedFields.
    pub manager: String,
    /// `fieldValidation=Strict`: unknown fields are an error instead of being pruned.
    pub strict: bool,
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
}

/// The patch flavours the server accepts, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`.
    Apply,
}

impl PatchKind {
    /// What a custom resource's PATCH accepts: no strategic merge patch, since there are no
    /// Go struct tags to merge by (apiextensions-apiserver v0.34.1
    /// `pkg/apiserver/customresource_handler.go:327-334`; CBOR only behind a feature gate).
    pub const CUSTOM: [&str; 3] = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
    ];

    /// From a Content-Type (parameters cut off, as the patch handler does), for `rt`.
    /// A built-in route refuses others through go-restful's `Consumes` (apiserver v0.34.1
    /// `pkg/endpoints/installer.go:893-907`); a custom resource in the patch handler
    /// (`pkg/endpoints/handlers/patch.go:79-90`).
    pub fn for_resource(ct: &str, rt: &ResourceType) -> ApiResult<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        Ok(match base {
            "application/merge-patch+json" => Self::Merge,
            "application/json-patch+json" => Self::Json,
            "application/strategic-merge-patch+json" if !rt.custom => Self::Strategic,
            "application/apply-patch+yaml" => Self::Apply,
            _ if rt.custom => return Err(ApiError::unsupported_patch_type(&Self::CUSTOM)),
            _ => return Err(ApiError::unsupported_route_media_type()),
        })
    }
}

/// The built-in kinds whose registry strategy sets `metadata.generation` in
/// `PrepareForCreate` and bumps it in `PrepareForUpdate` (kubernetes v1.34
/// `pkg/registry/*/*/strategy.go`; pods since `PodObservedGenerationTracking`, whose
/// `pod.Generation = 1` does not depend on the gate). The generic store never sets it.
const TRACKS_GENERATION: [&str; 14] = [
    "/pods",
    "/replicationcontrollers",
    "apps/deployments",
    "apps/daemonsets",
    "apps/replicasets",
    "apps/statefulsets",
    "batch/jobs",
    "batch/cronjobs",
    "discovery.k8s.io/endpointslices",
    "apiextensions.k8s.io/customresourcedefinitions",
    "admissionregistration.k8s.io/validatingadmissionpolicies",
    "admissionregistration.k8s.io/validatingadmissionpolicybindings",
    "flowcontrol.apiserver.k8s.io/flowschemas",
    "flowcontrol.apiserver.k8s.io/prioritylevelconfigurations",
];

/// How `rt`'s strategy computes `metadata.generation` (custom resources: apiextensions
/// `pkg/registry/customresource/strategy.go`, status ignored when it is a subresource).
pub(super) fn generation(rt: &ResourceType) -> Generation {
    if !rt.custom && !TRACKS_GENERATION.contains(&rt.id().as_str()) {
        Generation::Untracked
    } else if rt.status {
        Generation::IgnoreStatus
    } else {
        Generation::All
    }
}

/// The storage key of an object of `rt`.
pub fn key(rt: &ResourceType, ns: &str, name: &str) -> Key {
    Key::new(&rt.id(), if rt.namespaced { ns } else { "" }, name)
}

pub(super) fn with_version(mut obj: Value, rt: &ResourceType) -> Value {
    obj["apiVersion"] = json!(rt.api_version());
    obj
}

/// Create an object; returns it as stored.
pub fn create(ctx: &Ctx, rt: &ResourceType, ns: &str, mut obj: Value) -> ApiResult<Value> {
    check_type(&mut obj, rt)?;
    if obj["metadata"].is_null() {
        obj["metadata"] = json!({});
    }
    let meta_ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if rt.namespaced {
        if !meta_ns.is_empty() && !ns.is_empty() && meta_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let ns = if ns.is_empty() {
            meta_ns
        } else {
            ns.to_string()
        };
        if ns.is_empty() {
            return Err(ApiError::bad_request(
                "the server could not find the requested resource: a namespace is required",
            ));
        }
        let Some(namespace) = ctx.st.store.get(&Key::new("/namespaces", "", &ns)) else {
            return Err(ApiError::not_found("", "namespaces", &ns));
        };
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        namespaces::admit_create(rt, &namespace, &ns, name)?;
        obj["metadata"]["namespace"] = json!(ns);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    let mut name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if name.is_empty()
        && let Some(g) = obj["metadata"]["generateName"].as_str()
    {
        name = format!("{g}{}", names::random_suffix());
        obj["metadata"]["name"] = json!(name);
    }
    if name.is_empty() {
        let causes = [(
            "metadata.name".to_string(),
            "Required value: name or generateName is required".to_string(),
        )];
        return Err(ApiError::invalid(&rt.group, &rt.kind, "", &causes));
    }
    let problem = if rt.group == "rbac.authorization.k8s.io" {
        names::path_segment_problem(&name)
    } else {
        names::name_problem(&name)
    };
    if let Some(p) = problem {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &name,
            &[("metadata.name".into(), p)],
        ));
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        for f in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "deletionTimestamp",
        ] {
            m.remove(f);
        }
    }
    if rt.custom
        && rt.status
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("status");
    }
    hooks::before_write(ctx, rt, None, &mut obj)?;
    patch::record_update(None, &mut obj, rt, "", &ctx.manager);
    let obj_ns = obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Admission::load(ctx.st, rt, &obj_ns).validate(&Attempt {
        rt,
        operation: "CREATE",
        subresource: "",
        namespace: &obj_ns,
        name: &name,
        object: Some(&obj),
        old_object: None,
        dry_run: ctx.dry_run,
        user: ctx.user,
    })?;
    let k = key(rt, &obj_ns, &name);
    let (stored, _) = ctx
        .st
        .store
        .write_or_preview(&k, generation(rt), ctx.dry_run, |cur| match cur {
            Some(_) => Err(ApiError::already_exists(&rt.group, &rt.plural, &name)),
            None => Ok(Write::Put(convert::to_storage(rt, obj))),
        })?;
    if !ctx.dry_run {
        hooks::after_write(ctx, rt, None, Some(&stored));
    }
    Ok(with_version(convert::from_storage(rt, stored), rt))
}

/// Get one object.
pub fn get(st: &State, rt: &ResourceType, ns: &str, name: &str) -> ApiResult<Value> {
    st.store
        .get(&key(rt, ns, name))
        .map(|o| with_version(convert::from_storage(rt, o), rt))
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
}

/// Parse the selectors of a list, watch or deletecollection request.
pub fn selectors(
    rt: &ResourceType,
    labels: Option<&str>,
    fields: Option<&str>,
) -> ApiResult<(LabelSelector, FieldSelector)> {
    Ok((
        LabelSelector::parse(labels.unwrap_or_default())?,
        FieldSelector::parse(fields.unwrap_or_default(), &rt.field_labels)?,
    ))
}

/// List with selectors and `limit`/`continue`.
pub fn list(
    st: &State,
    rt: &ResourceType,
    ns: &str,
    sel: &(LabelSelector, FieldSelector),
    limit: usize,
    cont: Option<&str>,
) -> ApiResult<Value> {
    let (items, rv) = st
        .store
        .list(&rt.id(), (rt.namespaced && !ns.is_empty()).then_some(ns));
    let items = items.into_iter().map(|o| convert::from_storage(rt, o));
    let mut start_after = String::new();
    if let Some(c) = cont.filter(|c| !c.is_empty()) {
        let bad = || {
            ApiError::bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            )
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(c)
            .map_err(|_| bad())?;
        let tok: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        let tok_rv = tok["rv"].as_u64().ok_or_else(bad)?;
        if tok_rv < st.store.compacted_rv() {
            return Err(ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response to continue with a new list.",
            ));
        }
        start_after = tok["start"].as_str().unwrap_or_default().to_string();
    }
    let pos = |o: &Value| {
        format!(
            "{}/{}",
            o["metadata"]["namespace"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        )
    };
    let mut matching = items
        .into_iter()
        .filter(|o| pos(o) > start_after && sel.0.matches(o) && sel.1.matches(o));
    let mut out: Vec<Value> = Vec::new();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    for o in matching.by_ref() {
        out.push(with_version(o, rt));
        if limit > 0 && out.len() == limit {
            break;
        }
    }
    let remaining = matching.count();
    if remaining > 0
        && let Some(last) = out.last()
    {
        let tok = json!({"rv": rv, "start": pos(last)});
        metadata["continue"] =
            json!(base64::engine::general_purpose::STANDARD.encode(tok.to_string()));
        // `storage.PrepareContinueToken` counts what is left only when every object
        // matches (apiserver v0.34 `pkg/storage/continue.go:111-117`).
        if sel.0.is_empty() && sel.1.is_empty() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    Ok(
        json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": metadata, "items": out}),
    )
}

#[cfg(test)]
mod tests;
