//! One DaemonSet's sync, as a plan: which nodes get a pod, which pods go, and the status.
//! Kubernetes v1.34.2 (read from openshift/microshift `218a1884`, which vendors
//! openshift/kubernetes at 1.34.2) `pkg/controller/daemon/daemon_controller.go`:
//! `getNodesToDaemonPods` `:739-790`, `podsShouldBeOnNode` `:792-912`, `manage` `:944`,
//! `syncNodes` `:977-1087` (pods from `CreatePodTemplate` with the node affinity),
//! `updateDaemonSetStatus` `:1144-1202`, `podByCreationTimestampAndPhase` `:1343-1362`;
//! `update.go` `rollingUpdate` `:44-260` (the maxSurge 0 branch); `util/daemonset_util.go`
//! `CreatePodTemplate` `:107-124`, `IsPodUpdated` `:165-172`,
//! `ReplaceDaemonSetPodNodeNameNodeAffinity` `:176-221`; `pkg/controller/controller_utils.go`
//! `ComputeHash` `:1395-1407`.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::placement::{self, Fit};

/// The label carrying the template's revision hash (`DefaultDaemonSetUniqueLabelKey`).
pub const HASH_LABEL: &str = "controller-revision-hash";
/// The label carrying the template generation (`DaemonSetTemplateGenerationKey`).
pub const GENERATION_LABEL: &str = "pod-template-generation";
/// The annotation the apps/v1 DaemonSet carries its template generation in.
pub const GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// What one sync does.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Nodes that get a new pod.
    pub create: Vec<String>,
    /// Names of pods to delete.
    pub delete: Vec<String>,
    /// The DaemonSet's new `status`.
    pub status: Value,
}

/// `controller.ComputeHash` shaped: FNV-32a of the template, its decimal digits mapped
/// onto `rand.SafeEncodeString`'s alphabet. (Go hashes the spew dump of the Go struct and
/// the collision count; the double hashes the template's JSON, so values differ.)
pub fn revision_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in template.to_string().bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The template generation (`util.GetTemplateGeneration`: the deprecated annotation).
fn template_generation(ds: &Value) -> Option<String> {
    ds["metadata"]["annotations"][GENERATION_ANNOTATION]
        .as_str()
        .map(String::from)
}

/// The pod spec daemon pods are placed by: the template with the daemon tolerations.
fn placement_spec(ds: &Value) -> Value {
    let mut spec = ds["spec"]["template"]["spec"].clone();
    placement::add_daemon_tolerations(&mut spec);
    spec
}

/// The pod the controller creates on `node` (`CreatePodTemplate`,
/// `ReplaceDaemonSetPodNodeNameNodeAffinity`, `GetPodFromTemplate`): template labels plus
/// the hash and generation labels, template annotations, generateName `<ds>-`, a
/// controller reference, node affinity to the node — and `spec.nodeName`, which on a real
/// cluster the scheduler sets when it binds the pod (the double has no scheduler).
pub fn pod_for(ds: &Value, node: &str, hash: &str) -> Value {
    let template = &ds["spec"]["template"];
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    if let Some(g) = template_generation(ds) {
        labels[GENERATION_LABEL] = json!(g);
    }
    labels[HASH_LABEL] = json!(hash);
    let mut spec = placement_spec(ds);
    let term =
        json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]});
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] =
        json!([term]);
    spec["nodeName"] = json!(node);
    let meta = &ds["metadata"];
    let mut pod_meta = json!({
        "generateName": format!("{}-", meta["name"].as_str().unwrap_or_default()),
        "namespace": meta["namespace"],
        "labels": labels,
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": meta["name"],
                             "uid": meta["uid"], "controller": true, "blockOwnerDeletion": true}],
    });
    for f in ["annotations", "finalizers"] {
        if let Some(v) = template["metadata"].get(f).filter(|v| !v.is_null()) {
            pod_meta[f] = v.clone();
        }
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec})
}

