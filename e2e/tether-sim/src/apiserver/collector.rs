//! The controllers that finish deletions, run inside the double right after a write that
//! can start or advance one: the garbage collector (kubernetes
//! `pkg/controller/garbagecollector/garbagecollector.go`), the namespace controller
//! (`namespaces.rs`) and apiextensions' CRD finalizer (`pkg/controller/finalizer/crd_finalizer.go`).

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::crud::{Ctx, key};
use super::deletion::{
    self, CRD_CLEANUP, DeleteOptions, FOREGROUND, ORPHAN, finalizers, is_deleting,
};
use super::namespaces;
use super::rbac::UserInfo;
use super::resources::ResourceType;
use super::state::State;
use super::status::ApiError;
use super::store::{Generation, Key, Write};

/// Passes before giving up: each pass advances every chain by one step, and chains are
/// as long as owner hierarchies (DaemonSet → Pod is one).
const MAX_PASSES: usize = 16;
const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

fn controller(st: &State) -> Ctx<'_> {
    // A leaked identity would outlive the request; a static one is enough for admission.
    static USER: std::sync::OnceLock<UserInfo> = std::sync::OnceLock::new();
    let user = USER.get_or_init(|| UserInfo {
        name: "system:serviceaccount:kube-system:generic-garbage-collector".into(),
        groups: vec![
            "system:serviceaccounts".into(),
            "system:serviceaccounts:kube-system".into(),
            "system:authenticated".into(),
        ],
        extra: Default::default(),
    });
    Ctx {
        st,
        user,
        manager: "kube-controller-manager".into(),
        strict: false,
        dry_run: false,
    }
}

/// One stored object and its type.
struct Entry {
    rt: ResourceType,
    obj: Value,
}

impl Entry {
    fn meta(&self, f: &str) -> &str {
        self.obj["metadata"][f].as_str().unwrap_or_default()
    }
}

fn snapshot(st: &State, types: &[ResourceType]) -> Vec<Entry> {
    let mut out = Vec::new();
    for rt in types {
        let (items, _) = st.store.list(&rt.id(), None);
        out.extend(items.into_iter().map(|obj| Entry {
            rt: rt.clone(),
            obj,
        }));
    }
    out
}

/// One served type per storage, stored kinds only.
fn storage_types(st: &State) -> Vec<ResourceType> {
    let mut seen = HashSet::new();
    st.registry()
        .all()
        .filter(|t| t.stored && seen.insert(t.id()))
        .cloned()
        .collect()
}

/// Run the controllers until nothing changes (or [`MAX_PASSES`]).
pub fn settle(st: &State) {
    let ctx = controller(st);
    for _ in 0..MAX_PASSES {
        let types = storage_types(st);
        let entries = snapshot(st, &types);
        let mut changed = false;
        for e in entries.iter().filter(|e| is_deleting(&e.obj)) {
            match e.rt.id().as_str() {
                "/namespaces" if !e.rt.custom => {
                    changed |= namespaces::reconcile(&ctx, &types, &e.obj);
                }
                CRDS if !e.rt.custom => changed |= finalize_crd(&ctx, &types, e),
                _ => {}
            }
        }
        changed |= collect(&ctx, &entries);
        if !changed {
            return;
        }
    }
}

/// The CRD finalizer: delete every object of the CRD, then drop its finalizer.
fn finalize_crd(ctx: &Ctx, types: &[ResourceType], crd: &Entry) -> bool {
    if !finalizers(&crd.obj).iter().any(|f| f == CRD_CLEANUP) {
        return false;
    }
    let id = format!(
        "{}/{}",
        crd.obj["spec"]["group"].as_str().unwrap_or_default(),
        crd.obj["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
    );
    let Some(rt) = types.iter().find(|t| t.custom && t.id() == id) else {
        return remove_finalizer(ctx, &crd.rt, &crd.obj, CRD_CLEANUP);
    };
    let (items, _) = ctx.st.store.list(&id, None);
    let mut left = 0;
    let mut changed = false;
    for item in items {
        if is_deleting(&item) {
            left += 1;
            continue;
        }
        changed = true;
        let ns = item["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        if let Ok(deletion::Outcome::Kept(_)) =
            deletion::delete(ctx, rt, ns, name, &DeleteOptions::background())
        {
            left += 1;
        }
    }
    if left == 0 {
        changed |= remove_finalizer(ctx, &crd.rt, &crd.obj, CRD_CLEANUP);
    }
    changed
}

/// Drop one finalizer; the store removes a marked object left without any
/// (`deletion::emptied`). Returns whether it wrote.
fn remove_finalizer(ctx: &Ctx, rt: &ResourceType, obj: &Value, finalizer: &str) -> bool {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let uid = obj["metadata"]["uid"].clone();
    let k = key(rt, ns, name);
    let mut removed = false;
    let result = ctx.st.store.write(&k, Generation::All, |cur| {
        let Some(cur) = cur.filter(|c| c["metadata"]["uid"] == uid) else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let mut next = cur.clone();
        let kept: Vec<String> = finalizers(cur)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        if kept.is_empty() {
            if let Some(m) = next["metadata"].as_object_mut() {
                m.remove("finalizers");
            }
        } else {
            next["metadata"]["finalizers"] = json!(kept);
        }
        if deletion::emptied(rt, cur, &next) {
            removed = true;
            return Ok(Write::Delete);
        }
        Ok(Write::Put(next))
    });
    if removed && let Ok((gone, _)) = &result {
        super::hooks::after_write(ctx, rt, Some(gone), None);
    }
    result.is_ok_and(|(after, before)| {
        removed
            || before.is_some_and(|b| {
                b["metadata"]["resourceVersion"] != after["metadata"]["resourceVersion"]
            })
    })
}

/// The owner references of an object: (uid, blockOwnerDeletion).
fn owners(obj: &Value) -> Vec<(String, bool)> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some((
                r["uid"].as_str()?.to_string(),
                r["blockOwnerDeletion"].as_bool() == Some(true),
            ))
        })
        .collect()
}

