//! Create, get, list, update, patch, delete of stored objects.

use base64::Engine;
use serde_json::{Value, json};

use super::convert;
use super::hooks;
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
    /// From a Content-Type.
    pub fn from_content_type(ct: &str) -> ApiResult<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        Ok(match base {
            "application/merge-patch+json" => Self::Merge,
            "application/json-patch+json" => Self::Json,
            "application/strategic-merge-patch+json" => Self::Strategic,
            "application/apply-patch+yaml" => Self::Apply,
            other => return Err(ApiError::unsupported_media_type(other)),
        })
    }
}

fn generation(rt: &ResourceType) -> Generation {
    if rt.status {
        Generation::IgnoreStatus
    } else {
        Generation::All
    }
}

/// The storage key of an object of `rt`.
pub fn key(rt: &ResourceType, ns: &str, name: &str) -> Key {
    Key::new(&rt.id(), if rt.namespaced { ns } else { "" }, name)
}

/// Decode a JSON (or YAML) body into an object.
pub fn decode(bytes: &[u8], content_type: &str, kind: &str) -> ApiResult<Value> {
    if content_type.starts_with(super::proto::MEDIA_TYPE) {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    let v: Value = if content_type.contains("yaml") {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
        serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json parse error: {e}"
            ))
        })?
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {kind}): not an object"
        )));
    }
    Ok(v)
}

/// Fill in or check apiVersion and kind against the endpoint's type.
pub fn check_type(obj: &mut Value, rt: &ResourceType) -> ApiResult<()> {
    match obj["kind"].as_str() {
        None | Some("") => obj["kind"] = json!(rt.kind),
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): kind {k:?} is not {:?}",
                rt.kind, rt.kind
            )));
        }
    }
    match obj["apiVersion"].as_str() {
        None | Some("") => obj["apiVersion"] = json!(rt.api_version()),
        Some(v) if v == rt.api_version() => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({})",
                rt.api_version()
            )));
        }
    }
    if !obj["metadata"].is_object() && !obj["metadata"].is_null() {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}

/// Why a name is not a valid DNS-1123 subdomain, if it is not.
pub fn name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    (!ok).then(|| {
        format!(
            "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        )
    })
}

/// RBAC objects only need names usable as a path segment.
fn path_segment_problem(name: &str) -> Option<String> {
    if name == "." || name == ".." {
        return Some(format!("Invalid value: {name:?}: may not be '{name}'"));
    }
    name.chars()
        .find(|c| *c == '/' || *c == '%')
        .map(|c| format!("Invalid value: {name:?}: may not contain '{c}'"))
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(5)
        .collect()
}

fn with_version(mut obj: Value, rt: &ResourceType) -> Value {
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
        if ctx
            .st
            .store
            .get(&Key::new("/namespaces", "", &ns))
            .is_none()
        {
            return Err(ApiError::not_found("", "namespaces", &ns));
        }
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
        name = format!("{g}{}", random_suffix());
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
        path_segment_problem(&name)
    } else {
        name_problem(&name)
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
            "generation",
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
    let k = key(
        rt,
        obj["metadata"]["namespace"].as_str().unwrap_or_default(),
        &name,
    );
    let (stored, _) = ctx.st.store.write(&k, generation(rt), |cur| match cur {
        Some(_) => Err(ApiError::already_exists(&rt.group, &rt.plural, &name)),
        None => Ok(Write::Put(convert::to_storage(rt, obj))),
    })?;
    hooks::after_write(ctx, rt, None, Some(&stored));
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
        metadata["remainingItemCount"] = json!(remaining);
    }
    Ok(
        json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": metadata, "items": out}),
    )
}

