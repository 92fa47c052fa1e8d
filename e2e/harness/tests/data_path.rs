//! data path: a profile's bandwidth, MTU and sysctls end up in the kernel of the edge node
//! and of the pod — and only for the pods and nodes it selects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod scenario;

use e2e::backend::PodSpec;
use rstest::rstest;
use std::time::Duration;

use e2e::backend::Cluster;
use scenario::*;

#[rstest]
#[tokio::test(flavor = "multi_thread")]
async fn a_profile_reaches_the_kernel_of_the_pods_it_selects(#[future] cluster: Option<Cluster>) {
    let Some(cluster) = cluster.await else {
        return;
    };
    let admin = cluster.admin();
    let generation = create_profile(&admin, "camera", camera_spec()).await;

    // Pods exist in the API before their sandboxes, as the scheduler and kubelet order it.
    let camera = cluster
        .add_pod("edge-1", &PodSpec::labelled("cam-1", "app", "camera"))
        .await
        .unwrap();
    await_status(
        &cluster,
        "camera",
        "edge-1",
        1,
        generation,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(camera.profile(), Some("camera"), "{:?}", camera.tether);
    assert_eq!(camera.generation(), Some(generation));
    assert_eq!(camera.source(), Some("live"));

    let veth = camera.host_veth.clone().expect("host veth of the pod");
    assert_eq!(
        tbf_rate_bits(&cluster, "edge-1", &veth).await,
        Some(10_000_000),
        "ingress shaping on {veth}"
    );
    let ifb = redirect_target(&cluster, "edge-1", &veth)
        .await
        .expect("egress redirect");
    assert_eq!(
        tbf_rate_bits(&cluster, "edge-1", &ifb).await,
        Some(5_000_000),
        "egress shaping on {ifb}"
    );
    assert_eq!(pod_mtu(&cluster, &camera).await, 1400);
    assert_eq!(
        pod_sysctl(&cluster, &camera, "net.ipv4.tcp_keepalive_time").await,
        "60"
    );

    // Another app on the same node, and the same app in another pool: untouched.
    let web = cluster
        .add_pod("edge-1", &PodSpec::labelled("web-1", "app", "web"))
        .await
        .unwrap();
    let far = cluster
        .add_pod("edge-2", &PodSpec::labelled("cam-2", "app", "camera"))
        .await
        .unwrap();
    for pod in [&web, &far] {
        assert_eq!(pod.profile(), None, "{} got {:?}", pod.name, pod.tether);
        assert_eq!(
            pod_mtu(&cluster, pod).await,
            u64::from(cluster.default_pod_mtu(&pod.node).await.unwrap())
        );
        let veth = pod.host_veth.clone().unwrap();
        assert_eq!(tbf_rate_bits(&cluster, &pod.node, &veth).await, None);
    }

    // DEL takes the shaping away with the sandbox.
    cluster.del_sandbox(&camera).await.unwrap();
    assert!(
        !host_link_exists(&cluster, "edge-1", &ifb).await,
        "ifb {ifb} left behind"
    );
    assert!(
        !host_link_exists(&cluster, "edge-1", &veth).await,
        "veth {veth} left behind"
    );
    cluster.down().await.unwrap();
}
