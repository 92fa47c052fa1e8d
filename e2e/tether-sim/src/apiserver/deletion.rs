//! DELETE as kube-apiserver v1.34's generic registry store does it: preconditions,
//! graceful deletion (pods), finalizers and the garbage collector's `orphan` /
//! `foregroundDeletion` finalizers, and what each kind answers (apiserver
//! `pkg/registry/generic/registry/store.go`, `pkg/registry/rest/delete.go`).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::admission::{Admission, Attempt};
use super::convert;
use super::crud::{self, Ctx, generation, key, with_version};
use super::hooks;
use super::resources::ResourceType;
use super::select::{FieldSelector, LabelSelector};
use super::status::{ApiError, ApiResult};
use super::store::Write;

/// The garbage collector's finalizer that orphans dependents (`metav1.FinalizerOrphanDependents`).
pub const ORPHAN: &str = "orphan";
/// The garbage collector's finalizer that deletes dependents first
/// (`metav1.FinalizerDeleteDependents`).
pub const FOREGROUND: &str = "foregroundDeletion";
const POLICIES: [&str; 3] = ["Foreground", "Background", "Orphan"];

/// What a DELETE asks: the `DeleteOptions` body, or the same fields as query parameters
/// when there is no body (apiserver `pkg/endpoints/handlers/delete.go:86-125`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteOptions {
    /// `gracePeriodSeconds`.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`: Foreground, Background or Orphan.
    pub propagation_policy: Option<String>,
    /// The deprecated `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun: [All]`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Background propagation, as the namespace controller and the garbage collector ask.
    pub fn background() -> Self {
        Self {
            propagation_policy: Some("Background".into()),
            ..Self::default()
        }
    }

    /// From a decoded body (`Null` if none) or, without a body, the query; validated as
    /// `ValidateDeleteOptions` does (apimachinery `pkg/apis/meta/v1/validation/validation.go:157-172`).
    pub fn parse(body: &Value, query: impl Fn(&str) -> Option<String>) -> ApiResult<Self> {
        let opts = if body.is_null() {
            let flag = |k: &str| query(k).map(|v| v == "true");
            Self {
                grace_period_seconds: query("gracePeriodSeconds").and_then(|g| g.parse().ok()),
                propagation_policy: query("propagationPolicy"),
                orphan_dependents: flag("orphanDependents"),
                uid: None,
                resource_version: None,
                dry_run: query("dryRun").as_deref() == Some("All"),
            }
        } else {
            let text = |v: &Value| v.as_str().map(String::from);
            Self {
                grace_period_seconds: body["gracePeriodSeconds"].as_i64(),
                propagation_policy: text(&body["propagationPolicy"]),
                orphan_dependents: body["orphanDependents"].as_bool(),
                uid: text(&body["preconditions"]["uid"]),
                resource_version: text(&body["preconditions"]["resourceVersion"]),
                dry_run: body["dryRun"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|v| v == "All")),
            }
        };
        let mut causes = Vec::new();
        if let Some(p) = &opts.propagation_policy {
            if opts.orphan_dependents.is_some() {
                causes.push((
                    "propagationPolicy".to_string(),
                    format!(
                        "Invalid value: {p:?}: orphanDependents and deletionPropagation cannot be both set"
                    ),
                ));
            }
            if !POLICIES.contains(&p.as_str()) {
                causes.push((
                    "propagationPolicy".to_string(),
                    format!(
                        "Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                    ),
                ));
            }
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                &causes,
            ));
        }
        Ok(opts)
    }

    /// `shouldOrphanDependents` / `shouldDeleteDependents` (store.go:883-966): the
    /// options win, then the object's own GC finalizer; the default is Background.
    fn gc_finalizer(&self, finalizers: &[String]) -> Option<&'static str> {
        if let Some(orphan) = self.orphan_dependents {
            return orphan.then_some(ORPHAN);
        }
        match self.propagation_policy.as_deref() {
            Some("Orphan") => return Some(ORPHAN),
            Some("Foreground") => return Some(FOREGROUND),
            Some(_) => return None,
            None => {}
        }
        finalizers.iter().find_map(|f| match f.as_str() {
            ORPHAN => Some(ORPHAN),
            FOREGROUND => Some(FOREGROUND),
            _ => None,
        })
    }
}

/// What a DELETE did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The object is gone; as it was last stored.
    Removed(Value),
    /// The object stays, marked for deletion (finalizers pending or a grace period running).
    Kept(Value),
    /// It was already being deleted gracefully and this request changed nothing.
    AlreadyDeleting(Value),
}

