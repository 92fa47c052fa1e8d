//! The workload and service kinds: apps/v1, batch/v1, core v1 services, endpoints and
//! replication controllers, discovery.k8s.io/v1 EndpointSlices, apiregistration.k8s.io/v1
//! APIServices — as kube-apiserver v1.34 serves them (short names, `/status`, `/scale`).

use std::collections::HashMap;

use super::builtins::{builtin, keys, labels};
use super::resources::ResourceType;

/// Server-side apply's list-map keys of a pod template under `prefix` (`spec.template`
/// for the apps kinds), as the Pod's own.
fn template_keys(prefix: &str) -> HashMap<Vec<String>, Vec<String>> {
    let paths: Vec<(String, &str)> = [
        ("spec.containers", "name"),
        ("spec.initContainers", "name"),
        ("spec.volumes", "name"),
    ]
    .iter()
    .map(|(p, k)| (format!("{prefix}.{p}"), *k))
    .collect();
    let pairs: Vec<(&str, &str)> = paths.iter().map(|(p, k)| (p.as_str(), *k)).collect();
    keys(&pairs)
}

/// One namespaced kind with `/status`, short names and optionally `/scale`.
fn workload(group: &str, plural: &str, kind: &str, short: &[&str], scale: bool) -> ResourceType {
    let mut rt = builtin(group, "v1", plural, kind, true, true);
    rt.short_names = labels(short);
    // Every kind built this way is in `all` upstream (each registry's `Categories()`).
    rt.categories = labels(&["all"]);
    rt.scale = scale;
    rt
}

/// The types this module adds to the built-ins.
pub fn types() -> Vec<ResourceType> {
    let mut deploy = workload("apps", "deployments", "Deployment", &["deploy"], true);
    deploy.list_map_keys = template_keys("spec.template");
    let mut ds = workload("apps", "daemonsets", "DaemonSet", &["ds"], false);
    ds.list_map_keys = template_keys("spec.template");
    let mut rs = workload("apps", "replicasets", "ReplicaSet", &["rs"], true);
    rs.list_map_keys = template_keys("spec.template");
    let mut sts = workload("apps", "statefulsets", "StatefulSet", &["sts"], true);
    sts.list_map_keys = template_keys("spec.template");
    let mut svc = workload("", "services", "Service", &["svc"], false);
    // `ports` is a list map keyed by port and protocol (core/v1 `ServiceSpec.Ports`).
    svc.list_map_keys
        .insert(labels(&["spec", "ports"]), labels(&["port", "protocol"]));
    svc.field_labels = labels(&["spec.clusterIP", "spec.type"]);
    let mut ep = builtin("", "v1", "endpoints", "Endpoints", true, false);
    ep.short_names = labels(&["ep"]);
    let mut rc = workload(
        "",
        "replicationcontrollers",
        "ReplicationController",
        &["rc"],
        true,
    );
    rc.list_map_keys = template_keys("spec.template");
    rc.field_labels = labels(&["status.replicas"]);
    let mut job = workload("batch", "jobs", "Job", &[], false);
    job.list_map_keys = template_keys("spec.template");
    job.field_labels = labels(&["status.successful"]);
    let mut cj = workload("batch", "cronjobs", "CronJob", &["cj"], false);
    cj.list_map_keys = template_keys("spec.jobTemplate.spec.template");
    let slices = builtin(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        false,
    );
    let mut apiservices = builtin(
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        false,
        true,
    );
    apiservices.categories = labels(&["api-extensions"]);
    vec![
        deploy,
        ds,
        rs,
        sts,
        svc,
        ep,
        rc,
        job,
        cj,
        slices,
        apiservices,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_served_where_the_real_server_serves_it() {
        let scaled: Vec<String> = types()
            .into_iter()
            .filter(|t| t.scale)
            .map(|t| t.plural)
            .collect();
        assert_eq!(
            scaled,
            [
                "deployments",
                "replicasets",
                "statefulsets",
                "replicationcontrollers"
            ]
        );
    }

    #[test]
    fn every_stored_builtin_kind_has_patch_tags() {
        let stored = super::super::builtins::builtins()
            .into_iter()
            .filter(|t| t.stored);
        for t in stored {
            assert!(
                super::super::strategic::Schema::of_kind(&t.group, &t.kind).is_some(),
                "{}/{}",
                t.group,
                t.kind
            );
        }
    }

    #[test]
    fn template_containers_merge_by_name() {
        let ds = types().into_iter().find(|t| t.kind == "DaemonSet").unwrap();
        let path: Vec<String> = "spec.template.spec.containers"
            .split('.')
            .map(String::from)
            .collect();
        assert_eq!(ds.list_map_keys[&path], ["name"]);
    }
}
