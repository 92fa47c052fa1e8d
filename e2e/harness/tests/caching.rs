//! caching: an edge node cut off from the cloud keeps giving pods their profiles — from its
//! live store, from disk after an agent restart, and after a yurthub restart — and converges
//! once it is back, with
//! the Events and status entries it queued delivered once each. On the sim, as on kind, the
//! agent reaches the API through yurthub, which answers while the node is cut off and
//! acknowledges writes it drops: what the agent queued must still arrive, exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scenario;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use e2e::backend::{AGENT_USER, Cluster, Cut, PodSpec};
use rstest::rstest;
use serde_json::json;

use scenario::*;

#[rstest]
#[case::network_disconnect(Cut::Network)]
#[case::blackhole(Cut::Blackhole)]
#[tokio::test(flavor = "multi_thread")]
async fn an_edge_node_behind_yurthub_serves_profiles_while_cut_off_and_converges_after(
    #[case] cut: Cut,
    #[future] cluster: Option<Cluster>,
) {
    let Some(cluster) = cluster.await else {
        return;
    };
    let admin = cluster.admin();
    let gen1 = create_profile(&admin, "camera", camera_spec()).await;
    let cam1 = cluster
        .add_pod("edge-1", &PodSpec::labelled("cam-1", "app", "camera"))
        .await
        .unwrap();
    assert_eq!(
        (cam1.profile(), cam1.source()),
        (Some("camera"), Some("live"))
    );
    // Two more pods the node runs before the cut; while it is cut off, their sandboxes are
    // recreated (attempt + 1), as kubelet replaces a dead sandbox on a disconnected node.
    let uid2 = cluster
        .create_pod("edge-1", &PodSpec::labelled("cam-2", "app", "camera"))
        .await
        .unwrap();
    let uid3 = cluster
        .create_pod("edge-1", &PodSpec::labelled("cam-3", "app", "camera"))
        .await
        .unwrap();
    await_status(
        &cluster,
        "camera",
        "edge-1",
        3,
        gen1,
        Duration::from_secs(30),
    )
    .await;

    cluster.cut("edge-1", cut).await.unwrap();
    let cam2 = cluster
        .add_sandbox("edge-1", "default", "cam-2", &uid2)
        .await
        .unwrap();
    assert_eq!(
        (cam2.profile(), cam2.generation()),
        (Some("camera"), Some(gen1)),
        "{:?}",
        cam2.tether
    );
    assert_eq!(pod_mtu(&cluster, &cam2).await, 1400);

    // The cloud changes the profile while the node cannot see it.
    let gen2 = patch_profile(&admin, "camera", json!({"mtu": 1300})).await;
    assert!(gen2 > gen1);

    // A restarted agent has only its disk cache: it must answer from it, at once.
    cluster.restart_agent("edge-1").await.unwrap();
    let cam3 = cluster
        .add_sandbox("edge-1", "default", "cam-3", &uid3)
        .await
        .unwrap();
    assert_eq!(cam3.source(), Some("cache"), "{:?}", cam3.tether);
    assert_eq!(
        (cam3.profile(), cam3.generation()),
        (Some("camera"), Some(gen1))
    );
    assert_eq!(pod_mtu(&cluster, &cam3).await, 1400);

    // yurthub restarted while cut off: it comes back with its disk cache (not its recorded
    // selectors) and the agent, its connections reset, still answers a new sandbox of cam-2.
    cluster.restart_yurthub("edge-1").await.unwrap();
    let cam2_again = cluster
        .add_sandbox("edge-1", "default", "cam-2", &uid2)
        .await
        .unwrap();
    assert_eq!(
        (
            cam2_again.source(),
            cam2_again.profile(),
            cam2_again.generation()
        ),
        (Some("cache"), Some("camera"), Some(gen1)),
        "{:?}",
        cam2_again.tether
    );
    assert_eq!(pod_mtu(&cluster, &cam2_again).await, 1400);

    // Back online: the node converges — once yurthub has seen two successful probes and the
    // agent's own probe has seen the API server answer again.
    cluster.reconnect("edge-1", cut).await.unwrap();
    let reconnected = Instant::now();
    // A deadline, not a measurement: with yurthub's default 10 s probe
    // (TETHER_E2E_YURTHUB_PROBE_INTERVAL=10s) a blackhole's way back takes over 30 s.
    await_status(
        &cluster,
        "camera",
        "edge-1",
        3,
        gen2,
        Duration::from_secs(90),
    )
    .await;
    eprintln!(
        "[e2e] reconnect to converged status: {:.1} s",
        reconnected.elapsed().as_secs_f64()
    );
    // A new sandbox for cam-1 (attempt + 1; kubelet may replace a sandbox any time).
    let again = cluster
        .add_sandbox("edge-1", "default", "cam-1", &cam1_uid(&cluster).await)
        .await
        .unwrap();
    assert_eq!(
        (again.source(), again.generation()),
        (Some("live"), Some(gen2)),
        "{:?}",
        again.tether
    );
    assert_eq!(pod_mtu(&cluster, &again).await, 1300);

    // ... and what it queued while cut off arrives: one Event per applied profile
    // generation and pod, none lost, none duplicated.
    let expected = [
        ("cam-1", gen1),
        ("cam-1", gen2),
        ("cam-2", gen1),
        ("cam-3", gen1),
    ];
    let events = await_events(&admin, "default", Duration::from_secs(30), |events| {
        expected.iter().all(|(pod, generation)| {
            events
                .iter()
                .any(|e| regarding(e) == Some(pod) && mentions_generation(e, *generation))
        })
    })
    .await;
    let mut counts: BTreeMap<(String, i64), usize> = BTreeMap::new();
    for event in &events {
        for (pod, generation) in expected {
            if regarding(event) == Some(pod) && mentions_generation(event, generation) {
                *counts.entry((pod.to_string(), generation)).or_default() += 1;
            }
        }
    }
    for (key, count) in counts {
        assert_eq!(count, 1, "Events for {key:?}: {count}");
    }
    // Exactly once from the API server's side too: yurthub's offline 201s never reached it,
    // and it created each of the agent's Events once (a retry of a delivered one is a 409).
    let created = cluster
        .audit()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| {
            r.user == AGENT_USER && r.resource == "events" && r.verb == "create" && r.code == 201
        })
        .count();
    assert_eq!(
        created,
        events.len(),
        "Event creates the API server answered 201, against the Events it holds"
    );
    cluster.down().await.unwrap();
}

fn mentions_generation(event: &k8s_openapi::api::events::v1::Event, generation: i64) -> bool {
    event
        .note
        .as_deref()
        .is_some_and(|n| n.contains(&format!("(generation {generation})")))
}

async fn cam1_uid(cluster: &Cluster) -> String {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(cluster.admin(), "default");
    pods.get("cam-1").await.unwrap().metadata.uid.unwrap()
}
