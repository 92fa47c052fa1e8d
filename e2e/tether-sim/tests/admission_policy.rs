//! ValidatingAdmissionPolicies in tether-sim: deploy/admission.yaml keeps each node's agent
//! to its own entry of a NetworkProfile's status.nodes, and the policy engine answers like
//! the real server (reasons, codes, failurePolicy, matchConditions, binding actions).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use tether_sim::apiserver::ApiServer;

const DEPLOY: [&str; 5] = [
    include_str!("../../../deploy/namespace.yaml"),
    include_str!("../../../deploy/crd.yaml"),
    include_str!("../../../deploy/serviceaccount.yaml"),
    include_str!("../../../deploy/rbac.yaml"),
    include_str!("../../../deploy/admission.yaml"),
];
const POLICY: &str = "tether-agent-own-node-status";

fn profiles(client: kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("tether.dev", "v1alpha1", "NetworkProfile");
    Api::all_with(
        client,
        &ApiResource::from_gvk_with_plural(&gvk, "networkprofiles"),
    )
}

fn status_of<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

fn entries(nodes: &[(&str, i64)]) -> Value {
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|(n, pods)| json!({"nodeName": n, "matchedPods": pods, "observedGeneration": 1}))
        .collect();
    json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
           "metadata": {"name": "camera"}, "status": {"nodes": nodes}})
}

async fn apply(
    client: &kube::Client,
    manager: &str,
    body: &Value,
) -> Result<DynamicObject, kube::Error> {
    profiles(client.clone())
        .patch_status(
            "camera",
            &PatchParams::apply(manager).force(),
            &Patch::Apply(body),
        )
        .await
}

async fn stored(server: &ApiServer) -> DynamicObject {
    let admin = client(server, server.admin_token()).await;
    profiles(admin).get("camera").await.unwrap()
}

fn node_pods(obj: &DynamicObject) -> Vec<(String, i64)> {
    obj.data["status"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["nodeName"].as_str().unwrap().to_string(),
                e["matchedPods"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_agent_writes_only_its_own_nodes_status_entry() {
    let server = server().await;
    for doc in DEPLOY {
        server.load_yaml(doc).unwrap();
    }
    let admin = client(&server, server.admin_token()).await;
    let profile = json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
        "metadata": {"name": "camera"}, "spec": {"priority": 1}});
    profiles(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(profile).unwrap(),
        )
        .await
        .unwrap();
    // The admin is not the agent: it may write any entry.
    apply(&admin, "tether-agent/edge-2", &entries(&[("edge-2", 4)]))
        .await
        .unwrap();

    let edge_1 = client(
        &server,
        &server.mint_service_account_token_on_node("tether-system", "tether-agent", "edge-1"),
    )
    .await;
    let mine = apply(&edge_1, "tether-agent/edge-1", &entries(&[("edge-1", 3)]))
        .await
        .unwrap();
    assert_eq!(
        node_pods(&mine),
        [("edge-2".to_string(), 4), ("edge-1".to_string(), 3)]
    );
    let before = stored(&server).await;

    // Writing edge-2's entry from edge-1, under edge-2's field manager: 403.
    let s = status_of(apply(&edge_1, "tether-agent/edge-2", &entries(&[("edge-2", 9)])).await);
    let inner = format!(
        "ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: \
         the tether agent on node edge-1 may only write the entry of its own node in status.nodes"
    );
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        s.message,
        format!("networkprofiles.tether.dev \"camera\" is forbidden: {inner}")
    );
    let details = s.details.unwrap();
    assert_eq!(
        (
            details.group.as_str(),
            details.kind.as_str(),
            details.name.as_str()
        ),
        ("tether.dev", "networkprofiles", "camera")
    );
    assert_eq!(details.causes[0].message, inner);
    // Removing edge-2's entry (applying an empty list as its manager), or a merge patch
    // that replaces the list without it: 403 too.
    let s = status_of(apply(&edge_1, "tether-agent/edge-2", &entries(&[])).await);
    assert_eq!(s.code, 403);
    let merge = json!({"status": {"nodes": [{"nodeName": "edge-1", "matchedPods": 3, "observedGeneration": 1}]}});
    let s = status_of(
        profiles(edge_1.clone())
            .patch_status("camera", &PatchParams::default(), &Patch::Merge(&merge))
            .await,
    );
    assert_eq!(s.code, 403);
    // A token that names no node may not write at all.
    let nowhere = client(
        &server,
        &server.mint_service_account_token("tether-system", "tether-agent"),
    )
    .await;
    let s = status_of(apply(&nowhere, "tether-agent/edge-1", &entries(&[("edge-1", 3)])).await);
    assert_eq!(s.code, 403);
    assert!(s.message.ends_with("the tether agent's token names no node: it must be a ServiceAccount token bound to the agent's pod (Kubernetes >= 1.32)"), "{}", s.message);
    let after = stored(&server).await;
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "refusals change nothing"
    );

    // The admin still may remove edge-2's entry.
    let removed = apply(&admin, "tether-agent/edge-2", &entries(&[]))
        .await
        .unwrap();
    assert_eq!(node_pods(&removed), [("edge-1".to_string(), 3)]);
}

const ENGINE_POLICY: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: small-configmaps}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE, DELETE], resources: [configmaps]}
  matchConditions:
  - {name: not-exempt, expression: "!has(object.metadata.labels) || !('exempt' in object.metadata.labels)"}
  variables:
  - {name: keys, expression: "has(object.data) ? size(object.data) : 0"}
  validations:
  - expression: "variables.keys <= 2"
    messageExpression: "'has ' + string(variables.keys) + ' keys'"
    reason: RequestEntityTooLarge
  - expression: "!has(object.data) || !('bad' in object.data)"
  - expression: "!has(object.data) || !('boom' in object.data) || object.data.boom.nothing == 1"
