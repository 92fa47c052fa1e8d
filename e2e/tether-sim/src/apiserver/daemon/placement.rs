//! Which nodes a DaemonSet's pod belongs on: `NodeShouldRunDaemonPod` and `predicates`
//! (kubernetes v1.34.2 `pkg/controller/daemon/daemon_controller.go:1294-1330`): the
//! template's `nodeName`, `nodeSelector` and required node affinity, and the node's
//! `NoSchedule`/`NoExecute` taints against the template's tolerations plus those every
//! daemon pod gets (`NewPod`, `:1333-1341`; `util/daemonset_util.go:48-102`,
//! `AddOrUpdateDaemonPodTolerations`).

use serde_json::{Value, json};

/// Whether a node should get a daemon pod, and whether a pod already there may stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// A pod should be created here if none runs.
    pub should_run: bool,
    /// A pod here is kept (an untolerated `NoSchedule` taint stops new pods only).
    pub should_continue: bool,
}

/// Add the tolerations every daemon pod carries (`AddOrUpdateDaemonPodTolerations`):
/// not-ready and unreachable `NoExecute`; disk, memory and PID pressure and
/// unschedulable `NoSchedule`; network-unavailable `NoSchedule` with host networking.
pub fn add_daemon_tolerations(spec: &mut Value) {
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec["hostNetwork"].as_bool() == Some(true) {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    if !spec["tolerations"].is_array() {
        spec["tolerations"] = json!([]);
    }
    let Some(list) = spec["tolerations"].as_array_mut() else {
        return;
    };
    for (key, effect) in wanted {
        let t = json!({"key": key, "operator": "Exists", "effect": effect});
        // `AddOrUpdateTolerationInPodSpec`: one with the same key and effect is replaced.
        match list
            .iter_mut()
            .find(|x| x["key"] == key && x["effect"] == effect)
        {
            Some(existing) => *existing = t,
            None => list.push(t),
        }
    }
}

/// `Toleration.ToleratesTaint` (k8s.io/api `core/v1/toleration.go`).
fn tolerates(t: &Value, taint: &Value) -> bool {
    let effect = t["effect"].as_str().unwrap_or_default();
    if !effect.is_empty() && Some(effect) != taint["effect"].as_str() {
        return false;
    }
    let key = t["key"].as_str().unwrap_or_default();
    if !key.is_empty() && Some(key) != taint["key"].as_str() {
        return false;
    }
    match t["operator"].as_str().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            t["value"].as_str().unwrap_or_default() == taint["value"].as_str().unwrap_or_default()
        }
        _ => false,
    }
}

/// One `NodeSelectorRequirement` against a value (`None` = absent).
fn requirement(req: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> = req["values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let number = |s: &str| s.parse::<i64>().ok();
    match req["operator"].as_str().unwrap_or_default() {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => {
            let (Some(have), Some(bound)) = (
                value.and_then(number),
                values.first().copied().and_then(number),
            ) else {
                return false;
            };
            if op == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// Required node affinity: any term matches when all its label expressions and
/// `metadata.name` fields do; an empty term matches nothing (component-helpers
/// `scheduling/corev1/nodeaffinity`).
fn affinity_matches(spec: &Value, node: &Value) -> bool {
    let required =
        &spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
    let Some(terms) = required["nodeSelectorTerms"].as_array() else {
        return true;
    };
    let labels = &node["metadata"]["labels"];
    let name = node["metadata"]["name"].as_str();
    terms.iter().any(|term| {
        let exprs = term["matchExpressions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let fields = term["matchFields"].as_array().cloned().unwrap_or_default();
        (!exprs.is_empty() || !fields.is_empty())
            && exprs.iter().all(|e| {
                let key = e["key"].as_str().unwrap_or_default();
                requirement(e, labels.get(key).and_then(Value::as_str))
            })
            && fields
                .iter()
                .all(|f| f["key"].as_str() == Some("metadata.name") && requirement(f, name))
    })
}

/// `NodeShouldRunDaemonPod` for a pod spec (the template with the daemon tolerations
/// added) on `node`.
pub fn fit(spec: &Value, node: &Value) -> Fit {
    let no = Fit {
        should_run: false,
        should_continue: false,
    };
    if let Some(want) = spec["nodeName"].as_str().filter(|n| !n.is_empty())
        && node["metadata"]["name"].as_str() != Some(want)
    {
        return no;
    }
    let labels = &node["metadata"]["labels"];
    let selector_ok = spec["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    if !selector_ok || !affinity_matches(spec, node) {
        return no;
    }
    let tolerations = spec["tolerations"].as_array().cloned().unwrap_or_default();
    let mut out = Fit {
        should_run: true,
        should_continue: true,
    };
    for taint in node["spec"]["taints"].as_array().into_iter().flatten() {
        let effect = taint["effect"].as_str().unwrap_or_default();
        if !matches!(effect, "NoSchedule" | "NoExecute")
            || tolerations.iter().any(|t| tolerates(t, taint))
        {
            continue;
        }
        out.should_run = false;
        if effect == "NoExecute" {
            out.should_continue = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": "n1", "labels": labels}, "spec": {"taints": taints}})
    }

    #[test]
    fn node_selector_and_affinity_pick_nodes() {
        let spec = json!({"nodeSelector": {"edge": "true"}});
        assert!(fit(&spec, &node(json!({"edge": "true"}), json!([]))).should_run);
        assert!(!fit(&spec, &node(json!({"edge": "false"}), json!([]))).should_continue);
        let spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                                   {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}});
        assert!(fit(&spec, &node(json!({}), json!([]))).should_run);
        let spec = json!({"nodeName": "other"});
        assert!(!fit(&spec, &node(json!({}), json!([]))).should_run);
    }

    #[test]
    fn untolerated_no_schedule_keeps_running_pods_but_no_execute_does_not() {
        let mut spec = json!({});
        add_daemon_tolerations(&mut spec);
        let cordoned = node(
            json!({}),
            json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
        );
        assert!(
            fit(&spec, &cordoned).should_run,
            "daemon pods tolerate cordons"
        );
        let tainted = node(
            json!({}),
            json!([{"key": "gpu", "value": "x", "effect": "NoSchedule"}]),
        );
        assert_eq!(
            fit(&spec, &tainted),
            Fit {
                should_run: false,
                should_continue: true
            }
        );
        let evicting = node(json!({}), json!([{"key": "gpu", "effect": "NoExecute"}]));
        assert!(!fit(&spec, &evicting).should_continue);
        let spec = json!({"tolerations": [{"operator": "Exists"}]});
        assert!(fit(&spec, &evicting).should_run, "tolerates everything");
        let spec = json!({"tolerations": [{"key": "gpu", "value": "y", "effect": "NoSchedule"}]});
        assert!(!fit(&spec, &tainted).should_run, "Equal compares values");
    }

    #[test]
    fn daemon_tolerations_follow_host_networking() {
        let mut spec = json!({"hostNetwork": true, "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]});
        add_daemon_tolerations(&mut spec);
        let list = spec["tolerations"].as_array().unwrap();
        assert_eq!(list.len(), 7);
        assert!(
            list[0].get("tolerationSeconds").is_none(),
            "replaced, not added"
        );
        let mut spec = json!({});
        add_daemon_tolerations(&mut spec);
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 6);
    }
}
