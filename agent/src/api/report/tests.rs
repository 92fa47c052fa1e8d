//! What the agent sends for each outbox write, checked request by request against a mock API
//! server: the status apply, the Event create, and which answers drop a write.

use cni::protocol::{ProfileRef, Source};
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

use super::*;
use crate::profile::crd::NodeStatus;
use crate::test_support::{mock_client, respond};

fn status_write() -> Write {
    Write::NodeStatus {
        profile: "cam".into(),
        status: NodeStatus {
            node_name: "edge-1".into(),
            matched_pods: 2,
            observed_generation: 4,
        },
    }
}

fn request() -> AddRequest {
    serde_json::from_str(r#"{"containerId":"c","ifname":"eth0","netns":"n","podNamespace":"ns","podName":"p","podUid":"u"}"#).unwrap()
}

#[tokio::test]
async fn status_is_server_side_applied_with_the_nodes_field_manager_and_only_its_entry() {
    let (client, mut api) = mock_client(Counter::default());
    let sink = KubeSink {
        client,
        node: "edge-1".into(),
    };
    let send = tokio::spawn(async move { sink.deliver(&status_write()).await });
    let (req, reply) = api.next_request().await.unwrap();
    assert_eq!(req.method(), "PATCH");
    assert_eq!(
        req.uri().path(),
        "/apis/tether.dev/v1alpha1/networkprofiles/cam/status"
    );
    let query = req.uri().query().unwrap();
    assert!(
        query.contains("fieldManager=tether-agent%2Fedge-1"),
        "{query}"
    );
    assert_eq!(
        req.headers()["content-type"],
        "application/apply-patch+yaml"
    );
    assert_eq!(
        req.headers()["user-agent"],
        crate::api::client::USER_AGENT_VALUE
    );
    let body: Value = serde_json::from_slice(
        &http_body_util::BodyExt::collect(req.into_body())
            .await
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    assert_eq!(
        body["status"]["nodes"],
        serde_json::json!([{"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 4}])
    );
    assert!(body.get("spec").is_none(), "the agent owns no spec field");
    reply.send_response(respond(200, serde_json::json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam"}, "spec": {}})));
    assert_eq!(send.await.unwrap(), Ok(()));
}

#[tokio::test]
async fn events_are_created_once_and_a_conflict_counts_as_delivered() {
    let answer = AddResponse {
        profile: Some(ProfileRef {
            name: "cam".into(),
            generation: 4,
        }),
        mtu: Some(1400),
        source: Source::Live,
        ..Default::default()
    };
    let write = applied(&request(), &answer).unwrap();
    assert!(
        applied(&request(), &AddResponse::default()).is_none(),
        "no Event without a profile"
    );
    let (client, mut api) = mock_client(Counter::default());
    let sink = KubeSink {
        client,
        node: "edge-1".into(),
    };
    let w = write.clone();
    let send = tokio::spawn(async move { sink.deliver(&w).await });
    let (req, reply) = api.next_request().await.unwrap();
    assert_eq!(
        (req.method().as_str(), req.uri().path()),
        ("POST", "/apis/events.k8s.io/v1/namespaces/ns/events")
    );
    let body: Value = serde_json::from_slice(
        &http_body_util::BodyExt::collect(req.into_body())
            .await
            .unwrap()
            .to_bytes(),
    )
    .unwrap();
    assert_eq!(body["metadata"]["name"], event_name(&write));
    assert_eq!(body["regarding"]["name"], "p");
    assert_eq!(body["reportingController"], REPORTING_CONTROLLER);
    assert_eq!(body["note"], "profile cam (generation 4): MTU 1400");
    reply.send_response(respond(409, serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "AlreadyExists", "code": 409, "message": "exists"})));
    assert_eq!(send.await.unwrap(), Ok(()));
}

#[tokio::test]
async fn a_deleted_profile_drops_the_write() {
    let (client, mut api) = mock_client(Counter::default());
    let sink = KubeSink {
        client,
        node: "edge-1".into(),
    };
    let send = tokio::spawn(async move { sink.deliver(&status_write()).await });
    let (_, reply) = api.next_request().await.unwrap();
    reply.send_response(respond(404, serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "gone"})));
    assert!(matches!(send.await.unwrap(), Err(Failure::Drop(_))));
}

#[test]
fn event_names_are_stable_short_enough_and_distinct() {
    let answer = AddResponse {
        profile: Some(ProfileRef {
            name: "cam".into(),
            generation: 4,
        }),
        source: Source::Live,
        ..Default::default()
    };
    let mut req = request();
    let a = applied(&req, &answer).unwrap();
    let mut b = a.clone();
    if let Write::ProfileApplied { time, note, .. } = &mut b {
        *time = "later".into();
        *note = "other".into();
    }
    assert_eq!(
        event_name(&a),
        event_name(&b),
        "the name depends on the key only"
    );
    assert!(event_name(&a).starts_with("p.tether."));
    req.pod_uid = "other".into();
    assert_ne!(event_name(&applied(&req, &answer).unwrap()), event_name(&a));
    req.pod_name = "x".repeat(253);
    assert!(event_name(&applied(&req, &answer).unwrap()).len() <= 253);
}
