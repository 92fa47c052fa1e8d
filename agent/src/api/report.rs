//! Reporting to the API server through the outbox: an Event when a pod gets a profile, and
//! this node's entry in each profile's `status.nodes` by server-side apply with the field
//! manager `tether-agent/<node>`, so agents never overwrite each other's entries. A write
//! counts as delivered only when the answer proves the API server applied it
//! ([`event_confirmed`], [`status_confirmed`]): behind yurthub, a cut-off node's writes are
//! answered 201/200 from its cache and never forwarded. After a confirmed status apply, the
//! profile's summary for `kubectl get` is corrected if it needs to be ([`summary`]).

pub mod summary;

use std::sync::Arc;
use std::time::Duration;

use cni::protocol::{AddRequest, AddResponse};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;

use crate::api::note;
use crate::api::upstream::Monitor;
use crate::metrics::Metrics;
use crate::profile::crd::{NetworkProfile, NodeStatus};
use crate::state::outbox::{Outbox, Outcome, Sink, Write};
use crate::state::records::{Kind, Origin, Upstream};
use crate::state::store::Store;

/// `reportingController` of the agent's Events.
pub const REPORTING_CONTROLLER: &str = "tether.dev/agent";

/// Field manager of a node's status entries.
pub fn field_manager(node: &str) -> String {
    format!("tether-agent/{node}")
}

/// The Event write for an answer that carries a profile.
pub fn applied(req: &AddRequest, answer: &AddResponse) -> Option<Write> {
    let profile = answer.profile.as_ref()?;
    Some(Write::ProfileApplied {
        namespace: req.pod_namespace.clone(),
        pod_name: req.pod_name.clone(),
        pod_uid: req.pod_uid.clone(),
        profile: profile.name.clone(),
        generation: profile.generation,
        note: note::describe(profile, answer),
        time: k8s_openapi::jiff::Timestamp::now().to_string(),
    })
}

/// Name of the Event for a write: stable, so a resend after a restart is recognised (409).
pub fn event_name(write: &Write) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(write.key().as_bytes());
    let suffix: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let stem = match write {
        Write::ProfileApplied { pod_name, .. } => pod_name.as_str(),
        Write::NodeStatus { profile, .. } => profile.as_str(),
    };
    // Object names are at most 253 characters; pod names may already be that long.
    let stem: String = stem.chars().take(200).collect();
    format!("{stem}.tether.{suffix}")
}

/// Delivers outbox writes to the API server and says what each answer proves.
pub struct KubeSink {
    /// The rate-limited client.
    pub client: Client,
    /// This node.
    pub node: String,
    /// Told what each answer proves about the upstream.
    pub monitor: Arc<Monitor>,
    /// Counts the status summary corrections.
    pub metrics: Arc<Metrics>,
}

/// Whether the answer to an Event create proves the API server stored it: what it stores
/// carries the name sent and the `uid` and `resourceVersion` the server assigned. yurthub's
/// offline answer echoes the request body (201), which has neither: the agent sends none.
pub fn event_confirmed(sent_name: &str, answer: &Event) -> bool {
    let m = &answer.metadata;
    m.name.as_deref() == Some(sent_name)
        && m.uid.as_deref().is_some_and(|u| !u.is_empty())
        && m.resource_version.as_deref().is_some_and(|v| !v.is_empty())
}

/// Whether the answer to a status apply proves it was applied: the object carries this node's
/// entry exactly as sent. yurthub's offline answer is the stale cached object (200), which
/// carries the entry as it was before.
pub fn status_confirmed(sent: &NodeStatus, answer: &NetworkProfile) -> bool {
    answer
        .status
        .as_ref()
        .is_some_and(|s| s.nodes.iter().any(|n| n == sent))
}

/// What an error answer to a write means. A 409 to an Event create is the API server saying
/// it has the Event (its name is deterministic): confirmed. Any other 4xx while the agent is
/// not sure it talks to the API server may be yurthub's local proxy (400: not a cache agent,
/// "can not cache for"; 404: nothing cached for the object): retried, not dropped. Once the
/// API server is proven to answer, other 4xx but 429 are final; 429, 5xx (yurthub's 502
/// between a cut and its switch) and transport errors are always retried.
pub fn judge_error(e: &kube::Error, event: bool, upstream: Upstream) -> Outcome {
    match e {
        kube::Error::Api(s) if s.code == 409 && event => Outcome::Confirmed,
        kube::Error::Api(s) if (400..500).contains(&s.code) && upstream != Upstream::ApiServer => {
            Outcome::Retry(e.to_string())
        }
        kube::Error::Api(s) if (400..500).contains(&s.code) && s.code != 429 => {
            Outcome::Refused(e.to_string())
        }
        _ => Outcome::Retry(e.to_string()),
    }
}