/// Whether `pod` is controlled by `ds`.
pub fn owned_by(pod: &Value, ds: &Value) -> bool {
    pod["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["controller"].as_bool() == Some(true) && r["uid"] == ds["metadata"]["uid"])
}

fn ready_since(pod: &Value) -> Option<Option<DateTime<Utc>>> {
    let cond = pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")?;
    Some(
        cond["lastTransitionTime"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    )
}

/// `podutil.IsPodAvailable`: ready for at least `minReadySeconds`.
fn available(pod: &Value, min_ready: i64, now: DateTime<Utc>) -> bool {
    match ready_since(pod) {
        None => false,
        Some(_) if min_ready == 0 => true,
        Some(since) => since.is_some_and(|t| (now - t).num_seconds() >= min_ready),
    }
}

/// `intstr.GetScaledValueFromIntOrPercent(maxUnavailable, desired, roundUp=true)`; the
/// default is 1.
fn max_unavailable(ds: &Value, desired: i64) -> i64 {
    let v = &ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"];
    if let Some(n) = v.as_i64() {
        return n;
    }
    v.as_str()
        .and_then(|s| s.strip_suffix('%'))
        .and_then(|p| p.parse::<i64>().ok())
        .map_or(1, |p| (p * desired + 99) / 100)
}

/// Plan the sync of `ds` given every node and the pods of its namespace.
pub fn plan(ds: &Value, nodes: &[Value], pods: &[Value], now: DateTime<Utc>) -> Plan {
    let hash = revision_hash(&ds["spec"]["template"]);
    let spec = placement_spec(ds);
    let min_ready = ds["spec"]["minReadySeconds"].as_i64().unwrap_or(0);
    let rolling = ds["spec"]["updateStrategy"]["type"].as_str() != Some("OnDelete");
    // `util.IsPodUpdated` also compares the generation label, but with the pointer's
    // `fmt.Sprint` (an address), so in effect only the hash counts.
    let updated = |p: &Value| p["metadata"]["labels"][HASH_LABEL].as_str() == Some(hash.as_str());
    let mut plan = Plan::default();
    let (mut desired, mut current, mut misscheduled) = (0i64, 0i64, 0i64);
    let (mut ready, mut avail, mut up_to_date) = (0i64, 0i64, 0i64);
    // Outdated pods on nodes that keep one: (name, available).
    let mut outdated = Vec::new();
    for node in nodes {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        // `getNodesToDaemonPods`: terminal pods being deleted no longer count.
        let terminal_and_deleted = |p: &Value| {
            matches!(p["status"]["phase"].as_str(), Some("Failed" | "Succeeded"))
                && !p["metadata"]["deletionTimestamp"].is_null()
        };
        let mut here: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                owned_by(p, ds)
                    && p["spec"]["nodeName"].as_str() == Some(name)
                    && !terminal_and_deleted(p)
            })
            .collect();
        // Oldest first (`podByCreationTimestampAndPhase`), then by name for determinism.
        here.sort_by_key(|p| {
            (
                p["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        });
        let Fit {
            should_run,
            should_continue,
        } = placement::fit(&spec, node);
        let live: Vec<&Value> = here
            .iter()
            .copied()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .collect();
        // `podsShouldBeOnNode`, without surge: a pod is created only where none exists
        // (a terminating or failed one is waited out); finished pods go; of several
        // running ones the oldest stays.
        if should_run && here.is_empty() {
            plan.create.push(name.to_string());
        } else if should_continue {
            let (finished, running): (Vec<&Value>, Vec<&Value>) = live.iter().partition(|p| {
                matches!(p["status"]["phase"].as_str(), Some("Failed" | "Succeeded"))
            });
            plan.delete.extend(finished.iter().map(|p| pod_name(p)));
            plan.delete
                .extend(running.iter().skip(1).map(|p| pod_name(p)));
            if let Some(p) = running.first().filter(|p| !updated(p)) {
                outdated.push((pod_name(p), available(p, min_ready, now)));
            }
        } else {
            plan.delete.extend(live.iter().map(|p| pod_name(p)));
        }
        // `updateDaemonSetStatus` counts what the informer saw at the start of the sync.
        if should_run {
            desired += 1;
            if let Some(p) = here.first() {
                current += 1;
                if ready_since(p).is_some() {
                    ready += 1;
                    if available(p, min_ready, now) {
                        avail += 1;
                    }
                }
                if updated(p) {
                    up_to_date += 1;
                }
            }
        } else if !here.is_empty() {
            misscheduled += 1;
        }
    }
    if rolling {
        // `rollingUpdate` (maxSurge 0): an unavailable outdated pod goes at once; available
        // ones only while fewer than maxUnavailable pods are unavailable.
        let mut budget = max_unavailable(ds, desired) - (desired - avail);
        for (name, is_available) in outdated {
            if !is_available {
                plan.delete.push(name);
            } else if budget > 0 {
                budget -= 1;
                plan.delete.push(name);
            }
        }
    }
    let mut status = json!({
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "desiredNumberScheduled": desired,
        "numberReady": ready,
        "observedGeneration": ds["metadata"]["generation"],
        "updatedNumberScheduled": up_to_date,
        "numberAvailable": avail,
    });
    if desired > avail {
        status["numberUnavailable"] = json!(desired - avail);
    }
    // Fields the controller does not own (collisionCount, conditions) stay.
    for f in ["collisionCount", "conditions"] {
        if let Some(v) = ds["status"].get(f) {
            status[f] = v.clone();
        }
    }
    plan.status = status;
    plan
}

fn pod_name(p: &Value) -> String {
    p["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> Value {
        json!({"metadata": {"name": "agent", "namespace": "sys", "uid": "ds-uid", "generation": 2,
                            "annotations": {GENERATION_ANNOTATION: "2"}},
               "spec": {"selector": {"matchLabels": {"app": "a"}},
                        "template": {"metadata": {"labels": {"app": "a"}},
                                     "spec": {"nodeSelector": {"edge": "yes"}, "containers": [{"name": "c", "image": "i"}]}}}})
    }

    fn node(name: &str, edge: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"edge": edge}}, "spec": {}})
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool) -> Value {
        let mut p = json!({"metadata": {"name": name, "creationTimestamp": format!("2025-01-01T00:00:0{}Z", name.len() % 10),
            "labels": {HASH_LABEL: hash},
            "ownerReferences": [{"uid": "ds-uid", "controller": true}]},
            "spec": {"nodeName": node}, "status": {"phase": "Running"}});
        if ready {
            p["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        }
        p
    }

    #[test]
    fn one_pod_per_matching_node_and_none_elsewhere() {
        let d = ds();
        let hash = revision_hash(&d["spec"]["template"]);
        let nodes = [node("n1", "yes"), node("n2", "yes"), node("n3", "no")];
        let pods = [
            pod("a", "n1", &hash, true),
            pod("bb", "n1", &hash, false),
            pod("c", "n3", &hash, false),
        ];
        let p = plan(&d, &nodes, &pods, Utc::now());
        assert_eq!(p.create, ["n2"]);
        assert_eq!(p.delete, ["bb", "c"]);
        assert_eq!(
            p.status,
            json!({"currentNumberScheduled": 1, "numberMisscheduled": 1, "desiredNumberScheduled": 2,
                   "numberReady": 1, "observedGeneration": 2, "updatedNumberScheduled": 1,
                   "numberAvailable": 1, "numberUnavailable": 1})
        );
    }

    #[test]
    fn a_rolling_update_replaces_unavailable_pods_at_once_and_available_ones_one_by_one() {
        let d = ds();
        let nodes = [node("n1", "yes"), node("n2", "yes"), node("n3", "yes")];
        let pods = [
            pod("a", "n1", "old", true),
            pod("b", "n2", "old", true),
            pod("c", "n3", "old", false),
        ];
        let p = plan(&d, &nodes, &pods, Utc::now());
        assert_eq!(
            p.delete,
            ["c"],
            "one unavailable already uses the budget of 1"
        );
        let pods = [pod("a", "n1", "old", true), pod("b", "n2", "old", true)];
        let p = plan(&d, &nodes[..2], &pods, Utc::now());
        assert_eq!(p.delete, ["a"]);
        assert_eq!(p.status["updatedNumberScheduled"], 0);
        let on_delete = {
            let mut d = ds();
            d["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
            d
        };
        assert!(
            plan(&on_delete, &nodes[..2], &pods, Utc::now())
                .delete
                .is_empty()
        );
    }

    #[test]
    fn terminating_and_failed_pods_are_waited_out_before_a_replacement() {
        let d = ds();
        let hash = revision_hash(&d["spec"]["template"]);
        let nodes = [node("n1", "yes"), node("n2", "yes")];
        let mut terminating = pod("a", "n1", &hash, false);
        terminating["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:09Z");
        let mut failed = pod("b", "n2", &hash, false);
        failed["status"]["phase"] = json!("Failed");
        let p = plan(&d, &nodes, &[terminating, failed], Utc::now());
        assert!(p.create.is_empty(), "{:?}", p.create);
        assert_eq!(p.delete, ["b"]);
        assert_eq!(p.status["currentNumberScheduled"], 2);
    }

    #[test]
    fn the_pod_is_owned_labelled_tolerant_and_bound() {
        let d = ds();
        let p = pod_for(&d, "n1", "h");
        assert_eq!(p["metadata"]["generateName"], "agent-");
        assert_eq!(
            p["metadata"]["labels"],
            json!({"app": "a", HASH_LABEL: "h", GENERATION_LABEL: "2"})
        );
        assert_eq!(
            p["metadata"]["ownerReferences"],
            json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "ds-uid",
                    "controller": true, "blockOwnerDeletion": true}])
        );
        assert_eq!(p["spec"]["nodeName"], "n1");
        assert_eq!(
            p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0]["values"],
            json!(["n1"])
        );
        assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 6);
        assert!(owned_by(&p, &d));
    }

    #[test]
    fn hashes_look_like_go_safe_encoded_ones() {
        let h = revision_hash(&json!({"spec": {}}));
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(
            h.bytes()
                .all(|b| b"bcdfghjklmnpqrstvwxz2456789".contains(&b))
        );
        assert_ne!(h, revision_hash(&json!({"spec": {"x": 1}})));
    }
}
