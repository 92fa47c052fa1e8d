//! How long a pod takes on a sim node from its creation in the API to Running (the kubelet
//! double, containerd's RunPodSandbox with the CNI chain, CreateContainer, StartContainer,
//! the status written back), with tether in the chain and without it.
//!
//! `cargo bench -p e2e --bench pod_start` (root and Docker). Pods are started one at a time,
//! so each figure is a latency; rounds alternate between the two chains so load on the
//! machine falls on both alike. `TETHER_BENCH_PODS` sets the pods per chain (default 20).
//!
//! Without tether: install-cni's `--watch` sidecar is stopped (SIGSTOP from the host) and
//! kindnet's conflist rewritten from its template, so containerd runs bridge alone; with
//! tether: the sidecar continued (SIGCONT), which chains tether back in.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use e2e::backend::{Backend, ClusterSpec, NodeSpec, PodSpec};
use e2e::sim::SimCluster;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::wait::await_condition;
use rustix::process::{Pid, Signal, kill_process};

const NODE: &str = "edge-1";
const CONFLIST: &str = "/etc/cni/net.d/10-kindnet.conflist";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pods: usize = std::env::var("TETHER_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let cluster = SimCluster::up(ClusterSpec {
        name: None,
        nodes: vec![NodeSpec {
            name: NODE.into(),
            pool: "hangzhou".into(),
        }],
        agent_qps: 50.0,
        agent_burst: 100,
    })
    .await?;
    let outcome = measure(&cluster, pods).await;
    Box::new(cluster).down().await?;
    let (with, without) = outcome?;
    let (w, wo) = (median(&with), median(&without));
    println!(
        "create -> Running, median of {pods} pods each: with tether {w:.0} ms, without {wo:.0} ms, ratio {:.2} (p90 {:.0} vs {:.0} ms)",
        w / wo,
        percentile(&with, 0.9),
        percentile(&without, 0.9)
    );
    Ok(())
}

async fn measure(cluster: &SimCluster, pods: usize) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let sidecar = sidecar_host_pid(cluster)?;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..pods * 2 {
        let tether = round % 2 == 0;
        set_chain(cluster, sidecar, tether).await?;
        let name = format!("bench-{round}");
        // A profile-less label: tether asks the agent and delegates nothing, its least cost.
        let ms = start_one(cluster, &PodSpec::labelled(&name, "app", "bench")).await?;
        if tether { &mut with } else { &mut without }.push(ms);
    }
    set_chain(cluster, sidecar, true).await?;
    Ok((with, without))
}

/// Puts tether in or out of the node's chain and waits until the conflist says so.
async fn set_chain(cluster: &SimCluster, sidecar: i32, tether: bool) -> anyhow::Result<()> {
    let pid = Pid::from_raw(sidecar).context("sidecar pid")?;
    if tether {
        kill_process(pid, Signal::CONT).context("continuing install-cni")?;
    } else {
        kill_process(pid, Signal::STOP).context("stopping install-cni")?;
        cluster
            .node_exec(NODE, &["tether-node", "cni", "rewrite"])
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let conflist = cluster.node_exec(NODE, &["cat", CONFLIST]).await?;
        if conflist.contains("\"tether\"") == tether {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the conflist did not become tether={tether} within 30s: {conflist}");
        }
        // install-cni gives no sign but the file it writes.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The host pid of install-cni's `--watch` sidecar in the node container.
fn sidecar_host_pid(cluster: &SimCluster) -> anyhow::Result<i32> {
    let id = cluster.node(NODE)?.container_id().to_string();
    let top = e2e::docker::docker(&["top", &id, "-eo", "pid,args"])?;
    top.lines()
        .find(|l| l.contains("install-cni") && l.contains("--watch"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|pid| pid.parse().ok())
        .with_context(|| format!("no install-cni --watch in {NODE}: {top}"))
}

/// Creates a pod and waits for it to be Running with an IP; milliseconds taken.
async fn start_one(cluster: &SimCluster, spec: &PodSpec) -> anyhow::Result<f64> {
    let pods: Api<Pod> = Api::namespaced(cluster.admin(), &spec.namespace);
    let start = Instant::now();
    cluster.create_pod(NODE, spec).await?;
    let running = |pod: Option<&Pod>| {
        pod.and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.phase.as_deref() == Some("Running") && s.pod_ip.is_some())
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(pods, &spec.name, running),
    )
    .await
    .with_context(|| format!("{} not Running within 60s", spec.name))??;
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let v = sorted(values);
    let index = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(index).copied().unwrap_or(f64::NAN)
}
