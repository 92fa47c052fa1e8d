//! The three watches, each with exactly one selector (yurthub skips caching a resource that
//! one component lists in two ways, and offline refuses a second selector with 400), feeding
//! the store.
//!
//! Each is a list, then watches from the list's resourceVersion. This module drives them itself
//! rather than through kube's watcher because it must see what a watch proved: an event or a
//! bookmark comes from the API server (the API server sends a bookmark at least once per watch,
//! two seconds before its timeout, when asked), while a watch that stays silent until its
//! timeout is what yurthub's cache serves a cut-off node. A watch that ends early without an
//! event, and every failure, waits with backoff before the next attempt (no hot loop), cut short
//! when the API server is found answering again. A 410 relists.
//!
//! A fleet cut off together comes back together: every node's probe sees the API server within
//! the same few seconds, and every watch it cut short would relist at that instant (after a cut
//! longer than the watch history, every resume is a 410 and a relist). So the way back and every
//! relist after a 410 wait a delay drawn from a window that grows with the fleet
//! ([`return_window`]: the nodes the profiles' status lists, at [`RETURNS_PER_SECOND`] nodes a
//! second, capped), and the backoff between failures is jittered.
//!
//! Objects are filtered again on the client side by the selector the agent asked for
//! ([`pod_info`], [`node_info`]): yurthub's offline lists ignore selectors.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::api::upstream::Monitor;
use crate::backoff::{Backoff, Jitter};
use crate::metrics::Metrics;
use crate::profile::crd::NetworkProfile;
use crate::state::records::{Feed, Kind, NodeInfo, Origin, PodInfo, Upstream};
use crate::state::store::Store;

/// `timeoutSeconds` of every watch (kube's watcher uses the same).
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(290);
/// A watch that lasted this close to its timeout ended by it.
const TIMEOUT_SLACK: Duration = Duration::from_secs(5);
/// Waits between failed attempts of one watch.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
/// How many nodes of a fleet may come back (relist) per second, on average: each costs the API
/// server about ten requests (three lists, their watches, a probe, a status patch), so 50 a
/// second is about 500 requests a second, what 24 APF seats serve at 48 ms of seat time each.
pub const RETURNS_PER_SECOND: u32 = 50;
/// The longest a node delays its way back: past this, a stale store costs more than the storm.
pub const RETURN_WINDOW_MAX: Duration = Duration::from_secs(60);

/// The window a node draws its delay from before it relists after the API server returns or
/// answers 410, for a fleet of `nodes`: `nodes / RETURNS_PER_SECOND` seconds, at most
/// [`RETURN_WINDOW_MAX`]. A lone node goes back at once.
pub fn return_window(nodes: usize) -> Duration {
    let nodes = u32::try_from(nodes).unwrap_or(u32::MAX);
    (Duration::from_secs(1) / RETURNS_PER_SECOND)
        .saturating_mul(nodes)
        .min(RETURN_WINDOW_MAX)
}

/// The size of the fleet as the API server last showed it: the most status entries of any
/// profile the store holds.
fn fleet_size(store: &Store) -> usize {
    let (_, _, profiles) = store.contents();
    profiles
        .iter()
        .filter_map(|p| p.status.as_ref().map(|s| s.nodes.len()))
        .max()
        .unwrap_or(0)
}

/// Field selector of the pod watch.
pub fn pod_selector(node: &str) -> String {
    format!("spec.nodeName={node}")
}

/// Field selector of the node watch.
pub fn node_selector(node: &str) -> String {
    format!("metadata.name={node}")
}

/// The pod as the store keeps it, if it is bound to `node`: the pod watch's selector, applied
/// again on the client side.
pub fn pod_info(pod: &Pod, node: &str) -> Option<PodInfo> {
    if pod.spec.as_ref()?.node_name.as_deref() != Some(node) {
        return None;
    }
    Some(PodInfo {
        namespace: pod.metadata.namespace.clone()?,
        name: pod.metadata.name.clone()?,
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        labels: pod.metadata.labels.clone().unwrap_or_default(),
    })
}

/// The node as the store keeps it, if it is `node`: the node watch's selector, applied again.
pub fn node_info(n: &Node, node: &str) -> Option<NodeInfo> {
    (n.metadata.name.as_deref() == Some(node)).then(|| NodeInfo {
        name: node.to_owned(),
        labels: n.metadata.labels.clone().unwrap_or_default(),
    })
}

