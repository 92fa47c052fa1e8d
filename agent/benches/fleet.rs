//! The fleet benchmark (issue 13): N `tether-agent` processes against `tether-sim`'s API
//! double with the agents' flow limited as API Priority and Fairness would, all behind one
//! link (a region's), which is cut, the profile changed in the cloud, and restored at once.
//!
//! Run with `cargo bench -p agent --bench fleet`. Knobs (environment):
//!
//! - `TETHER_FLEET_SIZES` — fleet sizes, run in turn (default `50,100,300`);
//! - `TETHER_FLEET_CUT_SECS` — how long the link stays cut (default 20);
//! - `TETHER_FLEET_SEATS` — requests of all agents the double executes at once, the rest
//!   answered 429 with `Retry-After: 1` (default 24: the seats `deploy/flowcontrol.yaml`'s
//!   priority level gets of a default kube-apiserver's 600, see `agent/README.md`);
//! - `TETHER_FLEET_QPS` — the double's token bucket for all agents together, requests per
//!   second (default 0: none, only the seats limit);
//! - `TETHER_FLEET_BRING_UP_LIMIT_SECS` — how long the first round of status entries may take
//!   before the run fails (default 60 + N/2);
//! - `TETHER_FLEET_STORM_LIMIT_SECS` — how long to wait for every entry after the return before
//!   reporting how far the fleet got (default 180);
//! - `TETHER_FLEET_AGENT_BIN` — another `tether-agent` binary to run (default: this build's);
//! - `TETHER_FLEET_KEEP=1` — keep the agents' logs and state directories.
//!
//! For each size it prints: bring-up (until every node's status entry carries the profile's
//! generation), then, from the link's return, the time until every entry carries the new
//! generation, the agents' requests (from the double's audit log) from the return until 2 s
//! after that, 429s, requests sent again before their 429's Retry-After, the double's CPU.

// A benchmark program: failing loudly on a broken setup is what it should do.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "fleet/agents.rs"]
mod agents;
#[path = "fleet/audit.rs"]
mod audit;
#[path = "fleet/cloud.rs"]
mod cloud;
#[path = "fleet/cpu.rs"]
mod cpu;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tether_sim::apiserver::FlowLimit;

use crate::agents::Fleet;
use crate::cloud::{API_THREADS, Cloud, WATCH_HISTORY};
use crate::cpu::CpuWindow;

/// Requests counted after every entry is current (late retries, summary corrections).
const TAIL: Duration = Duration::from_secs(2);
/// How often the profile's status is read.
const POLL: Duration = Duration::from_millis(50);

fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} does not parse")),
        Err(_) => default,
    }
}

fn now_micros() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_micros()).unwrap()
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Polls `cond` until it holds; panics with `what` at `limit`.
fn wait_for(what: &str, limit: Duration, mut each: impl FnMut(), mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        each();
        std::thread::sleep(POLL);
    }
}

/// One run's figures.
struct Row {
    agents: usize,
    load: String,
    rss_mib_median: f64,
    bring_up: Duration,
    /// Since the return: when half, nine tenths and all of the entries were current.
    current_at: [Option<Duration>; 3],
    storm: audit::Storm,
    profile_bytes: usize,
    cpu: (f64, f64, f64),
}

