//! The summary `kubectl get networkprofiles` prints as Pods and Nodes (`status.matchedPods`,
//! `status.nodesReporting`): a printer column shows the first result of one JSONPath, so a total
//! over `status.nodes[*]` has to be stored. No single writer owns it: after its status apply is
//! confirmed, an agent holds every node's entry as the API server has it, and corrects the
//! summary when that answer's summary disagrees with its entries. The correction is a JSON merge
//! patch of the two fields only (the list, other agents' entries, is left alone, as
//! `deploy/admission.yaml` requires), conditional on the answer's `resourceVersion`: a writer that
//! came later gets 409 and leaves it to that later writer, who corrects it from a newer view.

use serde_json::{Value, json};

use crate::profile::crd::{NetworkProfile, NodeStatus, StatusSummary};

/// What a status's summary should say: its entries' `matchedPods` added up, and their number.
pub fn due(nodes: &[NodeStatus]) -> StatusSummary {
    StatusSummary {
        matched_pods: Some(
            nodes
                .iter()
                .fold(0u32, |sum, n| sum.saturating_add(n.matched_pods)),
        ),
        nodes_reporting: Some(u32::try_from(nodes.len()).unwrap_or(u32::MAX)),
    }
}

/// A correction of a profile's summary, computed from the answer to a confirmed status apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Correction {
    /// What the summary should say.
    pub summary: StatusSummary,
    /// `resourceVersion` of the answer it was computed from: the patch's precondition.
    pub resource_version: String,
}

impl Correction {
    /// The JSON merge patch: the two summary fields and the precondition, nothing else (a merge
    /// patch carrying `nodes` would replace every node's entry).
    pub fn patch(&self) -> Value {
        json!({
            "metadata": {"resourceVersion": self.resource_version},
            "status": self.summary,
        })
    }
}

/// The correction `answer` (the object a confirmed status apply returned) needs; `None` when
/// its summary is right already, the usual case (a new generation changes no count), or when it
/// has no `resourceVersion` to make the patch conditional on.
pub fn correction(answer: &NetworkProfile) -> Option<Correction> {
    let resource_version = answer
        .metadata
        .resource_version
        .clone()
        .filter(|v| !v.is_empty())?;
    let status = answer.status.clone().unwrap_or_default();
    let summary = due(&status.nodes);
    (status.summary != summary).then_some(Correction {
        summary,
        resource_version,
    })
}

/// The result label of a correction in `tether_agent_status_summaries_total`: `written` when the
/// answer carries the summary sent, `unconfirmed` when it does not (yurthub's stale cached object
/// if the node was cut off meanwhile: harmless, the next writer corrects it), `conflict` for 409
/// (someone wrote after the answer the correction was computed from), `failed` otherwise.
pub fn result(sent: &StatusSummary, answer: &Result<NetworkProfile, kube::Error>) -> &'static str {
    match answer {
        Ok(p) if p.status.as_ref().is_some_and(|s| s.summary == *sent) => "written",
        Ok(_) => "unconfirmed",
        Err(kube::Error::Api(s)) if s.code == 409 => "conflict",
        Err(_) => "failed",
    }
}

#[cfg(test)]
mod tests;