/// Kinds whose store sets `ReturnDeletedObject: true`: they answer a delete with the
/// object, the others with a `Status` (store.go:1386-1410). Pods
/// (`pkg/registry/core/pod/storage/storage.go`), namespaces
/// (`pkg/registry/core/namespace/storage/storage.go`), ServiceAccounts
/// (`pkg/registry/core/serviceaccount/storage/storage.go`); not ConfigMaps, Nodes, Events,
/// Leases, RBAC, CRDs or custom resources (apiextensions `pkg/registry/customresource/etcd.go`).
pub fn returns_deleted_object(rt: &ResourceType) -> bool {
    !rt.custom
        && matches!(
            rt.id().as_str(),
            "/pods" | "/namespaces" | "/serviceaccounts"
        )
}

/// The HTTP code and body of a DELETE's answer (apiserver
/// `pkg/endpoints/handlers/delete.go:177-200`, store.go:1386-1410).
pub fn answer(rt: &ResourceType, outcome: Outcome, opts: &DeleteOptions) -> (u16, Value) {
    let code = match (&outcome, opts.orphan_dependents) {
        (Outcome::Removed(_), _) => 200,
        (_, Some(false)) => 202,
        _ => 200,
    };
    let body = match outcome {
        Outcome::Kept(o) => o,
        Outcome::Removed(o) | Outcome::AlreadyDeleting(o) if returns_deleted_object(rt) => o,
        Outcome::Removed(o) | Outcome::AlreadyDeleting(o) => {
            let mut details = json!({"name": o["metadata"]["name"], "kind": rt.plural, "uid": o["metadata"]["uid"]});
            if !rt.group.is_empty() {
                details["group"] = json!(rt.group);
            }
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
        }
    };
    (code, body)
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The `metadata.finalizers` of an object.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(String::from))
        .collect()
}

fn set_finalizers(obj: &mut Value, list: &[String]) {
    if list.is_empty() {
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("finalizers");
        }
    } else {
        obj["metadata"]["finalizers"] = json!(list);
    }
}

/// Whether an object is marked for deletion.
pub fn is_deleting(obj: &Value) -> bool {
    obj["metadata"]["deletionTimestamp"].is_string()
}

/// `podStrategy.CheckGracefulDelete` (`pkg/registry/core/pod/strategy.go`): the asked
/// grace, else `terminationGracePeriodSeconds` (defaulted to 30 on create), 0 for a pod
/// with no node or in a terminal phase; negative counts as 1.
fn pod_grace(pod: &Value, opts: &DeleteOptions) -> i64 {
    let mut period = opts.grace_period_seconds.unwrap_or_else(|| {
        pod["spec"]["terminationGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(30)
    });
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty)
        || matches!(
            pod["status"]["phase"].as_str(),
            Some("Failed" | "Succeeded")
        )
    {
        period = 0;
    }
    if period < 0 { 1 } else { period }
}

/// What `rest.BeforeDelete` decides (`pkg/registry/rest/delete.go:75-175`).
enum Grace {
    /// Not graceful: delete now, or mark for deletion if finalizers remain.
    None,
    /// Graceful with this period (the object is updated with it).
    Period(i64),
    /// A graceful deletion is already running and the request does not shorten it.
    Pending,
}

fn before_delete(rt: &ResourceType, obj: &mut Value, opts: &DeleteOptions) -> Grace {
    if rt.id() != "/pods" || rt.custom {
        return Grace::None;
    }
    let meta_grace = obj["metadata"]["deletionGracePeriodSeconds"].as_i64();
    if let Some(dts) = obj["metadata"]["deletionTimestamp"].as_str() {
        let Some(current) = meta_grace.filter(|g| *g != 0) else {
            return Grace::None;
        };
        let Some(asked) = opts.grace_period_seconds else {
            return Grace::Pending;
        };
        let asked = if asked < 0 { 1 } else { asked };
        if asked >= current {
            return Grace::Pending;
        }
        let was = DateTime::parse_from_rfc3339(dts)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| now());
        let mut moved = was - Duration::seconds(current) + Duration::seconds(asked);
        let mut period = asked;
        if moved < now() {
            moved = now();
            if period != 0 {
                period = 1;
            }
        }
        obj["metadata"]["deletionTimestamp"] = json!(timestamp(moved));
        obj["metadata"]["deletionGracePeriodSeconds"] = json!(period);
        return Grace::Period(period);
    }
    let period = pod_grace(obj, opts);
    obj["metadata"]["deletionTimestamp"] = json!(timestamp(now() + Duration::seconds(period)));
    obj["metadata"]["deletionGracePeriodSeconds"] = json!(period);
    Grace::Period(period)
}