/// Keep what the endpoint may not change: status on the main resource (when a status
/// subresource exists), everything but status on `/status`, and server-owned metadata.
fn confine(old: &Value, mut new: Value, rt: &ResourceType, subresource: &str) -> Value {
    if subresource == "status" {
        let mut o = old.clone();
        o["status"] = new.get("status").cloned().unwrap_or(Value::Null);
        o["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
        if o["metadata"]["managedFields"].is_null()
            && let Some(m) = o["metadata"].as_object_mut()
        {
            m.remove("managedFields");
        }
        if o["status"].is_null()
            && let Some(m) = o.as_object_mut()
        {
            m.remove("status");
        }
        return o;
    }
    if rt.status {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
    ] {
        match old["metadata"].get(f) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    new
}

/// How an update or patch computes the new object from the current one.
pub enum Change {
    /// PUT with a full object.
    Replace(Value),
    /// PATCH.
    Patch(PatchKind, Value, bool),
}

/// Update (PUT) or patch an object, optimistic-concurrency checked.
pub fn modify(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    subresource: &str,
    change: Change,
) -> ApiResult<Value> {
    let k = key(rt, ns, name);
    let (stored, old) = ctx.st.store.write(&k, generation(rt), |stored| {
        let cur_view = stored.map(|c| convert::from_storage(rt, c.clone()));
        let cur = cur_view.as_ref();
        let (base, exists) = match (cur, &change) {
            (Some(c), _) => (c.clone(), true),
            (None, Change::Patch(PatchKind::Apply, _, _)) if subresource.is_empty() => {
                let mut skeleton = json!({"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": {"name": name}});
                if rt.namespaced {
                    if ctx.st.store.get(&Key::new("/namespaces", "", ns)).is_none() {
                        return Err(ApiError::not_found("", "namespaces", ns));
                    }
                    skeleton["metadata"]["namespace"] = json!(ns);
                }
                (skeleton, false)
            }
            (None, _) => return Err(ApiError::not_found(&rt.group, &rt.plural, name)),
        };
        let current_rv = base["metadata"]["resourceVersion"].clone();
        let mut new = match &change {
            Change::Replace(body) => {
                let mut b = body.clone();
                check_type(&mut b, rt)?;
                if let Some(n) = b["metadata"]["name"].as_str().filter(|n| *n != name) {
                    return Err(ApiError::bad_request(format!("the name of the object ({n}) does not match the name on the URL ({name})")));
                }
                b
            }
            Change::Patch(PatchKind::Merge, p, _) => {
                let mut b = base.clone();
                patch::merge_patch(&mut b, p);
                b
            }
            Change::Patch(PatchKind::Strategic, p, _) => {
                let mut b = base.clone();
                patch::strategic_merge_patch(&mut b, p, rt);
                b
            }
            Change::Patch(PatchKind::Json, p, _) => {
                let mut b = base.clone();
                patch::json_patch(&mut b, p)?;
                b
            }
            Change::Patch(PatchKind::Apply, p, force) => {
                let mut applied = p.clone();
                check_type(&mut applied, rt)?;
                if let Some(n) = applied["metadata"]["name"].as_str().filter(|n| *n != name) {
                    return Err(ApiError::bad_request(format!("the name of the object ({n}) does not match the name on the URL ({name})")));
                }
                patch::apply(&base, &applied, rt, subresource, &ctx.manager, *force)?
            }
        };
        if !new.is_object() || !new["metadata"].is_object() {
            return Err(ApiError::bad_request("the patched object is not a valid object"));
        }
        let asked_rv = new["metadata"]["resourceVersion"].clone();
        if exists && asked_rv.as_str().is_some_and(|s| !s.is_empty()) && asked_rv != current_rv {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name, "the object has been modified; please apply your changes to the latest version and try again"));
        }
        new = if exists { confine(&base, new, rt, subresource) } else { new };
        new["apiVersion"] = json!(rt.api_version());
        new["kind"] = json!(rt.kind);
        hooks::before_write(ctx, rt, cur, &mut new)?;
        if !matches!(change, Change::Patch(PatchKind::Apply, _, _)) {
            patch::record_update(cur, &mut new, rt, subresource, &ctx.manager);
        }
        Ok(Write::Put(convert::to_storage(rt, new)))
    })?;
    hooks::after_write(ctx, rt, old.as_ref(), Some(&stored));
    Ok(with_version(convert::from_storage(rt, stored), rt))
}

/// Delete one object, honouring `preconditions` of the DeleteOptions body.
pub fn delete(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    options: &Value,
) -> ApiResult<Value> {
    let k = key(rt, ns, name);
    let (deleted, _) = ctx.st.store.write(&k, generation(rt), |cur| {
        let Some(cur) = cur else { return Err(ApiError::not_found(&rt.group, &rt.plural, name)) };
        let pre = &options["preconditions"];
        if let Some(uid) = pre["uid"].as_str().filter(|u| Some(*u) != cur["metadata"]["uid"].as_str()) {
            let why = format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", cur["metadata"]["uid"].as_str().unwrap_or_default());
            return Err(ApiError::conflict(&rt.group, &rt.plural, name, &why));
        }
        if let Some(rv) = pre["resourceVersion"].as_str().filter(|r| Some(*r) != cur["metadata"]["resourceVersion"].as_str()) {
            let why = format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}", cur["metadata"]["resourceVersion"].as_str().unwrap_or_default());
            return Err(ApiError::conflict(&rt.group, &rt.plural, name, &why));
        }
        Ok(Write::Delete)
    })?;
    hooks::after_write(ctx, rt, Some(&deleted), None);
    Ok(with_version(convert::from_storage(rt, deleted), rt))
}

/// Delete every object matching the selectors.
pub fn delete_collection(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    sel: &(LabelSelector, FieldSelector),
) -> ApiResult<Value> {
    let listed = list(ctx.st, rt, ns, sel, 0, None)?;
    let mut items = Vec::new();
    for o in listed["items"].as_array().into_iter().flatten() {
        let (ons, oname) = (
            o["metadata"]["namespace"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default(),
        );
        match delete(ctx, rt, ons, oname, &Value::Null) {
            Ok(d) => items.push(d),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(
        json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(),
              "metadata": {"resourceVersion": ctx.st.store.current_rv().to_string()}, "items": items}),
    )
}
