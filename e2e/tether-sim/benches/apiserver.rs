//! tether-sim throughput and watch fan-out, through kube 5 over real TLS on loopback.
//!
//! `cargo bench -p e2e --bench apiserver` prints requests/s for get and list and the
//! latency from a write to its delivery on each of 100 watchers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tether_sim::apiserver::{self, SimConfig};
use tokio::sync::mpsc;

const PODS: usize = 100;
const GETS: usize = 4000;
const LISTS: usize = 400;
const CONCURRENCY: usize = 8;
const WATCHERS: usize = 100;
const UPDATES: usize = 50;

async fn rate<F, Fut>(total: usize, f: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let f = f.clone();
            tokio::spawn(async move {
                for i in (w..total).step_by(CONCURRENCY) {
                    f(i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("bench task failed: {e}"));
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let server = apiserver::start(SimConfig::default()).await?;
    let kc = Kubeconfig::from_yaml(&server.admin_kubeconfig())?;
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?,
    )?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..PODS {
        let p = serde_json::json!({"metadata": {"name": format!("pod-{i}"), "labels": {"app": "bench"}},
                                   "spec": {"nodeName": "edge-1", "containers": [{"name": "c", "image": "busybox"}]}});
        pods.create(&PostParams::default(), &serde_json::from_value(p)?)
            .await?;
    }

    let api = pods.clone();
    let gets = rate(GETS, move |i| {
        let api = api.clone();
        async move {
            api.get(&format!("pod-{}", i % PODS))
                .await
                .unwrap_or_else(|e| panic!("get: {e}"));
        }
    })
    .await;
    let api = pods.clone();
    let lists = rate(LISTS, move |_| {
        let api = api.clone();
        async move {
            let l = api
                .list(&ListParams::default().fields("spec.nodeName=edge-1"))
                .await
                .unwrap_or_else(|e| panic!("list: {e}"));
            assert_eq!(l.items.len(), PODS);
        }
    })
    .await;

    // Watch fan-out: every watcher reports when it sees each update's marker.
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let from = server.resource_version().to_string();
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let mut stream = pods
            .watch(&WatchParams::default().fields("metadata.name=pod-0"), &from)
            .await?
            .boxed();
        let tx = tx.clone();
        watchers.push(tokio::spawn(async move {
            while let Ok(Some(ev)) = stream.try_next().await {
                if let WatchEvent::Modified(p) = ev
                    && let Some(n) = p
                        .metadata
                        .labels
                        .and_then(|l| l.get("seq").and_then(|s| s.parse::<usize>().ok()))
                    && tx.send((n, Instant::now())).is_err()
                {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let mut latencies = Vec::with_capacity(WATCHERS * UPDATES);
    for seq in 0..UPDATES {
        let sent = Instant::now();
        let patch = serde_json::json!({"metadata": {"labels": {"seq": seq.to_string()}}});
        pods.patch("pod-0", &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        let mut got = 0;
        while got < WATCHERS {
            let (n, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await?
                .ok_or_else(|| anyhow::anyhow!("watchers ended"))?;
            if n == seq {
                latencies.push(at - sent);
                got += 1;
            }
        }
    }
    for w in watchers {
        w.abort();
    }
    latencies.sort();
    println!(
        "tether-sim bench (kube 5 client over TLS/HTTP1.1, loopback, {CONCURRENCY} concurrent requests)"
    );
    println!("get  {gets:>8.0} req/s   ({GETS} gets of one of {PODS} pods)");
    println!(
        "list {lists:>8.0} req/s   ({LISTS} lists of {PODS} pods, fieldSelector spec.nodeName)"
    );
    println!(
        "watch fan-out to {WATCHERS} watchers, {UPDATES} updates: p50 {:?}  p99 {:?}  max {:?} (write issued -> event received)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    server.shutdown().await;
    Ok(())
}
