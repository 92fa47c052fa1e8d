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
/// protocol) only when all three resources are [`Origin::Api`] and the [`Upstream`] is not
/// yurthub's cache or unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Nothing known yet.
    #[default]
    Empty,
    /// Loaded from the agent's disk cache, written by this or an earlier run.
    Disk,
    /// Listed over the API by a watch of this process: from the API server, or from yurthub's
    /// cache when the node is cut off (which of the two the [`Upstream`] tells).
    Api,
}

/// What answers the agent's API requests, as far as the agent can tell from the answers.
/// Behind yurthub a cut-off node still gets 200s and 201s: from yurthub's cache, which never
/// forwards a write. See `agent/README.md`, "What the agent does about each of yurthub's
/// offline answers".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Upstream {
    /// Nothing proven either way yet in this process.
    #[default]
    Unknown,
    /// The API server: a write was confirmed, a watch delivered an event or bookmark, or the
    /// probe `GET /api` answered 200.
    ApiServer,
    /// yurthub's cache: a write was acknowledged without being applied, a watch stayed silent
    /// until its timeout, or yurthub refused the probe `GET /api` (400: its local proxy serves
    /// no non-resource request).
    YurthubCache,
    /// Round-trips fail: connection errors, or 5xx (yurthub answers 502 between a cut and its
    /// switch to the cache).
    Unreachable,
}

impl Upstream {
    /// The name used in `/v1/healthz`, the metric's `state` label and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Upstream::Unknown => "unknown",
            Upstream::ApiServer => "api-server",
            Upstream::YurthubCache => "yurthub-cache",
            Upstream::Unreachable => "unreachable",
        }
    }

    /// Whether answers built while this holds may be called `live`: only once the API server
    /// is proven. Lists prove nothing (yurthub answers them from its cache), so a process that
    /// started cut off, its lists served by yurthub before its first probe is answered, must
    /// not call its answers live.
    pub fn allows_live(self) -> bool {
        self == Upstream::ApiServer
    }

    /// Every state, for metrics.
    pub const ALL: [Upstream; 4] = [
        Upstream::Unknown,
        Upstream::ApiServer,
        Upstream::YurthubCache,
        Upstream::Unreachable,
    ];
}

/// State of one watch, which decides whether waiting for its data can help.
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
