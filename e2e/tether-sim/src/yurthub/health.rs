//! Whether the cloud is healthy: yurthub renews the node's Lease
//! `kube-node-lease/<node>` itself, and that renewal is the probe
//! (`pkg/yurthub/healthchecker/cloudapiserver/{health_checker,prober,node_lease}.go`).
//!
//! - The first probe runs before yurthub serves and decides at once (`prober.go:72,130-162`).
//! - Then one probe every interval (`health_checker.go:119-139`); one failure makes the
//!   cloud unhealthy, `healthy_threshold` (2) successes in a row make it healthy again
//!   (`prober.go:130-162`), so the way back takes two probes.
//! - A probe updates the Lease up to `failed_retry` (3) times, re-reading it on a conflict;
//!   failing that, it reads (or creates) the Lease with backoff 200, 400, 800 ms and updates
//!   it once more (`node_lease.go:63-134`). Every request has the probe timeout (2 s).
//! - The renewed Lease is kept in the cache as kubelet's (`health_checker.go:141-175`).
//! - If kubelet renewed its own lease through yurthub once and then stops for longer than
//!   its grace period, the cloud counts as unhealthy (`prober.go:82-87,113-122`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference};
use kube::api::{Api, PostParams};
use tokio::time::MissedTickBehavior;

use super::hub::Hub;
use super::kinds::Gvr;

/// The Leases' namespace.
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// Removed from the Lease before each renewal (`health_checker.go:37,177-182`).
const DELEGATE_HEARTBEAT: &str = "openyurt.io/delegate-heartbeat";
/// The backoff of reading or creating the Lease doubles from this…
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// …and gives up beyond this (`node_lease.go:35-37,100-120`).
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The probe's two phases (`prober.go:30-33`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before serving: the result is the verdict.
    Init,
    /// Afterwards: recovering needs consecutive successes.
    Normal,
}

#[derive(Default)]
struct State {
    healthy_count: u32,
    latest_lease: Option<Lease>,
    kubelet_renewed: Option<Instant>,
    last_failure: Option<String>,
}

/// The verdict and what the probe remembers between runs.
#[derive(Default)]
pub struct Health {
    healthy: AtomicBool,
    state: Mutex<State>,
}

enum Failure {
    NotFound,
    Conflict,
    Other(String),
}

async fn call<T>(
    timeout: Duration,
    what: &str,
    f: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(timeout, f).await {
        Err(_) => Err(Failure::Other(format!(
            "{what}: timed out after {timeout:?}"
        ))),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => Err(Failure::NotFound),
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => Err(Failure::Conflict),
        Ok(Err(e)) => Err(Failure::Other(format!("{what}: {e}"))),
    }
}

impl Health {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The verdict.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Why the last failed probe failed (cleared by a success).
    pub fn last_failure(&self) -> Option<String> {
        self.state().last_failure.clone()
    }

    /// kubelet renewed its lease through yurthub (`proxy.go:228-234`).
    pub fn kubelet_renewed(&self) {
        self.state().kubelet_renewed = Some(Instant::now());
    }

    fn kubelet_stopped(&self, grace: Duration) -> bool {
        self.state()
            .kubelet_renewed
            .is_some_and(|at| !grace.is_zero() && at.elapsed() > grace)
    }

    fn mark(&self, ok: bool, phase: Phase, threshold: u32) {
        let mut s = self.state();
        if !ok {
            s.healthy_count = 0;
            self.healthy.store(false, Ordering::SeqCst);
            return;
        }
        s.healthy_count = s.healthy_count.saturating_add(1);
        if phase == Phase::Init || s.healthy_count >= threshold {
            self.healthy.store(true, Ordering::SeqCst);
        }
    }

    /// One probe; returns whether it renewed the Lease.
    pub async fn probe(&self, hub: &Hub, phase: Phase) -> bool {
        if self.kubelet_stopped(hub.probe.kubelet_grace_period) {
            self.state().last_failure = Some("kubelet stopped renewing its lease".into());
            self.mark(false, phase, hub.probe.healthy_threshold);
            return false;
        }
        let base = self.state().latest_lease.clone().map(|mut l| {
            if let Some(a) = l.metadata.annotations.as_mut() {
                a.remove(DELEGATE_HEARTBEAT);
            }
            l
        });
        let ok = match NodeLease::new(hub).update(base).await {
            Ok(lease) => {
                remember(hub, &lease);
                let mut s = self.state();
                s.latest_lease = Some(lease);
                s.last_failure = None;
                true
            }
            Err(e) => {
                self.state().last_failure = Some(match e {
                    Failure::NotFound => "the node lease is not found".into(),
                    Failure::Conflict => "updating the node lease kept conflicting".into(),
                    Failure::Other(why) => why,
                });
                false
            }
        };
        self.mark(ok, phase, hub.probe.healthy_threshold);
        ok
    }

    /// Probe every interval until the task is stopped.
    pub async fn run(hub: Arc<Hub>, interval: Duration) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            hub.health.probe(&hub, Phase::Normal).await;
        }
    }
}

