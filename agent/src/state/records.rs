//! The compact forms in which the agent keeps what it watches, and where each came from.

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

/// Where the data of one resource currently comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Nothing known yet.
    #[default]
    Empty,
    /// Loaded from the disk cache.
    Cache,
    /// Listed by the live watch of this process.
    Live,
}

/// State of the pod watch, which decides whether waiting for a pod can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Feed {
    /// Still making the first connection.
    #[default]
    Connecting,
    /// Listed and watching.
    Live,
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
