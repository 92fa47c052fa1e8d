//! The outbox against a fake sink: exactly once across restarts (what is journaled before
//! `push` returns, what a settlement records, what is never queued twice), coalescing, the
//! bound, refusals, unconfirmed answers, the journal's damage cases as the outbox sees them,
//! compaction, the v1 migration and the flusher's backoff.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::*;

/// What the fake API answers.
#[derive(Default)]
struct FakeApi {
    attempts: AtomicUsize,
    online: AtomicBool,
    /// Answers as yurthub's cache does: acknowledged, not applied.
    cached: AtomicBool,
    refuse: AtomicBool,
    got: Mutex<Vec<Write>>,
}

impl Sink for &FakeApi {
    async fn deliver(&self, write: &Write) -> Outcome {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.cached.load(Ordering::SeqCst) {
            return Outcome::Unconfirmed("echo".into());
        }
        if !self.online.load(Ordering::SeqCst) {
            return Outcome::Retry("unreachable".into());
        }
        if self.refuse.load(Ordering::SeqCst) {
            return Outcome::Refused("404".into());
        }
        self.got.lock().unwrap().push(write.clone());
        Outcome::Confirmed
    }
}

fn online() -> FakeApi {
    let api = FakeApi::default();
    api.online.store(true, Ordering::SeqCst);
    api
}

fn status(profile: &str, matched: u32) -> Write {
    Write::NodeStatus {
        profile: profile.into(),
        status: NodeStatus {
            node_name: "edge-1".into(),
            matched_pods: matched,
            observed_generation: 1,
        },
    }
}

fn event(pod: &str) -> Write {
    Write::ProfileApplied {
        namespace: "ns".into(),
        pod_name: pod.into(),
        pod_uid: "u".into(),
        profile: "cam".into(),
        generation: 1,
        note: "n".into(),
        time: "2026-01-01T00:00:00Z".into(),
    }
}

fn open(dir: &Path, limit: usize) -> Arc<Outbox> {
    let (outbox, troubles) = Outbox::open(&Outbox::path(dir), limit, Arc::new(Metrics::default()));
    assert!(troubles.is_empty(), "{troubles:?}");
    outbox
}

#[test]
fn a_push_is_on_disk_when_it_returns_without_any_flush_or_persist() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(dir.path(), 10);
    assert!(outbox.push(event("p1")));
    assert!(outbox.push(status("a", 1)));
    // As after SIGKILL: the process state is gone, the journal is what is left.
    std::mem::forget(outbox);
    let reopened = open(dir.path(), 10);
    assert_eq!(reopened.pending(), vec![event("p1"), status("a", 1)]);
}

#[tokio::test]
async fn a_confirmed_event_is_never_queued_again_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let api = online();
    let outbox = open(dir.path(), 10);
    outbox.push(event("p"));
    assert!(!outbox.push(event("p")), "already queued: not queued twice");
    assert!(outbox.flush_once(&&api).await);
    assert!(outbox.is_confirmed(&event("p").key()));
    let mut later = event("p");
    if let Write::ProfileApplied { time, note, .. } = &mut later {
        *time = "2026-01-02T00:00:00Z".into();
        *note = "again".into();
    }
    assert!(!outbox.push(later.clone()), "confirmed: not queued again");
    std::mem::forget(outbox);
    let reopened = open(dir.path(), 10);
    assert!(
        !reopened.push(later),
        "the confirmed set survives the restart"
    );
    assert!(reopened.push(event("q")));
    assert_eq!(api.got.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn answers_that_prove_nothing_keep_the_write_queued_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let api = online();
    api.cached.store(true, Ordering::SeqCst);
    let metrics = Arc::new(Metrics::default());
    let (outbox, _) = Outbox::open(&Outbox::path(dir.path()), 10, metrics.clone());
    outbox.push(event("p1"));
    outbox.push(status("a", 1));
    assert!(!outbox.flush_once(&&api).await);
    assert_eq!(api.attempts.load(Ordering::SeqCst), 1, "stops at the first");
    assert_eq!(outbox.len(), 2);
    assert_eq!(
        metrics
            .writes_unconfirmed
            .get_or_create(&[("kind", "event")])
            .get(),
        1
    );
    std::mem::forget(outbox);
    let reopened = open(dir.path(), 10);
    assert_eq!(reopened.len(), 2);
    api.cached.store(false, Ordering::SeqCst);
    assert!(reopened.flush_once(&&api).await);
    assert_eq!(*api.got.lock().unwrap(), vec![event("p1"), status("a", 1)]);
    drop(reopened);
    assert!(open(dir.path(), 10).is_empty(), "settled on disk too");
}

