//! What tether costs a pod, measured with the real plugins (root only):
//!
//! - ADD, then DEL, of bridge + host-local → tether (applying a profile through bandwidth and
//!   tuning), against the same bridge + host-local → bandwidth → tuning chain configured
//!   directly; rounds alternate between the two chains and the time tether adds is the
//!   median of the per-round differences. Also timed without the bridge step: the plugins
//!   after it alone (tether, or bandwidth and tuning), which leaves out the chain's noisiest
//!   plugin (bridge's ADD varies by milliseconds on a loaded machine).
//! - tether's ADD alone for a pod no profile matches (exec, the agent's answer, the record;
//!   no delegate), then its DEL, untimed: the plugin's own part, without any Go plugin's
//!   time and noise.
//! - exec time of `tether-cni` VERSION against Debian's `bandwidth` VERSION, and against
//!   `/bin/true`, a program that does nothing: the floor any glibc program pays on this machine
//!   (exec, loader, glibc's start-up, exit) before its own code runs.
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
use support::{Node, camera_profile, no_profile};
use testkit::cni_runtime::NetworkList;

/// A program that does nothing (coreutils, dynamically linked to glibc).
const DO_NOTHING: &str = "/bin/true";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The durations of one round of a chain.
struct Round {
    /// The whole ADD.
    add: Duration,
    /// The ADD of the plugins after the main one (bridge).
    add_after_main: Duration,
    /// The whole DEL.
    del: Duration,
}

/// One ADD, plugin by plugin as a runtime runs them, and one DEL of `chain` for a fresh
/// container ID.
fn add_del_once(chain: &NetworkList, base: &Attachment, round: usize) -> Round {
    let mut pod = base.clone();
    pod.container_id = format!("{}r{round}", base.container_id);
    let start = Instant::now();
    let mut prev: Option<serde_json::Value> = None;
    let mut add_after_main = Duration::ZERO;
    for i in 0..chain.plugins.len() {
        let step = Instant::now();
        let exec = chain
            .run(i, "ADD", &pod, prev.as_ref())
            .unwrap_or_else(|e| panic!("ADD failed: {e}"));
        if i > 0 {
            add_after_main += step.elapsed();
        }
        prev = Some(serde_json::from_str(&exec.stdout).unwrap());
    }
    let add = start.elapsed();
    let start = Instant::now();
    chain.del(&pod, prev.as_ref()).unwrap();
    Round {
        add,
        add_after_main,
        del: start.elapsed(),
    }
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

fn own_add(rounds: usize) -> Duration {
    let node = Node::new();
    let _agent = Agent::start(&node.socket(), Behaviour::Answer(no_profile()));
    let chain = node.chain("1.0.0", json!({}));
    let (_netns, base) = node.pod("own");
    let samples = (0..rounds)
        .map(|round| {
            let mut pod = base.clone();
            pod.container_id = format!("{}o{round}", base.container_id);
            let prev = json!({
                "cniVersion": "1.0.0",
                "interfaces": [{"name": "eth0", "sandbox": pod.netns}],
                "ips": [{"address": "10.0.0.5/24", "interface": 0}],
            });
            let start = Instant::now();
            let add = chain.tether(&pod.env("ADD"), Some(&prev), json!({}));
            let elapsed = start.elapsed();
            assert!(add.success, "{add:?}");
            let del = chain.tether(&pod.env("DEL"), Some(&prev), json!({}));
            assert!(del.success, "{del:?}");
            elapsed
        })
        .collect();
    median(samples)
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
    let with_tether = node.chain("1.0.0", json!({}));
    let direct = node.direct_chain("1.0.0", &camera_profile());

    let (_netns, pod) = node.pod("bench");
    let (mut tether_rounds, mut direct_rounds) = (Vec::new(), Vec::new());
    for round in 0..rounds + 10 {
        let t = add_del_once(&with_tether, &pod, 2 * round);
        let p = add_del_once(&direct, &pod, 2 * round + 1);
        // The first rounds warm the page cache and the IPAM store.
        if round >= 10 {
            tether_rounds.push(t);
            direct_rounds.push(p);
        }
    }
    let each = |rounds: &[Round], part: fn(&Round) -> Duration| -> Vec<Duration> {
        rounds.iter().map(part).collect()
    };
    let (t_add, p_add) = (
        each(&tether_rounds, |r| r.add),
        each(&direct_rounds, |r| r.add),
    );
    let (t_del, p_del) = (
        each(&tether_rounds, |r| r.del),
        each(&direct_rounds, |r| r.del),
    );
    let (t_after, p_after) = (
        each(&tether_rounds, |r| r.add_after_main),
        each(&direct_rounds, |r| r.add_after_main),
    );
    let added_add = median_difference(&t_add, &p_add);
    let added_after_main = median_difference(&t_after, &p_after);
    let added_del = median_difference(&t_del, &p_del);

    let tether_own = own_add(rounds * 5);
    let tether_version = version_exec(&binary, rounds * 5);
    let go_version = version_exec(&Path::new(PLUGIN_DIR).join("bandwidth"), rounds * 5);
    let floor = Path::new(DO_NOTHING);
    let floor_exec = floor.exists().then(|| version_exec(floor, rounds * 5));
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
        "  ADD after bridge: tether(bandwidth, tuning) {:>7.0} µs",
        micros(median(t_after))
    );
    println!(
        "  ADD after bridge: bandwidth → tuning       {:>8.0} µs",
        micros(median(p_after))
    );
    println!("  added by tether, steps after bridge (median diff) {added_after_main:>5.0} µs");
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
        "  tether ADD alone, no profile (no delegate)   {:>9.0} µs",
        micros(tether_own)
    );
    println!(
        "  VERSION tether-cni                           {:>9.0} µs",
        micros(tether_version)
    );
    println!(
        "  VERSION bandwidth (Go, Debian)               {:>9.0} µs",
        micros(go_version)
    );
    match floor_exec {
        Some(floor) => println!(
            "  {DO_NOTHING} (does nothing: this machine's floor) {:>9.0} µs",
            micros(floor)
        ),
        None => println!("  {DO_NOTHING} is missing: no floor measured"),
    }
    println!(
        "  tether-cni binary ({})  {:.2} MiB",
        binary.display(),
        size as f64 / (1024.0 * 1024.0)
    );
}
