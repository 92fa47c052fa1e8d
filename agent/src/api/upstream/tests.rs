//! What each answer to the probe (`GET /api`) says, what a verdict changes (the store, the metric, the
//! outbox's backoff), and the probe's schedule against a mock API server.

use prometheus_client::metrics::counter::Counter;
use serde_json::json;

use super::*;
use crate::test_support::{mock_client, respond};
use tokio::time::Instant;

fn api_error(code: u16) -> Result<(), kube::Error> {
    Err(kube::Error::Api(
        kube::core::Status::failure("m", "r")
            .with_code(code)
            .boxed(),
    ))
}

#[test]
fn probe_answers_tell_the_api_server_from_yurthubs_cache_and_a_dead_link() {
    assert_eq!(
        judge_probe(&Ok::<(), kube::Error>(())),
        Some(Upstream::ApiServer)
    );
    assert_eq!(judge_probe(&api_error(400)), Some(Upstream::YurthubCache));
    assert_eq!(judge_probe(&api_error(429)), Some(Upstream::ApiServer));
    assert_eq!(judge_probe(&api_error(502)), Some(Upstream::Unreachable));
    assert_eq!(judge_probe(&api_error(503)), Some(Upstream::Unreachable));
    assert_eq!(judge_probe(&api_error(404)), None, "cannot tell");
    assert_eq!(judge_probe(&api_error(403)), None, "cannot tell");
    let refused: Result<(), kube::Error> = Err(kube::Error::Service(
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
    ));
    assert_eq!(judge_probe(&refused), Some(Upstream::Unreachable));
}

fn gauge(metrics: &Metrics, state: Upstream) -> i64 {
    metrics
        .upstream
        .get_or_create(&[("state", state.as_str())])
        .get()
}

#[tokio::test]
async fn a_verdict_updates_the_store_and_metric_and_the_way_back_wakes_the_outbox() {
    let store = Store::new("edge-1");
    let metrics = Arc::new(Metrics::default());
    let dir = tempfile::tempdir().unwrap();
    let (outbox, _) = Outbox::open(&Outbox::path(dir.path()), 10, metrics.clone());
    let m = Monitor::new(store.clone(), metrics.clone(), Some(outbox.clone()));
    assert_eq!(gauge(&metrics, Upstream::Unknown), 1);
    m.observe(Upstream::YurthubCache, "test");
    assert_eq!(store.upstream(), Upstream::YurthubCache);
    assert_eq!(
        (
            gauge(&metrics, Upstream::YurthubCache),
            gauge(&metrics, Upstream::Unknown)
        ),
        (1, 0)
    );
    m.observe(Upstream::ApiServer, "test");
    assert_eq!(gauge(&metrics, Upstream::ApiServer), 1);
    assert!(
        metrics
            .render()
            .contains("tether_agent_upstream{state=\"api-server\"} 1")
    );
    // The outbox was told: its next backoff wait ends at once.
    tokio::time::timeout(Duration::from_secs(5), outbox_retry_permit(&outbox))
        .await
        .unwrap();
    m.silent_watch("pods");
    assert_eq!(store.upstream(), Upstream::YurthubCache);
    assert_eq!(
        metrics
            .watches_silent
            .get_or_create(&[("resource", "pods")])
            .get(),
        1
    );
}

async fn outbox_retry_permit(outbox: &Outbox) {
    outbox.retry_notified().await;
}

#[tokio::test(start_paused = true)]
async fn the_probe_runs_at_start_keeps_probing_while_cut_off_and_rests_once_the_api_answers() {
    let (client, mut api) = mock_client(Counter::default());
    let store = Store::new("edge-1");
    let m = Monitor::new(store.clone(), Arc::new(Metrics::default()), None);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(m.clone().run_with(client, stopped, Jitter::seeded(5)));
    // The probe's intervals while cut off: 1 s then 2 s, each from its upper half.
    let mut replay = Jitter::seeded(5);
    let mut cut_off = Backoff::jittered(PROBE_CUT_OFF.0, PROBE_CUT_OFF.1, replay.fork());
    let (first, second) = (cut_off.next_wait(), cut_off.next_wait());
    assert!(first >= Duration::from_millis(500) && first < Duration::from_secs(1));
    assert!(second >= Duration::from_secs(1) && second < Duration::from_secs(2));
    let close = |a: Duration, b: Duration| a.abs_diff(b) <= Duration::from_millis(2);
    let (req, send) = api.next_request().await.unwrap();
    assert_eq!(req.uri().path(), "/api");
    // yurthub's local proxy refuses non-resource requests while the cloud is unhealthy.
    send.send_response(respond(400, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 400, "reason": "BadRequest",
        "message": "local proxy does not support request(GET /api)"})));
    let t0 = Instant::now();
    let (_, send) = api.next_request().await.unwrap();
    assert_eq!(store.upstream(), Upstream::YurthubCache);
    assert!(
        close(Instant::now() - t0, first),
        "{:?}",
        Instant::now() - t0
    );
    send.send_response(
        http::Response::builder()
            .status(502)
            .body(kube::client::Body::empty())
            .unwrap(),
    );
    let (_, send) = api.next_request().await.unwrap();
    assert_eq!(
        store.upstream(),
        Upstream::Unreachable,
        "502 with an empty body"
    );
    assert!(close(Instant::now() - t0, first + second));
    send.send_response(respond(
        200,
        json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
    ));
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(store.upstream(), Upstream::ApiServer);
    assert!(
        tokio::time::timeout(Duration::ZERO, api.next_request())
            .await
            .is_err(),
        "no probe while the API server answers"
    );
    m.request_probe();
    let (req, _send) = api.next_request().await.unwrap();
    assert_eq!(req.uri().path(), "/api", "until asked");
    stop.send(true).unwrap();
    task.abort();
}