/// `markAsDeleting` (store.go:1011-1032): deletionTimestamp now (unless earlier), grace 0.
fn mark_as_deleting(obj: &mut Value) {
    if !is_deleting(obj) {
        obj["metadata"]["deletionTimestamp"] = json!(timestamp(now()));
    }
    obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
}

/// The conflict `rest.BeforeDelete` answers for a failed precondition: on the *kind*, not
/// the resource (`pkg/registry/rest/delete.go:84-91`).
fn check_preconditions(rt: &ResourceType, cur: &Value, opts: &DeleteOptions) -> ApiResult<()> {
    let name = cur["metadata"]["name"].as_str().unwrap_or_default();
    let field = |f: &str| cur["metadata"][f].as_str().unwrap_or_default().to_string();
    if let Some(uid) = opts.uid.as_deref().filter(|u| *u != field("uid")) {
        let why = format!(
            "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
            field("uid")
        );
        return Err(ApiError::conflict(&rt.group, &rt.kind, name, &why));
    }
    if let Some(rv) = opts
        .resource_version
        .as_deref()
        .filter(|r| *r != field("resourceVersion"))
    {
        let why = format!(
            "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
            field("resourceVersion")
        );
        return Err(ApiError::conflict(&rt.group, &rt.kind, name, &why));
    }
    Ok(())
}

/// The store-level precondition failure the namespace and CRD storages word themselves
/// (`pkg/registry/core/namespace/storage/storage.go` `Delete`, apiextensions
/// `pkg/registry/customresourcedefinition/etcd.go:99-116`).
fn check_storage_preconditions(
    rt: &ResourceType,
    cur: &Value,
    opts: &DeleteOptions,
) -> ApiResult<()> {
    let name = cur["metadata"]["name"].as_str().unwrap_or_default();
    let field = |f: &str| cur["metadata"][f].as_str().unwrap_or_default().to_string();
    if let Some(uid) = opts.uid.as_deref().filter(|u| *u != field("uid")) {
        let why = format!(
            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
            field("uid")
        );
        return Err(ApiError::conflict(&rt.group, &rt.plural, name, &why));
    }
    if let Some(rv) = opts
        .resource_version
        .as_deref()
        .filter(|r| *r != field("resourceVersion"))
    {
        let why = format!(
            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
            field("resourceVersion")
        );
        return Err(ApiError::conflict(&rt.group, &rt.plural, name, &why));
    }
    Ok(())
}

/// The first DELETE of a namespace or CRD: the object stays, marked, for its controller to
/// empty (namespace `storage.go` `Delete`; apiextensions `etcd.go:118-160`).
fn mark_for_controller(rt: &ResourceType, obj: &mut Value, opts: &DeleteOptions) {
    obj["metadata"]["deletionTimestamp"] = json!(timestamp(now()));
    let mut list = finalizers(obj);
    match rt.id().as_str() {
        "/namespaces" => {
            obj["status"]["phase"] = json!("Terminating");
        }
        _ => {
            if !list.iter().any(|f| f == CRD_CLEANUP) {
                list.push(CRD_CLEANUP.into());
            }
            let cond = json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionPending",
                "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
                "lastTransitionTime": timestamp(now())});
            let conds = obj["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut kept: Vec<Value> = conds
                .into_iter()
                .filter(|c| c["type"] != "Terminating")
                .collect();
            kept.push(cond);
            obj["status"]["conditions"] = json!(kept);
        }
    }
    // Only the namespace storage sets the garbage collector's finalizers on its first
    // DELETE (`shouldHaveOrphanFinalizer`); the CRD storage leaves them.
    if rt.id() == "/namespaces" {
        let gc = opts.gc_finalizer(&list);
        list.retain(|f| f != ORPHAN && f != FOREGROUND);
        list.extend(gc.map(String::from));
    }
    set_finalizers(obj, &list);
}

/// The CRD finalizer apiextensions' finalizing controller removes once no custom object is
/// left (`apiextensions.CustomResourceCleanupFinalizer`).
pub const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";
const CRDS: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// What the store decided inside its write.
enum Decision {
    Remove,
    Keep,
    KeepThenRemove,
    Pending,
}

