//! Authentication, RBAC, access reviews, APF 429s, the audit log and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SubjectAccessReview};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use tether_sim::apiserver::{FlowLimit, SimConfig, UserInfo};

const AGENT_RBAC: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: tether-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tether-agent}
rules:
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
- apiGroups: [tether.dev]
  resources: [networkprofiles]
  verbs: [get, list, watch]
- apiGroups: [tether.dev]
  resources: [networkprofiles/status]
  verbs: [patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tether-agent}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tether-agent}
subjects:
- {kind: ServiceAccount, name: tether-agent, namespace: tether-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: one-configmap, namespace: tether-system}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [allowed], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ops-one-configmap, namespace: tether-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: one-configmap}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: ops}
"#;

fn status_of(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

fn profiles(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("tether.dev", "v1alpha1", "NetworkProfile"),
        "networkprofiles",
    );
    Api::all_with(client, &ar)
}

#[tokio::test]
async fn rbac_is_evaluated_from_stored_roles_and_bindings() {
    let server = server().await;
    let sa_token = server.mint_service_account_token("tether-system", "tether-agent");
    let agent = client(&server, &sa_token).await;
    let pods: Api<Pod> = Api::all(agent.clone());
    let denied = status_of(pods.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((denied.code, denied.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        denied.message,
        "pods is forbidden: User \"system:serviceaccount:tether-system:tether-agent\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
    );

    server.load_yaml(CRD).unwrap();
    server.load_yaml(AGENT_RBAC).unwrap();
    server.load_yaml(PROFILES).unwrap();
    pods.list(&ListParams::default().fields("spec.nodeName=edge-1"))
        .await
        .unwrap();
    let in_ns: Api<Pod> = Api::namespaced(agent.clone(), "default");
    let pod: Pod =
        serde_json::from_value(json!({"metadata": {"name": "x"}, "spec": {"containers": []}}))
            .unwrap();
    let e = status_of(
        in_ns
            .create(&PostParams::default(), &pod)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        e.message,
        "pods is forbidden: User \"system:serviceaccount:tether-system:tether-agent\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""
    );

    // The status subresource is authorised separately from the main resource.
    let np = profiles(agent.clone());
    let report = json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "camera"},
                        "status": {"nodes": [{"nodeName": "edge-1", "matchedPods": 1, "observedGeneration": 1}]}});
    np.patch_status(
        "camera",
        &PatchParams::apply("tether-agent-edge-1"),
        &Patch::Apply(&report),
    )
    .await
    .unwrap();
    let e = status_of(
        np.patch(
            "camera",
            &PatchParams::apply("tether-agent-edge-1"),
            &Patch::Apply(&report),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        e.message,
        "networkprofiles.tether.dev \"camera\" is forbidden: User \"system:serviceaccount:tether-system:tether-agent\" cannot patch resource \"networkprofiles\" in API group \"tether.dev\" at the cluster scope"
    );

    // resourceNames and Group subjects through a RoleBinding.
    let ops = client(
        &server,
        &server.mint_user_token(UserInfo {
            name: "alice".into(),
            groups: vec!["ops".into(), "system:authenticated".into()],
            ..Default::default()
        }),
    )
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(ops.clone(), "tether-system");
    let cm =
        |n: &str| serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": n}})).unwrap();
    cms.create(&PostParams::default(), &cm("allowed"))
        .await
        .unwrap_err();
    let admin = client(&server, server.admin_token()).await;
    let admin_cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "tether-system");
    admin_cms
        .create(&PostParams::default(), &cm("allowed"))
        .await
        .unwrap();
    admin_cms
        .create(&PostParams::default(), &cm("other"))
        .await
        .unwrap();
    cms.get("allowed").await.unwrap();
    assert_eq!(status_of(cms.get("other").await.unwrap_err()).code, 403);

    // Access reviews: self, and for another subject.
    let ssar: SelfSubjectAccessReview = serde_json::from_value(json!({"spec": {"resourceAttributes":
        {"verb": "patch", "group": "tether.dev", "resource": "networkprofiles", "subresource": "status"}}})).unwrap();
    let answer = Api::<SelfSubjectAccessReview>::all(agent.clone())
        .create(&PostParams::default(), &ssar)
        .await
        .unwrap();
    assert!(answer.status.unwrap().allowed);
    let sar: SubjectAccessReview = serde_json::from_value(json!({"spec": {"user": "alice", "groups": ["ops"],
        "resourceAttributes": {"verb": "delete", "resource": "configmaps", "namespace": "tether-system", "name": "other"}}})).unwrap();
    let answer = Api::<SubjectAccessReview>::all(admin.clone())
        .create(&PostParams::default(), &sar)
        .await
        .unwrap();
    assert!(!answer.status.unwrap().allowed);
    server.shutdown().await;
}