/// What a list or a watch event changes.
#[derive(Debug)]
pub enum Change<K> {
    /// A completed list: replaces everything.
    Listed(Vec<K>),
    /// Added or modified.
    Applied(K),
    /// Deleted.
    Deleted(K),
}

/// How a watch ended, and what comes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchEnd {
    /// The resourceVersion is gone (410): list again.
    Relist,
    /// Ended after events or at its timeout: watch again at once.
    Rewatch,
    /// Reached its timeout without an event or bookmark: a sign of yurthub's cache; watch again.
    Silent,
    /// Failed, or ended early without an event: wait, then watch again.
    Backoff,
}

/// How a watch that delivered `events` (bookmarks included) and lasted `lasted` ended.
pub fn judge_watch_end(events: usize, lasted: Duration, failed: bool, gone: bool) -> WatchEnd {
    if gone {
        WatchEnd::Relist
    } else if failed {
        WatchEnd::Backoff
    } else if events > 0 {
        WatchEnd::Rewatch
    } else if lasted + TIMEOUT_SLACK >= WATCH_TIMEOUT {
        WatchEnd::Silent
    } else {
        WatchEnd::Backoff
    }
}

/// Runs the three watches until the process stops.
pub async fn run(client: Client, store: Arc<Store>, metrics: Arc<Metrics>, monitor: Arc<Monitor>) {
    let node = store.node_name().to_owned();
    let ctx = Ctx {
        store: &store,
        metrics: &metrics,
        monitor: &monitor,
    };
    tokio::join!(
        drive(
            &ctx,
            Jitter::from_entropy(),
            Api::<Pod>::all(client.clone()),
            Some(pod_selector(&node)),
            Kind::Pods,
            "pods",
            apply_pods
        ),
        drive(
            &ctx,
            Jitter::from_entropy(),
            Api::<Node>::all(client.clone()),
            Some(node_selector(&node)),
            Kind::Node,
            "node",
            apply_node
        ),
        drive(
            &ctx,
            Jitter::from_entropy(),
            Api::<NetworkProfile>::all(client),
            None,
            Kind::Profiles,
            "networkprofiles",
            apply_profiles
        ),
    );
}

struct Ctx<'a> {
    store: &'a Store,
    metrics: &'a Metrics,
    monitor: &'a Monitor,
}

impl Ctx<'_> {
    fn failed(
        &self,
        kind: Kind,
        resource: &'static str,
        what: &str,
        error: &dyn std::fmt::Display,
    ) {
        self.metrics
            .watch_errors
            .get_or_create(&[("resource", resource)])
            .inc();
        tracing::warn!(resource, error = %error, "{what} failed; serving what the store has");
        self.store.set_feed(kind, Feed::Down);
        self.monitor.request_probe();
    }
}

impl Ctx<'_> {
    /// Waits `wait` before the next attempt, or less if the API server is found answering
    /// again meanwhile (the probe saw it): after a cut, the watches come back with it.
    ///
    /// Cut short, it waits a delay drawn from the [`return_window`] first, so that the fleet does
    /// not come back at the instant the API server does; returns whether it did.
    async fn pause(&self, wait: Duration, jitter: &mut Jitter) -> bool {
        let was = self.store.upstream();
        let mut changes = self.store.subscribe();
        let back =
            |_: &u64| was != Upstream::ApiServer && self.store.upstream() == Upstream::ApiServer;
        let cut_short = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            _ = changes.wait_for(back) => true,
        };
        if cut_short {
            self.spread(jitter).await;
        }
        cut_short
    }

    /// Waits a delay drawn from the [`return_window`] of the fleet the store knows of.
    async fn spread(&self, jitter: &mut Jitter) {
        let delay = jitter.spread(return_window(fleet_size(self.store)));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 410)
}

