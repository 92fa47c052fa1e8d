//! The watches against a mock API server (the requests they send, in the manner of kube-rs
//! controller-rs's ApiServerVerifier; what a silent, an early-ended and a bookmarked watch lead
//! to) and change by change (what each does to the store, the client-side selector filter).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use prometheus_client::metrics::counter::Counter;
use serde_json::json;

use super::*;
use crate::api::client::USER_AGENT_VALUE;
use crate::test_support::{ApiHandle, mock_client, respond};

fn pod_json(name: &str, node: &str) -> serde_json::Value {
    json!({"metadata": {"namespace": "ns", "name": name, "uid": name, "labels": {"app": "camera"}}, "spec": {"nodeName": node, "containers": []}})
}

fn pod_object(name: &str, node: &str) -> Pod {
    serde_json::from_value(pod_json(name, node)).unwrap()
}

fn node_object(name: &str) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"x": name}}})).unwrap()
}

#[test]
fn lists_are_filtered_by_the_selector_the_agent_asked_for() {
    // yurthub's offline lists ignore selectors: every pod and every node comes back.
    let store = Store::new("edge-1");
    store.upsert_pod(pod_info(&pod_object("stale", "edge-1"), "edge-1").unwrap());
    apply_pods(
        &store,
        Change::Listed(vec![pod_object("a", "edge-1"), pod_object("b", "edge-2")]),
    );
    assert!(store.answer("ns", "stale", "").is_none(), "a list replaces");
    assert!(
        store.answer("ns", "b", "").is_none(),
        "another node's pod is filtered out"
    );
    assert_eq!(store.counts().0, 1);
    assert_eq!(store.origin(Kind::Pods), Origin::Api);
    apply_node(
        &store,
        Change::Listed(vec![
            node_object("edge-2"),
            node_object("edge-1"),
            node_object("edge-3"),
        ]),
    );
    assert_eq!(store.contents().0.unwrap().labels["x"], "edge-1");
    assert_eq!(pod_selector("edge-1"), "spec.nodeName=edge-1");
    assert_eq!(node_selector("edge-1"), "metadata.name=edge-1");
}

#[test]
fn a_pod_moving_away_or_deleted_leaves_the_store() {
    let store = Store::new("edge-1");
    apply_pods(&store, Change::Applied(pod_object("a", "edge-1")));
    apply_pods(&store, Change::Applied(pod_object("c", "edge-1")));
    apply_pods(&store, Change::Applied(pod_object("z", "edge-2")));
    assert_eq!(store.counts().0, 2);
    apply_pods(&store, Change::Applied(pod_object("a", "edge-9")));
    apply_pods(&store, Change::Deleted(pod_object("c", "edge-1")));
    assert_eq!(store.counts().0, 0);
}

#[test]
fn only_this_node_is_kept() {
    let store = Store::new("edge-1");
    apply_node(&store, Change::Applied(node_object("edge-2")));
    assert_eq!(store.origin(Kind::Node), Origin::Empty);
    apply_node(&store, Change::Applied(node_object("edge-1")));
    assert_eq!(store.origin(Kind::Node), Origin::Api);
    apply_node(&store, Change::Deleted(node_object("edge-2")));
    assert!(store.contents().0.is_some());
    apply_node(&store, Change::Deleted(node_object("edge-1")));
    assert!(store.contents().0.is_none());
}

#[test]
fn how_a_watch_ended_decides_what_comes_next() {
    let t = WATCH_TIMEOUT;
    let quick = Duration::from_millis(3);
    assert_eq!(judge_watch_end(0, quick, false, true), WatchEnd::Relist);
    assert_eq!(judge_watch_end(0, quick, true, false), WatchEnd::Backoff);
    assert_eq!(judge_watch_end(3, quick, false, false), WatchEnd::Rewatch);
    assert_eq!(
        judge_watch_end(1, t, false, false),
        WatchEnd::Rewatch,
        "a bookmark"
    );
    assert_eq!(judge_watch_end(0, t, false, false), WatchEnd::Silent);
    assert_eq!(
        judge_watch_end(0, quick, false, false),
        WatchEnd::Backoff,
        "ended early with nothing: no hot loop"
    );
}

