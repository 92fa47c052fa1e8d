//! The built-in resource types the double serves.

use std::collections::HashMap;

use serde_json::Value;

use super::resources::ResourceType;

/// A built-in type with no short names, field labels or list-map keys.
pub(super) fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    status: bool,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        status,
        scale: false,
        short_names: Vec::new(),
        categories: Vec::new(),
        stored: true,
        list_map_keys: HashMap::new(),
        field_labels: Vec::new(),
        custom: false,
        schema: Value::Null,
    }
}

/// Server-side apply's list-map keys by dotted path.
pub(super) fn keys(pairs: &[(&str, &str)]) -> HashMap<Vec<String>, Vec<String>> {
    pairs
        .iter()
        .map(|(path, key)| {
            (
                path.split('.').map(String::from).collect(),
                vec![key.to_string()],
            )
        })
        .collect()
}

/// Owned strings.
pub(super) fn labels(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

/// The built-in resource types.
pub fn builtins() -> Vec<ResourceType> {
    let mut ns = builtin("", "v1", "namespaces", "Namespace", false, true);
    ns.short_names = labels(&["ns"]);
    ns.field_labels = labels(&["status.phase"]);
    let mut pods = builtin("", "v1", "pods", "Pod", true, true);
    pods.short_names = labels(&["po"]);
    pods.categories = labels(&["all"]);
    pods.field_labels = labels(&[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ]);
    pods.list_map_keys = keys(&[
        ("spec.containers", "name"),
        ("spec.initContainers", "name"),
        ("spec.volumes", "name"),
        ("status.conditions", "type"),
    ]);
    let mut nodes = builtin("", "v1", "nodes", "Node", false, true);
    nodes.short_names = labels(&["no"]);
    nodes.field_labels = labels(&["spec.unschedulable"]);
    nodes.list_map_keys = keys(&[("status.conditions", "type")]);
    let mut events = builtin("", "v1", "events", "Event", true, false);
    events.short_names = labels(&["ev"]);
    events.field_labels = labels(&[
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ]);
    let mut new_events = builtin("events.k8s.io", "v1", "events", "Event", true, false);
    new_events.short_names = labels(&["ev"]);
    new_events.field_labels = labels(&[
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "reason",
        "reportingController",
        "type",
    ]);
    let mut cm = builtin("", "v1", "configmaps", "ConfigMap", true, false);
    cm.short_names = labels(&["cm"]);
    let mut sa = builtin("", "v1", "serviceaccounts", "ServiceAccount", true, false);
    sa.short_names = labels(&["sa"]);
    let rbac = "rbac.authorization.k8s.io";
    let mut crd = builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        true,
    );
    crd.short_names = labels(&["crd", "crds"]);
    crd.categories = labels(&["api-extensions"]);
    // kubelet (and yurthub's health probe) renew `kube-node-lease/<node>`; no short names.
    let lease = builtin("coordination.k8s.io", "v1", "leases", "Lease", true, false);
    let fc = "flowcontrol.apiserver.k8s.io";
    let authz = "authorization.k8s.io";
    let mut ssar = builtin(
        authz,
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
        false,
    );
    ssar.stored = false;
    let mut sar = builtin(
        authz,
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
        false,
    );
    sar.stored = false;
    let mut ssrr = builtin(
        authz,
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        false,
        false,
    );
    ssrr.stored = false;
    let ar = "admissionregistration.k8s.io";
    let mut vap = builtin(
        ar,
        "v1",
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        false,
        true,
    );
    vap.short_names = labels(&["vap"]);
    let mut vapb = builtin(
        ar,
        "v1",
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        false,
        false,
    );
    vapb.short_names = labels(&["vapb"]);
    let mut all = vec![
        ns,
        pods,
        nodes,
        events,
        new_events,
        cm,
        sa,
        builtin(rbac, "v1", "roles", "Role", true, false),
        builtin(rbac, "v1", "clusterroles", "ClusterRole", false, false),
        builtin(rbac, "v1", "rolebindings", "RoleBinding", true, false),
        builtin(
            rbac,
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            false,
        ),
        crd,
        lease,
        builtin(fc, "v1", "flowschemas", "FlowSchema", false, true),
        builtin(
            fc,
            "v1",
            "prioritylevelconfigurations",
            "PriorityLevelConfiguration",
            false,
            true,
        ),
        vap,
        vapb,
        ssar,
        sar,
        ssrr,
    ];
    all.extend(super::workloads::types());
    all
}
