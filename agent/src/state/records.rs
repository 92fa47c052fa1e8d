//! The records the store keeps (a pod, the node) and, per watched resource, where its data
//! currently comes from and how the pod watch is doing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A pod as the agent keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodInfo {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
}

/// The agent's node as it keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
}

/// Where the data of one resource currently comes from. Answers are `source: live` (wire
/// protocol) only when all three resources are [`Origin::Api`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Nothing known yet.
    #[default]
    Empty,
    /// Loaded from the agent's disk cache, written by this or an earlier run.
    Disk,
    /// Listed from the API server by a watch of this process.
    Api,
}

/// State of the pod watch, which decides whether waiting for a pod can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Feed {
    /// Still making the first connection.
    #[default]
    Connecting,
    /// Listed, and watching for changes.
    Watching,
    /// The last attempt failed; the watcher is backing off.
    Down,
}

/// The three watched resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Pods of this node.
    Pods,
    /// This node.
    Node,
    /// NetworkProfiles.
    Profiles,
}
