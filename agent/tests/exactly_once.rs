//! Exactly once, end to end, on the real binary against `tether-sim`'s API double loaded with
//! `deploy/`: ADDs over the agent's socket while it is SIGKILLed at random moments (seeded) and
//! restarted, with profile changes in between. Afterwards every (pod, profile, generation) the
//! agent answered has exactly one Event in the API, the audit log shows exactly one 201 create
//! per Event and few 409s (at most one per kill: a delivery whose confirmation the agent did
//! not live to journal), and no start answered "no profile" for a pod a profile matches.
//!
//! Needs root (the agent serves uid 0 only on its socket): skipped with a message otherwise,
//! failed under `CI=true`. Traffic stays on the loopback.

#[path = "exactly_once/harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use harness::{Agent, Cluster, Rng, add, log_tail, root, wait_until};

/// SIGKILLs of the agent; each start lives 10–600 ms.
const KILLS: usize = 100;
const LIFE_MS: (u64, u64) = (10, 600);
const PODS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_means_reported_exactly_once_across_sigkill_at_any_moment() {
    if !root() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), PODS).await;
    let rt = tokio::runtime::Handle::current();
    let dir_path = dir.path().to_owned();
    let cluster = std::sync::Arc::new(cluster);
    let c = cluster.clone();
    let (answered, no_profile, adds) = tokio::task::spawn_blocking(move || {
        let mut rng = Rng::seeded(0x7e7e_4e11);
        let mut answered: BTreeSet<(String, String, String, i64)> = BTreeSet::new();
        let mut no_profile = Vec::new();
        let mut adds = 0u64;
        let mut mtu = 1400;
        let mut high = false;
        for kill in 0..KILLS {
            // Profile changes between starts: a new generation of `cam`, `cam-hi` coming and going.
            if kill % 7 == 3 {
                mtu += 1;
                rt.block_on(c.set_mtu(mtu));
            }
            if kill % 23 == 11 {
                high = !high;
                rt.block_on(c.set_high_profile(high));
            }
            let agent = Agent::start(&dir_path, &c.kubeconfig);
            let dies_at = Instant::now() + Duration::from_millis(rng.between(LIFE_MS.0, LIFE_MS.1));
            while Instant::now() < dies_at {
                let (pod, uid) = &c.pods[rng.between(0, PODS as u64 - 1) as usize];
                adds += 1;
                match add(&agent.socket, adds, pod, uid) {
                    Some(a) => match &a.profile {
                        Some(p) => {
                            answered.insert((
                                pod.clone(),
                                uid.clone(),
                                p.name.clone(),
                                p.generation,
                            ));
                        }
                        None => no_profile.push((kill, pod.clone(), a.source)),
                    },
                    // Not up yet (or the socket of the last one, killed): try again shortly.
                    None => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            agent.kill();
        }
        (answered, no_profile, adds)
    })
    .await
    .unwrap();
    assert!(
        no_profile.is_empty(),
        "answers without a profile for pods a profile matches (kill, pod, source): {no_profile:?}\n{}",
        log_tail(dir.path(), 40)
    );

    // A last start, left running: it delivers what the killed ones owed.
    let dir_path = dir.path().to_owned();
    let c = cluster.clone();
    let want = answered.clone();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let agent = Agent::start(&dir_path, &c.kubeconfig);
        wait_until(
            Duration::from_secs(60),
            "every answered Event in the API",
            || {
                let events = rt.block_on(c.agent_events());
                want.iter().all(|k| events.contains_key(k))
            },
        );
        wait_until(Duration::from_secs(30), "the outbox empty", || {
            agent
                .health()
                .is_some_and(|h| h["unconfirmedWrites"] == 0 && h["upstream"] == "api-server")
        });
        assert_eq!(agent.terminate(), 0);
    })
    .await
    .unwrap();

    let events = cluster.agent_events().await;
    let creates = cluster.event_creates();
    let created = creates.get(&201).copied().unwrap_or(0);
    let conflicts = creates.get(&409).copied().unwrap_or(0);
    eprintln!(
        "{KILLS} kills, {adds} ADDs, {} (pod, profile, generation) answered, {} Events, creates by code {creates:?}, {:.1} s",
        answered.len(),
        events.len(),
        started.elapsed().as_secs_f64()
    );
    let duplicated: Vec<_> = events.iter().filter(|(_, n)| **n != 1).collect();
    assert!(duplicated.is_empty(), "Events not unique: {duplicated:?}");
    let missing: Vec<_> = answered
        .iter()
        .filter(|k| !events.contains_key(*k))
        .collect();
    assert!(missing.is_empty(), "answered, never reported: {missing:?}");
    assert_eq!(
        created,
        events.len(),
        "exactly one 201 create per Event: {creates:?}"
    );
    assert!(
        conflicts <= KILLS,
        "{conflicts} creates answered 409 for {KILLS} kills: Events re-sent that were known to be delivered"
    );
    assert!(
        creates.keys().all(|code| [201, 409].contains(code)),
        "{creates:?}"
    );
    assert!(
        answered.len() >= PODS,
        "the test answered too little to prove anything: {answered:?}"
    );
}