async fn drive<K>(
    ctx: &Ctx<'_>,
    mut jitter: Jitter,
    api: Api<K>,
    selector: Option<String>,
    kind: Kind,
    resource: &'static str,
    apply: fn(&Store, Change<K>),
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut backoff = Backoff::jittered(BACKOFF.0, BACKOFF.1, jitter.fork());
    loop {
        let lp = ListParams {
            field_selector: selector.clone(),
            ..ListParams::default()
        };
        let list = match api.list(&lp).await {
            Ok(list) => list,
            Err(e) => {
                ctx.failed(kind, resource, "list", &e);
                ctx.pause(backoff.next_wait(), &mut jitter).await;
                continue;
            }
        };
        let mut rv = list.metadata.resource_version.clone().unwrap_or_default();
        apply(ctx.store, Change::Listed(list.items));
        ctx.store.set_feed(kind, Feed::Watching);
        // Whether this watch's last wait was cut short by the API's return and spread: a 410
        // right after it relists without drawing a second delay.
        let mut spread_already = false;
        loop {
            let wp = WatchParams {
                field_selector: selector.clone(),
                timeout: u32::try_from(WATCH_TIMEOUT.as_secs()).ok(),
                bookmarks: true,
                ..WatchParams::default()
            };
            let started = Instant::now();
            let (mut events, mut failed, mut gone) = (0, false, false);
            match api.watch(&wp, &rv).await {
                Err(e) => {
                    gone = is_gone(&e);
                    failed = true;
                    if !gone {
                        ctx.failed(kind, resource, "watch", &e);
                    }
                }
                Ok(stream) => {
                    ctx.store.set_feed(kind, Feed::Watching);
                    let mut stream = std::pin::pin!(stream);
                    while let Some(item) = stream.next().await {
                        let object_rv = |o: &K| o.meta().resource_version.clone();
                        match item {
                            Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                                rv = object_rv(&o).unwrap_or(rv);
                                apply(ctx.store, Change::Applied(o));
                            }
                            Ok(WatchEvent::Deleted(o)) => {
                                rv = object_rv(&o).unwrap_or(rv);
                                apply(ctx.store, Change::Deleted(o));
                            }
                            Ok(WatchEvent::Bookmark(b)) => rv = b.metadata.resource_version,
                            Ok(WatchEvent::Error(s)) => {
                                failed = true;
                                gone = s.code == 410;
                                if !gone {
                                    ctx.failed(kind, resource, "watch", &s);
                                }
                                break;
                            }
                            Err(e) => {
                                failed = true;
                                ctx.failed(kind, resource, "watch", &e);
                                break;
                            }
                        }
                        events += 1;
                        if events == 1 {
                            ctx.monitor.observe(
                                Upstream::ApiServer,
                                &format!("the {resource} watch delivered an event"),
                            );
                        }
                    }
                }
            }
            match judge_watch_end(events, started.elapsed(), failed, gone) {
                WatchEnd::Relist => {
                    if !spread_already {
                        ctx.spread(&mut jitter).await;
                    }
                    break;
                }
                WatchEnd::Rewatch => {
                    backoff.reset();
                    spread_already = false;
                }
                WatchEnd::Silent => {
                    ctx.monitor.silent_watch(resource);
                    spread_already = false;
                }
                WatchEnd::Backoff => {
                    spread_already = ctx.pause(backoff.next_wait(), &mut jitter).await;
                }
            }
        }
    }
}

/// Applies a pod list or event, keeping only this node's pods.
pub fn apply_pods(store: &Store, change: Change<Pod>) {
    let node = store.node_name().to_owned();
    match change {
        Change::Listed(pods) => store.replace_pods(
            pods.iter().filter_map(|p| pod_info(p, &node)).collect(),
            Origin::Api,
        ),
        Change::Applied(p) => match pod_info(&p, &node) {
            Some(info) => store.upsert_pod(info),
            None => store.remove_pod(
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default(),
            ),
        },
        Change::Deleted(p) => store.remove_pod(
            p.metadata.namespace.as_deref().unwrap_or_default(),
            p.metadata.name.as_deref().unwrap_or_default(),
        ),
    }
}

/// Applies a node list or event, keeping only this node.
pub fn apply_node(store: &Store, change: Change<Node>) {
    let node = store.node_name().to_owned();
    match change {
        Change::Listed(nodes) => {
            let found = nodes.iter().find_map(|n| node_info(n, &node));
            store.set_node(found, Origin::Api);
        }
        Change::Applied(n) => {
            if let Some(info) = node_info(&n, &node) {
                store.set_node(Some(info), Origin::Api);
            }
        }
        Change::Deleted(n) => {
            if node_info(&n, &node).is_some() {
                store.set_node(None, Origin::Api);
            }
        }
    }
}

/// Applies a NetworkProfile list or event.
pub fn apply_profiles(store: &Store, change: Change<NetworkProfile>) {
    match change {
        Change::Listed(mut profiles) => {
            for p in &mut profiles {
                p.metadata.managed_fields = None;
            }
            store.replace_profiles(profiles, Origin::Api);
        }
        Change::Applied(mut p) => {
            p.metadata.managed_fields = None;
            store.upsert_profile(p);
        }
        Change::Deleted(p) => store.remove_profile(p.metadata.name.as_deref().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests;
