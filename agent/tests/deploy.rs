//! Every Kubernetes object under deploy/ round-trips through its k8s-openapi type without
//! losing a field, so a typo'd or unknown field fails here rather than on a cluster.

// Helpers of this test file fail the test by panicking, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::flowcontrol::v1::{FlowSchema, PriorityLevelConfiguration};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn docs(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn round_trip<T: DeserializeOwned + serde::Serialize>(doc: &Value) -> Value {
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc}"));
    serde_json::to_value(typed).unwrap()
}

/// The first path at which `a` and `b` differ.
fn diff(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => diff(p, q, &format!("{at}.{k}")),
                    _ => Some(format!("{at}.{k}")),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| diff(p, q, &format!("{at}[{i}]"))),
        _ => (a != b).then(|| at.to_owned()),
    }
}

fn check(doc: &Value) -> String {
    let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
    let back = match kind.as_str() {
        "Namespace" => round_trip::<Namespace>(doc),
        "ServiceAccount" => round_trip::<ServiceAccount>(doc),
        "ClusterRole" => round_trip::<ClusterRole>(doc),
        "ClusterRoleBinding" => round_trip::<ClusterRoleBinding>(doc),
        "DaemonSet" => round_trip::<DaemonSet>(doc),
        "CustomResourceDefinition" => round_trip::<CustomResourceDefinition>(doc),
        "FlowSchema" => round_trip::<FlowSchema>(doc),
        "PriorityLevelConfiguration" => round_trip::<PriorityLevelConfiguration>(doc),
        "ValidatingAdmissionPolicy" => round_trip::<ValidatingAdmissionPolicy>(doc),
        "ValidatingAdmissionPolicyBinding" => round_trip::<ValidatingAdmissionPolicyBinding>(doc),
        other => panic!("deploy/ holds a {other:?} this test does not know"),
    };
    if let Some(path) = diff(doc, &back, &kind) {
        panic!("{path} is lost or altered by the k8s-openapi type: a typo or an unknown field");
    }
    kind
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Kustomization {
    api_version: String,
    kind: String,
    resources: Vec<String>,
}

#[test]
fn every_manifest_round_trips_and_the_kustomization_lists_them_all() {
    let kustomization: Kustomization = serde_saphyr::from_str(
        &std::fs::read_to_string(deploy_dir().join("kustomization.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            kustomization.api_version.as_str(),
            kustomization.kind.as_str()
        ),
        ("kustomize.config.k8s.io/v1beta1", "Kustomization")
    );
    let listed: BTreeSet<String> = kustomization.resources.into_iter().collect();
    let mut on_disk = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir(deploy_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml")
            || name == "kustomization.yaml"
            || name == "openyurt-values.yaml"
        {
            continue;
        }
        for doc in docs(&path) {
            kinds.insert(check(&doc));
        }
        on_disk.insert(name);
    }
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml must list every manifest"
    );
    let want = [
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "DaemonSet",
        "FlowSchema",
        "Namespace",
        "PriorityLevelConfiguration",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ];
    assert_eq!(kinds, want.iter().map(|s| s.to_string()).collect());
}

#[test]
fn a_typo_is_caught() {
    let mut doc = docs(&deploy_dir().join("daemonset.yaml")).remove(0);
    doc["spec"]["template"]["spec"]["tolerations"][0]["opertor"] = Value::from("Exists");
    assert!(std::panic::catch_unwind(|| check(&doc)).is_err());
}

#[test]
fn openyurt_values_make_yurthub_cache_the_agent() {
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(deploy_dir().join("openyurt-values.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(values["cacheAgents"], "tether-agent");
    let ua = agent::api::client::USER_AGENT_VALUE.to_lowercase();
    assert_eq!(
        ua.split('/').next(),
        Some("tether-agent"),
        "yurthub keys its cache by the User-Agent before the first /"
    );
}

#[test]
fn the_daemonset_is_tight_and_tolerates_everything() {
    let doc = docs(&deploy_dir().join("daemonset.yaml")).remove(0);
    let ds: DaemonSet = serde_json::from_value(doc).unwrap();
    let pod = ds.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.priority_class_name.as_deref(),
        Some("system-node-critical")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("tether-agent"));
    let tolerations = pod.tolerations.unwrap();
    assert!(
        tolerations
            .iter()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.is_none()
                && t.effect.is_none())
    );
    let containers = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten());
    for c in containers {
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{}", c.name);
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{}", c.name);
        assert_eq!(sc.privileged, None, "{}", c.name);
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..]),
            "{}",
            c.name
        );
        assert!(
            sc.capabilities.as_ref().unwrap().add.is_none(),
            "{}",
            c.name
        );
        assert!(
            c.resources
                .as_ref()
                .unwrap()
                .limits
                .as_ref()
                .unwrap()
                .contains_key("memory"),
            "{}",
            c.name
        );
    }
    let agent = &pod.containers[0];
    assert!(agent.liveness_probe.is_some() && agent.readiness_probe.is_some());
    let paths: BTreeSet<String> = pod
        .volumes
        .unwrap()
        .into_iter()
        .filter_map(|v| v.host_path.map(|h| h.path))
        .collect();
    assert_eq!(
        paths,
        [
            "/etc/cni/net.d",
            "/opt/cni/bin",
            "/run/tether",
            "/var/lib/tether"
        ]
        .map(String::from)
        .into()
    );
}

#[test]
fn the_cluster_role_has_no_wildcards_and_no_secrets() {
    let role: ClusterRole =
        serde_json::from_value(docs(&deploy_dir().join("rbac.yaml")).remove(0)).unwrap();
    for rule in role.rules.unwrap() {
        let all = rule
            .api_groups
            .iter()
            .flatten()
            .chain(rule.resources.iter().flatten())
            .chain(rule.verbs.iter());
        for word in all {
            assert!(
                word != "*" && word != "secrets" && word != "escalate" && word != "bind",
                "{word}"
            );
        }
    }
}
