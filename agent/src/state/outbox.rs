//! The outbox: writes to the API server (Events, status entries) queued on disk while the
//! cloud is unreachable and flushed when it returns.
//!
//! Writes are keyed; a newer write with the same key replaces the queued one (coalescing), and
//! a status write equal to the last one delivered under its key is dropped. The queue is bounded:
//! when full, the oldest Event goes first (status entries are recomputed from the store anyway).
//! The flusher persists the queue before each delivery attempt and the agent persists it on
//! shutdown, so nothing queued is lost across a restart.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::metrics::Metrics;
use crate::profile::crd::NodeStatus;
use crate::state::framed::{self, FrameError};

const MAGIC: &str = "TETHER-AGENT-OUTBOX";
const FORMAT_VERSION: u32 = 1;

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
    /// The coalescing key.
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
                format!("event/{namespace}/{pod_name}/{pod_uid}/{profile}/{generation}")
            }
            Write::NodeStatus { profile, .. } => format!("status/{profile}"),
        }
    }
}

/// How a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Try again later (unreachable, 5xx).
    Retry(String),
    /// The API server refused it for good (e.g. the profile is gone); drop it.
    Drop(String),
}

/// Where writes are delivered.
pub trait Sink: Send + Sync {
    /// Delivers one write.
    fn deliver(&self, write: &Write) -> impl Future<Output = Result<(), Failure>> + Send;
}

#[derive(Default, Serialize, Deserialize)]
struct Queue {
    next: u64,
    entries: BTreeMap<String, (u64, Write)>,
}

/// The queue, its file and the last write delivered under each key.
pub struct Outbox {
    path: PathBuf,
    limit: usize,
    queue: Mutex<Queue>,
    delivered: Mutex<HashMap<String, Write>>,
    wake: Notify,
    metrics: Arc<Metrics>,
}

impl Outbox {
    /// Opens the outbox at `path`, loading what a previous run left. A damaged file is
    /// returned as the error next to an empty outbox, for the caller to report.
    pub fn open(
        path: &Path,
        limit: usize,
        metrics: Arc<Metrics>,
    ) -> (Arc<Self>, Option<FrameError>) {
        let (queue, error) = match framed::read::<Queue>(path, MAGIC, FORMAT_VERSION) {
            Ok(q) => (q.unwrap_or_default(), None),
            Err(e) => (Queue::default(), Some(e)),
        };
        metrics
            .outbox_depth
            .set(i64::try_from(queue.entries.len()).unwrap_or(i64::MAX));
        let outbox = Self {
            path: path.to_owned(),
            limit: limit.max(1),
            queue: Mutex::new(queue),
            delivered: Mutex::default(),
            wake: Notify::new(),
            metrics,
        };
        (Arc::new(outbox), error)
    }

    /// Path of the outbox file under a state directory.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("outbox").join("outbox.v1")
    }

    /// Queues a write, replacing a queued one with the same key.
    pub fn push(&self, write: Write) {
        let key = write.key();
        if self
            .delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            == Some(&write)
        {
            return;
        }
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if !q.entries.contains_key(&key) && q.entries.len() >= self.limit {
            let victim = q
                .entries
                .iter()
                .min_by_key(|(_, (seq, w))| (!matches!(w, Write::ProfileApplied { .. }), *seq))
                .map(|(k, _)| k.clone());
            if let Some(victim) = victim {
                q.entries.remove(&victim);
                self.metrics.outbox_dropped.inc();
            }
        }
        let seq = q.next;
        q.next += 1;
        q.entries.insert(key, (seq, write));
        self.metrics
            .outbox_depth
            .set(i64::try_from(q.entries.len()).unwrap_or(i64::MAX));
        drop(q);
        self.wake.notify_one();
    }

    /// Queued writes, oldest first.
    pub fn pending(&self) -> Vec<Write> {
        let q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<&(u64, Write)> = q.entries.values().collect();
        v.sort_by_key(|(seq, _)| *seq);
        v.into_iter().map(|(_, w)| w.clone()).collect()
    }

    /// Writes the queue to disk.
    pub fn persist(&self) -> Result<(), FrameError> {
        let q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        framed::write(&self.path, MAGIC, FORMAT_VERSION, &*q)
    }

    fn settle(&self, write: &Write, delivered: bool) {
        let key = write.key();
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        // Only remove what was sent; a newer write under the key stays queued.
        if q.entries.get(&key).is_some_and(|(_, w)| w == write) {
            q.entries.remove(&key);
        }
        self.metrics
            .outbox_depth
            .set(i64::try_from(q.entries.len()).unwrap_or(i64::MAX));
        drop(q);
        // Only status keys are remembered: they are few (one per profile) and recomputed on
        // every store change. Event keys are unique per pod, so remembering them would grow
        // without bound; a resent Event is recognised by its stable name (409) instead.
        if delivered && matches!(write, Write::NodeStatus { .. }) {
            self.delivered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, write.clone());
        }
    }

    /// One pass: persists, then delivers in order until a write must be retried.
    /// Returns whether the queue was emptied.
    pub async fn flush_once(&self, sink: &impl Sink) -> bool {
        if let Err(e) = self.persist() {
            tracing::warn!(error = %e, "persisting the outbox failed");
        }
        for write in self.pending() {
            match sink.deliver(&write).await {
                Ok(()) => self.settle(&write, true),
                Err(Failure::Drop(why)) => {
                    tracing::warn!(key = %write.key(), why, "API server refused a write; dropped");
                    self.settle(&write, false);
                }
                Err(Failure::Retry(why)) => {
                    tracing::debug!(key = %write.key(), why, "write deferred");
                    return false;
                }
            }
        }
        if let Err(e) = self.persist() {
            tracing::warn!(error = %e, "persisting the outbox failed");
        }
        true
    }

    /// Flushes whenever writes arrive, backing off from 1 s to 60 s while the API server is
    /// unreachable, until `shutdown` turns true; then persists.
    pub async fn run(self: Arc<Self>, sink: impl Sink, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            if self.flush_once(&sink).await {
                backoff = Duration::from_secs(1);
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
            } else {
                // New writes do not cut a backoff short: the API server is what we wait for.
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
        if let Err(e) = self.persist() {
            tracing::warn!(error = %e, "persisting the outbox at shutdown failed");
        }
    }
}

#[cfg(test)]
mod tests;
