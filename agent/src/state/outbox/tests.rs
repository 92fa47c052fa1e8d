//! The outbox against a fake sink: coalescing, persistence across a restart, the bound, dropping
//! refused writes and the flusher's backoff.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

#[derive(Default)]
struct FakeApi {
    attempts: std::sync::atomic::AtomicUsize,
    online: AtomicBool,
    refuse: AtomicBool,
    got: Mutex<Vec<Write>>,
}

impl Sink for &FakeApi {
    async fn deliver(&self, write: &Write) -> Result<(), Failure> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if !self.online.load(Ordering::SeqCst) {
            return Err(Failure::Retry("unreachable".into()));
        }
        if self.refuse.load(Ordering::SeqCst) {
            return Err(Failure::Drop("404".into()));
        }
        self.got.lock().unwrap().push(write.clone());
        Ok(())
    }
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

#[tokio::test]
async fn queued_offline_survives_restart_and_flushes_in_order_when_online() {
    let dir = tempfile::tempdir().unwrap();
    let path = Outbox::path(dir.path());
    let api = FakeApi::default();
    let (outbox, err) = Outbox::open(&path, 10, Arc::new(Metrics::default()));
    assert!(err.is_none());
    outbox.push(status("a", 1));
    outbox.push(event("p1"));
    outbox.push(status("a", 2));
    assert!(!outbox.flush_once(&&api).await);
    drop(outbox);
    let (reopened, err) = Outbox::open(&path, 10, Arc::new(Metrics::default()));
    assert!(err.is_none());
    assert_eq!(
        reopened.pending(),
        vec![event("p1"), status("a", 2)],
        "coalesced by key, newest value, in order"
    );
    api.online.store(true, Ordering::SeqCst);
    assert!(reopened.flush_once(&&api).await);
    assert_eq!(*api.got.lock().unwrap(), vec![event("p1"), status("a", 2)]);
    let (empty, _) = Outbox::open(&path, 10, Arc::new(Metrics::default()));
    assert!(
        empty.pending().is_empty(),
        "delivered writes are gone from disk too"
    );
}

#[tokio::test]
async fn a_write_equal_to_the_last_delivered_is_not_queued_again() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::default();
    api.online.store(true, Ordering::SeqCst);
    let (outbox, _) = Outbox::open(&Outbox::path(dir.path()), 10, Arc::new(Metrics::default()));
    outbox.push(status("a", 1));
    outbox.flush_once(&&api).await;
    outbox.push(status("a", 1));
    assert!(outbox.pending().is_empty());
    outbox.push(status("a", 2));
    assert_eq!(outbox.pending().len(), 1);
    outbox.push(event("p"));
    outbox.flush_once(&&api).await;
    assert_eq!(
        outbox.delivered.lock().unwrap().len(),
        1,
        "delivered Events are not remembered"
    );
}

#[tokio::test]
async fn refused_writes_are_dropped_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeApi::default();
    api.online.store(true, Ordering::SeqCst);
    api.refuse.store(true, Ordering::SeqCst);
    let (outbox, _) = Outbox::open(&Outbox::path(dir.path()), 10, Arc::new(Metrics::default()));
    outbox.push(status("gone", 1));
    assert!(outbox.flush_once(&&api).await);
    assert!(outbox.pending().is_empty());
}

#[test]
fn the_bound_drops_the_oldest_event_first() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let (outbox, _) = Outbox::open(&Outbox::path(dir.path()), 3, metrics.clone());
    outbox.push(status("a", 1));
    outbox.push(event("p1"));
    outbox.push(event("p2"));
    outbox.push(status("b", 1));
    assert_eq!(
        outbox.pending(),
        vec![status("a", 1), event("p2"), status("b", 1)]
    );
    assert_eq!(metrics.outbox_dropped.get(), 1);
    outbox.push(status("a", 5));
    assert_eq!(outbox.pending().len(), 3, "replacing a key needs no room");
}

#[test]
fn a_damaged_outbox_is_reported_and_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = Outbox::path(dir.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"TETHER-AGENT-OUTBOX v1 99 00\n{}").unwrap();
    let (outbox, err) = Outbox::open(&path, 10, Arc::new(Metrics::default()));
    assert!(matches!(err, Some(FrameError::Length { .. })));
    assert!(outbox.pending().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_flusher_backs_off_while_offline_whatever_is_pushed_and_delivers_when_back() {
    let dir = tempfile::tempdir().unwrap();
    let api: &'static FakeApi = Box::leak(Box::default());
    let (outbox, _) = Outbox::open(
        &Outbox::path(dir.path()),
        1000,
        Arc::new(Metrics::default()),
    );
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
    assert_eq!(
        api.attempts.load(Ordering::SeqCst),
        2,
        "retried after 1 s, then backs off 2 s"
    );
    api.online.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(api.got.lock().unwrap().len(), 100);
    assert!(outbox.pending().is_empty());
    stop.send(true).unwrap();
    flusher.await.unwrap();
}
