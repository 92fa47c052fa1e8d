//! What the agent sends for each outbox write, checked request by request against a mock API
//! server (the status apply, the Event create), and what each answer proves: a real answer,
//! yurthub's offline echo of a create, its stale object for an apply, 409, 400, 502; and the
//! summary correction that follows a confirmed apply when the answer's summary is wrong.

use cni::protocol::{ProfileRef, Source};
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

use super::*;
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

fn sink(client: Client) -> KubeSink {
    let store = Store::new("edge-1");
    let metrics = Arc::new(Metrics::default());
    KubeSink {
        client,
        node: "edge-1".into(),
        monitor: Monitor::new(store, metrics.clone(), None),
        metrics,
    }
}

async fn body_of(req: http::Request<kube::client::Body>) -> Value {
    serde_json::from_slice(
        &http_body_util::BodyExt::collect(req.into_body())
            .await
            .unwrap()
            .to_bytes(),
    )
    .unwrap()
}

fn request() -> AddRequest {
    serde_json::from_str(r#"{"containerId":"c","ifname":"eth0","netns":"n","podNamespace":"ns","podName":"p","podUid":"u"}"#).unwrap()
}

#[tokio::test]
async fn status_is_server_side_applied_with_the_nodes_field_manager_and_only_its_entry() {
    let (client, mut api) = mock_client(Counter::default());
    let sink = sink(client);
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
    reply.send_response(respond(200, serde_json::json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam", "uid": "x", "resourceVersion": "7"}, "spec": {},
        "status": {"nodes": [{"nodeName": "edge-2", "matchedPods": 1, "observedGeneration": 4}, {"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 4}],
                   "matchedPods": 3, "nodesReporting": 2}})));
    assert_eq!(send.await.unwrap(), Outcome::Confirmed);
    assert!(
        api.next_request().await.is_none(),
        "the summary was right: nothing more is sent"
    );
}

/// The answer to a confirmed apply whose summary is stale: edge-2's entry came after the last
/// correction.
fn applied_with_stale_summary() -> Value {
    serde_json::json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam", "uid": "x", "resourceVersion": "7"}, "spec": {},
        "status": {"nodes": [{"nodeName": "edge-2", "matchedPods": 3, "observedGeneration": 4}, {"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 4}],
                   "matchedPods": 2, "nodesReporting": 1}})
}

fn summaries(metrics: &Metrics, result: &'static str) -> u64 {
    metrics
        .status_summaries
        .get_or_create(&[("result", result)])
        .get()
}

#[tokio::test]
async fn a_stale_summary_is_corrected_once_by_a_merge_patch_conditional_on_the_answer() {
    let (client, mut api) = mock_client(Counter::default());
    let sink = sink(client);
    let metrics = sink.metrics.clone();
    let send = tokio::spawn(async move { sink.deliver(&status_write()).await });
    let (_, reply) = api.next_request().await.unwrap();
    reply.send_response(respond(200, applied_with_stale_summary()));

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
        "application/merge-patch+json"
    );
    assert_eq!(
        req.headers()["user-agent"],
        crate::api::client::USER_AGENT_VALUE
    );
    assert_eq!(
        body_of(req).await,
        serde_json::json!({"metadata": {"resourceVersion": "7"}, "status": {"matchedPods": 5, "nodesReporting": 2}}),
        "the two fields and the precondition, never the list"
    );
    let mut corrected = applied_with_stale_summary();
    corrected["metadata"]["resourceVersion"] = "8".into();
    corrected["status"]["matchedPods"] = 5.into();
    corrected["status"]["nodesReporting"] = 2.into();
    reply.send_response(respond(200, corrected));
    assert_eq!(send.await.unwrap(), Outcome::Confirmed);
    assert_eq!(summaries(&metrics, "written"), 1);
    let text = metrics.render();
    assert!(
        text.contains("tether_agent_status_summaries_total{result=\"written\"} 1"),
        "{text}"
    );
    assert!(api.next_request().await.is_none(), "sent once");
}