/// Delete one object as `Store.Delete` does (store.go:1131-1220), or as the namespace and
/// CRD storages do on their first DELETE.
pub fn delete(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<Outcome> {
    let k = key(rt, ns, name);
    let admission = Admission::load(ctx.st, rt, ns);
    let dry_run = ctx.dry_run || opts.dry_run;
    let id = rt.id();
    let controlled = !rt.custom && (id == "/namespaces" || id == CRDS);
    let mut decision = Decision::Remove;
    let (obj, _) = ctx.st.store.write_or_preview(&k, generation(rt), dry_run, |cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        if controlled {
            check_storage_preconditions(rt, cur, opts)?;
        } else {
            check_preconditions(rt, cur, opts)?;
        }
        let old_view = with_version(convert::from_storage(rt, cur.clone()), rt);
        admission.validate(&Attempt {
            rt,
            operation: "DELETE",
            subresource: "",
            namespace: ns,
            name,
            object: None,
            old_object: Some(&old_view),
            dry_run,
            user: ctx.user,
        })?;
        let mut obj = cur.clone();
        if controlled {
            if !is_deleting(&obj) {
                mark_for_controller(rt, &mut obj, opts);
                decision = Decision::Keep;
                return Ok(Write::Put(obj));
            }
            if id == "/namespaces"
                && obj["spec"]["finalizers"].as_array().is_some_and(|f| !f.is_empty())
            {
                return Err(ApiError::conflict("", "namespaces", name, "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."));
            }
        }
        let grace = before_delete(rt, &mut obj, opts);
        if matches!(grace, Grace::Pending) {
            decision = Decision::Pending;
            return Ok(Write::Put(cur.clone()));
        }
        let mut list = finalizers(&obj);
        let gc = opts.gc_finalizer(&list);
        list.retain(|f| f != ORPHAN && f != FOREGROUND);
        if let Some(f) = gc {
            list.push(f.into());
        }
        set_finalizers(&mut obj, &list);
        match grace {
            Grace::Period(period) if period > 0 || !list.is_empty() => {
                decision = Decision::Keep;
                Ok(Write::Put(obj))
            }
            Grace::Period(_) => {
                decision = Decision::KeepThenRemove;
                Ok(Write::Put(obj))
            }
            _ if !list.is_empty() => {
                mark_as_deleting(&mut obj);
                decision = Decision::Keep;
                Ok(Write::Put(obj))
            }
            _ => Ok(Write::Delete),
        }
    })?;
    let view = |o: Value| with_version(convert::from_storage(rt, o), rt);
    match decision {
        Decision::Keep => Ok(Outcome::Kept(view(obj))),
        Decision::Pending => Ok(Outcome::AlreadyDeleting(view(obj))),
        Decision::Remove => {
            if !dry_run {
                hooks::after_write(ctx, rt, Some(&obj), None);
            }
            Ok(Outcome::Removed(view(obj)))
        }
        Decision::KeepThenRemove if dry_run => Ok(Outcome::Removed(view(obj))),
        Decision::KeepThenRemove => {
            let removed = ctx.st.store.write(&k, generation(rt), |cur| match cur {
                Some(_) => Ok(Write::Delete),
                None => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
            });
            // Another deleter winning the race is tolerated, as the store does (store.go:1207-1214).
            let last = removed.map(|(o, _)| o).unwrap_or(obj);
            hooks::after_write(ctx, rt, Some(&last), None);
            Ok(Outcome::Removed(view(last)))
        }
    }
}