#[tokio::test]
async fn status_entries_coalesce_and_one_equal_to_the_last_confirmed_is_not_queued() {
    let dir = tempfile::tempdir().unwrap();
    let api = online();
    let outbox = open(dir.path(), 10);
    outbox.push(status("a", 1));
    outbox.push(event("p1"));
    outbox.push(status("a", 2));
    assert_eq!(outbox.pending(), vec![event("p1"), status("a", 2)]);
    assert!(!outbox.push(status("a", 2)), "equal to the queued one");
    std::mem::forget(outbox);
    let outbox = open(dir.path(), 10);
    assert_eq!(
        outbox.pending(),
        vec![event("p1"), status("a", 2)],
        "coalesced on disk too"
    );
    outbox.flush_once(&&api).await;
    assert!(!outbox.push(status("a", 2)));
    assert!(outbox.push(status("a", 3)));
}

#[tokio::test]
async fn a_newer_write_pushed_during_a_delivery_stays_queued() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(dir.path(), 10);
    outbox.push(status("a", 1));
    let (seq, sent) = outbox.oldest().unwrap();
    outbox.push(status("a", 2));
    outbox.settle(seq, &sent, true);
    assert_eq!(outbox.pending(), vec![status("a", 2)]);
    std::mem::forget(outbox);
    assert_eq!(open(dir.path(), 10).pending(), vec![status("a", 2)]);
}

#[tokio::test]
async fn refused_writes_are_dropped_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let api = online();
    api.refuse.store(true, Ordering::SeqCst);
    let outbox = open(dir.path(), 10);
    outbox.push(status("gone", 1));
    assert!(outbox.flush_once(&&api).await);
    assert!(outbox.is_empty());
    std::mem::forget(outbox);
    assert!(open(dir.path(), 10).is_empty());
}

#[test]
fn the_bound_drops_the_oldest_event_first_on_disk_too() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let (outbox, _) = Outbox::open(&Outbox::path(dir.path()), 3, metrics.clone());
    outbox.push(status("a", 1));
    outbox.push(event("p1"));
    outbox.push(event("p2"));
    outbox.push(status("b", 1));
    let expected = vec![status("a", 1), event("p2"), status("b", 1)];
    assert_eq!(outbox.pending(), expected);
    assert_eq!(metrics.outbox_dropped.get(), 1);
    outbox.push(status("a", 5));
    assert_eq!(outbox.len(), 3, "replacing a key needs no room");
    std::mem::forget(outbox);
    let reopened = open(dir.path(), 3);
    assert_eq!(
        reopened.pending(),
        vec![event("p2"), status("b", 1), status("a", 5)]
    );
    assert!(reopened.push(event("p1")), "dropped is not confirmed");
}

#[test]
fn the_confirmed_set_is_bounded_keeping_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let path = Outbox::path(dir.path());
    let (outbox, _) = Outbox::open_keeping(&path, 10, 2, Arc::new(Metrics::default()));
    for pod in ["a", "b", "c"] {
        outbox.push(event(pod));
        let (seq, w) = outbox.oldest().unwrap();
        outbox.settle(seq, &w, true);
    }
    assert!(!outbox.is_confirmed(&event("a").key()));
    assert!(outbox.is_confirmed(&event("c").key()));
    drop(outbox);
    let (reopened, _) = Outbox::open_keeping(&path, 10, 2, Arc::new(Metrics::default()));
    assert!(!reopened.is_confirmed(&event("a").key()));
    assert!(reopened.is_confirmed(&event("b").key()) && reopened.is_confirmed(&event("c").key()));
}

#[tokio::test]
async fn compaction_keeps_exactly_what_is_live() {
    let dir = tempfile::tempdir().unwrap();
    let api = online();
    let outbox = open(dir.path(), 100);
    for i in 0..50 {
        outbox.push(event(&format!("p{i}")));
    }
    outbox.flush_once(&&api).await;
    outbox.push(event("q"));
    outbox.push(status("a", 1));
    let before = std::fs::metadata(Outbox::path(dir.path())).unwrap().len();
    outbox.compact().unwrap();
    let after = std::fs::metadata(Outbox::path(dir.path())).unwrap().len();
    assert!(after < before, "{after} < {before}");
    outbox.push(event("r"));
    std::mem::forget(outbox);
    let reopened = open(dir.path(), 100);
    assert_eq!(
        reopened.pending(),
        vec![event("q"), status("a", 1), event("r")]
    );
    assert!((0..50).all(|i| reopened.is_confirmed(&event(&format!("p{i}")).key())));
    assert!(!reopened.push(event("p7")));
    reopened.push(event("s"));
    let mut order = reopened.pending();
    order.retain(|w| matches!(w, Write::ProfileApplied { pod_name, .. } if pod_name == "s"));
    assert_eq!(
        order.len(),
        1,
        "sequence numbers continue after a compaction"
    );
    assert_eq!(reopened.pending().last(), Some(&event("s")));
}

