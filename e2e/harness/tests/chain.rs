//! chain: tether stays in the node's CNI chain when the main plugin writes its conflist again
//! (kindnetd does on every start, dropping what others added), exactly once, and leaves the
//! chain when its DaemonSet is removed — after which pods still start, without it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scenario;

use std::time::{Duration, Instant};

use e2e::backend::{Cluster, PodSpec};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::wait::await_condition;
use rstest::rstest;
use serde_json::Value;

use scenario::*;

/// kindnet's conflist, the node's primary CNI configuration (same path on both backends).
const CONFLIST: &str = "/etc/cni/net.d/10-kindnet.conflist";

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn tether_is_chained_again_after_the_main_plugin_rewrites_its_conflist_and_leaves_with_its_daemonset(
    #[future] cluster: Option<Cluster>,
) {
    let Some(cluster) = cluster.await else {
        return;
    };
    let admin = cluster.admin();
    let generation = create_profile(&admin, "camera", camera_spec()).await;
    assert_eq!(
        conflist(&cluster, "edge-1").await.1,
        1,
        "tether chained once"
    );

    // kindnetd restarts and writes its conflist from its template, without tether.
    let (inode, _) = conflist(&cluster, "edge-1").await;
    cluster.restart_main_plugin("edge-1").await.unwrap();
    await_tether_entries(&cluster, "edge-1", 1, Some(inode)).await;
    let cam = cluster
        .add_pod("edge-1", &PodSpec::labelled("cam-1", "app", "camera"))
        .await
        .unwrap();
    assert_eq!(
        (cam.profile(), cam.generation()),
        (Some("camera"), Some(generation)),
        "{:?}",
        cam.tether
    );
    assert_eq!(pod_mtu(&cluster, &cam).await, 1400);

    // The DaemonSet goes: its install-cni sidecar takes tether out of every node's chain, and
    // a pod started afterwards runs on the main plugin alone.
    cluster.remove_tether().await.unwrap();
    for node in cluster.nodes() {
        await_tether_entries(&cluster, &node, 0, None).await;
    }
    cluster
        .create_pod("edge-1", &PodSpec::labelled("cam-2", "app", "camera"))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(admin, "default");
    let running = |pod: Option<&Pod>| {
        pod.and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.phase.as_deref() == Some("Running") && s.pod_ip.is_some())
    };
    tokio::time::timeout(
        Duration::from_secs(60),
        await_condition(pods, "cam-2", running),
    )
    .await
    .expect("cam-2 Running with an IP, without tether, within 60s")
    .unwrap();
    cluster.down().await.unwrap();
}

/// The conflist's inode and how many of its plugins are tether.
async fn conflist(cluster: &Cluster, node: &str) -> (String, usize) {
    let inode = cluster
        .node_exec(node, &["stat", "--format=%i", CONFLIST])
        .await
        .unwrap();
    let text = cluster.node_exec(node, &["cat", CONFLIST]).await.unwrap();
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let tether = json["plugins"]
        .as_array()
        .unwrap_or_else(|| panic!("no plugins in {text}"))
        .iter()
        .filter(|p| p["type"] == "tether")
        .count();
    (inode.trim().to_owned(), tether)
}

/// Waits until the conflist on `node` chains tether `want` times — never more than once on the
/// way — and, given `replaced`, is no longer the file with that inode (it was written again).
async fn await_tether_entries(
    cluster: &Cluster,
    node: &str,
    want: usize,
    replaced: Option<String>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (inode, tether) = conflist(cluster, node).await;
        assert!(tether <= 1, "{tether} tether entries on {node}");
        if tether == want && replaced.as_ref().is_none_or(|old| *old != inode) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{node}: {tether} tether entries (want {want}), inode {inode} (was {replaced:?}) after 30s"
        );
        // install-cni gives no sign but the file it writes.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