#[tokio::test]
async fn a_refused_correction_is_dropped_and_counted_and_the_apply_stays_delivered() {
    for (code, result) in [(409, "conflict"), (500, "failed")] {
        let (client, mut api) = mock_client(Counter::default());
        let sink = sink(client);
        let metrics = sink.metrics.clone();
        let send = tokio::spawn(async move { sink.deliver(&status_write()).await });
        let (_, reply) = api.next_request().await.unwrap();
        reply.send_response(respond(200, applied_with_stale_summary()));
        let (req, reply) = api.next_request().await.unwrap();
        assert_eq!(
            req.headers()["content-type"],
            "application/merge-patch+json"
        );
        reply.send_response(respond(code, serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": code, "message": "the object has been modified"})));
        assert_eq!(
            send.await.unwrap(),
            Outcome::Confirmed,
            "{code}: the status entry was delivered all the same"
        );
        assert_eq!(summaries(&metrics, result), 1, "{code}");
        assert_eq!(summaries(&metrics, "written"), 0, "{code}");
        assert!(api.next_request().await.is_none(), "{code}: not retried");
    }
}

#[tokio::test]
async fn an_unconfirmed_apply_is_not_followed_by_a_correction() {
    let (client, mut api) = mock_client(Counter::default());
    let sink = sink(client);
    let metrics = sink.metrics.clone();
    let send = tokio::spawn(async move { sink.deliver(&status_write()).await });
    let (_, reply) = api.next_request().await.unwrap();
    // yurthub offline: the stale cached object, without this node's entry as sent.
    let mut stale = applied_with_stale_summary();
    stale["status"]["nodes"][1]["matchedPods"] = 1.into();
    reply.send_response(respond(200, stale));
    assert!(matches!(send.await.unwrap(), Outcome::Unconfirmed(_)));
    assert!(api.next_request().await.is_none(), "nothing more is sent");
    assert_eq!(
        ["written", "unconfirmed", "conflict", "failed"]
            .iter()
            .map(|r| summaries(&metrics, r))
            .sum::<u64>(),
        0
    );
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
    let sink = sink(client);
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
    assert_eq!(send.await.unwrap(), Outcome::Confirmed);
}

#[tokio::test]
async fn a_deleted_profile_drops_the_write_once_the_api_server_is_known_to_answer() {
    let (client, mut api) = mock_client(Counter::default());
    let sink = sink(client);
    sink.monitor.observe(Upstream::ApiServer, "test");
    let send = tokio::spawn(async move { sink.deliver(&status_write()).await });
    let (_, reply) = api.next_request().await.unwrap();
    reply.send_response(respond(404, serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "gone"})));
    assert!(matches!(send.await.unwrap(), Outcome::Refused(_)));
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

fn event_answer(body: Value) -> Event {
    serde_json::from_value(body).unwrap()
}

#[test]
fn an_event_is_confirmed_by_what_only_the_api_server_assigns() {
    let name = "p.tether.0011223344556677";
    let created = event_answer(
        serde_json::json!({"metadata": {"name": name, "namespace": "ns", "uid": "9f1c", "resourceVersion": "812", "creationTimestamp": "2026-01-01T00:00:00Z"}, "eventTime": "2026-01-01T00:00:00.000000Z"}),
    );
    assert!(event_confirmed(name, &created), "a real 201");
    // yurthub offline: 201 echoing the body the agent sent, which carries neither.
    let echo = event_answer(
        serde_json::json!({"metadata": {"name": name, "namespace": "ns"}, "eventTime": "2026-01-01T00:00:00.000000Z"}),
    );
    assert!(!event_confirmed(name, &echo), "the offline echo");
    let half = event_answer(
        serde_json::json!({"metadata": {"name": name, "namespace": "ns", "uid": "9f1c", "resourceVersion": ""}, "eventTime": "2026-01-01T00:00:00.000000Z"}),
    );
    assert!(!event_confirmed(name, &half));
    assert!(!event_confirmed("other", &created), "another object");
}

#[test]
fn a_status_apply_is_confirmed_only_by_this_nodes_entry_as_sent() {
    let Write::NodeStatus { status: sent, .. } = status_write() else {
        unreachable!()
    };
    let with = |nodes: Value| -> NetworkProfile {
        serde_json::from_value(serde_json::json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam"}, "spec": {}, "status": {"nodes": nodes}})).unwrap()
    };
    assert!(status_confirmed(
        &sent,
        &with(
            serde_json::json!([{"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": 4}])
        )
    ));
    // yurthub offline: 200 with the stale cached object.
    assert!(!status_confirmed(
        &sent,
        &with(
            serde_json::json!([{"nodeName": "edge-1", "matchedPods": 1, "observedGeneration": 3}])
        )
    ));
    assert!(!status_confirmed(
        &sent,
        &with(
            serde_json::json!([{"nodeName": "edge-2", "matchedPods": 2, "observedGeneration": 4}])
        )
    ));
    let bare: NetworkProfile = serde_json::from_value(serde_json::json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam"}, "spec": {}})).unwrap();
    assert!(!status_confirmed(&sent, &bare));
}

fn api_error(code: u16) -> kube::Error {
    kube::Error::Api(
        kube::core::Status::failure("m", "r")
            .with_code(code)
            .boxed(),
    )
}

#[test]
fn error_answers_are_judged_by_code_kind_and_upstream() {
    use Upstream::*;
    let judge = |code, event, up| std::mem::discriminant(&judge_error(&api_error(code), event, up));
    let (confirmed, retry, refused) = (
        std::mem::discriminant(&Outcome::Confirmed),
        std::mem::discriminant(&Outcome::Retry(String::new())),
        std::mem::discriminant(&Outcome::Refused(String::new())),
    );
    assert_eq!(judge(409, true, ApiServer), confirmed, "the Event exists");
    assert_eq!(
        judge(409, false, ApiServer),
        refused,
        "an apply conflict is not a confirmation"
    );
    assert_eq!(
        judge(502, true, ApiServer),
        retry,
        "yurthub between the cut and its switch"
    );
    assert_eq!(judge(429, true, ApiServer), retry);
    assert_eq!(judge(404, false, ApiServer), refused, "the profile is gone");
    assert_eq!(
        judge(400, true, YurthubCache),
        retry,
        "yurthub refusing: keep it"
    );
    assert_eq!(judge(400, true, Unknown), retry);
    assert_eq!(
        judge(400, true, ApiServer),
        refused,
        "the API server refusing"
    );
}

#[tokio::test]
async fn yurthubs_offline_echo_keeps_the_event_and_says_the_cache_answered() {
    let (client, mut api) = mock_client(Counter::default());
    let sink = sink(client);
    let store = sink.monitor.clone();
    let answer = AddResponse {
        profile: Some(ProfileRef {
            name: "cam".into(),
            generation: 4,
        }),
        source: Source::Live,
        ..Default::default()
    };
    let write = applied(&request(), &answer).unwrap();
    let send = tokio::spawn(async move { sink.deliver(&write).await });
    let (req, reply) = api.next_request().await.unwrap();
    let body = http_body_util::BodyExt::collect(req.into_body())
        .await
        .unwrap()
        .to_bytes();
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        sent["metadata"].get("uid").is_none() && sent["metadata"].get("resourceVersion").is_none()
    );
    // What yurthub's local proxy does with a create: 201 and the request body back.
    reply.send_response(respond(201, sent));
    assert!(matches!(send.await.unwrap(), Outcome::Unconfirmed(_)));
    assert_eq!(store.upstream(), Upstream::YurthubCache);
}
