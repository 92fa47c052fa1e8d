//! Deployments, DaemonSets, ReplicaSets, StatefulSets and ReplicationControllers:
//! defaults (kubernetes v1.34.1 `pkg/apis/apps/v1/defaults.go:38-153`,
//! `pkg/apis/core/v1/defaults.go:50-65`; replicas 1 declaratively), the DaemonSet's
//! template generation (`pkg/registry/apps/daemonset/strategy.go` `PrepareForCreate` /
//! `PrepareForUpdate`, carried in the `deprecated.daemonset.template.generation`
//! annotation by `pkg/apis/apps/v1/conversion.go:85-116`) and the selector rules of
//! `pkg/apis/apps/validation/validation.go` (v1.34.2: `ValidateDaemonSetSpec` `:440-452`,
//! `ValidateDeploymentSpec` `:638-660`, `ValidateReplicaSetSpec` `:807-842`, the
//! StatefulSet's `:180-185`, `ValidatePodTemplateSpecForReplicaSet` `:56-68`).

use serde_json::{Value, json};

use super::pod_spec::{self, or_default};
use crate::apiserver::daemon::sync::GENERATION_ANNOTATION;
use crate::apiserver::select::LabelSelector;

fn rolling(obj: &mut Value, path: &str, defaults: &[(&str, Value)], kind: &str) {
    let strategy = &mut obj["spec"][path];
    if strategy["type"].as_str().is_none_or(str::is_empty) {
        strategy["type"] = json!("RollingUpdate");
    }
    if strategy["type"] == kind {
        for (k, v) in defaults {
            or_default(&mut strategy["rollingUpdate"], k, v.clone());
        }
    }
}

/// Default a workload of `kind` (`old` is the stored object on update).
pub fn default(kind: &str, old: Option<&Value>, obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        pod_spec::default(spec);
    }
    match kind {
        "Deployment" => {
            or_default(&mut obj["spec"], "replicas", json!(1));
            rolling(
                obj,
                "strategy",
                &[("maxUnavailable", json!("25%")), ("maxSurge", json!("25%"))],
                "RollingUpdate",
            );
            or_default(&mut obj["spec"], "revisionHistoryLimit", json!(10));
            or_default(&mut obj["spec"], "progressDeadlineSeconds", json!(600));
        }
        "DaemonSet" => {
            rolling(
                obj,
                "updateStrategy",
                &[("maxUnavailable", json!(1)), ("maxSurge", json!(0))],
                "RollingUpdate",
            );
            or_default(&mut obj["spec"], "revisionHistoryLimit", json!(10));
            template_generation(old, obj);
        }
        "StatefulSet" => {
            or_default(
                &mut obj["spec"],
                "podManagementPolicy",
                json!("OrderedReady"),
            );
            rolling(
                obj,
                "updateStrategy",
                &[("partition", json!(0))],
                "RollingUpdate",
            );
            or_default(
                &mut obj["spec"],
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            or_default(&mut obj["spec"], "replicas", json!(1));
            or_default(&mut obj["spec"], "revisionHistoryLimit", json!(10));
        }
        "ReplicationController" => {
            let labels = obj["spec"]["template"]["metadata"]["labels"].clone();
            if labels.as_object().is_some_and(|l| !l.is_empty()) {
                if obj["spec"]["selector"]
                    .as_object()
                    .is_none_or(|s| s.is_empty())
                {
                    obj["spec"]["selector"] = labels.clone();
                }
                if obj["metadata"]["labels"]
                    .as_object()
                    .is_none_or(|s| s.is_empty())
                {
                    obj["metadata"]["labels"] = labels;
                }
            }
            or_default(&mut obj["spec"], "replicas", json!(1));
        }
        _ => or_default(&mut obj["spec"], "replicas", json!(1)),
    }
}

