//! Which profile applies to a pod.
//!
//! The rule: among the valid profiles whose `podSelector` matches the pod's labels and whose
//! `nodeSelector` matches the node's labels, the one with the highest `priority` wins; equal
//! priorities go to the name that sorts first (byte-wise ascending). Invalid profiles never
//! take part. The result depends only on the inputs, never on arrival order.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::profile::compile::{CompiledProfile, ProfileError};

/// The valid profiles, in the order resolution tries them.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    ordered: Vec<CompiledProfile>,
}

/// A profile the agent ignores, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// `metadata.name` of the profile.
    pub name: String,
    /// Its generation.
    pub generation: i64,
    /// Why it is ignored.
    pub error: ProfileError,
}

impl ProfileSet {
    /// Builds the set from compile results, keeping the valid profiles and returning the rest.
    pub fn build(
        results: impl IntoIterator<Item = Result<CompiledProfile, Rejected>>,
    ) -> (Self, Vec<Rejected>) {
        let (mut ordered, mut rejected) = (Vec::new(), Vec::new());
        for result in results {
            match result {
                Ok(p) => ordered.push(p),
                Err(r) => rejected.push(r),
            }
        }
        ordered.sort_by(|a, b| (Reverse(a.priority), &a.name).cmp(&(Reverse(b.priority), &b.name)));
        rejected.sort_by(|a, b| a.name.cmp(&b.name));
        (Self { ordered }, rejected)
    }

    /// Number of valid profiles.
    pub fn len(&self) -> usize {
        self.ordered.len()
    }

    /// Whether there is no valid profile.
    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    /// The profiles in resolution order.
    pub fn iter(&self) -> impl Iterator<Item = &CompiledProfile> {
        self.ordered.iter()
    }

    /// The effective profile for a pod with `pod_labels` on a node with `node_labels`.
    pub fn resolve(
        &self,
        pod_labels: &BTreeMap<String, String>,
        node_labels: &BTreeMap<String, String>,
    ) -> Option<&CompiledProfile> {
        self.ordered
            .iter()
            .find(|p| p.node_selector.matches(node_labels) && p.pod_selector.matches(pod_labels))
    }
}

#[cfg(test)]
mod tests;
