//! Benchmark of the `tether-agent` binary: socket query latency and throughput with 64
//! concurrent clients on a warm store, and resident memory with 1,000 NetworkProfiles and
//! 110 pods. Run with `cargo bench -p agent --bench socket`.
//!
//! The store is filled through the disk cache (the API server is unreachable), so the figures
//! are those of the real binary answering the real protocol, one connection per query as
//! `tether-cni` does.

// A benchmark program: failing loudly on a broken setup is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::profile::crd::{BandwidthSpec, NetworkProfile, NetworkProfileSpec};
use agent::state::records::{NodeInfo, Origin, PodInfo};
use agent::state::store::Store;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const PROFILES: usize = 1000;
const PODS: usize = 110;
const CLIENTS: usize = 64;
const OPEN_LOOP_SECONDS: u64 = 3;

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn profile(i: usize) -> NetworkProfile {
    let mut pod_selector = LabelSelector {
        match_labels: Some(labels(&[("app", format!("app-{}", i % 400))])),
        match_expressions: None,
    };
    if i.is_multiple_of(3) {
        pod_selector.match_expressions = Some(vec![LabelSelectorRequirement {
            key: "tier".into(),
            operator: "In".into(),
            values: Some(vec!["edge".into(), "cloud".into()]),
        }]);
    }
    let node_selector = i.is_multiple_of(5).then(|| LabelSelector {
        match_labels: Some(labels(&[("apps.openyurt.io/nodepool", "hangzhou".into())])),
        match_expressions: None,
    });
    let mut p = NetworkProfile::new(
        &format!("profile-{i:04}"),
        NetworkProfileSpec {
            priority: i32::try_from(i % 50).unwrap(),
            pod_selector: Some(pod_selector),
            node_selector,
            bandwidth: Some(BandwidthSpec {
                ingress_rate: Some("10M".into()),
                ingress_burst: Some("1M".into()),
                egress_rate: Some("5M".into()),
                egress_burst: Some("512k".into()),
            }),
            mtu: Some(1400),
            sysctls: BTreeMap::from([("net.ipv4.tcp_keepalive_time".into(), "60".into())]),
        },
    );
    p.metadata.generation = Some(1);
    p
}

fn pods() -> Vec<PodInfo> {
    (0..PODS)
        .map(|j| PodInfo {
            namespace: "bench".into(),
            name: format!("pod-{j}"),
            uid: format!("uid-{j}"),
            labels: labels(&[("app", format!("app-{}", j * 3)), ("tier", "edge".into())]),
        })
        .collect()
}

async fn query(socket: &std::path::Path, body: &str) -> Duration {
    let start = Instant::now();
    let mut s = UnixStream::connect(socket).await.unwrap();
    let req = format!(
        "POST /v1/cni/add HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::with_capacity(1024);
    s.read_to_end(&mut out).await.unwrap();
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    start.elapsed()
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap()
}

/// Cumulative bucket counts of the agent's answer-time histogram, scraped from /metrics.
fn answer_buckets(port: u16) -> Vec<(f64, u64)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("tether_agent_socket_answer_seconds_bucket{le=\"")?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                },
                count.trim().parse().ok()?,
            ))
        })
        .collect()
}