impl KubeSink {
    fn judged(&self, outcome: Outcome, what: &str) -> Outcome {
        match &outcome {
            Outcome::Confirmed => self
                .monitor
                .observe(Upstream::ApiServer, &format!("{what} confirmed")),
            Outcome::Unconfirmed(why) => self.monitor.observe(Upstream::YurthubCache, why),
            Outcome::Retry(_) => self.monitor.request_probe(),
            Outcome::Refused(_) => {}
        }
        outcome
    }

    /// Best effort, once: a failure leaves the summary to the next writer; the status apply
    /// was delivered whatever happens here.
    async fn correct_summary(&self, profile: &str, answer: &NetworkProfile) {
        let Some(correction) = summary::correction(answer) else {
            return;
        };
        let params = PatchParams {
            field_manager: Some(field_manager(&self.node)),
            ..Default::default()
        };
        let patch = correction.patch();
        let written = Api::<NetworkProfile>::all(self.client.clone())
            .patch_status(profile, &params, &Patch::Merge(&patch))
            .await;
        let result = summary::result(&correction.summary, &written);
        self.metrics
            .status_summaries
            .get_or_create(&[("result", result)])
            .inc();
        match written {
            Err(e) => {
                tracing::debug!(%profile, error = %e, result, "status summary not corrected")
            }
            Ok(_) => {
                tracing::debug!(%profile, result, summary = ?correction.summary, "status summary corrected")
            }
        }
    }
}

impl Sink for KubeSink {
    async fn deliver(&self, write: &Write) -> Outcome {
        let upstream = self.monitor.upstream();
        match write {
            Write::ProfileApplied {
                namespace,
                pod_name,
                pod_uid,
                profile,
                note,
                time,
                ..
            } => {
                let name = event_name(write);
                let event: Event = match serde_json::from_value(json!({
                    "metadata": {"name": name, "namespace": namespace},
                    "eventTime": time,
                    "reportingController": REPORTING_CONTROLLER,
                    "reportingInstance": field_manager(&self.node),
                    "action": "ApplyProfile",
                    "reason": "ProfileApplied",
                    "type": "Normal",
                    "note": note,
                    "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": pod_name, "uid": pod_uid},
                    "related": {"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "name": profile},
                })) {
                    Ok(e) => e,
                    Err(e) => return Outcome::Refused(e.to_string()),
                };
                let outcome = match Api::<Event>::namespaced(self.client.clone(), namespace)
                    .create(&PostParams::default(), &event)
                    .await
                {
                    Ok(answer) if event_confirmed(&name, &answer) => Outcome::Confirmed,
                    Ok(_) => Outcome::Unconfirmed(format!(
                        "Event {namespace}/{name} acknowledged without a uid and resourceVersion (yurthub's offline echo)"
                    )),
                    Err(e) => judge_error(&e, true, upstream),
                };
                self.judged(outcome, "an Event create")
            }
            Write::NodeStatus { profile, status } => {
                let patch = json!({
                    "apiVersion": "tether.dev/v1alpha1",
                    "kind": "NetworkProfile",
                    "metadata": {"name": profile},
                    "status": {"nodes": [status]},
                });
                let params = PatchParams::apply(&field_manager(&self.node));
                let outcome = match Api::<NetworkProfile>::all(self.client.clone())
                    .patch_status(profile, &params, &Patch::Apply(&patch))
                    .await
                {
                    Ok(answer) if status_confirmed(status, &answer) => {
                        self.correct_summary(profile, &answer).await;
                        Outcome::Confirmed
                    }
                    Ok(_) => Outcome::Unconfirmed(format!(
                        "status apply to {profile} answered with an object without this node's entry as sent (yurthub's stale cached object)"
                    )),
                    Err(e) => judge_error(&e, false, upstream),
                };
                self.judged(outcome, "a status apply")
            }
        }
    }
}

/// Queues this node's status entries whenever the store drifts from what the profiles say,
/// at most once per `settle`, and logs profiles that became invalid.
pub async fn run_status(
    store: Arc<Store>,
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    settle: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = store.subscribe();
    let mut reported_rejected = Vec::new();
    loop {
        let rejected = store.rejected();
        metrics
            .profiles_rejected
            .set(i64::try_from(rejected.len()).unwrap_or(i64::MAX));
        let now: Vec<_> = rejected
            .iter()
            .map(|r| (r.name.clone(), r.generation))
            .collect();
        if now != reported_rejected {
            for r in rejected.iter() {
                tracing::warn!(profile = %r.name, generation = r.generation, error = %r.error, "NetworkProfile is invalid and ignored");
            }
            reported_rejected = now;
        }
        if store.origin(Kind::Profiles) != Origin::Empty
            && store.origin(Kind::Pods) != Origin::Empty
        {
            for (profile, desired, current) in store.node_status_drift() {
                if current.as_ref() != Some(&desired) {
                    outbox.push(Write::NodeStatus {
                        profile,
                        status: desired,
                    });
                }
            }
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(settle) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests;
