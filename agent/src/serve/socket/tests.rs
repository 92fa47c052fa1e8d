//! The socket server on a real Unix socket in a temporary directory: answers, malformed and
//! oversized requests, deadlines, the connection limit, the peer uid check and the wait for a pod.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::state::records::{Feed, Kind, Origin, Upstream};
use crate::test_support::{node, pod, profile};

struct Running {
    _dir: tempfile::TempDir,
    path: PathBuf,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

/// The uid this test runs as, read from a file it creates (no libc): the server under test
/// serves it, so the tests pass as any user, not only as root as the agent's socket requires.
fn own_uid() -> u32 {
    tempfile::tempfile().unwrap().metadata().unwrap().uid()
}

fn config() -> ServerConfig {
    ServerConfig {
        pod_wait: Duration::from_secs(5),
        connection_timeout: Duration::from_millis(300),
        max_connections: 8,
        required_uid: own_uid(),
    }
}

fn start(store: Arc<Store>, config: ServerConfig) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run").join("agent.sock");
    let listener = bind(&path).unwrap();
    let (stop, rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    let task = tokio::spawn(serve(listener, store, config, metrics.clone(), None, rx));
    Running {
        _dir: dir,
        path,
        metrics,
        stop,
        task,
    }
}

async fn raw(path: &Path, request: &[u8]) -> (u16, String) {
    let mut s = UnixStream::connect(path).await.unwrap();
    // A refused peer sees a reset; the test then checks that nothing was answered.
    let _ = s.write_all(request).await;
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes).await;
    let out = String::from_utf8_lossy(&bytes).into_owned();
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn post(path: &Path, body: &str) -> (u16, String) {
    let req = format!(
        "POST {ADD_PATH} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw(path, req.as_bytes()).await
}

const ADD: &str = r#"{"containerId":"c1","ifname":"eth0","netns":"/var/run/netns/x","podNamespace":"ns","podName":"p","podUid":"u"}"#;

fn camera_store() -> Arc<Store> {
    let store = Store::new("edge-1");
    store.replace_profiles(vec![profile("cam", 4, 1, "camera", 1400)], Origin::Api);
    store.set_node(Some(node(&[])), Origin::Api);
    store.replace_pods(vec![pod("ns", "p", "u", &[("app", "camera")])], Origin::Api);
    // What the agent's probe finds at start on a healthy cluster.
    store.set_upstream(Upstream::ApiServer);
    store
}

#[tokio::test]
async fn socket_is_private_and_answers_health_and_add() {
    let srv = start(camera_store(), config());
    assert_eq!(
        std::fs::metadata(&srv.path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (status, body) = raw(
        &srv.path,
        b"GET /v1/healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&srv.path, ADD).await;
    assert_eq!(status, 200, "{body}");
    let answer: AddResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            answer.source,
            answer.mtu,
            answer.profile.unwrap().name.as_str()
        ),
        (Source::Live, Some(1400), "cam")
    );
}

#[tokio::test]
async fn malformed_requests_get_4xx_json_and_change_nothing() {
    let store = camera_store();
    let srv = start(store.clone(), config());
    let before = store.counts();
    for (body, want) in [
        ("{not json", 400),
        (r#"{"containerId":"c"}"#, 400),
        (
            r#"{"containerId":"c","ifname":"eth0","netns":"n","podNamespace":"ns","podName":1}"#,
            400,
        ),
        (
            r#"{"containerId":"c","ifname":"eth0","netns":"n","podNamespace":"","podName":"p"}"#,
            400,
        ),
    ] {
        let (status, resp) = post(&srv.path, body).await;
        assert_eq!(status, want, "{body} -> {resp}");
        assert!(serde_json::from_str::<ErrorBody>(&resp).is_ok(), "{resp}");
    }
    let (status, _) = raw(
        &srv.path,
        b"GET /v1/cni/add HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405);
    let (status, _) = raw(
        &srv.path,
        b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(store.counts(), before);
}

#[tokio::test]
async fn oversized_bodies_are_refused_declared_or_chunked() {
    let srv = start(camera_store(), config());
    let big = "x".repeat(MAX_BODY + 1);
    assert_eq!(post(&srv.path, &big).await.0, 413);
    let chunked = format!(
        "POST {ADD_PATH} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    assert_eq!(raw(&srv.path, chunked.as_bytes()).await.0, 413);
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_others_still_served() {
    let srv = start(camera_store(), config());
    let mut slow = UnixStream::connect(&srv.path).await.unwrap();
    slow.write_all(b"POST /v1/cni/add HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    assert_eq!(post(&srv.path, ADD).await.0, 200);
    let mut rest = Vec::new();
    let n = slow.read_to_end(&mut rest).await.unwrap();
    assert_eq!(
        n, 0,
        "the server closes a stalled request without answering"
    );
}

#[tokio::test]
async fn peers_with_another_uid_are_refused() {
    let srv = start(
        camera_store(),
        ServerConfig {
            required_uid: own_uid().wrapping_add(1),
            ..config()
        },
    );
    let (status, body) = post(&srv.path, ADD).await;
    assert_eq!((status, body.as_str()), (0, ""));
}

#[tokio::test]
async fn unknown_pod_waits_for_the_store_then_answers_live() {
    let store = camera_store();
    store.set_feed(Kind::Pods, Feed::Watching);
    let srv = start(store.clone(), config());
    let late = r#"{"containerId":"c2","ifname":"eth0","netns":"n","podNamespace":"ns","podName":"late","podUid":"u2"}"#;
    let query = tokio::spawn({
        let path = srv.path.clone();
        async move { post(&path, late).await }
    });
    store.upsert_pod(pod("ns", "late", "u2", &[("app", "camera")]));
    let (status, body) = query.await.unwrap();
    assert_eq!(status, 200);
    let answer: AddResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(answer.profile.map(|p| p.name), Some("cam".into()));
}

#[tokio::test]
async fn unknown_pod_gets_defaults_at_the_deadline_or_at_once_when_the_watch_is_down() {
    let store = camera_store();
    let srv = start(
        store.clone(),
        ServerConfig {
            pod_wait: Duration::from_millis(50),
            ..config()
        },
    );
    let missing =
        r#"{"containerId":"c","ifname":"eth0","netns":"n","podNamespace":"ns","podName":"ghost"}"#;
    let (status, body) = post(&srv.path, missing).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<AddResponse>(&body).unwrap(),
        AddResponse::default()
    );
    store.set_feed(Kind::Pods, Feed::Down);
    let answer = answer_waiting(
        &store,
        &serde_json::from_str(missing).unwrap(),
        Duration::from_secs(3600),
    )
    .await;
    assert_eq!(answer.source, Source::Default);
}

/// Whether the server has closed `s`: a non-blocking read sees the kernel's state now, EOF if
/// closed, WouldBlock if still open.
fn closed_now(s: &std::os::unix::net::UnixStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    matches!(std::io::Read::read(&mut &*s, &mut buf), Ok(0))
}

#[tokio::test]
async fn at_the_limit_a_new_caller_takes_the_place_of_the_oldest_stalled_one() {
    let srv = start(
        camera_store(),
        ServerConfig {
            max_connections: 2,
            // Far beyond the test: only shedding can close the stalled connections in time.
            connection_timeout: Duration::from_secs(3600),
            ..config()
        },
    );
    let mut stalled = Vec::new();
    for partial in [&b"POST /v1/cni/add HTTP/1.1\r\n"[..], b"POST /v1/cni/a"] {
        let mut s = UnixStream::connect(&srv.path).await.unwrap();
        s.write_all(partial).await.unwrap();
        stalled.push(s);
    }
    let answered = timeout(Duration::from_secs(10), post(&srv.path, ADD)).await;
    assert_eq!(
        answered.map(|(status, _)| status),
        Ok(200),
        "answered at once, not after a stalled connection's deadline"
    );
    let mut rest = Vec::new();
    let oldest = timeout(Duration::from_secs(10), stalled[0].read_to_end(&mut rest)).await;
    assert!(
        matches!(oldest, Ok(Ok(0))),
        "the oldest stalled one gave way, unanswered: {oldest:?}"
    );
    let newer = stalled.pop().unwrap().into_std().unwrap();
    assert!(!closed_now(&newer), "only as many as needed give way");
}

#[tokio::test]
async fn requests_cut_off_mid_body_are_no_longer_in_flight_once_closed() {
    let srv = start(camera_store(), config());
    let mut cut = Vec::new();
    for _ in 0..5 {
        let mut s = UnixStream::connect(&srv.path).await.unwrap();
        s.write_all(b"POST /v1/cni/add HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{")
            .await
            .unwrap();
        cut.push(s);
    }
    for mut s in cut {
        let mut rest = Vec::new();
        assert_eq!(
            s.read_to_end(&mut rest).await.unwrap(),
            0,
            "closed at the deadline"
        );
    }
    // The server closes the stream a moment before it drops the rest of the request's state.
    timeout(Duration::from_secs(10), async {
        while srv.metrics.socket_in_flight.get() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "in flight: {} after every request ended",
            srv.metrics.socket_in_flight.get()
        )
    });
}

#[tokio::test]
async fn requests_hyper_refuses_get_json_errors() {
    let srv = start(camera_store(), config());
    let long_uri = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(u16::MAX as usize));
    let many_headers = format!(
        "GET /v1/healthz HTTP/1.1\r\n{}\r\n",
        (0..101)
            .map(|n| format!("X-{n}: v\r\n"))
            .collect::<String>()
    );
    for (request, want) in [
        (long_uri.as_bytes(), 414),
        (many_headers.as_bytes(), 431),
        (&b"GET /v1/healthz HTTP/7.1\r\n\r\n"[..], 400),
        (
            b"POST /v1/cni/add HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
            400,
        ),
    ] {
        let (status, body) = raw(&srv.path, request).await;
        assert_eq!(status, want, "{body}");
        assert!(serde_json::from_str::<ErrorBody>(&body).is_ok(), "{body}");
    }
    let rendered = srv.metrics.render();
    for code in ["414", "431"] {
        assert!(
            rendered.contains(&format!(
                "tether_agent_socket_responses_total{{code=\"{code}\"}} 1"
            )),
            "{rendered}"
        );
    }
}

#[tokio::test]
async fn a_half_loaded_store_makes_the_answer_wait_instead_of_saying_no_profile() {
    // Pods listed, profiles and node not yet: what a fresh agent has for a few milliseconds.
    let store = Store::new("edge-1");
    store.set_upstream(Upstream::ApiServer);
    store.replace_pods(vec![pod("ns", "p", "u", &[("app", "camera")])], Origin::Api);
    let srv = start(store.clone(), config());
    let query = tokio::spawn({
        let path = srv.path.clone();
        async move { post(&path, ADD).await }
    });
    store.replace_profiles(vec![profile("cam", 4, 1, "camera", 1400)], Origin::Api);
    tokio::task::yield_now().await;
    assert!(!query.is_finished(), "still waiting for the node");
    store.set_node(Some(node(&[])), Origin::Api);
    let (status, body) = query.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: AddResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (answer.profile.map(|p| p.name), answer.source),
        (Some("cam".into()), Source::Live)
    );
}

#[tokio::test]
async fn a_store_that_cannot_finish_loading_answers_default_never_no_profile() {
    let store = Store::new("edge-1");
    store.replace_pods(vec![pod("ns", "p", "u", &[("app", "camera")])], Origin::Api);
    let req: AddRequest = serde_json::from_str(ADD).unwrap();
    // At the deadline, profiles still missing: the answer of a pod the agent does not know.
    let answer = answer_waiting(&store, &req, Duration::from_millis(30)).await;
    assert_eq!(answer, AddResponse::default());
    // The profile watch is down and nothing is on disk: no point waiting.
    store.set_feed(Kind::Profiles, Feed::Down);
    let started = std::time::Instant::now();
    let answer = answer_waiting(&store, &req, Duration::from_secs(3600)).await;
    assert_eq!(answer, AddResponse::default());
    assert!(started.elapsed() < Duration::from_secs(60));
    // Loaded from disk counts as loaded.
    store.replace_profiles(vec![profile("cam", 4, 1, "camera", 1400)], Origin::Disk);
    store.set_node(None, Origin::Disk);
    let answer = answer_waiting(&store, &req, Duration::from_secs(3600)).await;
    assert_eq!(
        (answer.profile.map(|p| p.name), answer.source),
        (Some("cam".into()), Source::Cache)
    );
}

#[tokio::test]
async fn healthz_says_what_answers_the_agent_and_how_many_writes_are_unconfirmed() {
    let store = camera_store();
    let dir = tempfile::tempdir().unwrap();
    let (outbox, _) = Outbox::open(&Outbox::path(dir.path()), 10, Arc::new(Metrics::default()));
    let path = dir.path().join("agent.sock");
    let listener = bind(&path).unwrap();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(serve(
        listener,
        store.clone(),
        config(),
        Arc::new(Metrics::default()),
        Some(outbox.clone()),
        rx,
    ));
    let health = || async {
        let (status, body) = raw(
            &path,
            b"GET /v1/healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    assert_eq!(
        health().await,
        serde_json::json!({"ok": true, "live": true, "upstream": "api-server", "unconfirmedWrites": 0})
    );
    let (status, _) = post(&path, ADD).await;
    assert_eq!(status, 200);
    let (status, _) = post(&path, ADD).await;
    assert_eq!(status, 200);
    store.set_upstream(Upstream::YurthubCache);
    let h = health().await;
    assert_eq!(
        (&h["live"], &h["upstream"], &h["unconfirmedWrites"]),
        (
            &serde_json::json!(false),
            &serde_json::json!("yurthub-cache"),
            &serde_json::json!(1)
        ),
        "two answers owe one Event; answers from yurthub's cache are not live"
    );
    let wire: cni::protocol::HealthResponse = serde_json::from_value(h).unwrap();
    assert!(wire.ok && !wire.live, "tether-cni still reads it");
    assert_eq!(
        std::fs::read_to_string(Outbox::path(dir.path()))
            .unwrap()
            .matches("\"op\":\"queued\"")
            .count(),
        1,
        "the Event was journaled before the answer left"
    );
    let _ = stop.send(true);
    task.abort();
}
