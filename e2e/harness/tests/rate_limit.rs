//! rate limits: with the API server limiting the agent's identity (API Priority and Fairness
//! answering 429 with Retry-After), a burst of 100 pods on one node all get their profile, and
//! the audit log shows the agent kept to its client-side QPS and burst and never retried
//! before Retry-After.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scenario;

use std::time::Duration;

use e2e::backend::{AGENT_USER, Cluster, ClusterSpec, NodeSpec, PodSpec, Request};
use futures::{StreamExt, TryStreamExt};
use rstest::rstest;

use scenario::*;

const PODS: usize = 100;
const CLIENT_QPS: f64 = 10.0;
const CLIENT_BURST: u32 = 20;
/// The server admits fewer than the client sends, so 429s do happen.
const SERVER_QPS: f64 = 5.0;
const SERVER_IN_FLIGHT: usize = 2;
/// The Retry-After the API server sends with a 429, in seconds.
const RETRY_AFTER: f64 = 1.0;
/// Clock and network jitter between the agent's send and the server's receive time.
const JITTER: f64 = 0.05;

/// The agent's own requests (not the probes of a test using its token), in arrival order.
fn agent_requests(audit: &[Request]) -> Vec<&Request> {
    let mut requests: Vec<&Request> = audit
        .iter()
        .filter(|r| r.user == AGENT_USER && r.user_agent.starts_with("tether-agent/"))
        .collect();
    requests.sort_by_key(|r| r.arrived());
    requests
}

fn seconds(a: &Request, b: &Request) -> f64 {
    (b.arrived().expect("audit time") - a.arrived().expect("audit time")).as_seconds_f64()
}

/// Whether the arrival times fit a token bucket of `qps` and `burst`: no window holds more
/// requests than the bucket lets through in it (one request of slack for jitter).
fn within_token_bucket(requests: &[&Request], qps: f64, burst: u32) -> Result<(), String> {
    for i in 0..requests.len() {
        for j in i..requests.len() {
            let count = (j - i + 1) as f64;
            let allowed =
                f64::from(burst) + qps * (seconds(requests[i], requests[j]) + JITTER) + 1.0;
            if count > allowed {
                return Err(format!(
                    "{count} requests between {} and {} (allowed {allowed:.1})",
                    requests[i].time, requests[j].time
                ));
            }
        }
    }
    Ok(())
}

/// The resources the agent watches; it knows a pod only once its pod watch is open.
const WATCHED: [&str; 3] = ["pods", "nodes", "networkprofiles"];

/// Waits until the audit log shows each of the agent's watches answered 200. An agent that
/// starts under a server limit can see a watch throttled and come back after `Retry-After`
/// plus its spread, seconds later: pods scheduled before then get defaults by design (the
/// plugin cannot wait that long), which is not what this scenario is about.
async fn await_agent_watching(cluster: &Cluster, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    loop {
        poll.tick().await;
        let audit = cluster.audit().await.unwrap();
        let open = |resource: &str| {
            agent_requests(&audit)
                .iter()
                .any(|r| r.verb == "watch" && r.resource == resource && r.code == 200)
        };
        if WATCHED.iter().all(|r| open(r)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent's watches of {WATCHED:?} were not all open within {within:?}"
        );
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_pods_gets_profiles_within_the_agents_rate_limits() {
    let spec = ClusterSpec {
        name: None,
        nodes: vec![NodeSpec {
            name: "edge-1".into(),
            pool: "hangzhou".into(),
        }],
        agent_qps: CLIENT_QPS,
        agent_burst: CLIENT_BURST,
    };
    let Some(cluster) = cluster_with(spec).await else {
        return;
    };
    let admin = cluster.admin();
    cluster
        .limit(AGENT_USER, SERVER_IN_FLIGHT, SERVER_QPS)
        .await
        .unwrap();
    let generation = create_profile(&admin, "camera", camera_spec()).await;
    await_agent_watching(&cluster, Duration::from_secs(30)).await;

    // The pods are scheduled at once; the node's kubelet runs their sandboxes through CRI
    // as fast as it can, and each ADD asks the agent, which learns the pods through the
    // limited API.
    let attached: Vec<_> = futures::stream::iter(0..PODS)
        .map(|i| {
            let cluster = &cluster;
            async move {
                let spec = PodSpec::labelled(&format!("cam-{i}"), "app", "camera");
                cluster.add_pod("edge-1", &spec).await
            }
        })
        .buffer_unordered(PODS)
        .try_collect()
        .await
        .unwrap();
    await_status(
        &cluster,
        "camera",
        "edge-1",
        PODS as i64,
        generation,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(attached.len(), PODS);
    for pod in &attached {
        assert_eq!(
            (pod.profile(), pod.source()),
            (Some("camera"), Some("live")),
            "{}: {:?}",
            pod.name,
            pod.tether
        );
    }

    // Every pod's Event arrives in the end, through the limits.
    await_events(&admin, "default", Duration::from_secs(90), |events| {
        (0..PODS).all(|i| {
            events
                .iter()
                .any(|e| regarding(e) == Some(&format!("cam-{i}")))
        })
    })
    .await;

    let audit = cluster.audit().await.unwrap();
    let requests = agent_requests(&audit);
    let throttled: Vec<&&Request> = requests.iter().filter(|r| r.code == 429).collect();
    assert!(
        !throttled.is_empty(),
        "the server never throttled the agent: the scenario proves nothing"
    );
    assert_eq!(
        cluster.rejected(AGENT_USER).await.unwrap(),
        throttled.len() as u64
    );

    // Client-side: the bucket held, retries included.
    within_token_bucket(&requests, CLIENT_QPS, CLIENT_BURST).unwrap();

    // Server-side: after a 429, the same request came back no sooner than Retry-After.
    let mut retries = 0;
    for (i, rejected) in requests.iter().enumerate() {
        if rejected.code != 429 {
            continue;
        }
        if let Some(retry) = requests[i + 1..]
            .iter()
            .find(|r| r.verb == rejected.verb && r.uri == rejected.uri)
        {
            let waited = seconds(rejected, retry);
            assert!(
                waited + JITTER >= RETRY_AFTER,
                "{} {} retried {waited:.3}s after a 429 with Retry-After {RETRY_AFTER}s",
                rejected.verb,
                rejected.uri
            );
            retries += 1;
        }
    }
    assert!(
        retries > 0,
        "no throttled request was ever sent again: the Retry-After check proves nothing"
    );
    eprintln!(
        "[e2e] {} agent requests, {} answered 429, {retries} retries checked",
        requests.len(),
        throttled.len()
    );
    cluster.down().await.unwrap();
}
