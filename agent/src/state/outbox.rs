//! The outbox: the writes the agent owes the API server (an Event per pod that got a profile,
//! this node's status entries), journaled on disk before anything relies on them and delivered
//! until the API server is proven to have applied them. Exactly once, across SIGKILL:
//!
//! - **Recorded before the answer leaves.** [`Outbox::push`] appends a `queued` record to the
//!   journal (`outbox/journal.v2`, [`crate::state::journal`]) with one `write(2)` before the
//!   socket answers the ADD that owes the Event, so an answered pod's Event survives the
//!   agent's death at any moment after the answer.
//! - **Confirmed, not acknowledged.** A write leaves the queue only when the [`Sink`] says
//!   the API server applied it ([`Outcome::Confirmed`]) or refused it for good; an answer
//!   that proves nothing (yurthub's cache acknowledging a write it will never forward) keeps it
//!   queued and the flusher backs off. Each settlement is journaled at once.
//! - **Never twice.** The keys of confirmed Events are kept (journaled, bounded to the newest
//!   [`CONFIRMED_KEPT`]), and an Event already queued or confirmed is not queued again: twenty
//!   ADDs of one pod owe one Event. The only resend is a write whose confirmation the agent did
//!   not live to journal; its Event name is deterministic, so the API server answers 409 and
//!   that counts as confirmed.
//!
//! Writes are keyed; a status entry replaces the one queued under its key (coalescing), and one
//! equal to the last confirmed is dropped. The queue is bounded: when full, the oldest Event
//! goes first (status entries are recomputed from the store anyway), counted in
//! `tether_agent_outbox_dropped_total`. The journal is compacted by the flusher when it holds
//! more than twice what is live, and at a clean stop.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::backoff::Backoff;
use crate::metrics::Metrics;
use crate::profile::crd::NodeStatus;
use crate::state::framed::{self, FrameError};
use crate::state::journal::{self, Damage, Journal};

const MAGIC: &str = "TETHER-AGENT-OUTBOX";
/// Version 1 was a framed snapshot (`outbox/outbox.v1`), rewritten before each delivery pass;
/// version 2 is the journal. A v1 file left by an older agent is read once and removed.
const FORMAT_VERSION: u32 = 2;
/// Confirmed Event keys kept to refuse requeueing them; older ones are forgotten (a resend of
/// a forgotten one is answered 409 and counts as confirmed).
pub const CONFIRMED_KEPT: usize = 4096;
/// How every Event key starts.
const EVENT_KEY_PREFIX: &str = "event/";
/// First and longest wait between delivery passes while the API server is not confirming.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// One write the agent owes the API server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Write {
    /// An events.k8s.io/v1 Event about a pod that got a profile.
    #[serde(rename_all = "camelCase")]
    ProfileApplied {
        /// Namespace of the pod (and of the Event).
        namespace: String,
        /// The pod.
        pod_name: String,
        /// Its uid.
        pod_uid: String,
        /// The profile applied.
        profile: String,
        /// Its generation.
        generation: i64,
        /// What was applied, for humans.
        note: String,
        /// When it was applied (RFC 3339).
        time: String,
    },
    /// This node's entry in a profile's `status.nodes`.
    #[serde(rename_all = "camelCase")]
    NodeStatus {
        /// The profile.
        profile: String,
        /// The entry.
        status: NodeStatus,
    },
}

impl Write {
    /// The coalescing key; an Event's is also what its name is derived from.
    pub fn key(&self) -> String {
        match self {
            Write::ProfileApplied {
                namespace,
                pod_name,
                pod_uid,
                profile,
                generation,
                ..
            } => {
                format!("{EVENT_KEY_PREFIX}{namespace}/{pod_name}/{pod_uid}/{profile}/{generation}")
            }
            Write::NodeStatus { profile, .. } => format!("status/{profile}"),
        }
    }

    /// `event` or `status`: the `kind` label of the write metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Write::ProfileApplied { .. } => "event",
            Write::NodeStatus { .. } => "status",
        }
    }
}