/// Keep the renewed Lease as kubelet's cached copy.
fn remember(hub: &Hub, lease: &Lease) {
    let Ok(mut v) = serde_json::to_value(lease) else {
        return;
    };
    v["apiVersion"] = "coordination.k8s.io/v1".into();
    v["kind"] = "Lease".into();
    let gvr = Gvr::new("coordination.k8s.io", "v1", "leases");
    if let Some(key) = hub
        .cache
        .key("kubelet", &gvr, NODE_LEASE_NAMESPACE, &hub.node)
    {
        let _ = hub.cache.store(&key, &v);
    }
}

/// The node's Lease through yurthub's direct client (`node_lease.go`).
struct NodeLease<'a> {
    hub: &'a Hub,
    leases: Api<Lease>,
    nodes: Api<Node>,
}

impl<'a> NodeLease<'a> {
    fn new(hub: &'a Hub) -> Self {
        Self {
            hub,
            leases: Api::namespaced(hub.clients.direct.clone(), NODE_LEASE_NAMESPACE),
            nodes: Api::all(hub.clients.direct.clone()),
        }
    }

    fn timeout(&self) -> Duration {
        self.hub.probe.timeout
    }

    /// `Update` (`node_lease.go:63-78`).
    async fn update(&self, base: Option<Lease>) -> Result<Lease, Failure> {
        if let Some(base) = base
            && let Ok(lease) = self.retry_update(base).await
        {
            return Ok(lease);
        }
        let (lease, created) = self.backoff_ensure().await?;
        if created {
            Ok(lease)
        } else {
            self.retry_update(lease).await
        }
    }

    /// `retryUpdateLease` (`node_lease.go:80-98`).
    async fn retry_update(&self, mut base: Lease) -> Result<Lease, Failure> {
        let mut last = Failure::Other("no attempt".into());
        for _ in 0..self.hub.probe.failed_retry.max(1) {
            let lease = self.new_lease(Some(base.clone())).await;
            let name = self.hub.node.clone();
            match call(
                self.timeout(),
                "updating the node lease",
                self.leases.replace(&name, &PostParams::default(), &lease),
            )
            .await
            {
                Ok(l) => return Ok(l),
                Err(Failure::Conflict) => {
                    base = self.backoff_ensure().await?.0;
                    last = Failure::Conflict;
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// `backoffEnsureLease` (`node_lease.go:100-120`).
    async fn backoff_ensure(&self) -> Result<(Lease, bool), Failure> {
        let mut sleep = FIRST_BACKOFF;
        loop {
            match self.ensure().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    sleep *= 2;
                    if sleep > MAX_BACKOFF {
                        return Err(e);
                    }
                    tokio::time::sleep(sleep).await;
                }
            }
        }
    }

    /// `ensureLease` (`node_lease.go:122-134`): get, or create when missing.
    async fn ensure(&self) -> Result<(Lease, bool), Failure> {
        match call(
            self.timeout(),
            "reading the node lease",
            self.leases.get(&self.hub.node),
        )
        .await
        {
            Ok(l) => Ok((l, false)),
            Err(Failure::NotFound) => {
                let lease = self.new_lease(None).await;
                call(
                    self.timeout(),
                    "creating the node lease",
                    self.leases.create(&PostParams::default(), &lease),
                )
                .await
                .map(|l| (l, true))
            }
            Err(e) => Err(e),
        }
    }

    /// `newLease` (`node_lease.go:136-169`): renewed now, owned by the Node when it exists.
    async fn new_lease(&self, base: Option<Lease>) -> Lease {
        let node = &self.hub.node;
        let mut lease = base.unwrap_or_else(|| {
            let mut l = Lease::default();
            l.metadata.name = Some(node.clone());
            l.metadata.namespace = Some(NODE_LEASE_NAMESPACE.into());
            let spec = l.spec.get_or_insert_with(Default::default);
            spec.holder_identity = Some(node.clone());
            spec.lease_duration_seconds =
                Some(i32::try_from(self.hub.probe.kubelet_grace_period.as_secs()).unwrap_or(40));
            l
        });
        lease.spec.get_or_insert_with(Default::default).renew_time =
            Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
        if lease
            .metadata
            .owner_references
            .as_ref()
            .is_none_or(Vec::is_empty)
            && let Ok(n) = call(self.timeout(), "reading the node", self.nodes.get(node)).await
        {
            lease.metadata.owner_references = Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Node".into(),
                name: node.clone(),
                uid: n.metadata.uid.unwrap_or_default(),
                ..Default::default()
            }]);
        }
        lease
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failure_makes_it_unhealthy_two_successes_healthy_again() {
        let h = Health::default();
        h.mark(true, Phase::Init, 2);
        assert!(h.is_healthy(), "the first probe decides at once");
        h.mark(false, Phase::Normal, 2);
        assert!(!h.is_healthy());
        h.mark(true, Phase::Normal, 2);
        assert!(!h.is_healthy(), "one success is not enough");
        h.mark(false, Phase::Normal, 2);
        h.mark(true, Phase::Normal, 2);
        assert!(!h.is_healthy(), "a failure resets the count");
        h.mark(true, Phase::Normal, 2);
        assert!(h.is_healthy());
        let h = Health::default();
        h.mark(false, Phase::Init, 2);
        assert!(!h.is_healthy());
    }
}
