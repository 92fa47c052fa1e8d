//! API Priority and Fairness from stored objects: deploy/flowcontrol.yaml plus a level that
//! rejects and one that queues, each with no seats, so what happens is decided by the
//! configuration alone and not by timing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use serde_json::{Value, json};
use tether_sim::apiserver::FlowLimit;

const FLOWCONTROL: &str = include_str!("../../../deploy/flowcontrol.yaml");

const EXTRA: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: tether-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: pod-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects:
- {kind: Group, name: "system:serviceaccounts", apiGroup: rbac.authorization.k8s.io}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: none-reject}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 0
    limitResponse: {type: Reject}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: none-queue}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 0
    limitResponse:
      type: Queue
      queuing: {queues: 1, handSize: 1, queueLengthLimit: 1}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: rejected}
spec:
  priorityLevelConfiguration: {name: none-reject}
  matchingPrecedence: 100
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {namespace: tether-system, name: rejected}
    resourceRules:
    - {verbs: ["*"], apiGroups: ["*"], resources: ["*"], clusterScope: true, namespaces: ["*"]}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: queued}
spec:
  priorityLevelConfiguration: {name: none-queue}
  matchingPrecedence: 100
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {namespace: tether-system, name: queued}
    resourceRules:
    - {verbs: [list], apiGroups: [""], resources: [pods], clusterScope: true}
"#;

/// A request with a merge-patch body (`Null`: none).
async fn send(
    client: &kube::Client,
    method: &str,
    uri: &str,
    body: Value,
) -> (u16, Option<String>, Value) {
    let bytes = match body {
        Value::Null => Vec::new(),
        patch => patch.to_string().into_bytes(),
    };
    raw(client, method, uri, "application/merge-patch+json", bytes).await
}

async fn list_pods(client: &kube::Client) -> (u16, Option<String>, Value) {
    send(client, "GET", "/api/v1/pods", Value::Null).await
}

#[tokio::test]
async fn stored_flow_schemas_queue_reject_and_lift() {
    let server = server().await;
    server.load_yaml(EXTRA).unwrap();
    server.load_yaml(FLOWCONTROL).unwrap();
    let as_sa = async |name: &str| {
        let token = server.mint_service_account_token("tether-system", name);
        client_with_retry(&server, &token, false).await
    };
    let agent = as_sa("tether-agent").await;
    let rejected = as_sa("rejected").await;
    let queued = as_sa("queued").await;
    let admin = client(&server, server.admin_token()).await;

    // tether-agent's level (ceil(600 × 10 / 255) = 24 seats) serves the agent's list.
    assert_eq!(list_pods(&agent).await.0, 200);

    // A Reject level without seats: 429 with Retry-After, as the APF filter answers.
    let (code, retry, body) = list_pods(&rejected).await;
    assert_eq!((code, retry.as_deref()), (429, Some("1")));
    assert_eq!(body["reason"], "TooManyRequests");
    // A limit set through the handle takes precedence for its user.
    let rejected_user = "system:serviceaccount:tether-system:rejected";
    let generous = FlowLimit {
        max_in_flight: 10,
        qps: 0.0,
        burst: 10.0,
    };
    server.set_flow_limit(rejected_user, Some(generous));
    assert_eq!(list_pods(&rejected).await.0, 200);
    server.set_flow_limit(rejected_user, None);
    assert_eq!(list_pods(&rejected).await.0, 429);

    // A Queue level without seats: the first request waits in the one queue, the second
    // finds it full.
    let waiting = tokio::spawn({
        let queued = queued.clone();
        async move { list_pods(&queued).await.0 }
    });
    eventually(10, "a request queued at none-queue", async || {
        (server.flow_queue_length("none-queue") == 1).then_some(())
    })
    .await;
    let (code, retry, _) = list_pods(&queued).await;
    assert_eq!((code, retry.as_deref()), (429, Some("1")), "queue full");
    // Other users are unaffected meanwhile.
    assert_eq!(list_pods(&agent).await.0, 200);
    assert_eq!(
        send(&admin, "GET", "/api/v1/namespaces", Value::Null)
            .await
            .0,
        200
    );

    // Giving the level seats serves the waiting request.
    let plc = "/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/none-queue";
    let patch = json!({"spec": {"limited": {"nominalConcurrencyShares": 10}}});
    assert_eq!(send(&admin, "PATCH", plc, patch).await.0, 200);
    assert_eq!(
        list_pods(&agent).await.0,
        200,
        "the next request re-reads the levels"
    );
    assert_eq!(waiting.await.unwrap(), 200);
    assert_eq!(server.flow_queue_length("none-queue"), 0);

    // Deleting the FlowSchema lifts it: the request matches no stored schema.
    let fs = "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/rejected";
    assert_eq!(send(&admin, "DELETE", fs, Value::Null).await.0, 200);
    assert_eq!(list_pods(&rejected).await.0, 200);
}