/// What delivering one write proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The API server applied it (or, for an Event, already had it: 409).
    Confirmed,
    /// Answered 2xx, but the answer does not show the API server applied it: yurthub's cache
    /// acknowledged it and dropped it. Kept and retried.
    Unconfirmed(String),
    /// Not answered, or answered 5xx: kept and retried.
    Retry(String),
    /// The API server refused it for good (e.g. the profile is gone): dropped.
    Refused(String),
}

/// Where writes are delivered.
pub trait Sink: Send + Sync {
    /// Delivers one write and says what the answer proves.
    fn deliver(&self, write: &Write) -> impl Future<Output = Outcome> + Send;
}

/// A journal record, as read back.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
enum Record {
    /// A write owed; replaces one queued under the same key.
    Queued { seq: u64, write: Write },
    /// The write queued as `seq` under `key` is settled: confirmed by the API server, or
    /// dropped (refused for good, or pushed out by the bound).
    Settled {
        seq: u64,
        key: String,
        confirmed: bool,
    },
    /// (snapshots) An Event the API server has.
    Confirmed { key: String },
    /// (snapshots) The next sequence number.
    Next { seq: u64 },
}

/// A journal record, as written (borrowing, so the hot path copies nothing).
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "camelCase")]
enum RecordRef<'a> {
    Queued {
        seq: u64,
        write: &'a Write,
    },
    Settled {
        seq: u64,
        key: &'a str,
        confirmed: bool,
    },
    Confirmed {
        key: &'a str,
    },
    Next {
        seq: u64,
    },
}

/// What went wrong opening the outbox; the outbox works all the same.
#[derive(Debug, thiserror::Error)]
pub enum OpenTrouble {
    /// Part of the journal was damaged; see [`Damage`] for what was done.
    #[error("outbox journal {path}: {damage}")]
    Damaged {
        /// The journal.
        path: PathBuf,
        /// What was found and done.
        damage: Damage,
    },
    /// The journal cannot be used at all: writes are kept in memory only.
    #[error("outbox journal {path} unusable, writes are kept in memory only: {source}")]
    Unusable {
        /// The journal.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A v1 outbox left by an older agent could not be read; it was moved aside.
    #[error("older outbox ignored: {0}")]
    Legacy(FrameError),
}

/// The v1 file's payload, read once to migrate it.
#[derive(Deserialize)]
struct LegacyQueue {
    entries: BTreeMap<String, (u64, Write)>,
}

#[derive(Default)]
struct State {
    next: u64,
    pending: BTreeMap<String, (u64, Write)>,
    confirmed: HashSet<String>,
    confirmed_order: VecDeque<String>,
    /// The last status entry confirmed under each key (few: one per profile).
    delivered: HashMap<String, Write>,
    journal: Option<Journal>,
}

impl State {
    fn confirm_key(&mut self, key: String, kept: usize) {
        if self.confirmed.insert(key.clone()) {
            self.confirmed_order.push_back(key);
        }
        while self.confirmed_order.len() > kept {
            if let Some(old) = self.confirmed_order.pop_front() {
                self.confirmed.remove(&old);
            }
        }
    }

    fn replay(&mut self, record: Record, kept: usize) {
        match record {
            Record::Queued { seq, write } => {
                self.next = self.next.max(seq + 1);
                let key = write.key();
                if !self.confirmed.contains(&key) {
                    self.pending.insert(key, (seq, write));
                }
            }
            Record::Settled {
                seq,
                key,
                confirmed,
            } => {
                if self.pending.get(&key).is_some_and(|(s, _)| *s == seq) {
                    self.pending.remove(&key);
                }
                // Status confirmations are not kept across restarts: the store's profiles say
                // what the API server has, and the status loop compares against them.
                if confirmed && key.starts_with(EVENT_KEY_PREFIX) {
                    self.confirm_key(key, kept);
                }
            }
            Record::Confirmed { key } => self.confirm_key(key, kept),
            Record::Next { seq } => self.next = self.next.max(seq),
        }
    }
}

/// The queue, its journal and what was confirmed.
pub struct Outbox {
    limit: usize,
    kept: usize,
    state: Mutex<State>,
    /// Held for a whole compaction, so two never interleave.
    compacting: Mutex<()>,
    wake: Notify,
    retry: Notify,
    metrics: Arc<Metrics>,
}

impl Outbox {
    /// Path of the journal under a state directory.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("outbox").join("journal.v2")
    }