/// DELETECOLLECTION: every matching object deleted with the same options; the answer is
/// the list as it was *before* the deletes (store.go:1237-1383).
pub fn delete_collection(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    sel: &(LabelSelector, FieldSelector),
    opts: &DeleteOptions,
) -> ApiResult<Value> {
    let listed = crud::list(ctx.st, rt, ns, sel, 0, None)?;
    for o in listed["items"].as_array().into_iter().flatten() {
        let (ons, oname) = (
            o["metadata"]["namespace"].as_str().unwrap_or_default(),
            o["metadata"]["name"].as_str().unwrap_or_default(),
        );
        match delete(ctx, rt, ons, oname, opts) {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(listed)
}

/// Update validation of a marked object: no finalizer may be added
/// (apimachinery `pkg/api/validation/objectmeta.go:120-128,238-241`).
pub fn check_no_new_finalizers(rt: &ResourceType, old: &Value, new: &Value) -> ApiResult<()> {
    if !is_deleting(old) {
        return Ok(());
    }
    let before = finalizers(old);
    let mut extra: Vec<String> = finalizers(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    extra.sort();
    extra.dedup();
    let quoted: Vec<String> = extra.iter().map(|f| format!("{f:?}")).collect();
    let name = new["metadata"]["name"].as_str().unwrap_or_default();
    Err(ApiError::invalid(
        &rt.group,
        &rt.kind,
        name,
        &[(
            "metadata.finalizers".into(),
            format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                quoted.join(", ")
            ),
        )],
    ))
}

/// `ShouldDeleteDuringUpdate` (store.go:560-586, namespaces also need empty
/// `spec.finalizers`): an update leaving a marked object without finalizers deletes it.
pub fn emptied(rt: &ResourceType, old: &Value, new: &Value) -> bool {
    is_deleting(old)
        && finalizers(new).is_empty()
        && old["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .is_none_or(|g| g == 0)
        && (rt.id() != "/namespaces"
            || new["spec"]["finalizers"]
                .as_array()
                .is_none_or(|f| f.is_empty()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn pod(node: &str, grace: Option<i64>) -> Value {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"nodeName": node}, "status": {"phase": "Running"}});
        if let Some(g) = grace {
            p["spec"]["terminationGracePeriodSeconds"] = json!(g);
        }
        p
    }

    #[test]
    fn a_pod_s_grace_comes_from_the_options_then_the_pod_then_30() {
        let asked = DeleteOptions {
            grace_period_seconds: Some(5),
            ..Default::default()
        };
        assert_eq!(pod_grace(&pod("n1", Some(10)), &asked), 5);
        assert_eq!(
            pod_grace(&pod("n1", Some(10)), &DeleteOptions::default()),
            10
        );
        assert_eq!(pod_grace(&pod("n1", None), &DeleteOptions::default()), 30);
        assert_eq!(pod_grace(&pod("", Some(10)), &DeleteOptions::default()), 0);
        let mut done = pod("n1", Some(10));
        done["status"]["phase"] = json!("Succeeded");
        assert_eq!(pod_grace(&done, &DeleteOptions::default()), 0);
        let negative = DeleteOptions {
            grace_period_seconds: Some(-3),
            ..Default::default()
        };
        assert_eq!(pod_grace(&pod("n1", None), &negative), 1);
    }

    #[test]
    fn options_choose_the_gc_finalizer_before_the_object_does() {
        let orphan = DeleteOptions {
            propagation_policy: Some("Orphan".into()),
            ..Default::default()
        };
        assert_eq!(orphan.gc_finalizer(&[FOREGROUND.into()]), Some(ORPHAN));
        assert_eq!(
            DeleteOptions::background().gc_finalizer(&[ORPHAN.into()]),
            None
        );
        assert_eq!(
            DeleteOptions::default().gc_finalizer(&[FOREGROUND.into()]),
            Some(FOREGROUND)
        );
        assert_eq!(DeleteOptions::default().gc_finalizer(&[]), None);
        let old_style = DeleteOptions {
            orphan_dependents: Some(true),
            ..Default::default()
        };
        assert_eq!(old_style.gc_finalizer(&[]), Some(ORPHAN));
    }

    #[test]
    fn bad_options_are_refused_as_validate_delete_options_words_it() {
        let e =
            DeleteOptions::parse(&json!({"propagationPolicy": "Sideways"}), |_| None).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
        );
        let q = DeleteOptions::parse(&Value::Null, |k| {
            (k == "gracePeriodSeconds").then(|| "7".to_string())
        })
        .unwrap();
        assert_eq!(q.grace_period_seconds, Some(7));
    }

    #[test]
    fn only_an_update_that_empties_the_finalizers_of_a_marked_object_deletes_it() {
        let rt = crate::apiserver::builtins::builtins()
            .into_iter()
            .find(|r| r.plural == "configmaps")
            .unwrap();
        let marked = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z", "deletionGracePeriodSeconds": 0, "finalizers": ["a/b"]}});
        let emptied_obj = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert!(emptied(&rt, &marked, &emptied_obj));
        assert!(!emptied(&rt, &marked, &marked));
        assert!(!emptied(&rt, &json!({"metadata": {}}), &emptied_obj));
        let added = json!({"metadata": {"name": "c", "finalizers": ["a/b", "x/y"]}});
        let e = check_no_new_finalizers(&rt, &marked, &added).unwrap_err();
        assert_eq!(
            e.message,
            "ConfigMap \"c\" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"x/y\"}"
        );
    }
}
