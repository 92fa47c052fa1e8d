//! Reporting to the API server through the outbox: an Event when a pod gets a profile, and
//! this node's entry in each profile's `status.nodes` by server-side apply with the field
//! manager `tether-agent/<node>`, so agents never overwrite each other's entries.

use std::sync::Arc;
use std::time::Duration;

use cni::protocol::{AddRequest, AddResponse};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::watch;

use crate::api::note;
use crate::metrics::Metrics;
use crate::profile::crd::NetworkProfile;
use crate::state::outbox::{Failure, Outbox, Sink, Write};
use crate::state::records::{Kind, Origin};
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

/// Delivers outbox writes to the API server.
pub struct KubeSink {
    /// The rate-limited client.
    pub client: Client,
    /// This node.
    pub node: String,
}

fn classify(e: kube::Error) -> Failure {
    match &e {
        kube::Error::Api(s) if s.code == 409 => Failure::Drop(String::from("already exists")),
        kube::Error::Api(s) if (400..500).contains(&s.code) && s.code != 429 => {
            Failure::Drop(e.to_string())
        }
        _ => Failure::Retry(e.to_string()),
    }
}

impl Sink for KubeSink {
    async fn deliver(&self, write: &Write) -> Result<(), Failure> {
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
                let event: Event = serde_json::from_value(json!({
                    "metadata": {"name": event_name(write), "namespace": namespace},
                    "eventTime": time,
                    "reportingController": REPORTING_CONTROLLER,
                    "reportingInstance": field_manager(&self.node),
                    "action": "ApplyProfile",
                    "reason": "ProfileApplied",
                    "type": "Normal",
                    "note": note,
                    "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": pod_name, "uid": pod_uid},
                    "related": {"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "name": profile},
                }))
                .map_err(|e| Failure::Drop(e.to_string()))?;
                match Api::<Event>::namespaced(self.client.clone(), namespace)
                    .create(&PostParams::default(), &event)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                    Err(e) => Err(classify(e)),
                }
            }
            Write::NodeStatus { profile, status } => {
                let patch = json!({
                    "apiVersion": "tether.dev/v1alpha1",
                    "kind": "NetworkProfile",
                    "metadata": {"name": profile},
                    "status": {"nodes": [status]},
                });
                let params = PatchParams::apply(&field_manager(&self.node));
                Api::<NetworkProfile>::all(self.client.clone())
                    .patch_status(profile, &params, &Patch::Apply(&patch))
                    .await
                    .map(|_| ())
                    .map_err(classify)
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