    /// Opens the outbox whose journal is at `path`, replaying what a previous run left (and
    /// migrating a v1 `outbox.v1` beside it). What was damaged is returned for the caller to
    /// report; the outbox is usable whatever happened.
    pub fn open(path: &Path, limit: usize, metrics: Arc<Metrics>) -> (Arc<Self>, Vec<OpenTrouble>) {
        Self::open_keeping(path, limit, CONFIRMED_KEPT, metrics)
    }

    /// [`Outbox::open`] keeping `kept` confirmed Event keys.
    pub fn open_keeping(
        path: &Path,
        limit: usize,
        kept: usize,
        metrics: Arc<Metrics>,
    ) -> (Arc<Self>, Vec<OpenTrouble>) {
        let mut troubles = Vec::new();
        let mut state = State::default();
        match Journal::open::<Record>(path, MAGIC, FORMAT_VERSION) {
            Ok((journal, records, damage)) => {
                for r in records {
                    state.replay(r, kept.max(1));
                }
                troubles.extend(damage.into_iter().map(|damage| OpenTrouble::Damaged {
                    path: path.to_owned(),
                    damage,
                }));
                state.journal = Some(journal);
            }
            Err(source) => {
                metrics.outbox_journal_errors.inc();
                troubles.push(OpenTrouble::Unusable {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let outbox = Arc::new(Self {
            limit: limit.max(1),
            kept: kept.max(1),
            state: Mutex::new(state),
            compacting: Mutex::new(()),
            wake: Notify::new(),
            retry: Notify::new(),
            metrics,
        });
        if let Some(legacy) = path.parent().map(|d| d.join("outbox.v1"))
            && legacy.exists()
        {
            outbox.migrate(&legacy, &mut troubles);
        }
        outbox.update_depth(&outbox.lock());
        (outbox, troubles)
    }

    fn migrate(&self, legacy: &Path, troubles: &mut Vec<OpenTrouble>) {
        match framed::read::<LegacyQueue>(legacy, MAGIC, 1) {
            Ok(None) => {}
            Ok(Some(q)) => {
                let mut writes: Vec<(u64, Write)> = q.entries.into_values().collect();
                writes.sort_by_key(|(seq, _)| *seq);
                for (_, w) in writes {
                    self.push(w);
                }
                let _ = std::fs::remove_file(legacy);
            }
            Err(e) => {
                let mut aside = legacy.as_os_str().to_owned();
                aside.push(".damaged");
                let _ = std::fs::rename(legacy, aside);
                troubles.push(OpenTrouble::Legacy(e));
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update_depth(&self, st: &State) {
        self.metrics
            .outbox_depth
            .set(i64::try_from(st.pending.len()).unwrap_or(i64::MAX));
    }

    fn journal(&self, st: &mut State, record: &RecordRef<'_>) {
        if let Some(j) = st.journal.as_mut()
            && let Err(e) = j.append(record)
        {
            self.metrics.outbox_journal_errors.inc();
            tracing::error!(error = %e, path = %j.path().display(), "appending to the outbox journal failed; the write is kept in memory");
        }
    }

    /// Queues a write unless it is already queued or confirmed, journaling it before
    /// returning. Returns whether it was queued.
    pub fn push(&self, write: Write) -> bool {
        let key = write.key();
        let mut st = self.lock();
        let known = match &write {
            Write::ProfileApplied { .. } => {
                st.confirmed.contains(&key) || st.pending.contains_key(&key)
            }
            Write::NodeStatus { .. } => {
                st.delivered.get(&key) == Some(&write)
                    || st.pending.get(&key).is_some_and(|(_, w)| *w == write)
            }
        };
        if known {
            return false;
        }
        if !st.pending.contains_key(&key) && st.pending.len() >= self.limit {
            let victim = st
                .pending
                .iter()
                .min_by_key(|(_, (seq, w))| (!matches!(w, Write::ProfileApplied { .. }), *seq))
                .map(|(k, (seq, _))| (k.clone(), *seq));
            if let Some((victim, seq)) = victim {
                st.pending.remove(&victim);
                self.journal(
                    &mut st,
                    &RecordRef::Settled {
                        seq,
                        key: &victim,
                        confirmed: false,
                    },
                );
                self.metrics.outbox_dropped.inc();
                tracing::warn!(key = %victim, "outbox full: oldest write dropped");
            }
        }
        let seq = st.next;
        st.next += 1;
        self.journal(&mut st, &RecordRef::Queued { seq, write: &write });
        st.pending.insert(key, (seq, write));
        self.update_depth(&st);
        drop(st);
        self.wake.notify_one();
        true
    }

    /// Queued writes, oldest first.
    pub fn pending(&self) -> Vec<Write> {
        let st = self.lock();
        let mut v: Vec<&(u64, Write)> = st.pending.values().collect();
        v.sort_by_key(|(seq, _)| *seq);
        v.into_iter().map(|(_, w)| w.clone()).collect()
    }

    /// How many writes are queued.
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the Event under `key` is known to be in the API server.
    pub fn is_confirmed(&self, key: &str) -> bool {
        self.lock().confirmed.contains(key)
    }

    fn oldest(&self) -> Option<(u64, Write)> {
        let st = self.lock();
        st.pending
            .values()
            .min_by_key(|(seq, _)| *seq)
            .map(|(seq, w)| (*seq, w.clone()))
    }

    fn settle(&self, seq: u64, write: &Write, confirmed: bool) {
        let key = write.key();
        let mut st = self.lock();
        // Only the write that was sent; a newer one under the key stays queued.
        if st.pending.get(&key).is_some_and(|(s, _)| *s == seq) {
            st.pending.remove(&key);
        }
        self.journal(
            &mut st,
            &RecordRef::Settled {
                seq,
                key: &key,
                confirmed,
            },
        );
        if confirmed {
            match write {
                Write::ProfileApplied { .. } => st.confirm_key(key, self.kept),
                Write::NodeStatus { .. } => {
                    st.delivered.insert(key, write.clone());
                }
            }
        }
        self.update_depth(&st);
    }

    /// One pass: delivers the oldest write until none is left (true) or one is not confirmed
    /// (false: the caller backs off).
    pub async fn flush_once(&self, sink: &impl Sink) -> bool {
        while let Some((seq, write)) = self.oldest() {
            let kind = write.kind();
            match sink.deliver(&write).await {
                Outcome::Confirmed => {
                    self.metrics
                        .writes_confirmed
                        .get_or_create(&[("kind", kind)])
                        .inc();
                    self.settle(seq, &write, true);
                }
                Outcome::Refused(why) => {
                    tracing::warn!(key = %write.key(), why, "API server refused a write; dropped");
                    self.settle(seq, &write, false);
                }
                Outcome::Unconfirmed(why) => {
                    self.metrics
                        .writes_unconfirmed
                        .get_or_create(&[("kind", kind)])
                        .inc();
                    tracing::debug!(key = %write.key(), why, "write acknowledged but not applied; kept");
                    return false;
                }
                Outcome::Retry(why) => {
                    tracing::debug!(key = %write.key(), why, "write deferred");
                    return false;
                }
            }
        }
        true
    }

    /// Cuts the flusher's backoff short: the API server is answering again.
    pub fn retry_now(&self) {
        self.retry.notify_one();
    }

    /// Resolves once [`Outbox::retry_now`] was called (tests of its callers).
    #[cfg(test)]
    pub async fn retry_notified(&self) {
        self.retry.notified().await;
    }

    /// Rewrites the journal as what is live now, fsynced (the one place the outbox fsyncs:
    /// a rename must not leave an empty journal after power loss). Appends wait only while
    /// the records appended meanwhile are copied over.
    pub fn compact(&self) -> std::io::Result<()> {
        let _one = self
            .compacting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (point, records) = {
            let st = self.lock();
            let Some(j) = st.journal.as_ref() else {
                return Ok(());
            };
            let mut pending: Vec<&(u64, Write)> = st.pending.values().collect();
            pending.sort_by_key(|(seq, _)| *seq);
            let mut records = Vec::with_capacity(st.confirmed_order.len() + pending.len() + 1);
            records.push(OwnedRecord::Next(st.next));
            records.extend(
                st.confirmed_order
                    .iter()
                    .cloned()
                    .map(OwnedRecord::Confirmed),
            );
            records.extend(
                pending
                    .into_iter()
                    .map(|(seq, w)| OwnedRecord::Queued(*seq, w.clone())),
            );
            (j.snapshot_point(), records)
        };
        let (path, header, covers) = point;
        let borrowed: Vec<RecordRef<'_>> = records.iter().map(OwnedRecord::as_ref).collect();
        let snapshot = Journal::write_snapshot(&path, &header, covers, borrowed.iter())?;
        let dir = {
            let mut st = self.lock();
            match st.journal.as_mut() {
                Some(j) => j.install_snapshot(snapshot)?,
                None => return Ok(()),
            }
        };
        journal::sync_dir(&dir)
    }

    /// Whether the journal holds more than twice what is live (and is worth compacting).
    fn needs_compaction(&self) -> bool {
        let st = self.lock();
        let live = st.pending.len() + st.confirmed_order.len() + 1;
        st.journal
            .as_ref()
            .is_some_and(|j| j.records() > 2 * live + 256)
    }

    fn compact_logged(&self) {
        if let Err(e) = self.compact() {
            self.metrics.outbox_journal_errors.inc();
            tracing::warn!(error = %e, "compacting the outbox journal failed");
        }
    }

    /// Flushes whenever writes arrive, backing off from 1 s to 60 s while writes are not
    /// confirmed (new writes do not cut a backoff short, [`Outbox::retry_now`] does), until
    /// `shutdown` turns true; then compacts the journal.
    pub async fn run(self: Arc<Self>, sink: impl Sink, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(BACKOFF.0, BACKOFF.1);
        loop {
            let emptied = self.flush_once(&sink).await;
            if self.needs_compaction() {
                let me = self.clone();
                let _ = tokio::task::spawn_blocking(move || me.compact_logged()).await;
            }
            if emptied {
                backoff.reset();
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = self.retry.notified() => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_wait()) => {}
                    _ = self.retry.notified() => backoff.reset(),
                    _ = shutdown.wait_for(|s| *s) => break,
                }
            }
        }
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.compact_logged()).await;
    }

    /// Compacts the journal (at a clean stop); appends are durable without it.
    pub fn persist(&self) -> std::io::Result<()> {
        self.compact()
    }
}

/// A snapshot record owned, so the snapshot can be written without the lock.
enum OwnedRecord {
    Next(u64),
    Confirmed(String),
    Queued(u64, Write),
}

impl OwnedRecord {
    fn as_ref(&self) -> RecordRef<'_> {
        match self {
            OwnedRecord::Next(seq) => RecordRef::Next { seq: *seq },
            OwnedRecord::Confirmed(key) => RecordRef::Confirmed { key },
            OwnedRecord::Queued(seq, write) => RecordRef::Queued { seq: *seq, write },
        }
    }
}

#[cfg(test)]
mod tests;