fn run(n: usize, cut: Duration, storm_limit: Duration, limit: FlowLimit) -> Row {
    let load = load();
    let dir = tempfile::Builder::new()
        .prefix("tether-fleet-")
        .tempdir()
        .unwrap();
    // `TETHER_FLEET_KEEP=1` keeps the agents' logs and state for a look after the run.
    let (home, _dir) = if knob("TETHER_FLEET_KEEP", 0u8) == 1 {
        let kept = dir.keep();
        eprintln!("keeping {}", kept.display());
        (kept, None)
    } else {
        (dir.path().to_owned(), Some(dir))
    };
    let cloud = Cloud::start(n, limit);
    let generation = cloud.generation();
    let started = Instant::now();
    let mut fleet = Fleet::start(&cloud, &home, n);
    let deadline = Duration::from_secs(knob(
        "TETHER_FLEET_BRING_UP_LIMIT_SECS",
        60 + u64::try_from(n).unwrap() / 2,
    ));
    wait_for(
        &format!("every node's status entry at the first generation ({n} agents)"),
        deadline,
        || assert_eq!(fleet.exited(), 0, "an agent exited; see its agent.log"),
        || cloud.current_entries(generation) == n,
    );
    let bring_up = started.elapsed();
    let mut rss = fleet.rss_kib();
    rss.sort_unstable();
    let rss_mib_median = rss.get(rss.len() / 2).copied().unwrap_or(0) as f64 / 1024.0;

    cloud.link.cut();
    cloud.change_profile(1300, WATCH_HISTORY + 100);
    let generation = cloud.generation();
    // The scenario's cut: agents back off while it lasts, as they would.
    std::thread::sleep(cut);
    assert_eq!(
        cloud.current_entries(generation),
        0,
        "the cut let a write through"
    );

    let from = now_micros();
    let mut cpu = CpuWindow::start(API_THREADS);
    let restored = Instant::now();
    cloud.link.restore();
    let marks = [n.div_ceil(2), (n * 9).div_ceil(10), n];
    let mut current_at = [None; 3];
    while current_at[2].is_none() && restored.elapsed() < storm_limit {
        cpu.sample();
        let current = cloud.current_entries(generation);
        for (mark, at) in marks.iter().zip(&mut current_at) {
            if current >= *mark && at.is_none() {
                *at = Some(restored.elapsed());
            }
        }
        std::thread::sleep(POLL);
    }
    let tail_end = Instant::now() + TAIL;
    while Instant::now() < tail_end {
        cpu.sample();
        std::thread::sleep(POLL);
    }
    let cpu = cpu.finish();
    let storm = audit::storm(&cloud.agent_requests(), from, now_micros());
    let profile_bytes = cloud.profile_bytes();
    assert_eq!(fleet.exited(), 0, "an agent exited; see its agent.log");
    Row {
        agents: n,
        load,
        rss_mib_median,
        bring_up,
        current_at,
        storm,
        profile_bytes,
        cpu,
    }
}

/// `12.3 s`, or `—` for a mark not reached.
fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
}

fn print_header() {
    println!(
        "| agents | load before | agent RSS (median) | bring-up | return → ½, 9⁄10, all entries current | requests/agent (mean; max of one node's named ones) | lists | watches | status patches | probes | 429s | sent again before Retry-After (of 429s naming a node) | double CPU (s; mean; peak cores) | profile object |"
    );
    println!(
        "| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: |"
    );
}

fn print_row(r: &Row) {
    let s = &r.storm;
    let k = |name: &str| s.by_kind.get(name).copied().unwrap_or(0);
    println!(
        "| {} | {} | {:.1} MiB | {:.1} s | {}, {}, {} | {:.1}; {} | {} | {} | {} | {} | {} | {} ({}) | {:.2}; {:.2}; {:.2} | {:.0} KiB |",
        r.agents,
        r.load,
        r.rss_mib_median,
        r.bring_up.as_secs_f64(),
        seconds(r.current_at[0]),
        seconds(r.current_at[1]),
        seconds(r.current_at[2]),
        s.requests as f64 / r.agents as f64,
        s.per_node.values().max().copied().unwrap_or(0),
        k("list"),
        k("watch"),
        k("patch"),
        k("probe"),
        s.throttled,
        s.early_retries,
        s.throttled_attributed,
        r.cpu.0,
        r.cpu.1,
        r.cpu.2,
        r.profile_bytes as f64 / 1024.0,
    );
}

fn main() {
    let sizes: String = knob("TETHER_FLEET_SIZES", "50,100,300".to_owned());
    let cut = Duration::from_secs(knob("TETHER_FLEET_CUT_SECS", 20));
    let storm_limit = Duration::from_secs(knob("TETHER_FLEET_STORM_LIMIT_SECS", 180));
    let seats: usize = knob("TETHER_FLEET_SEATS", 24);
    let qps: f64 = knob("TETHER_FLEET_QPS", 0.0);
    let limit = FlowLimit {
        max_in_flight: seats,
        qps: if qps > 0.0 { qps } else { 1e9 },
        burst: if qps > 0.0 { qps } else { 1e9 },
    };
    println!(
        "fleet: sizes {sizes}, cut {}s, {seats} seats, qps {}",
        cut.as_secs(),
        if qps > 0.0 {
            qps.to_string()
        } else {
            "unlimited".into()
        }
    );
    print_header();
    for n in sizes.split(',').map(|s| s.trim().parse::<usize>().unwrap()) {
        let row = run(n, cut, storm_limit, limit);
        eprintln!(
            "{n} agents: every entry current {} after the link returned",
            seconds(row.current_at[2])
        );
        print_row(&row);
    }
}