/// One request as the verifier saw it.
#[derive(Debug)]
struct Seen {
    path: String,
    query: String,
    user_agent: String,
}

fn list_body(path: &str) -> serde_json::Value {
    let list_meta = json!({"resourceVersion": "10"});
    match path {
        // As yurthub does offline, the list ignores the selector: the agent filters again.
        "/api/v1/pods" => {
            json!({"kind": "PodList", "apiVersion": "v1", "metadata": list_meta, "items": [pod_json("mine", "edge-1"), pod_json("theirs", "edge-2")]})
        }
        "/api/v1/nodes" => {
            json!({"kind": "NodeList", "apiVersion": "v1", "metadata": list_meta, "items": [
            {"metadata": {"name": "edge-2", "labels": {"pool": "b"}}},
            {"metadata": {"name": "edge-1", "labels": {"pool": "a"}}}]})
        }
        "/apis/tether.dev/v1alpha1/networkprofiles" => {
            json!({"kind": "NetworkProfileList", "apiVersion": "tether.dev/v1alpha1", "metadata": list_meta, "items": [
            {"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam", "generation": 3}, "spec": {"podSelector": {"matchLabels": {"app": "camera"}}, "mtu": 1400}}]})
        }
        other => panic!("unexpected request to {other}"),
    }
}

fn monitor(store: &Arc<Store>) -> Arc<Monitor> {
    Monitor::new(store.clone(), Arc::new(Metrics::default()), None)
}

#[tokio::test]
async fn watches_send_one_selector_per_resource_with_the_user_agent_and_filter_again() {
    let (client, mut handle) = mock_client(Counter::default());
    let store = Store::new("edge-1");
    // As the probe would find it: lists alone never prove the API server.
    store.set_upstream(Upstream::ApiServer);
    let watches = tokio::spawn(run(
        client,
        store.clone(),
        Arc::new(Metrics::default()),
        monitor(&store),
    ));
    let mut seen = Vec::new();
    // Three lists, then three watches that the mock leaves open.
    while seen.len() < 6 {
        let (req, send) = handle.next_request().await.unwrap();
        let uri = req.uri().clone();
        seen.push(Seen {
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            user_agent: req
                .headers()
                .get("user-agent")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
        });
        if uri.query().unwrap_or_default().contains("watch=true") {
            std::mem::forget(send);
            continue;
        }
        send.send_response(respond(200, list_body(uri.path())));
    }
    for s in &seen {
        assert_eq!(s.user_agent, USER_AGENT_VALUE, "{s:?}");
        let selectors =
            s.query.matches("fieldSelector=").count() + s.query.matches("labelSelector=").count();
        match s.path.as_str() {
            "/api/v1/pods" => assert!(
                s.query.contains("fieldSelector=spec.nodeName%3Dedge-1") && selectors == 1,
                "{s:?}"
            ),
            "/api/v1/nodes" => assert!(
                s.query.contains("fieldSelector=metadata.name%3Dedge-1") && selectors == 1,
                "{s:?}"
            ),
            _ => assert_eq!(selectors, 0, "{s:?}"),
        }
        if s.query.contains("watch=true") {
            assert!(
                s.query.contains("resourceVersion=10")
                    && s.query.contains("allowWatchBookmarks=true")
                    && s.query.contains("timeoutSeconds=290"),
                "{s:?}"
            );
        }
    }
    let mut paths: Vec<_> = seen
        .iter()
        .map(|s| (s.path.as_str(), s.query.contains("watch=true")))
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            ("/api/v1/nodes", false),
            ("/api/v1/nodes", true),
            ("/api/v1/pods", false),
            ("/api/v1/pods", true),
            ("/apis/tether.dev/v1alpha1/networkprofiles", false),
            ("/apis/tether.dev/v1alpha1/networkprofiles", true)
        ]
    );
    // Lists prove nothing about the upstream (yurthub answers them too): the probe's verdict does.
    store.set_upstream(Upstream::ApiServer);
    let mut changes = store.subscribe();
    changes.wait_for(|_| store.is_live()).await.unwrap();
    assert_eq!(store.counts(), (1, 1, 0));
    let answer = store.answer("ns", "mine", "mine").unwrap();
    assert_eq!(answer.source, cni::protocol::Source::Live);
    assert_eq!(answer.mtu, Some(1400));
    assert!(store.answer("ns", "theirs", "").is_none());
    assert_eq!(store.origin(Kind::Node), Origin::Api);
    watches.abort();
}

