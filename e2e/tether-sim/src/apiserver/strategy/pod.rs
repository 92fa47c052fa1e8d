//! Pods: what the admission chain and the registry strategy add on create, and which
//! updates the real server refuses.
//!
//! On create (kubernetes v1.34.1): the ServiceAccount admission names `default`
//! (`plugin/pkg/admission/serviceaccount/admission.go`) and mounts the API access volume
//! (`pod_token.rs`); Priority admission resolves the
//! class (none → 0; the built-in `system-node-critical` 2000001000 and
//! `system-cluster-critical` 2000000000; `plugin/pkg/admission/priority/admission.go`,
//! `pkg/apis/scheduling/types.go`); DefaultTolerationSeconds adds not-ready/unreachable
//! `NoExecute` for 300 s unless tolerated already
//! (`plugin/pkg/admission/defaulttolerationseconds/admission.go`); `status.qosClass`
//! (`pkg/apis/core/helper/qos/qos.go`, set by `pkg/registry/core/pod/strategy.go`
//! `PrepareForCreate`). On update: `ValidatePodUpdate`
//! (`pkg/apis/core/validation/validation.go:5563-5716`).

use serde_json::{Value, json};

use super::pod_spec::{items_mut, or_default};

/// The fields a pod update may change, as the real message lists them
/// (`updatablePodSpecFields`, `validation.go:5563-5569`).
const UPDATABLE: [&str; 5] = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

fn tolerates_already(tolerations: &[Value], key: &str) -> bool {
    tolerations.iter().any(|t| {
        let k = t["key"].as_str().unwrap_or_default();
        let effect = t["effect"].as_str().unwrap_or_default();
        (k == key || k.is_empty()) && (effect.is_empty() || effect == "NoExecute")
    })
}

/// The admission plugins' additions on create; `Err` is why admission forbids the pod.
pub fn admit_create(pod: &mut Value) -> Result<(), String> {
    let spec = &mut pod["spec"];
    if spec["serviceAccountName"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        spec["serviceAccountName"] = json!("default");
        spec["serviceAccount"] = json!("default");
    }
    let priority = match spec["priorityClassName"].as_str().unwrap_or_default() {
        "" => 0,
        "system-node-critical" => 2_000_001_000,
        "system-cluster-critical" => 2_000_000_000,
        other => {
            return Err(format!("no PriorityClass with name {other} was found"));
        }
    };
    if let Some(given) = spec["priority"].as_i64().filter(|p| *p != priority) {
        return Err(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
        ));
    }
    spec["priority"] = json!(priority);
    or_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    let existing = spec["tolerations"].as_array().cloned().unwrap_or_default();
    let mut added = Vec::new();
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        if !tolerates_already(&existing, key) {
            added.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
    if !added.is_empty() {
        let mut all = existing;
        all.extend(added);
        spec["tolerations"] = json!(all);
    }
    super::pod_token::mount(pod);
    pod["status"]["qosClass"] = json!(qos_class(&pod["spec"]));
    Ok(())
}

/// `qos.GetPodQOS`: BestEffort without any cpu/memory request or limit; Guaranteed when
/// every container limits both and requests equal limits; else Burstable.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .flat_map(|l| spec[*l].as_array().into_iter().flatten())
        .collect();
    let set = |c: &Value, kind: &str, res: &str| {
        c["resources"][kind][res]
            .as_str()
            .map(String::from)
            .or_else(|| c["resources"][kind][res].as_f64().map(|n| n.to_string()))
            .filter(|q| !q.trim_start_matches(['0', '.']).is_empty() && !q.starts_with('-'))
    };
    let any = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|k| ["cpu", "memory"].iter().any(|r| set(c, k, r).is_some()))
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = set(c, "limits", r);
            limit.is_some() && set(c, "requests", r).or(limit.clone()) == limit
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Keep what the Priority admission set on create when an update leaves it out.
pub fn admit_update(old: &Value, new: &mut Value) {
    for f in ["priority", "preemptionPolicy"] {
        if new["spec"].get(f).is_none_or(Value::is_null) && !old["spec"][f].is_null() {
            new["spec"][f] = old["spec"][f].clone();
        }
    }
}