#[tokio::test]
async fn apf_limits_answer_429_with_retry_after_and_audit_records_everything() {
    let dir = TempDir::new("audit");
    let server = server_with(SimConfig {
        audit_file: Some(dir.path("audit.jsonl")),
        ..SimConfig::default()
    })
    .await;
    server.load_yaml(AGENT_RBAC).unwrap();
    let token = server.mint_service_account_token("tether-system", "tether-agent");
    let user = "system:serviceaccount:tether-system:tether-agent";
    server.set_flow_limit(
        user,
        Some(FlowLimit {
            max_in_flight: 10,
            qps: 0.0,
            burst: 2.0,
        }),
    );
    let agent = client_with_retry(&server, &token, false).await;
    for _ in 0..2 {
        assert_eq!(raw(&agent, "GET", "/api/v1/nodes", "", vec![]).await.0, 200);
    }
    let (code, retry, body) = raw(&agent, "GET", "/api/v1/nodes", "", vec![]).await;
    assert_eq!((code, retry.as_deref()), (429, Some("1")));
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(server.rejected_requests(user), 1);
    // kube's own client honours Retry-After and gets through once the bucket refills.
    server.set_flow_limit(
        user,
        Some(FlowLimit {
            max_in_flight: 10,
            qps: 2.0,
            burst: 1.0,
        }),
    );
    let retrying: Api<Pod> = Api::all(client(&server, &token).await);
    for _ in 0..2 {
        retrying.list(&ListParams::default()).await.unwrap();
    }
    assert!(
        server.rejected_requests(user) >= 1,
        "the second list was throttled before it passed"
    );
    // Other identities are not limited.
    let admin = client(&server, server.admin_token()).await;
    assert_eq!(raw(&admin, "GET", "/api/v1/nodes", "", vec![]).await.0, 200);

    let audit = server.audit_events();
    let mine: Vec<_> = audit.iter().filter(|e| e.user == user).collect();
    assert_eq!(
        mine.iter().take(3).map(|e| e.code).collect::<Vec<_>>(),
        [200, 200, 429]
    );
    assert_eq!(mine.last().map(|e| e.code), Some(200));
    assert!(
        mine.iter()
            .all(|e| e.verb == "list" && e.user_agent == "tether-agent/0.1.0")
    );
    assert!(
        mine[0]
            .groups
            .contains(&"system:serviceaccounts:tether-system".to_string())
    );
    let lines: Vec<tether_sim::apiserver::AuditEvent> =
        std::fs::read_to_string(dir.path("audit.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(lines, audit);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_status_errors_and_changes_nothing() {
    let server = server_with(SimConfig {
        max_body_bytes: 64 * 1024,
        ..SimConfig::default()
    })
    .await;
    server.load_yaml(CRD).unwrap();
    let admin = client(&server, server.admin_token()).await;
    let before = server.resource_version();
    let cms = "/api/v1/namespaces/default/configmaps";
    let (code, _, s) = raw(
        &admin,
        "POST",
        cms,
        "application/json",
        b"{\"metadata\": {".to_vec(),
    )
    .await;
    assert_eq!(
        (code, s["kind"].as_str(), s["reason"].as_str()),
        (400, Some("Status"), Some("BadRequest"))
    );
    assert!(
        s["message"].as_str().unwrap().contains("json parse error"),
        "{s}"
    );
    let (code, _, s) = raw(
        &admin,
        "POST",
        cms,
        "application/json",
        br#"{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "x"}}"#.to_vec(),
    )
    .await;
    assert_eq!(code, 400, "{s}");
    let (code, _, s) = raw(
        &admin,
        "POST",
        "/apis/tether.dev/v1alpha1/widgets",
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!((code, s["reason"].as_str()), (404, Some("NotFound")));
    let big = format!(
        "{{\"metadata\": {{\"name\": \"big\"}}, \"data\": {{\"x\": \"{}\"}}}}",
        "a".repeat(100 * 1024)
    );
    let (code, _, s) = raw(&admin, "POST", cms, "application/json", big.into_bytes()).await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );
    let apply = "/apis/tether.dev/v1alpha1/networkprofiles/camera?fieldManager=x";
    let (code, _, s) = raw(
        &admin,
        "PATCH",
        apply,
        "application/apply-patch+yaml",
        b"spec: [unclosed".to_vec(),
    )
    .await;
    assert_eq!(
        (code, s["reason"].as_str()),
        (400, Some("BadRequest")),
        "{s}"
    );
    let (code, _, _) = raw(&admin, "PATCH", apply, "application/xml", b"<x/>".to_vec()).await;
    assert_eq!(code, 415);
    let (code, _, s) = raw(
        &admin,
        "GET",
        "/api/v1/pods?labelSelector=a%20in%20b",
        "",
        vec![],
    )
    .await;
    assert_eq!((code, s["reason"].as_str()), (400, Some("BadRequest")));
    assert_eq!(server.resource_version(), before, "nothing was stored");

    let stranger = client(&server, "not-a-token").await;
    let (code, _, s) = raw(&stranger, "GET", "/api/v1/namespaces", "", vec![]).await;
    assert_eq!(
        (code, s["reason"].as_str(), s["message"].as_str()),
        (401, Some("Unauthorized"), Some("Unauthorized"))
    );
    assert!(matches!(
        server.load_yaml("kind: [broken"),
        Err(tether_sim::apiserver::SimError::Parse { .. })
    ));
    assert!(matches!(
        server.load_yaml("apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n"),
        Err(tether_sim::apiserver::SimError::Refused { .. })
    ));
    assert_eq!(server.resource_version(), before);
    // Still serving.
    assert_eq!(
        raw(&admin, "GET", "/api/v1/namespaces/default", "", vec![])
            .await
            .0,
        200
    );
    server.shutdown().await;
}

fn curl(server: &tether_sim::apiserver::ApiServer, dir: &TempDir, flag: &str) -> (String, String) {
    let ca = dir.path("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", flag, "--cacert"])
        .arg(&ca)
        .args([
            "-H",
            &format!("Authorization: Bearer {}", server.admin_token()),
            "-w",
            "\n%{http_version}",
        ])
        .arg(format!(
            "https://localhost:{}/version",
            server.addr().port()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, version) = text.rsplit_once('\n').unwrap();
    (body.to_string(), version.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http1_and_http2_over_tls_with_its_own_ca() {
    let server = server().await;
    let dir = TempDir::new("curl");
    for (flag, want) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let (body, version) = tokio::task::block_in_place(|| curl(&server, &dir, flag));
        assert_eq!(version, want);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["major"], "1");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_get_public_info_only() {
    let server = server().await;
    let dir = TempDir::new("anon");
    let ca = dir.path("ca.pem");
    std::fs::write(&ca, server.ca_pem()).unwrap();
    let get = |path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&ca)
            .args(["-w", "\n%{http_code}"])
            .arg(format!("{}{path}", server.url()))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.to_string(), body.to_string())
    };
    let (code, body) = tokio::task::block_in_place(|| get("/version"));
    assert_eq!(code, "200", "{body}");
    let (code, body) = tokio::task::block_in_place(|| get("/api/v1/pods"));
    assert_eq!(code, "403");
    let s: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        s["message"],
        "pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" at the cluster scope"
    );
    let (code, _) = tokio::task::block_in_place(|| get("/apis"));
    assert_eq!(code, "403", "discovery is for authenticated users");
    server.shutdown().await;
}
