//! The three watches, each with exactly one selector (yurthub skips caching a resource that
//! one component lists in two ways), feeding the store. Objects are filtered again on the
//! client side because yurthub's offline lists ignore selectors.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::metrics::Metrics;
use crate::profile::crd::NetworkProfile;
use crate::state::records::{Feed, NodeInfo, Origin, PodInfo};
use crate::state::store::Store;

/// Field selector of the pod watch.
pub fn pod_selector(node: &str) -> String {
    format!("spec.nodeName={node}")
}

/// Field selector of the node watch.
pub fn node_selector(node: &str) -> String {
    format!("metadata.name={node}")
}

/// The pod as the store keeps it, if it is bound to `node`.
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

/// The node as the store keeps it, if it is `node`.
pub fn node_info(n: &Node, node: &str) -> Option<NodeInfo> {
    (n.metadata.name.as_deref() == Some(node)).then(|| NodeInfo {
        name: node.to_owned(),
        labels: n.metadata.labels.clone().unwrap_or_default(),
    })
}

/// Runs the three watches until the process stops.
pub async fn run(client: Client, store: Arc<Store>, metrics: Arc<Metrics>) {
    let node = store.node_name().to_owned();
    let pods = watcher::watcher(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default().fields(&pod_selector(&node)),
    );
    let nodes = watcher::watcher(
        Api::<Node>::all(client.clone()),
        watcher::Config::default().fields(&node_selector(&node)),
    );
    let profiles = watcher::watcher(
        Api::<NetworkProfile>::all(client),
        watcher::Config::default(),
    );
    tokio::join!(
        drive(pods.default_backoff(), &store, &metrics, "pods", apply_pods),
        drive(
            nodes.default_backoff(),
            &store,
            &metrics,
            "node",
            apply_node
        ),
        drive(
            profiles.default_backoff(),
            &store,
            &metrics,
            "networkprofiles",
            apply_profiles
        ),
    );
}

/// A list in progress: objects of an initial (re)list, applied at once when it completes.
type Applier<K> = fn(&Store, Event<K>, &mut Vec<K>);

async fn drive<K>(
    stream: impl Stream<Item = Result<Event<K>, watcher::Error>>,
    store: &Store,
    metrics: &Metrics,
    resource: &'static str,
    apply: Applier<K>,
) {
    let mut listing = Vec::new();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => apply(store, event, &mut listing),
            Err(e) => {
                metrics
                    .watch_errors
                    .get_or_create(&[("resource", resource)])
                    .inc();
                tracing::warn!(resource, error = %e, "watch failed; serving what the store has");
                if resource == "pods" {
                    store.set_pod_feed(Feed::Down);
                }
            }
        }
    }
}

/// Applies one pod watch event.
pub fn apply_pods(store: &Store, event: Event<Pod>, listing: &mut Vec<Pod>) {
    let node = store.node_name().to_owned();
    match event {
        Event::Init => listing.clear(),
        Event::InitApply(p) => listing.push(p),
        Event::InitDone => {
            let pods = listing
                .drain(..)
                .filter_map(|p| pod_info(&p, &node))
                .collect();
            store.replace_pods(pods, Origin::Api);
            store.set_pod_feed(Feed::Watching);
        }
        Event::Apply(p) => match pod_info(&p, &node) {
            Some(info) => store.upsert_pod(info),
            None => store.remove_pod(
                p.metadata.namespace.as_deref().unwrap_or_default(),
                p.metadata.name.as_deref().unwrap_or_default(),
            ),
        },
        Event::Delete(p) => store.remove_pod(
            p.metadata.namespace.as_deref().unwrap_or_default(),
            p.metadata.name.as_deref().unwrap_or_default(),
        ),
    }
}

/// Applies one node watch event.
pub fn apply_node(store: &Store, event: Event<Node>, listing: &mut Vec<Node>) {
    let node = store.node_name().to_owned();
    match event {
        Event::Init => listing.clear(),
        Event::InitApply(n) => listing.push(n),
        Event::InitDone => {
            let found = listing.drain(..).find_map(|n| node_info(&n, &node));
            store.set_node(found, Origin::Api);
        }
        Event::Apply(n) => {
            if let Some(info) = node_info(&n, &node) {
                store.set_node(Some(info), Origin::Api);
            }
        }
        Event::Delete(n) => {
            if node_info(&n, &node).is_some() {
                store.set_node(None, Origin::Api);
            }
        }
    }
}

/// Applies one NetworkProfile watch event.
pub fn apply_profiles(
    store: &Store,
    event: Event<NetworkProfile>,
    listing: &mut Vec<NetworkProfile>,
) {
    match event {
        Event::Init => listing.clear(),
        Event::InitApply(mut p) => {
            p.metadata.managed_fields = None;
            listing.push(p);
        }
        Event::InitDone => store.replace_profiles(std::mem::take(listing), Origin::Api),
        Event::Apply(mut p) => {
            p.metadata.managed_fields = None;
            store.upsert_profile(p);
        }
        Event::Delete(p) => store.remove_profile(p.metadata.name.as_deref().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests;