/// 1 on create (or what the request says, if higher); the old one on update, plus one
/// when the template changed.
fn template_generation(old: Option<&Value>, obj: &mut Value) {
    let read = |o: &Value| {
        o["metadata"]["annotations"][GENERATION_ANNOTATION]
            .as_str()
            .and_then(|g| g.parse::<i64>().ok())
    };
    let generation = match old {
        None => read(obj).unwrap_or(1).max(1),
        Some(o) => {
            let was = read(o).unwrap_or(1);
            if o["spec"]["template"] != obj["spec"]["template"] {
                was + 1
            } else {
                was
            }
        }
    };
    obj["metadata"]["annotations"][GENERATION_ANNOTATION] = json!(generation.to_string());
}

/// The selector rules: required, not empty, and matching the template's labels.
pub fn validate(kind: &str, obj: &Value) -> Vec<(String, String)> {
    let sel = &obj["spec"]["selector"];
    let labels = &obj["spec"]["template"]["metadata"]["labels"];
    let mismatch = || {
        (
            "spec.template.metadata.labels".to_string(),
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                if labels.is_object() {
                    labels.to_string()
                } else {
                    "null".into()
                }
            ),
        )
    };
    let template = json!({"metadata": {"labels": labels}});
    if kind == "ReplicationController" {
        let selector = LabelSelector::from_object(&json!({ "matchLabels": sel }));
        if sel.as_object().is_some_and(|s| !s.is_empty()) && !selector.matches(&template) {
            return vec![mismatch()];
        }
        return Vec::new();
    }
    if sel.is_null() {
        // A nil selector selects nothing, so the template never matches; only the
        // DaemonSet's validation does not require one outright (`:440-452`).
        if kind == "DaemonSet" {
            return vec![mismatch()];
        }
        return vec![
            ("spec.selector".into(), "Required value".into()),
            mismatch(),
        ];
    }
    let empty = sel["matchLabels"].as_object().is_none_or(|m| m.is_empty())
        && sel["matchExpressions"]
            .as_array()
            .is_none_or(|m| m.is_empty());
    if empty {
        // ReplicaSets say "deployment" upstream too (`ValidateReplicaSetSpec`, `:819`).
        let what = match kind {
            "DaemonSet" => "daemonset",
            "StatefulSet" => "statefulset",
            _ => "deployment",
        };
        return vec![(
            "spec.selector".into(),
            format!("Invalid value: {sel}: empty selector is invalid for {what}"),
        )];
    }
    if !LabelSelector::from_object(sel).matches(&template) {
        return vec![mismatch()];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_get_replicas_strategy_and_limits() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": []}}}});
        default("Deployment", None, &mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn a_daemonset_template_change_bumps_its_template_generation() {
        let mut ds = json!({"spec": {"template": {"spec": {"containers": []}}}});
        default("DaemonSet", None, &mut ds);
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["metadata"]["annotations"][GENERATION_ANNOTATION], "1");
        let old = ds.clone();
        let mut same = old.clone();
        default("DaemonSet", Some(&old), &mut same);
        assert_eq!(same["metadata"]["annotations"][GENERATION_ANNOTATION], "1");
        let mut changed = old.clone();
        changed["spec"]["template"]["spec"]["hostNetwork"] = json!(true);
        default("DaemonSet", Some(&old), &mut changed);
        assert_eq!(
            changed["metadata"]["annotations"][GENERATION_ANNOTATION],
            "2"
        );
    }

    #[test]
    fn selectors_are_required_and_must_match_the_template() {
        let d = json!({"spec": {"template": {"metadata": {"labels": {"app": "x"}}}}});
        assert_eq!(
            validate("Deployment", &d),
            [
                ("spec.selector".to_string(), "Required value".to_string()),
                (
                    "spec.template.metadata.labels".to_string(),
                    "Invalid value: {\"app\":\"x\"}: `selector` does not match template `labels`"
                        .to_string()
                )
            ]
        );
        let mut ok = d.clone();
        ok["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
        assert!(validate("Deployment", &ok).is_empty());
        let mut other = d.clone();
        other["spec"]["selector"] = json!({"matchLabels": {"app": "y"}});
        assert_eq!(validate("DaemonSet", &other).len(), 1);
        let mut empty = d.clone();
        empty["spec"]["selector"] = json!({});
        assert_eq!(
            validate("DaemonSet", &empty)[0].1,
            "Invalid value: {}: empty selector is invalid for daemonset"
        );
    }
}