/// The garbage collector's step: orphan or delete the dependents of owners being deleted
/// with `orphan` / `foregroundDeletion`, drop those finalizers when done, and delete
/// (Background) objects whose owners are all gone; dangling references beside a live
/// owner are removed (`garbagecollector.go` `attemptToDeleteItem`, `orphanDependents`,
/// `processDeletingDependentsItem`).
fn collect(ctx: &Ctx, entries: &[Entry]) -> bool {
    let by_uid: HashMap<&str, &Entry> = entries.iter().map(|e| (e.meta("uid"), e)).collect();
    let mut dependents: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for e in entries {
        for (uid, _) in owners(&e.obj) {
            if let Some(owner) = by_uid.get(uid.as_str()) {
                dependents.entry(owner.meta("uid")).or_default().push(e);
            }
        }
    }
    let mut changed = false;
    for owner in entries.iter().filter(|e| is_deleting(&e.obj)) {
        let fins = finalizers(&owner.obj);
        let deps = dependents
            .get(owner.meta("uid"))
            .cloned()
            .unwrap_or_default();
        if fins.iter().any(|f| f == ORPHAN) {
            for d in &deps {
                changed |= drop_owner_refs(ctx, d, |u| u == owner.meta("uid"));
            }
            changed |= remove_finalizer(ctx, &owner.rt, &owner.obj, ORPHAN);
        } else if fins.iter().any(|f| f == FOREGROUND) {
            let mut blocking = 0;
            for d in &deps {
                let blocks = owners(&d.obj)
                    .iter()
                    .any(|(u, b)| u == owner.meta("uid") && *b);
                if !is_deleting(&d.obj) {
                    changed = true;
                    let opts = DeleteOptions {
                        propagation_policy: Some("Foreground".into()),
                        ..DeleteOptions::default()
                    };
                    let ns = d.meta("namespace");
                    if let Ok(deletion::Outcome::Removed(_)) =
                        deletion::delete(ctx, &d.rt, ns, d.meta("name"), &opts)
                    {
                        continue;
                    }
                }
                if blocks {
                    blocking += 1;
                }
            }
            if blocking == 0 {
                changed |= remove_finalizer(ctx, &owner.rt, &owner.obj, FOREGROUND);
            }
        }
    }
    for e in entries.iter().filter(|e| !is_deleting(&e.obj)) {
        // Re-read: this pass may already have orphaned it.
        let Some(now) = current(ctx, e) else { continue };
        let refs = owners(&now);
        if refs.is_empty() {
            continue;
        }
        let live: Vec<&(String, bool)> = refs
            .iter()
            .filter(|(u, _)| {
                by_uid.contains_key(u.as_str()) && still_there(ctx, by_uid[u.as_str()])
            })
            .collect();
        if live.is_empty() {
            changed = true;
            let _ = deletion::delete(
                ctx,
                &e.rt,
                e.meta("namespace"),
                e.meta("name"),
                &DeleteOptions::background(),
            );
        } else if live.len() < refs.len() {
            let live_uids: HashSet<&str> = live.iter().map(|(u, _)| u.as_str()).collect();
            changed |= drop_owner_refs(ctx, e, |u| !live_uids.contains(u));
        }
    }
    changed
}

/// The stored object a snapshot entry stands for, if it is still there (same uid).
fn current(ctx: &Ctx, e: &Entry) -> Option<Value> {
    ctx.st
        .store
        .get(&Key::new(&e.rt.id(), e.meta("namespace"), e.meta("name")))
        .filter(|o| o["metadata"]["uid"] == e.obj["metadata"]["uid"])
}

/// Whether an owner seen in the snapshot is still stored (it may have gone in this pass).
fn still_there(ctx: &Ctx, e: &Entry) -> bool {
    current(ctx, e).is_some()
}

/// Remove the owner references whose uid `drop` selects.
fn drop_owner_refs(ctx: &Ctx, e: &Entry, drop: impl Fn(&str) -> bool) -> bool {
    let k = key(&e.rt, e.meta("namespace"), e.meta("name"));
    let result = ctx.st.store.write(&k, Generation::All, |cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(
                &e.rt.group,
                &e.rt.plural,
                e.meta("name"),
            ));
        };
        let mut next = cur.clone();
        let kept: Vec<Value> = cur["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| !drop(r["uid"].as_str().unwrap_or_default()))
            .cloned()
            .collect();
        if kept.is_empty() {
            if let Some(m) = next["metadata"].as_object_mut() {
                m.remove("ownerReferences");
            }
        } else {
            next["metadata"]["ownerReferences"] = json!(kept);
        }
        Ok(Write::Put(next))
    });
    result.is_ok_and(|(after, before)| {
        before.is_some_and(|b| {
            b["metadata"]["resourceVersion"] != after["metadata"]["resourceVersion"]
        })
    })
}
