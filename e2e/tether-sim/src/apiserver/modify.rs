//! Update (PUT) and patch (merge, JSON, strategic, server-side apply) of stored objects.

use serde_json::{Value, json};

use super::admission::{Admission, Attempt};
use super::convert;
use super::crud::{Ctx, PatchKind, check_type, generation, key, with_version};
use super::deletion;
use super::hooks;
use super::namespaces;
use super::patch;
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult};
use super::store::{Key, Write};

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
        "deletionGracePeriodSeconds",
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
    // Read before the store is locked for the write.
    let admission = Admission::load(ctx.st, rt, ns);
    // The store is locked while the closure runs: reading it in there would deadlock.
    let namespace = rt
        .namespaced
        .then(|| ctx.st.store.get(&Key::new("/namespaces", "", ns)))
        .flatten();
    // An update that empties a marked object's finalizers deletes it, and answers with
    // the object as updated (store.go:588-613,771-777).
    let mut emptied: Option<Value> = None;
    let (stored, old) = ctx.st.store.write_or_preview(&k, generation(rt), ctx.dry_run, |stored| {
        let cur_view = stored.map(|c| convert::from_storage(rt, c.clone()));
        let cur = cur_view.as_ref();
        let (base, exists) = match (cur, &change) {
            (Some(c), _) => (c.clone(), true),
            (None, Change::Patch(PatchKind::Apply, _, _)) if subresource.is_empty() => {
                let mut skeleton = json!({"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": {"name": name}});
                if rt.namespaced {
                    let Some(namespace) = &namespace else {
                        return Err(ApiError::not_found("", "namespaces", ns));
                    };
                    namespaces::admit_create(rt, namespace, ns, name)?;
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
                patch::strategic_merge_patch(&mut b, p, rt)?;
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
        admission.validate(&Attempt {
            rt,
            operation: if exists { "UPDATE" } else { "CREATE" },
            subresource,
            namespace: ns,
            name,
            object: Some(&new),
            old_object: cur,
            dry_run: ctx.dry_run,
            user: ctx.user,
        })?;
        if cur.is_some_and(|c| deletion::emptied(rt, c, &new)) {
            emptied = Some(new);
            return Ok(Write::Delete);
        }
        Ok(Write::Put(convert::to_storage(rt, new)))
    })?;
    if let Some(updated) = emptied {
        if !ctx.dry_run {
            hooks::after_write(ctx, rt, Some(&stored), None);
        }
        return Ok(with_version(updated, rt));
    }
    if !ctx.dry_run {
        hooks::after_write(ctx, rt, old.as_ref(), Some(&stored));
    }
    Ok(with_version(convert::from_storage(rt, stored), rt))
}