#[test]
fn a_damaged_journal_keeps_what_can_be_read_and_says_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = Outbox::path(dir.path());
    let outbox = open(dir.path(), 10);
    outbox.push(event("p1"));
    outbox.push(event("p2"));
    outbox.push(event("p3"));
    drop(outbox);
    let text = std::fs::read_to_string(&path).unwrap();
    let torn = text.replacen("\"p2\"", "\"pX\"", 1) + "0123";
    std::fs::write(&path, torn).unwrap();
    let (outbox, troubles) = Outbox::open(&path, 10, Arc::new(Metrics::default()));
    assert_eq!(outbox.pending(), vec![event("p1"), event("p3")]);
    let said: Vec<String> = troubles.iter().map(ToString::to_string).collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(said[0].contains("line 3: checksum mismatch"), "{said:?}");
    assert!(said[1].contains("torn"), "{said:?}");
}

#[test]
fn a_foreign_journal_is_moved_aside_and_the_outbox_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = Outbox::path(dir.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"TETHER-AGENT-OUTBOX v9\n").unwrap();
    let (outbox, troubles) = Outbox::open(&path, 10, Arc::new(Metrics::default()));
    assert!(outbox.is_empty());
    assert!(
        matches!(
            &troubles[..],
            [OpenTrouble::Damaged {
                damage: Damage::Newer { found: 9, .. },
                ..
            }]
        ),
        "{troubles:?}"
    );
    assert!(outbox.push(event("p")));
}

#[test]
fn an_unwritable_state_dir_keeps_writes_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("outbox");
    std::fs::write(&blocker, b"a file where the directory should be").unwrap();
    let metrics = Arc::new(Metrics::default());
    let (outbox, troubles) = Outbox::open(&Outbox::path(dir.path()), 10, metrics.clone());
    assert!(
        matches!(&troubles[..], [OpenTrouble::Unusable { .. }]),
        "{troubles:?}"
    );
    assert!(outbox.push(event("p")));
    assert_eq!(outbox.len(), 1);
    assert_eq!(metrics.outbox_journal_errors.get(), 1);
}

#[test]
fn a_v1_outbox_left_by_an_older_agent_is_migrated_once() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("outbox").join("outbox.v1");
    let mut entries = BTreeMap::new();
    entries.insert(event("old").key(), (1u64, event("old")));
    entries.insert(status("a", 1).key(), (0u64, status("a", 1)));
    framed::write(
        &legacy,
        MAGIC,
        1,
        &serde_json::json!({"next": 2, "entries": entries}),
    )
    .unwrap();
    let outbox = open(dir.path(), 10);
    assert_eq!(outbox.pending(), vec![status("a", 1), event("old")]);
    assert!(!legacy.exists());
    drop(outbox);
    assert_eq!(open(dir.path(), 10).len(), 2, "journaled, not read twice");
}

#[tokio::test(start_paused = true)]
async fn the_flusher_backs_off_while_unconfirmed_and_retries_at_once_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let api: &'static FakeApi = Box::leak(Box::default());
    api.cached.store(true, Ordering::SeqCst);
    let outbox = open(dir.path(), 1000);
    let (stop, stopped) = watch::channel(false);
    let flusher = tokio::spawn(outbox.clone().run(api, stopped));
    outbox.push(event("p0"));
    let settle = || async {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    };
    settle().await;
    assert_eq!(api.attempts.load(Ordering::SeqCst), 1);
    for i in 1..100 {
        outbox.push(event(&format!("p{i}")));
    }
    tokio::time::advance(Duration::from_millis(900)).await;
    settle().await;
    assert_eq!(
        api.attempts.load(Ordering::SeqCst),
        1,
        "pushes do not cut the 1 s backoff short"
    );
    tokio::time::advance(Duration::from_millis(200)).await;
    settle().await;
    assert_eq!(api.attempts.load(Ordering::SeqCst), 2, "retried after 1 s");
    tokio::time::advance(Duration::from_millis(2100)).await;
    settle().await;
    assert_eq!(api.attempts.load(Ordering::SeqCst), 3, "then after 2 s");
    // The API server answers again: told so, the flusher does not sit out its 4 s.
    api.cached.store(false, Ordering::SeqCst);
    api.online.store(true, Ordering::SeqCst);
    outbox.retry_now();
    settle().await;
    assert_eq!(api.got.lock().unwrap().len(), 100);
    assert!(outbox.is_empty());
    stop.send(true).unwrap();
    flusher.await.unwrap();
}
