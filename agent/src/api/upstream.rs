//! What answers the agent's API requests: the API server, or yurthub's cache while the node is
//! cut off. Behind yurthub a cut-off node still gets 200s and 201s, so the agent judges by what
//! the answers prove ([`Upstream`], kept in the store because it decides answers' `source`):
//!
//! - proof of the API server: a write confirmed ([`crate::api::report`]), a watch event or
//!   bookmark ([`crate::api::watches`]), `GET /api` answered 200 or 429;
//! - signs of yurthub's cache: a write acknowledged but not applied, a watch silent until its
//!   timeout, `GET /api` refused with 400 (yurthub's local proxy serves no non-resource
//!   request);
//! - signs of a dead link: `GET /api` failing to connect or answered 5xx (yurthub's 502
//!   between a cut and its switch to the cache).
//!
//! The probe is `GET /api`, the core group's discovery document, not `/version`: yurthub
//! answers `/version` itself, from the cloud while healthy and from a saved copy offline
//! (`nonresourcerequest/nonresource.go`), so a 200 there proves nothing.
//!
//! The [`Monitor`] records each verdict, logs and counts the changes
//! (`tether_agent_upstream{state}`), and probes: at start, when a watch fails or goes silent,
//! when a delivery fails, and every 1–4 s while the upstream is not the API server, so that the
//! way back is noticed within seconds and the outbox retries at once. The intervals are
//! jittered (each drawn from the upper half of its nominal value): nodes cut off by one outage
//! would otherwise probe in step, and all see the API server return in the same instant.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::{Notify, watch};

use crate::backoff::{Backoff, Jitter};
use crate::metrics::Metrics;
use crate::state::outbox::Outbox;
use crate::state::records::Upstream;
use crate::state::store::Store;

/// Probe intervals while cut off (yurthub switches back 10–20 s after the link returns). While
/// cut off the probe is answered by yurthub on the node, not by the cloud.
const PROBE_CUT_OFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(4));
/// Probe intervals while the probe cannot tell (e.g. `/api` answers 404).
const PROBE_UNKNOWN: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// Records verdicts about the upstream and probes it.
pub struct Monitor {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    outbox: Option<Arc<Outbox>>,
    probe: Notify,
}

/// The probe's path: the core group's discovery document, which every authenticated user may
/// read (bootstrap ClusterRole `system:discovery`) and yurthub serves only from the cloud.
pub const PROBE_PATH: &str = "/api";

/// What an answer to [`PROBE_PATH`] says about the upstream; `None` when it cannot tell.
pub fn judge_probe<T>(result: &Result<T, kube::Error>) -> Option<Upstream> {
    match result {
        Ok(_) => Some(Upstream::ApiServer),
        // yurthub's local proxy: "request(...) is not supported when cluster is unhealthy".
        Err(kube::Error::Api(s)) if s.code == 400 => Some(Upstream::YurthubCache),
        // Only the API server's priority and fairness answers 429; yurthub v1.7 never does.
        Err(kube::Error::Api(s)) if s.code == 429 => Some(Upstream::ApiServer),
        Err(kube::Error::Api(s)) if s.code >= 500 => Some(Upstream::Unreachable),
        Err(kube::Error::Api(_)) | Err(kube::Error::SerdeError(_)) => None,
        // Connection refused or reset, TLS, timeouts: nothing answered.
        Err(_) => Some(Upstream::Unreachable),
    }
}

impl Monitor {
    /// A monitor; `outbox` is told to retry at once when the API server answers again.
    pub fn new(store: Arc<Store>, metrics: Arc<Metrics>, outbox: Option<Arc<Outbox>>) -> Arc<Self> {
        let m = Arc::new(Self {
            store,
            metrics,
            outbox,
            probe: Notify::new(),
        });
        m.export(m.store.upstream());
        m
    }

    fn export(&self, now: Upstream) {
        for state in Upstream::ALL {
            self.metrics
                .upstream
                .get_or_create(&[("state", state.as_str())])
                .set(i64::from(state == now));
        }
    }

    /// Records a verdict; a change is logged, exported and, back to the API server, makes the
    /// outbox retry at once; away from it, asks the probe to confirm and look for the way back.
    pub fn observe(&self, now: Upstream, why: &str) {
        if self.record(now, why) && now != Upstream::ApiServer {
            self.request_probe();
        }
    }

    /// Records a verdict; returns whether it changed anything.
    fn record(&self, now: Upstream, why: &str) -> bool {
        let before = self.store.set_upstream(now);
        if before == now {
            return false;
        }
        self.export(now);
        match now {
            Upstream::ApiServer => {
                tracing::info!(
                    from = before.as_str(),
                    why,
                    "the API server answers: writes are delivered, answers are live again"
                );
                if let Some(outbox) = &self.outbox {
                    outbox.retry_now();
                }
            }
            Upstream::YurthubCache => {
                tracing::warn!(
                    from = before.as_str(),
                    why,
                    "answered from yurthub's cache: writes stay queued until the API server confirms them, answers are `source: cache`"
                );
            }
            Upstream::Unreachable => {
                tracing::warn!(
                    from = before.as_str(),
                    why,
                    "the API is unreachable: writes stay queued, answers are `source: cache`"
                );
            }
            Upstream::Unknown => {}
        }
        true
    }

    /// The current verdict.
    pub fn upstream(&self) -> Upstream {
        self.store.upstream()
    }

    /// Asks for a probe now (a watch failed, a delivery failed).
    pub fn request_probe(&self) {
        self.probe.notify_one();
    }

    /// A watch of `resource` ended at its timeout without an event or bookmark: what a watch
    /// served by yurthub's cache does.
    pub fn silent_watch(&self, resource: &'static str) {
        self.metrics
            .watches_silent
            .get_or_create(&[("resource", resource)])
            .inc();
        self.observe(
            Upstream::YurthubCache,
            &format!("the {resource} watch stayed silent until its timeout"),
        );
    }

    /// Probes `GET /api` at start and whenever asked, and keeps probing while the upstream is
    /// not known to be the API server. Runs until `stopped` turns true.
    pub async fn run(self: Arc<Self>, client: Client, stopped: watch::Receiver<bool>) {
        self.run_with(client, stopped, Jitter::from_entropy()).await;
    }

    /// [`Monitor::run`], its intervals drawn from `jitter`.
    pub async fn run_with(
        self: Arc<Self>,
        client: Client,
        mut stopped: watch::Receiver<bool>,
        mut jitter: Jitter,
    ) {
        let mut cut_off = Backoff::jittered(PROBE_CUT_OFF.0, PROBE_CUT_OFF.1, jitter.fork());
        let mut unknown = Backoff::jittered(PROBE_UNKNOWN.0, PROBE_UNKNOWN.1, jitter.fork());
        loop {
            let result = match http::Request::get(PROBE_PATH).body(Vec::new()) {
                Ok(request) => client.request_text(request).await,
                Err(e) => Err(kube::Error::HttpError(e)),
            };
            match judge_probe(&result) {
                Some(verdict) => {
                    self.record(verdict, "GET /api");
                }
                None => {
                    if let Err(e) = &result {
                        tracing::debug!(error = %e, "GET /api tells nothing about the upstream");
                    }
                }
            }
            let wait = match self.store.upstream() {
                Upstream::ApiServer => {
                    cut_off.reset();
                    unknown.reset();
                    None
                }
                Upstream::YurthubCache | Upstream::Unreachable => Some(cut_off.next_wait()),
                Upstream::Unknown => Some(unknown.next_wait()),
            };
            tokio::select! {
                _ = self.probe.notified() => {}
                _ = sleep_or_forever(wait) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
