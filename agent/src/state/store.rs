//! What the agent knows: its node, the node's pods and the NetworkProfiles, whether each came
//! from the API server or the disk cache, and a change counter the socket server waits on.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use cni::protocol::{AddResponse, ProfileRef, Source};
use tokio::sync::watch;

use crate::profile::compile::compile_object;
use crate::profile::crd::{NetworkProfile, NodeStatus};
use crate::profile::resolve::{ProfileSet, Rejected};
use crate::state::records::{Feed, Kind, NodeInfo, Origin, PodInfo, Upstream};

#[derive(Default)]
struct Inner {
    pods: HashMap<(String, String), PodInfo>,
    node: Option<NodeInfo>,
    profiles: BTreeMap<String, NetworkProfile>,
    set: Arc<ProfileSet>,
    rejected: Arc<Vec<Rejected>>,
    origins: [Origin; 3],
    feeds: [Feed; 3],
    upstream: Upstream,
}

/// Shared, lock-protected state plus a change counter.
pub struct Store {
    node_name: String,
    inner: RwLock<Inner>,
    changes: watch::Sender<u64>,
}

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Pods => 0,
        Kind::Node => 1,
        Kind::Profiles => 2,
    }
}

impl Store {
    /// An empty store for `node_name`.
    pub fn new(node_name: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            node_name: node_name.into(),
            inner: RwLock::default(),
            changes: watch::channel(0).0,
        })
    }

    /// The node this store serves.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// A receiver that is woken on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn write(&self, f: impl FnOnce(&mut Inner)) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        f(&mut inner);
        drop(inner);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn read<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        f(&self.inner.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces all pods (a completed list), keeping only those bound to this node.
    pub fn replace_pods(&self, pods: Vec<PodInfo>, origin: Origin) {
        self.write(|i| {
            i.pods = pods
                .into_iter()
                .map(|p| ((p.namespace.clone(), p.name.clone()), p))
                .collect();
            i.origins[slot(Kind::Pods)] = origin;
        });
    }

    /// Adds or updates one pod.
    pub fn upsert_pod(&self, pod: PodInfo) {
        self.write(|i| {
            i.pods
                .insert((pod.namespace.clone(), pod.name.clone()), pod);
        });
    }

    /// Removes one pod.
    pub fn remove_pod(&self, namespace: &str, name: &str) {
        self.write(|i| {
            i.pods.remove(&(namespace.to_owned(), name.to_owned()));
        });
    }

    /// Sets (or clears) the node.
    pub fn set_node(&self, node: Option<NodeInfo>, origin: Origin) {
        self.write(|i| {
            i.node = node;
            i.origins[slot(Kind::Node)] = origin;
        });
    }

    /// Replaces all profiles (a completed list).
    pub fn replace_profiles(&self, profiles: Vec<NetworkProfile>, origin: Origin) {
        self.write(|i| {
            i.profiles = profiles
                .into_iter()
                .filter_map(|p| Some((p.metadata.name.clone()?, p)))
                .collect();
            i.origins[slot(Kind::Profiles)] = origin;
            recompile(i);
        });
    }

    /// Adds or updates one profile.
    pub fn upsert_profile(&self, profile: NetworkProfile) {
        let Some(name) = profile.metadata.name.clone() else {
            return;
        };
        self.write(|i| {
            i.profiles.insert(name, profile);
            recompile(i);
        });
    }

    /// Removes one profile.
    pub fn remove_profile(&self, name: &str) {
        self.write(|i| {
            i.profiles.remove(name);
            recompile(i);
        });
    }

    /// Records the state of one watch; only a change wakes subscribers.
    pub fn set_feed(&self, kind: Kind, feed: Feed) {
        if self.read(|i| i.feeds[slot(kind)]) != feed {
            self.write(|i| i.feeds[slot(kind)] = feed);
        }
    }

    /// Records the state of every watch at once (no client could be built: all are down).
    pub fn set_all_feeds(&self, feed: Feed) {
        for kind in [Kind::Pods, Kind::Node, Kind::Profiles] {
            self.set_feed(kind, feed);
        }
    }

    /// Whether waiting for a missing pod can help: the pod watch is connecting or watching.
    pub fn pods_may_arrive(&self) -> bool {
        self.read(|i| i.feeds[slot(Kind::Pods)] != Feed::Down)
    }

    /// Whether pods, profiles and the node are all loaded, from disk or from the API: only then
    /// can "no profile" be an answer rather than a guess from a half-loaded store.
    pub fn loaded(&self) -> bool {
        self.read(|i| i.origins.iter().all(|o| *o != Origin::Empty))
    }

    /// Whether waiting can still complete the store: every resource not yet loaded has a watch
    /// that is connecting or watching.
    pub fn may_finish_loading(&self) -> bool {
        self.read(|i| {
            i.origins
                .iter()
                .zip(i.feeds.iter())
                .all(|(o, f)| *o != Origin::Empty || *f != Feed::Down)
        })
    }

    /// What answers the agent's API requests, as far as the agent can tell.
    pub fn upstream(&self) -> Upstream {
        self.read(|i| i.upstream)
    }

    /// Records what answers the agent's API requests; returns the previous value. Only a change
    /// wakes subscribers.
    pub fn set_upstream(&self, upstream: Upstream) -> Upstream {
        let before = self.upstream();
        if before != upstream {
            self.write(|i| i.upstream = upstream);
        }
        before
    }

    /// Origin of each resource's data.
    pub fn origin(&self, kind: Kind) -> Origin {
        self.read(|i| i.origins[slot(kind)])
    }

    /// Whether every resource has been listed over the API by this process and the agent has no
    /// sign of being answered from yurthub's cache or of the API being unreachable: what the
    /// wire protocol calls `live` (answers' `source`, healthz's `live`).
    pub fn is_live(&self) -> bool {
        self.read(all_from_api)
    }

    /// Profiles currently ignored as invalid.
    pub fn rejected(&self) -> Arc<Vec<Rejected>> {
        self.read(|i| i.rejected.clone())
    }

    /// Counts of pods, valid profiles and rejected profiles.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.read(|i| (i.pods.len(), i.set.len(), i.rejected.len()))
    }

    /// The answer for a pod, or `None` when the store does not know it (or knows an older pod
    /// of the same name, when `uid` is given).
    pub fn answer(&self, namespace: &str, name: &str, uid: &str) -> Option<AddResponse> {
        self.read(|i| {
            let pod = i.pods.get(&(namespace.to_owned(), name.to_owned()))?;
            if !uid.is_empty() && pod.uid != uid {
                return None;
            }
            let source = if all_from_api(i) {
                Source::Live
            } else {
                Source::Cache
            };
            let empty = BTreeMap::new();
            let node_labels = i.node.as_ref().map_or(&empty, |n| &n.labels);
            Some(match i.set.resolve(&pod.labels, node_labels) {
                Some(p) => AddResponse {
                    profile: Some(ProfileRef {
                        name: p.name.clone(),
                        generation: p.generation,
                    }),
                    bandwidth: p.settings.bandwidth,
                    mtu: p.settings.mtu,
                    sysctls: p.settings.sysctls.clone(),
                    source,
                },
                None => AddResponse {
                    source,
                    ..AddResponse::default()
                },
            })
        })
    }

    /// For every valid profile: this node's entry as it should be, and as the profile's status
    /// has it now. Only profiles selecting a pod here, or already carrying an entry, appear.
    pub fn node_status_drift(&self) -> Vec<(String, NodeStatus, Option<NodeStatus>)> {
        self.read(|i| {
            let empty = BTreeMap::new();
            let node_labels = i.node.as_ref().map_or(&empty, |n| &n.labels);
            let mut counts: HashMap<&str, u32> = HashMap::new();
            for pod in i.pods.values() {
                if let Some(p) = i.set.resolve(&pod.labels, node_labels) {
                    *counts.entry(p.name.as_str()).or_default() += 1;
                }
            }
            i.set
                .iter()
                .filter_map(|p| {
                    let current = i.profiles.get(&p.name)?.status.as_ref().and_then(|s| {
                        s.nodes
                            .iter()
                            .find(|n| n.node_name == self.node_name)
                            .cloned()
                    });
                    let matched = counts.get(p.name.as_str()).copied().unwrap_or(0);
                    let desired = NodeStatus {
                        node_name: self.node_name.clone(),
                        matched_pods: matched,
                        observed_generation: p.generation,
                    };
                    (matched > 0 || current.is_some()).then(|| (p.name.clone(), desired, current))
                })
                .collect()
        })
    }

    /// Everything worth keeping on disk.
    pub fn contents(&self) -> (Option<NodeInfo>, Vec<PodInfo>, Vec<NetworkProfile>) {
        self.read(|i| {
            let mut pods: Vec<PodInfo> = i.pods.values().cloned().collect();
            pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
            (i.node.clone(), pods, i.profiles.values().cloned().collect())
        })
    }
}

fn all_from_api(i: &Inner) -> bool {
    i.origins.iter().all(|o| *o == Origin::Api) && i.upstream.allows_live()
}

fn recompile(i: &mut Inner) {
    let results = i.profiles.values().map(|p| {
        compile_object(p).map_err(|error| Rejected {
            name: p.metadata.name.clone().unwrap_or_default(),
            generation: p.metadata.generation.unwrap_or(0),
            error,
        })
    });
    let (set, rejected) = ProfileSet::build(results);
    i.set = Arc::new(set);
    i.rejected = Arc::new(rejected);
}

#[cfg(test)]
mod tests;