/// Drives the node watch alone against the mock; returns the store, its monitor's metrics and
/// the task.
/// The seed of every watch driven here.
const SEED: u64 = 0x7e7e;

/// A profile whose status lists `nodes` nodes: what tells an agent the size of its fleet.
fn profile_reported_by(nodes: usize) -> NetworkProfile {
    let entries: Vec<_> = (0..nodes)
        .map(
            |i| json!({"nodeName": format!("edge-{i}"), "matchedPods": 1, "observedGeneration": 1}),
        )
        .collect();
    serde_json::from_value(
        json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
        "metadata": {"name": "fleet", "generation": 1}, "spec": {"priority": 1},
        "status": {"nodes": entries}}),
    )
    .unwrap()
}

fn node_watch(client: Client) -> (Arc<Store>, Arc<Metrics>, tokio::task::JoinHandle<()>) {
    node_watch_in_fleet(client, 0)
}

/// The node watch of an agent whose store knows of a fleet of `fleet` nodes.
fn node_watch_in_fleet(
    client: Client,
    fleet: usize,
) -> (Arc<Store>, Arc<Metrics>, tokio::task::JoinHandle<()>) {
    let store = Store::new("edge-1");
    if fleet > 0 {
        store.replace_profiles(vec![profile_reported_by(fleet)], Origin::Disk);
    }
    let metrics = Arc::new(Metrics::default());
    let monitor = Monitor::new(store.clone(), metrics.clone(), None);
    let task = tokio::spawn({
        let (store, metrics) = (store.clone(), metrics.clone());
        async move {
            let ctx = Ctx {
                store: &store,
                metrics: &metrics,
                monitor: &monitor,
            };
            drive(
                &ctx,
                Jitter::seeded(SEED),
                Api::<Node>::all(client),
                Some(node_selector("edge-1")),
                Kind::Node,
                "node",
                apply_node,
            )
            .await;
        }
    });
    (store, metrics, task)
}

async fn answer_list(handle: &mut ApiHandle) {
    let (req, send) = handle.next_request().await.unwrap();
    assert!(!req.uri().query().unwrap_or_default().contains("watch=true"));
    send.send_response(respond(200, list_body(req.uri().path())));
}

/// Waits for the next watch request; returns when it came (virtual time) and its reply handle.
async fn next_watch(
    handle: &mut ApiHandle,
) -> (
    Instant,
    tower_test::mock::SendResponse<http::Response<kube::client::Body>>,
) {
    let (req, send) = handle.next_request().await.unwrap();
    assert!(
        req.uri().query().unwrap_or_default().contains("watch=true"),
        "{:?}",
        req.uri()
    );
    (Instant::now(), send)
}

