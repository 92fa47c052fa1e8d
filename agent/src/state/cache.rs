//! The disk cache: the node, its pods and the NetworkProfiles, so the agent can answer from
//! what it last saw when it starts with the API server unreachable.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::profile::crd::NetworkProfile;
use crate::state::framed::{self, FrameError};
use crate::state::records::{Kind, NodeInfo, Origin, PodInfo};
use crate::state::store::Store;

const MAGIC: &str = "TETHER-AGENT-CACHE";
/// Newest cache format this agent reads and the one it writes.
pub const FORMAT_VERSION: u32 = 1;

/// What the cache file holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CacheContents {
    /// The node the cache was written for; a cache of another node is ignored.
    pub node_name: String,
    /// The node object, if it was known.
    pub node: Option<NodeInfo>,
    /// The node's pods.
    pub pods: Vec<PodInfo>,
    /// All NetworkProfiles, valid or not (the agent validates them again on load).
    pub profiles: Vec<NetworkProfile>,
}

/// Path of the cache file under a state directory.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("cache").join("store.v1")
}

/// Writes what the store knows to `path`.
pub fn save(store: &Store, path: &Path) -> Result<(), FrameError> {
    let (node, pods, mut profiles) = store.contents();
    for p in &mut profiles {
        p.metadata.managed_fields = None;
    }
    let contents = CacheContents {
        node_name: store.node_name().to_owned(),
        node,
        pods,
        profiles,
    };
    framed::write(path, MAGIC, FORMAT_VERSION, &contents)
}

/// What loading the cache did.
#[derive(Debug)]
pub enum Loaded {
    /// No cache file.
    Absent,
    /// Loaded: pods and profiles counts.
    Loaded(usize, usize),
    /// The cache belongs to another node and was ignored.
    OtherNode(String),
}

/// Loads the cache into the store, for resources not yet listed from the API server.
/// A damaged file is an error the caller reports; the store is left unchanged.
pub fn load(store: &Store, path: &Path) -> Result<Loaded, FrameError> {
    let Some(c) = framed::read::<CacheContents>(path, MAGIC, FORMAT_VERSION)? else {
        return Ok(Loaded::Absent);
    };
    if c.node_name != store.node_name() {
        return Ok(Loaded::OtherNode(c.node_name));
    }
    let counts = (c.pods.len(), c.profiles.len());
    if store.origin(Kind::Node) != Origin::Api {
        store.set_node(c.node, Origin::Disk);
    }
    if store.origin(Kind::Pods) != Origin::Api {
        store.replace_pods(c.pods, Origin::Disk);
    }
    if store.origin(Kind::Profiles) != Origin::Api {
        store.replace_profiles(c.profiles, Origin::Disk);
    }
    Ok(Loaded::Loaded(counts.0, counts.1))
}

#[cfg(test)]
mod tests;
