//! Namespace termination: the `NamespaceLifecycle` admission plugin and the namespace
//! controller's deletion of a namespace's content (kubernetes
//! `pkg/controller/namespace/deletion/namespaced_resources_deleter.go`,
//! `status_condition_utils.go`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::crud::Ctx;
use super::deletion::{self, DeleteOptions, finalizers, is_deleting};
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult, qualified};
use super::store::{Generation, Key, Write};

/// Namespaces `NamespaceLifecycle` never lets be deleted (apiserver
/// `pkg/admission/plugin/namespace/lifecycle/admission.go:57`).
const IMMORTAL: [&str; 3] = ["default", "kube-system", "kube-public"];

/// `NamespaceLifecycle` on a DELETE of a namespace (`admission.go:78-81`).
pub fn admit_delete(rt: &ResourceType, name: &str) -> ApiResult<()> {
    if rt.id() == "/namespaces" && !rt.custom && IMMORTAL.contains(&name) {
        return Err(ApiError::forbidden(
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            name,
            "",
            "namespaces",
        ));
    }
    Ok(())
}

/// `NamespaceLifecycle` on a create in `namespace`: 403 while it is Terminating, with the
/// `NamespaceTerminating` cause (`admission.go:168-183`; the message built by
/// apimachinery's `NewForbidden`, `pkg/api/errors/errors.go:209-229`).
pub fn admit_create(
    rt: &ResourceType,
    namespace_obj: &Value,
    namespace: &str,
    name: &str,
) -> ApiResult<()> {
    if namespace_obj["status"]["phase"] != "Terminating" {
        return Ok(());
    }
    let what = qualified(&rt.group, &rt.plural);
    let why = format!(
        "unable to create new content in namespace {namespace} because it is being terminated"
    );
    let message = if name.is_empty() {
        format!("{what} is forbidden: {why}")
    } else {
        format!("{what} \"{name}\" is forbidden: {why}")
    };
    let mut e = ApiError::forbidden(message, name, &rt.group, &rt.plural);
    if let Some(d) = e.details.as_mut() {
        d["causes"] = json!([{"reason": "NamespaceTerminating",
            "message": format!("namespace {namespace} is being terminated"),
            "field": "metadata.namespace"}]);
    }
    Err(e)
}

const CONDITIONS: [(&str, &str, &str); 5] = [
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// The namespace's conditions given what is left in it (`status_condition_utils.go`):
/// `<resource>.<group> has n resource instances`, `<finalizer> in n resource instances`,
/// each sorted.
fn conditions(
    remaining: &BTreeMap<String, usize>,
    by_finalizer: &BTreeMap<String, usize>,
    old: &Value,
    now: &str,
) -> Value {
    let mut out = Vec::new();
    for (kind, ok_reason, ok_message) in CONDITIONS {
        let (status, reason, message) = match kind {
            "NamespaceContentRemaining" if !remaining.is_empty() => (
                "True",
                "SomeResourcesRemain".to_string(),
                format!(
                    "Some resources are remaining: {}",
                    remaining
                        .iter()
                        .map(|(r, n)| format!("{r} has {n} resource instances"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            "NamespaceFinalizersRemaining" if !by_finalizer.is_empty() => (
                "True",
                "SomeFinalizersRemain".to_string(),
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    by_finalizer
                        .iter()
                        .map(|(f, n)| format!("{f} in {n} resource instances"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            _ => ("False", ok_reason.to_string(), ok_message.to_string()),
        };
        let previous = old
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == kind);
        let since = previous
            .filter(|c| c["status"] == status)
            .and_then(|c| c["lastTransitionTime"].as_str())
            .unwrap_or(now);
        out.push(json!({"type": kind, "status": status, "lastTransitionTime": since, "reason": reason, "message": message}));
    }
    json!(out)
}

/// One pass of the namespace controller over a Terminating namespace: delete what is in it
/// (Background), then either record what remains or drop the `kubernetes` finalizer, which
/// removes the namespace when nothing else holds it. Returns whether it changed anything.
pub fn reconcile(ctx: &Ctx, types: &[ResourceType], ns: &Value) -> bool {
    let st = ctx.st;
    let name = ns["metadata"]["name"].as_str().unwrap_or_default();
    if !is_deleting(ns) {
        return false;
    }
    let mut changed = false;
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_finalizer: BTreeMap<String, usize> = BTreeMap::new();
    for rt in types.iter().filter(|t| t.namespaced && t.stored) {
        let (items, _) = st.store.list(&rt.id(), Some(name));
        for item in items {
            let item_name = item["metadata"]["name"].as_str().unwrap_or_default();
            let gone = if is_deleting(&item) {
                false
            } else {
                changed = true;
                matches!(
                    deletion::delete(ctx, rt, name, item_name, &DeleteOptions::background()),
                    Ok(deletion::Outcome::Removed(_)) | Err(_)
                )
            };
            if gone {
                continue;
            }
            *remaining
                .entry(format!("{}.{}", rt.plural, rt.group))
                .or_default() += 1;
            for f in finalizers(&item) {
                *by_finalizer.entry(f).or_default() += 1;
            }
        }
    }
    let key = Key::new("/namespaces", "", name);
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let result = st.store.write(&key, Generation::IgnoreStatus, |cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found("", "namespaces", name));
        };
        let mut next = cur.clone();
        next["status"]["conditions"] = conditions(
            &remaining,
            &by_finalizer,
            &cur["status"]["conditions"],
            &now,
        );
        if remaining.is_empty() {
            let kept: Vec<Value> = next["spec"]["finalizers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| *f != "kubernetes")
                .cloned()
                .collect();
            next["spec"]["finalizers"] = json!(kept);
            if kept.is_empty() && finalizers(&next).is_empty() {
                return Ok(Write::Delete);
            }
        }
        Ok(Write::Put(next))
    });
    if let Ok((after, Some(before))) = result {
        changed |= after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"];
    }
    changed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn remaining_content_is_worded_as_the_namespace_controller_words_it() {
        let remaining = BTreeMap::from([("pods.".to_string(), 2)]);
        let fins = BTreeMap::from([("tether.dev/hold".to_string(), 1)]);
        let c = conditions(&remaining, &fins, &Value::Null, "T");
        assert_eq!(
            c[3]["message"],
            "Some resources are remaining: pods. has 2 resource instances"
        );
        assert_eq!(c[3]["reason"], "SomeResourcesRemain");
        assert_eq!(
            c[4]["message"],
            "Some content in the namespace has finalizers remaining: tether.dev/hold in 1 resource instances"
        );
        assert_eq!(c[0]["status"], "False");
        assert_eq!(c[0]["reason"], "ResourcesDiscovered");
    }

    #[test]
    fn creating_in_a_terminating_namespace_is_forbidden() {
        let rt = crate::apiserver::builtins::builtins()
            .into_iter()
            .find(|r| r.plural == "configmaps")
            .unwrap();
        let ns = json!({"status": {"phase": "Terminating"}});
        let e = admit_create(&rt, &ns, "team", "cfg").unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "configmaps \"cfg\" is forbidden: unable to create new content in namespace team because it is being terminated"
        );
        assert!(admit_create(&rt, &json!({"status": {"phase": "Active"}}), "team", "cfg").is_ok());
        assert_eq!(admit_delete(&ns_type(), "default").unwrap_err().code, 403);
    }

    fn ns_type() -> ResourceType {
        crate::apiserver::builtins::builtins()
            .into_iter()
            .find(|r| r.plural == "namespaces")
            .unwrap()
    }
}