fn watch_body(lines: &str) -> http::Response<kube::client::Body> {
    http::Response::builder()
        .status(200)
        .body(kube::client::Body::from(lines.as_bytes().to_vec()))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_watch_that_ends_at_once_without_events_waits_before_the_next_no_hot_loop() {
    let (client, mut handle) = mock_client(Counter::default());
    let (_store, _, task) = node_watch(client);
    answer_list(&mut handle).await;
    let mut times = Vec::new();
    for _ in 0..4 {
        let (at, send) = next_watch(&mut handle).await;
        times.push(at);
        send.send_response(watch_body(""));
    }
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // The waits of a backoff of the watch's seed: 1 s, 2 s, 4 s, each drawn from its upper half.
    let mut jitter = Jitter::seeded(SEED);
    let mut expected = Backoff::jittered(BACKOFF.0, BACKOFF.1, jitter.fork());
    for (gap, nominal) in gaps.iter().zip([1, 2, 4].map(Duration::from_secs)) {
        let wait = expected.next_wait();
        assert!(
            wait >= nominal / 2 && wait < nominal,
            "{wait:?} for {nominal:?}"
        );
        // The timer's resolution is a millisecond.
        assert!(
            gap.abs_diff(wait) <= Duration::from_millis(1),
            "{gap:?} ≠ {wait:?}"
        );
    }
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_watch_silent_until_its_timeout_says_yurthubs_cache_and_a_bookmark_says_api_server() {
    let (client, mut handle) = mock_client(Counter::default());
    let (store, metrics, task) = node_watch(client);
    answer_list(&mut handle).await;
    // yurthub offline: 200, then nothing until timeoutSeconds.
    let (_, send) = next_watch(&mut handle).await;
    tokio::time::sleep(WATCH_TIMEOUT).await;
    send.send_response(watch_body(""));
    let (at, send) = next_watch(&mut handle).await;
    assert_eq!(store.upstream(), Upstream::YurthubCache);
    assert_eq!(
        metrics
            .watches_silent
            .get_or_create(&[("resource", "node")])
            .get(),
        1
    );
    assert!(
        Instant::now() - at < Duration::from_secs(1),
        "watched again at once"
    );
    // The API server: a bookmark, two seconds before the timeout.
    send.send_response(watch_body(
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"12\"}}}\n",
    ));
    let (req, _send) = handle.next_request().await.unwrap();
    assert!(
        req.uri().query().unwrap().contains("resourceVersion=12"),
        "{:?}",
        req.uri()
    );
    assert_eq!(store.upstream(), Upstream::ApiServer);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_410_relists_and_a_failed_list_backs_off() {
    let (client, mut handle) = mock_client(Counter::default());
    let (store, _, task) = node_watch(client);
    let (_, send) = handle.next_request().await.unwrap();
    let failed_at = Instant::now();
    send.send_response(respond(500, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500, "message": "boom"})));
    let (req, send) = handle.next_request().await.unwrap();
    // A jittered backoff of 1 s: at least its upper half.
    assert!(Instant::now() - failed_at >= Duration::from_millis(500));
    assert!(!req.uri().query().unwrap_or_default().contains("watch=true"));
    send.send_response(respond(200, list_body(req.uri().path())));
    let (_, send) = next_watch(&mut handle).await;
    assert_eq!(store.origin(Kind::Node), Origin::Api);
    send.send_response(watch_body(
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":410,\"reason\":\"Expired\",\"message\":\"too old\"}}\n",
    ));
    let (req, _send) = handle.next_request().await.unwrap();
    assert!(
        !req.uri().query().unwrap_or_default().contains("watch=true"),
        "relisted: {:?}",
        req.uri()
    );
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_backoff_is_cut_short_when_the_api_server_answers_again() {
    let (client, mut handle) = mock_client(Counter::default());
    let (store, _, task) = node_watch(client);
    store.set_upstream(Upstream::Unreachable);
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(
        http::Response::builder()
            .status(502)
            .body(kube::client::Body::empty())
            .unwrap(),
    );
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let t0 = Instant::now();
    // The probe sees the API server again: the list is retried now, not after its 1 s.
    store.set_upstream(Upstream::ApiServer);
    let (req, _send) = handle.next_request().await.unwrap();
    assert!(!req.uri().query().unwrap_or_default().contains("watch=true"));
    assert_eq!(Instant::now() - t0, Duration::ZERO);
    task.abort();
}

#[test]
fn the_way_back_is_spread_over_a_window_that_grows_with_the_fleet() {
    assert_eq!(
        return_window(0),
        Duration::ZERO,
        "a lone node goes back at once"
    );
    assert_eq!(return_window(1), Duration::from_millis(20));
    assert_eq!(return_window(300), Duration::from_secs(6));
    assert_eq!(return_window(3_000), RETURN_WINDOW_MAX);
    assert_eq!(return_window(usize::MAX), RETURN_WINDOW_MAX);
    let store = Store::new("edge-1");
    assert_eq!(fleet_size(&store), 0);
    store.replace_profiles(vec![profile_reported_by(300)], Origin::Disk);
    assert_eq!(fleet_size(&store), 300);
}

#[tokio::test(start_paused = true)]
async fn in_a_fleet_the_api_servers_return_and_a_410_relist_after_a_delay_from_the_window() {
    let fleet = 500;
    let window = return_window(fleet);
    assert_eq!(window, Duration::from_secs(10));
    // The delays a watch of this seed draws: its backoff forks first, then two spreads.
    let mut jitter = Jitter::seeded(SEED);
    let _backoff = jitter.fork();
    let (first, second) = (jitter.spread(window), jitter.spread(window));
    assert_ne!(first, second);

    let (client, mut handle) = mock_client(Counter::default());
    let (store, _, task) = node_watch_in_fleet(client, fleet);
    store.set_upstream(Upstream::Unreachable);
    let (_, send) = handle.next_request().await.unwrap();
    send.send_response(
        http::Response::builder()
            .status(502)
            .body(kube::client::Body::empty())
            .unwrap(),
    );
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let back = Instant::now();
    store.set_upstream(Upstream::ApiServer);
    let (req, send) = handle.next_request().await.unwrap();
    assert!(!req.uri().query().unwrap_or_default().contains("watch=true"));
    let waited = Instant::now() - back;
    assert!(
        waited.abs_diff(first) <= Duration::from_millis(1),
        "{waited:?} ≠ {first:?}"
    );
    send.send_response(respond(200, list_body(req.uri().path())));

    let (_, send) = next_watch(&mut handle).await;
    send.send_response(watch_body(
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":410,\"reason\":\"Expired\",\"message\":\"too old\"}}\n",
    ));
    let gone = Instant::now();
    let (req, _send) = handle.next_request().await.unwrap();
    assert!(
        !req.uri().query().unwrap_or_default().contains("watch=true"),
        "relisted"
    );
    let waited = Instant::now() - gone;
    assert!(
        waited.abs_diff(second) <= Duration::from_millis(1),
        "{waited:?} ≠ {second:?}"
    );
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_410_right_after_the_return_relists_without_a_second_delay() {
    let fleet = 500;
    let mut jitter = Jitter::seeded(SEED);
    let _backoff = jitter.fork();
    let first = jitter.spread(return_window(fleet));

    let (client, mut handle) = mock_client(Counter::default());
    let (store, _, task) = node_watch_in_fleet(client, fleet);
    answer_list(&mut handle).await;
    store.set_upstream(Upstream::Unreachable);
    let (_, send) = next_watch(&mut handle).await;
    send.send_response(
        http::Response::builder()
            .status(502)
            .body(kube::client::Body::empty())
            .unwrap(),
    );
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let back = Instant::now();
    store.set_upstream(Upstream::ApiServer);
    let (_, send) = next_watch(&mut handle).await;
    let waited = Instant::now() - back;
    assert!(
        waited.abs_diff(first) <= Duration::from_millis(1),
        "{waited:?} ≠ {first:?}"
    );
    // The cut outlasted the watch history: the resumed watch is answered 410.
    send.send_response(watch_body(
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":410,\"reason\":\"Expired\",\"message\":\"too old\"}}\n",
    ));
    let gone = Instant::now();
    let (req, _send) = handle.next_request().await.unwrap();
    assert!(
        !req.uri().query().unwrap_or_default().contains("watch=true"),
        "relisted"
    );
    assert_eq!(Instant::now() - gone, Duration::ZERO, "no second delay");
    task.abort();
}