"#;

fn cm(name: &str, data: Value, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "data": data}))
        .unwrap()
}

#[tokio::test]
async fn the_policy_engine_answers_like_the_real_server() {
    let server = server().await;
    server.load_yaml(ENGINE_POLICY).unwrap();
    let admin = client(&server, server.admin_token()).await;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
    let pp = PostParams::default();
    // Without a binding a policy does nothing.
    cms.create(
        &pp,
        &cm("unbound", json!({"a": "1", "b": "2", "c": "3"}), json!({})),
    )
    .await
    .unwrap();
    server
        .load_yaml("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {name: small}\nspec: {policyName: small-configmaps, validationActions: [Deny]}\n")
        .unwrap();

    let s = status_of(
        cms.create(
            &pp,
            &cm("big", json!({"a": "1", "b": "2", "c": "3"}), json!({})),
        )
        .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (413, "RequestEntityTooLarge"));
    assert!(
        s.message
            .ends_with("with binding 'small' denied request: has 3 keys"),
        "{}",
        s.message
    );
    // No reason: Invalid, 422, and the expression is the message.
    let s = status_of(
        cms.create(&pp, &cm("bad", json!({"bad": "1"}), json!({})))
            .await,
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message.ends_with(
            "denied request: failed expression: !has(object.data) || !('bad' in object.data)"
        ),
        "{}",
        s.message
    );
    // An expression that errs denies under failurePolicy Fail.
    let s = status_of(
        cms.create(&pp, &cm("boom", json!({"boom": "1"}), json!({})))
            .await,
    );
    assert_eq!(s.code, 422);
    assert!(s.message.contains("resulted in error"), "{}", s.message);
    // A false matchCondition skips the policy; dry runs are admitted the same way.
    cms.create(
        &pp,
        &cm("exempt", json!({"bad": "1"}), json!({"exempt": "y"})),
    )
    .await
    .unwrap();
    let s = status_of(
        cms.create(
            &PostParams {
                dry_run: true,
                ..pp.clone()
            },
            &cm("dry", json!({"bad": "1"}), json!({})),
        )
        .await,
    );
    assert_eq!(s.code, 422);
    // UPDATE through a merge patch, and DELETE (object is null: the matchCondition errs).
    let s = status_of(
        cms.patch(
            "unbound",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"d": "4"}})),
        )
        .await,
    );
    assert_eq!(s.code, 413);
    let s = status_of(cms.delete("unbound", &DeleteParams::default()).await);
    assert_eq!(s.code, 422);
    assert!(
        s.message.contains("matchCondition 'not-exempt'"),
        "{}",
        s.message
    );

    // failurePolicy Ignore admits what errs; a Warn-only binding never denies.
    server
        .load_yaml(&ENGINE_POLICY.replace("failurePolicy: Fail", "failurePolicy: Ignore"))
        .unwrap();
    cms.create(&pp, &cm("boom", json!({"boom": "1"}), json!({})))
        .await
        .unwrap();
    server
        .load_yaml("apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata: {name: small}\nspec: {policyName: small-configmaps, validationActions: [Warn]}\n")
        .unwrap();
    cms.create(&pp, &cm("bad", json!({"bad": "1"}), json!({})))
        .await
        .unwrap();

    // A policy whose expression does not compile is refused with 422, nothing stored.
    let vaps: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(
                "admissionregistration.k8s.io",
                "v1",
                "ValidatingAdmissionPolicy",
            ),
            "validatingadmissionpolicies",
        ),
    );
    let broken: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "broken"},
        "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["*"], "resources": ["*"]}]},
                 "validations": [{"expression": "object.("}]}}))
    .unwrap();
    let s = status_of(vaps.create(&pp, &broken).await);
    assert_eq!(s.code, 422);
    assert!(
        s.message.contains("spec.validations[0].expression"),
        "{}",
        s.message
    );
    assert!(vaps.get_opt("broken").await.unwrap().is_none());
    assert_eq!(vaps.list(&Default::default()).await.unwrap().items.len(), 1);

    // Discovery serves both kinds, cluster-scoped.
    let req = http::Request::get("/apis/admissionregistration.k8s.io/v1")
        .body(Vec::new())
        .unwrap();
    let doc: Value = serde_json::from_str(&admin.request_text(req).await.unwrap()).unwrap();
    let names: Vec<(&str, bool)> = doc["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["namespaced"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("validatingadmissionpolicies", false),
            ("validatingadmissionpolicies/status", false),
            ("validatingadmissionpolicybindings", false)
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_applies_and_lists_the_policy() {
    let server = server().await;
    let k = Kubectl::new(&server, server.admin_token());
    let (applied, listed) = tokio::task::spawn_blocking(move || {
        let f = k.file("admission.yaml", DEPLOY[4]);
        let applied = k.ok(&["apply", "-f", f.to_str().unwrap()]);
        (applied, k.ok(&["get", "vap,vapb", "-o", "name"]))
    })
    .await
    .unwrap();
    assert_eq!(
        applied,
        format!(
            "validatingadmissionpolicy.admissionregistration.k8s.io/{POLICY} created\n\
             validatingadmissionpolicybinding.admissionregistration.k8s.io/{POLICY} created\n"
        )
    );
    assert_eq!(
        listed,
        format!(
            "validatingadmissionpolicy.admissionregistration.k8s.io/{POLICY}\n\
             validatingadmissionpolicybinding.admissionregistration.k8s.io/{POLICY}\n"
        )
    );
}
