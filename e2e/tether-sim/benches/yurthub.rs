//! What the yurthub double adds to a request: the same kube 5 client getting one of 100
//! pods directly from the API double and through the yurthub double (as a cache agent,
//! whose every answer is written to the disk cache, and as another component, forwarded
//! only), over TLS on loopback.
//!
//! `cargo bench -p tether-sim --bench yurthub` prints sequential latency (p50, p99) and
//! throughput with 8 concurrent requests for each path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tether_sim::apiserver::{self, ApiServer, SimConfig};
use tether_sim::yurthub::{self, ServingCert, Upstream, YurthubConfig};

const PODS: usize = 100;
const SEQUENTIAL: usize = 1000;
const CONCURRENT: usize = 4000;
const CONCURRENCY: usize = 8;

async fn client(api: &ApiServer, url: &str, ua: &'static str) -> anyhow::Result<Api<Pod>> {
    let kc = Kubeconfig::from_yaml(&api.kubeconfig_for(url, api.admin_token()))?;
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    cfg.headers
        .push((http::header::USER_AGENT, http::HeaderValue::from_static(ua)));
    Ok(Api::namespaced(kube::Client::try_from(cfg)?, "default"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn get(api: &Api<Pod>, i: usize) {
    api.get(&format!("pod-{}", i % PODS))
        .await
        .unwrap_or_else(|e| panic!("get: {e}"));
}

/// (p50, p99) of one get at a time.
async fn latency(api: &Api<Pod>) -> (Duration, Duration) {
    let mut took = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        let start = Instant::now();
        get(api, i).await;
        took.push(start.elapsed());
    }
    took.sort();
    (percentile(&took, 0.5), percentile(&took, 0.99))
}

/// Requests per second with CONCURRENCY in flight.
async fn throughput(api: &Api<Pod>) -> f64 {
    let api = Arc::new(api.clone());
    let start = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let api = api.clone();
            tokio::spawn(async move {
                for i in (w..CONCURRENT).step_by(CONCURRENCY) {
                    get(&api, i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap_or_else(|e| panic!("bench task failed: {e}"));
    }
    CONCURRENT as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let api = apiserver::start(SimConfig::default()).await?;
    let pods = client(&api, &api.url(), "bench/0").await?;
    for i in 0..PODS {
        let p = serde_json::json!({"metadata": {"name": format!("pod-{i}")},
                                   "spec": {"nodeName": "edge-1", "containers": [{"name": "c", "image": "busybox"}]}});
        pods.create(&PostParams::default(), &serde_json::from_value(p)?)
            .await?;
    }
    let cache_dir = std::env::temp_dir().join(format!(
        "tether-sim-bench-yurthub-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let (cert_pem, key_pem) = api.issue_serving_cert(&["127.0.0.1"])?;
    let mut config = YurthubConfig::new(
        "edge-1",
        Upstream::from_kubeconfig(&api.admin_kubeconfig()).await?,
        ServingCert { cert_pem, key_pem },
        &cache_dir,
    );
    config.listen = "127.0.0.1:0".parse()?;
    config.cache_agents = vec!["tether-agent".into()];
    let hub = yurthub::start(config).await?;

    let paths = [
        (
            "direct to the API double",
            client(&api, &api.url(), "tether-agent/0.1.0").await?,
        ),
        (
            "through yurthub, cache agent",
            client(&api, &hub.url(), "tether-agent/0.1.0").await?,
        ),
        (
            "through yurthub, not cached",
            client(&api, &hub.url(), "other/0.1.0").await?,
        ),
    ];
    println!("yurthub double bench: get one of {PODS} pods, kube 5 over TLS/HTTP1.1, loopback");
    println!(
        "{:<30} {:>10} {:>10} {:>18}",
        "path",
        "p50",
        "p99",
        format!("req/s ({CONCURRENCY} in flight)")
    );
    let mut direct_p50 = Duration::ZERO;
    for (name, api) in &paths {
        for i in 0..100 {
            get(api, i).await; // warm connections and the cache
        }
        let (p50, p99) = latency(api).await;
        let rate = throughput(api).await;
        if direct_p50.is_zero() {
            direct_p50 = p50;
        }
        println!(
            "{name:<30} {:>10} {:>10} {rate:>18.0}   (p50 +{:?})",
            format!("{p50:.2?}"),
            format!("{p99:.2?}"),
            p50.saturating_sub(direct_p50)
        );
    }
    let forwarded = api
        .audit_events()
        .iter()
        .filter(|e| e.user_agent == "other/0.1.0")
        .count();
    assert_eq!(
        forwarded,
        100 + SEQUENTIAL + CONCURRENT,
        "every uncached get reached the API double"
    );
    hub.shutdown().await;
    api.shutdown().await;
    let _ = std::fs::remove_dir_all(&cache_dir);
    Ok(())
}