/// `ValidatePodUpdate`'s spec rules: only the updatable fields may change.
pub fn validate_update(old: &Value, new: &Value) -> Vec<(String, String)> {
    let (o, n) = (&old["spec"], &new["spec"]);
    let mut causes = Vec::new();
    for list in ["containers", "initContainers"] {
        let (ol, nl) = (
            o[list].as_array().map_or(0, Vec::len),
            n[list].as_array().map_or(0, Vec::len),
        );
        if ol != nl {
            // `ValidateContainerUpdates`: stop at a changed container count.
            causes.push((
                format!("spec.{list}"),
                "Forbidden: pod updates may not add or remove containers".into(),
            ));
            return causes;
        }
    }
    match (
        n["activeDeadlineSeconds"].as_i64(),
        o["activeDeadlineSeconds"].as_i64(),
    ) {
        (Some(new_ads), _) if !(0..=i64::from(i32::MAX)).contains(&new_ads) => {
            causes.push((
                "spec.activeDeadlineSeconds".into(),
                format!("Invalid value: {new_ads}: must be between 0 and 2147483647, inclusive"),
            ));
            return causes;
        }
        (Some(new_ads), Some(old_ads)) if old_ads < new_ads => {
            causes.push((
                "spec.activeDeadlineSeconds".into(),
                format!("Invalid value: {new_ads}: must be less than or equal to previous value"),
            ));
            return causes;
        }
        (None, Some(_)) => causes.push((
            "spec.activeDeadlineSeconds".into(),
            "Invalid value: \"null\": must not update from a positive integer to nil value".into(),
        )),
        _ => {}
    }
    let new_tolerations = n["tolerations"].as_array().cloned().unwrap_or_default();
    for t in o["tolerations"].as_array().into_iter().flatten() {
        let mut t_no_seconds = t.clone();
        if let Some(m) = t_no_seconds.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        let kept = new_tolerations.iter().any(|x| {
            let mut x = x.clone();
            if let Some(m) = x.as_object_mut() {
                m.remove("tolerationSeconds");
            }
            x == t_no_seconds
        });
        if !kept {
            causes.push((
                "spec.tolerations".into(),
                "Forbidden: existing toleration can not be modified except its tolerationSeconds"
                    .into(),
            ));
        }
    }
    let mut munged = n.clone();
    for list in ["containers", "initContainers"] {
        for (i, c) in items_mut(&mut munged, list).enumerate() {
            c["image"] = o[list][i]["image"].clone();
        }
    }
    for f in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
        match o.get(f) {
            Some(v) => munged[f] = v.clone(),
            None => {
                if let Some(m) = munged.as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    if o["terminationGracePeriodSeconds"]
        .as_i64()
        .is_some_and(|g| g < 0)
        && munged["terminationGracePeriodSeconds"].as_i64() == Some(1)
    {
        munged["terminationGracePeriodSeconds"] = o["terminationGracePeriodSeconds"].clone();
    }
    if munged != *o {
        causes.push((
            "spec".into(),
            format!(
                "Forbidden: pod updates may not change fields other than {}\n{}",
                UPDATABLE.join(","),
                spec_diff(o, &munged)
            ),
        ));
    }
    causes
}

/// A short account of the changed spec fields (Go prints a `cmp.Diff` of the structs).
fn spec_diff(old: &Value, new: &Value) -> String {
    let mut keys: Vec<&String> = old
        .as_object()
        .into_iter()
        .chain(new.as_object())
        .flat_map(|m| m.keys())
        .collect();
    keys.sort();
    keys.dedup();
    let mut lines = vec!["  core.PodSpec{".to_string()];
    for k in keys {
        if old.get(k) != new.get(k) {
            let show = |v: Option<&Value>| v.map_or("nil".to_string(), Value::to_string);
            lines.push(format!("-\t{k}: {},", show(old.get(k))));
            lines.push(format!("+\t{k}: {},", show(new.get(k))));
        }
    }
    lines.push("  }".into());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_admission_fills_account_priority_tolerations_and_qos() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        assert!(admit_create(&mut pod).is_ok());
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["priority"], 0);
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}])
        );
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
        let mut critical = json!({"spec": {"priorityClassName": "system-node-critical",
            "tolerations": [{"operator": "Exists"}], "containers": []}});
        assert!(admit_create(&mut critical).is_ok());
        assert_eq!(critical["spec"]["priority"], 2_000_001_000);
        assert_eq!(critical["spec"]["tolerations"].as_array().unwrap().len(), 1);
        let mut unknown = json!({"spec": {"priorityClassName": "gold"}});
        assert!(
            matches!(admit_create(&mut unknown), Err(m) if m == "no PriorityClass with name gold was found")
        );
    }

    #[test]
    fn qos_classes() {
        let c = |res: Value| json!({"containers": [{"name": "a", "resources": res}]});
        assert_eq!(qos_class(&c(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&c(
                json!({"requests": {"cpu": "10m"}, "limits": {"memory": "64Mi"}})
            )),
            "Burstable"
        );
        assert_eq!(
            qos_class(&c(json!({"limits": {"cpu": "1", "memory": "64Mi"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&c(
                json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}})
            )),
            "Burstable"
        );
    }

    #[test]
    fn only_images_deadlines_and_added_tolerations_may_change() {
        let old = json!({"spec": {"containers": [{"name": "a", "image": "x:1"}], "dnsPolicy": "ClusterFirst",
                         "tolerations": [{"key": "k", "operator": "Exists"}]}});
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("x:2");
        new["spec"]["tolerations"] =
            json!([{"key": "k", "operator": "Exists"}, {"key": "j", "operator": "Exists"}]);
        new["spec"]["activeDeadlineSeconds"] = json!(30);
        assert!(validate_update(&old, &new).is_empty());
        let mut bad = old.clone();
        bad["spec"]["dnsPolicy"] = json!("Default");
        let causes = validate_update(&old, &bad);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].0, "spec");
        assert!(causes[0].1.starts_with("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"), "{}", causes[0].1);
        let mut dropped = old.clone();
        dropped["spec"]["tolerations"] = json!([]);
        assert_eq!(validate_update(&old, &dropped)[0].0, "spec.tolerations");
    }
}