/// The bucket bound under which fraction `q` of the answers between two scrapes fall.
fn server_quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> String {
    let total = after.last().unwrap().1 - before.last().unwrap().1;
    let want = (total as f64 * q).ceil() as u64;
    let (le, _) = after
        .iter()
        .zip(before)
        .map(|((le, a), (_, b))| (*le, a - b))
        .find(|(_, n)| *n >= want)
        .unwrap();
    format!("≤ {:.3} ms", le * 1000.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` this is a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let queries_per_client: usize = if full { 500 } else { 2 };
    let rates: &[u64] = if full { &[10_000, 20_000] } else { &[] };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Store::new("edge-1");
    store.replace_profiles((0..PROFILES).map(profile).collect(), Origin::Api);
    store.replace_pods(pods(), Origin::Api);
    store.set_node(
        Some(NodeInfo {
            name: "edge-1".into(),
            labels: labels(&[("apps.openyurt.io/nodepool", "hangzhou".into())]),
        }),
        Origin::Api,
    );
    assert_eq!(store.counts(), (PODS, PROFILES, 0));
    agent::state::cache::save(&store, &agent::state::cache::path(&state)).unwrap();
    // In process: the cost of resolving one pod against 1,000 profiles, without any I/O.
    let rounds = if full { 200 } else { 2 };
    let begin = Instant::now();
    for _ in 0..rounds {
        for j in 0..PODS {
            let answer = store.answer("bench", &format!("pod-{j}"), "").unwrap();
            assert!(answer.profile.is_some());
        }
    }
    println!(
        "store lookup + resolution (1,000 profiles): {:?} per pod",
        begin.elapsed() / (rounds * PODS) as u32
    );
    // In process: what an ADD with a profile costs on top of its answer — the Event write
    // built and pushed to the outbox (journaled with one write(2) before the answer leaves) —
    // for the first ADD of a pod, and for a repeat ADD whose Event is already owed.
    let answer = store.answer("bench", "pod-1", "").unwrap();
    let (outbox, _) = agent::state::outbox::Outbox::open(
        &dir.path().join("bench-outbox").join("journal.v2"),
        1_000_000,
        Arc::new(agent::metrics::Metrics::default()),
    );
    let n = if full { 20_000 } else { 10 };
    let requests: Vec<cni::protocol::AddRequest> = (0..n)
        .map(|i| cni::protocol::AddRequest {
            container_id: format!("c{i}"),
            ifname: "eth0".into(),
            netns: "n".into(),
            pod_namespace: "bench".into(),
            pod_name: format!("pod-{i}"),
            pod_uid: format!("uid-{i}"),
        })
        .collect();
    for (label, first) in [("first ADD of a pod", true), ("repeat ADD", false)] {
        let begin = Instant::now();
        for r in &requests {
            let write = agent::api::report::applied(r, &answer).unwrap();
            assert_eq!(outbox.push(write), first);
        }
        println!(
            "Event built and pushed to the outbox, {label}: {:?} per ADD",
            begin.elapsed() / n
        );
    }
    drop(outbox);
    drop(store);

    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: x\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n").unwrap();
    let socket = dir.path().join("agent.sock");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tether-agent"))
        .args([
            "run",
            "--node-name",
            "edge-1",
            "--metrics-addr",
            &format!("127.0.0.1:{port}"),
            "--max-connections",
            "128",
        ])
        .arg("--socket")
        .arg(&socket)
        .arg("--state-dir")
        .arg(&state)
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "error,kube_client::client::builder=off")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "agent did not bind its socket"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let socket = Arc::new(socket);
    let first = runtime.block_on(query(&socket, r#"{"containerId":"c","ifname":"eth0","netns":"n","podNamespace":"bench","podName":"pod-1","podUid":"uid-1"}"#));
    println!("start to first cached answer: {:?}", started.elapsed());
    println!("first answer latency: {first:?}");
    let rss_idle = rss_kib(pid, "VmRSS:");

    let mut sequential = runtime.block_on(async {
        let mut out = Vec::new();
        for q in 0..(if full { 2000 } else { 10 }) {
            let j = q % PODS;
            let body = format!(r#"{{"containerId":"s{q}","ifname":"eth0","netns":"n","podNamespace":"bench","podName":"pod-{j}","podUid":"uid-{j}"}}"#);
            out.push(query(&socket, &body).await);
        }
        out
    });
    // The first pass over the pods owes a new Event per ADD (journaled); the rest repeat.
    let mut first_pass = sequential[..PODS.min(sequential.len())].to_vec();
    first_pass.sort();
    println!(
        "one client, sequential, first ADD of each pod (Event journaled): p50 {:?}  p99 {:?}",
        percentile(&first_pass, 0.50),
        percentile(&first_pass, 0.99)
    );
    sequential.sort();
    println!(
        "one client, sequential: p50 {:?}  p99 {:?}",
        percentile(&sequential, 0.50),
        percentile(&sequential, 0.99)
    );

    let before = answer_buckets(port);
    let (mut latencies, wall) = runtime.block_on(async {
        let begin = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let socket = socket.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::with_capacity(queries_per_client);
                for q in 0..queries_per_client {
                    let j = (c * 7 + q) % PODS;
                    let body = format!(r#"{{"containerId":"c{c}-{q}","ifname":"eth0","netns":"n","podNamespace":"bench","podName":"pod-{j}","podUid":"uid-{j}"}}"#);
                    out.push(query(&socket, &body).await);
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        (all, begin.elapsed())
    });
    latencies.sort();
    let n = latencies.len();
    println!(
        "closed loop: {n} queries from {CLIENTS} concurrent clients, each sending the next on its answer, one connection per query (as tether-cni)"
    );
    println!(
        "latency p50: {:?}  p99: {:?}  max: {:?}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[n - 1]
    );
    println!(
        "throughput: {:.0} queries/s (wall {:?})",
        n as f64 / wall.as_secs_f64(),
        wall
    );
    let after = answer_buckets(port);
    println!(
        "  agent-side answer time (request parsed to answer built): p50 {}  p99 {}",
        server_quantile(&before, &after, 0.50),
        server_quantile(&before, &after, 0.99)
    );
    println!(
        "agent resident memory with {PROFILES} profiles and {PODS} pods: idle {:.1} MiB, after load {:.1} MiB, peak {:.1} MiB",
        rss_idle as f64 / 1024.0,
        rss_kib(pid, "VmRSS:") as f64 / 1024.0,
        rss_kib(pid, "VmHWM:") as f64 / 1024.0
    );

    // Open loop: the clients offer a fixed total rate, as pods being created would, and the
    // latency is what each query sees at that rate rather than a queue the clients build.
    for &rate in rates {
        let before = answer_buckets(port);
        let mut lat = runtime.block_on(async {
            let interval = Duration::from_nanos(1_000_000_000 * CLIENTS as u64 / rate);
            let mut tasks = Vec::new();
            for c in 0..CLIENTS {
                let socket = socket.clone();
                tasks.push(tokio::spawn(async move {
                    let mut ticks = tokio::time::interval(interval);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    let mut out = Vec::new();
                    for q in 0..(OPEN_LOOP_SECONDS * rate / CLIENTS as u64) as usize {
                        ticks.tick().await;
                        let j = (c * 11 + q) % PODS;
                        let body = format!(r#"{{"containerId":"o{c}-{q}","ifname":"eth0","netns":"n","podNamespace":"bench","podName":"pod-{j}","podUid":"uid-{j}"}}"#);
                        out.push(query(&socket, &body).await);
                    }
                    out
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            all
        });
        lat.sort();
        println!(
            "open loop at {rate} queries/s offered by {CLIENTS} clients for {OPEN_LOOP_SECONDS} s: p50 {:?}  p99 {:?}  max {:?}",
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
            lat[lat.len() - 1]
        );
        let after = answer_buckets(port);
        println!(
            "  agent-side answer time: p50 {}  p99 {}",
            server_quantile(&before, &after, 0.50),
            server_quantile(&before, &after, 0.99)
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let code = child.wait().unwrap();
    println!("agent exit after SIGTERM: {code}");
}
