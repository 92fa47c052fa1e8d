//! End to end on the binary: with the API server unreachable the agent still binds its socket
//! and answers, from defaults or from the cache an earlier run left.

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use cni::protocol::{ADD_PATH, AddResponse, HEALTHZ_PATH, Source};
use support::{Agent, fake_api, kubeconfig, query, wait_until};

const ADD_CAM: &str = r#"{"containerId":"c1","ifname":"eth0","netns":"/var/run/netns/x","podNamespace":"default","podName":"cam-1","podUid":"uid-1"}"#;
/// Nothing listens on port 1 of the loopback: connections are refused at once.
const UNREACHABLE: &str = "https://127.0.0.1:1";

#[allow(clippy::expect_used)]
fn add(agent: &Agent) -> AddResponse {
    let (status, body) = query(&agent.socket, "POST", ADD_PATH, ADD_CAM);
    assert_eq!(status, 200, "{body}");
    let answer: AddResponse = serde_json::from_str(&body).expect("an AddResponse");
    assert_eq!(answer.validate(), Ok(()));
    answer
}

#[test]
fn unreachable_api_and_no_cache_still_answers_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &kubeconfig(dir.path(), UNREACHABLE));
    let (status, _) = query(&agent.socket, "GET", HEALTHZ_PATH, "");
    assert_eq!(status, 200);
    assert_eq!(
        add(&agent),
        AddResponse {
            source: Source::Default,
            ..AddResponse::default()
        }
    );
    assert_eq!(agent.ops("/readyz").0, 200);
    assert_eq!(agent.ops("/healthz").0, 200);
    let (status, metrics) = agent.ops("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tether_agent_socket_answers_total{source=\"default\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tether_agent_socket_answer_seconds_count 1"),
        "{metrics}"
    );
    assert_eq!(agent.terminate(), 0, "SIGTERM exits 0");
}

#[test]
fn no_kubernetes_configuration_at_all_still_answers_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::start(dir.path(), &dir.path().join("no-such-kubeconfig"));
    assert_eq!(add(&agent), AddResponse::default());
    assert_eq!(agent.terminate(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_left_by_an_earlier_run_answers_while_the_api_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let api = fake_api::start().await;
    let online = kubeconfig(dir.path(), &format!("http://{}", api.addr));
    let cache_file = dir.path().join("state/cache/store.v1");

    let first = tokio::task::spawn_blocking({
        let (dir, online, cache_file) = (dir.path().to_owned(), online.clone(), cache_file.clone());
        move || {
            let agent = Agent::start(&dir, &online);
            wait_until(Duration::from_secs(20), || {
                add(&agent).source == Source::Live
            });
            let live = add(&agent);
            wait_until(Duration::from_secs(20), || cache_file.exists());
            (live, agent.terminate())
        }
    })
    .await
    .unwrap();
    let (live, code) = first;
    assert_eq!(code, 0);
    assert_eq!(
        live.profile
            .as_ref()
            .map(|p| (p.name.as_str(), p.generation)),
        Some(("camera", 4))
    );
    assert_eq!(live.bandwidth.and_then(|b| b.egress_burst), Some(512_000));
    let seen = api.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for s in &seen {
        assert_eq!(
            s.user_agent,
            concat!("tether-agent/", env!("CARGO_PKG_VERSION")),
            "{s:?}"
        );
    }
    assert!(seen.iter().any(|s| s.uri.starts_with("/api/v1/pods?")
        && s.uri.contains("fieldSelector=spec.nodeName%3Dedge-1")));
    drop(api);

    let offline = kubeconfig(dir.path(), UNREACHABLE);
    let back = fake_api::start().await;
    let back_online = kubeconfig(dir.path(), &format!("http://{}", back.addr));
    let back_seen = back.seen.clone();
    let second = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let agent = Agent::start(dir.path(), &offline);
        let answer = add(&agent);
        let elapsed = started.elapsed();
        // Reported, not asserted: timings belong to benchmarks.
        eprintln!("offline start to first cached answer: {elapsed:?}");
        let code = agent.terminate();
        assert!(
            dir.path().join("state/outbox/outbox.v1").exists(),
            "the Event owed is persisted at SIGTERM"
        );

        // Back online, without any new ADD: the Event queued while offline is delivered.
        let agent = Agent::start(dir.path(), &back_online);
        wait_until(Duration::from_secs(20), || {
            back_seen.lock().unwrap().iter().any(|s| {
                s.method == "POST"
                    && s.uri
                        .starts_with("/apis/events.k8s.io/v1/namespaces/default/events")
            })
        });
        assert_eq!(agent.terminate(), 0);

        std::fs::write(&cache_file, b"TETHER-AGENT-CACHE v1 10 00\ntruncat").unwrap();
        let agent = Agent::start(dir.path(), &offline);
        let damaged = add(&agent);
        (answer, code, damaged, agent.terminate())
    })
    .await
    .unwrap();
    let (answer, code, damaged, code2) = second;
    assert_eq!(answer.source, Source::Cache);
    assert_eq!(answer.profile, live.profile);
    assert_eq!((answer.mtu, answer.bandwidth), (live.mtu, live.bandwidth));
    assert_eq!((code, code2), (0, 0));
    assert_eq!(
        damaged,
        AddResponse::default(),
        "a damaged cache is ignored, defaults are answered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_an_answer_in_flight_then_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let api = fake_api::start().await;
    let online = kubeconfig(dir.path(), &format!("http://{}", api.addr));
    let result = tokio::task::spawn_blocking(move || {
        // A pod the live watch does not know: the answer waits for it (up to 3 s).
        let agent = Agent::start_with(dir.path(), &online, &[("TETHER_POD_WAIT_MS", "3000"), ("TETHER_CONNECTION_TIMEOUT_MS", "6000")]);
        wait_until(Duration::from_secs(20), || add(&agent).source == Source::Live);
        let socket = agent.socket.clone();
        let waiting = std::thread::spawn(move || {
            query(&socket, "POST", ADD_PATH, r#"{"containerId":"c9","ifname":"eth0","netns":"n","podNamespace":"default","podName":"unborn"}"#)
        });
        wait_until(Duration::from_secs(20), || agent.ops("/metrics").1.contains("tether_agent_socket_in_flight 1"));
        let code = agent.terminate();
        (waiting.join().unwrap(), code)
    })
    .await
    .unwrap();
    let ((status, body), code) = result;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<AddResponse>(&body).unwrap(),
        AddResponse::default()
    );
    assert_eq!(code, 0);
}
