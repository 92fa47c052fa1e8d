//! What tether costs a pod, measured with the real plugins (root only):
//!
//! - ADD, then DEL, of bridge + host-local → tether (applying a profile through bandwidth and
//!   tuning), against the same bridge + host-local → bandwidth → tuning chain configured
//!   directly; rounds alternate between the two chains and the time tether adds is the
//!   median of the per-round differences.
//! - exec time of `tether-cni` VERSION against Debian's `bandwidth` VERSION.
//! - size of the release binary.
//!
//! Run: `cargo bench -p cni --bench chain` (as root). `TETHER_BENCH_ROUNDS` sets the rounds;
//! `TETHER_CNI_BIN` the tether-cni binary to measure, e.g. the static build.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::agent::{Agent, Behaviour};
use support::runtime::{Attachment, ChainExt, PLUGIN_DIR, tether_binary};
use support::{Node, camera_profile};
use testkit::cni_runtime::NetworkList;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One ADD and one DEL of `chain` for a fresh container ID; their durations.
fn add_del_once(chain: &NetworkList, base: &Attachment, round: usize) -> (Duration, Duration) {
    let mut pod = base.clone();
    pod.container_id = format!("{}r{round}", base.container_id);
    let start = Instant::now();
    let result = chain.add_ok(&pod);
    let add = start.elapsed();
    let start = Instant::now();
    chain.del(&pod, Some(&result)).unwrap();
    (add, start.elapsed())
}

/// Median of `with[i] - without[i]`, in microseconds.
fn median_difference(with: &[Duration], without: &[Duration]) -> f64 {
    let mut diffs: Vec<f64> = with
        .iter()
        .zip(without)
        .map(|(a, b)| a.as_secs_f64() - b.as_secs_f64())
        .collect();
    diffs.sort_by(f64::total_cmp);
    diffs[diffs.len() / 2] * 1e6
}

fn version_exec(binary: &Path, rounds: usize) -> Duration {
    let samples = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(binary)
                .env_clear()
                .env("CNI_COMMAND", "VERSION")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .unwrap();
            let elapsed = start.elapsed();
            assert!(status.success());
            elapsed
        })
        .collect();
    median(samples)
}

fn main() {
    if std::env::args().any(|a| a == "--list") || !support::privileged() {
        return;
    }
    let rounds: usize = std::env::var("TETHER_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let binary = tether_binary();
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let mut with_tether = node.chain("1.0.0", json!({}));
    with_tether.plugins.last_mut().unwrap().0 = binary.clone();
    let direct = node.direct_chain("1.0.0", &camera_profile());

    let (_netns, pod) = node.pod("bench");
    let (mut t_add, mut t_del, mut p_add, mut p_del) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds + 10 {
        let (ta, td) = add_del_once(&with_tether, &pod, 2 * round);
        let (pa, pd) = add_del_once(&direct, &pod, 2 * round + 1);
        // The first rounds warm the page cache and the IPAM store.
        if round >= 10 {
            t_add.push(ta);
            t_del.push(td);
            p_add.push(pa);
            p_del.push(pd);
        }
    }
    let added_add = median_difference(&t_add, &p_add);
    let added_del = median_difference(&t_del, &p_del);

    let tether_version = version_exec(&binary, rounds * 5);
    let go_version = version_exec(&Path::new(PLUGIN_DIR).join("bandwidth"), rounds * 5);
    let size = std::fs::metadata(&binary).unwrap().len();

    println!("tether-cni benchmark, {rounds} rounds, medians");
    println!(
        "  ADD bridge → tether(bandwidth, tuning)   {:>9.0} µs",
        micros(median(t_add))
    );
    println!(
        "  ADD bridge → bandwidth → tuning           {:>9.0} µs",
        micros(median(p_add))
    );
    println!("  added by tether per ADD (median diff)     {added_add:>9.0} µs");
    println!(
        "  DEL, with tether                          {:>9.0} µs",
        micros(median(t_del))
    );
    println!(
        "  DEL, direct                               {:>9.0} µs",
        micros(median(p_del))
    );
    println!("  added by tether per DEL (median diff)     {added_del:>9.0} µs");
    println!(
        "  VERSION tether-cni                           {:>9.0} µs",
        micros(tether_version)
    );
    println!(
        "  VERSION bandwidth (Go, Debian)               {:>9.0} µs",
        micros(go_version)
    );
    println!(
        "  tether-cni binary ({})  {:.2} MiB",
        binary.display(),
        size as f64 / (1024.0 * 1024.0)
    );
}
