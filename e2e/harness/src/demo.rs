//! `tether-sim demo`: the sim backend as a demo for machines without Kind — two edge nodes,
//! tether, a demo NetworkProfile and pods — kept up until SIGTERM or Ctrl-C, with fixed names
//! so `hack/` can find it (network `tether-demo`, containers `tether-demo-<node>`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;

use crate::backend::{Backend, ClusterSpec, PodSpec};
use crate::sim::SimCluster;

/// Name of the demo's network and prefix of its containers.
pub const DEMO_NAME: &str = "tether-demo";

/// Brings the demo up, writes `dir/kubeconfig` and then `dir/ready`, and serves until a
/// signal; the harness's signal handler removes the containers and the network.
pub async fn run(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let spec = ClusterSpec {
        name: Some(DEMO_NAME.into()),
        ..ClusterSpec::default()
    };
    let cluster = SimCluster::up(spec)
        .await
        .context("bringing the sim demo up")?;
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, cluster.admin_kubeconfig())
        .with_context(|| format!("writing {}", kubeconfig.display()))?;

    let gvk = GroupVersionKind::gvk("tether.dev", "v1alpha1", "NetworkProfile");
    let profiles: Api<DynamicObject> = Api::all_with(
        cluster.admin(),
        &ApiResource::from_gvk_with_plural(&gvk, "networkprofiles"),
    );
    profiles
        .create(
            &PostParams::default(),
            &serde_json::from_value(testkit::demo::profile())?,
        )
        .await
        .context("creating the demo NetworkProfile")?;
    let pods = [
        ("edge-1", "camera-1", "camera"),
        ("edge-1", "web-1", "web"),
        ("edge-2", "camera-2", "camera"),
    ];
    for (node, name, app) in pods {
        let pod = PodSpec {
            namespace: "default".into(),
            name: name.into(),
            labels: BTreeMap::from([("app".into(), app.into())]),
        };
        let attached = cluster
            .add_pod(node, &pod)
            .await
            .with_context(|| format!("starting pod {name} on {node}"))?;
        println!(
            "pod default/{name} on {node}: profile {}, source {}",
            attached.profile().unwrap_or("none"),
            attached.source().unwrap_or("none")
        );
    }
    std::fs::write(&ready, b"").with_context(|| format!("writing {}", ready.display()))?;
    println!(
        "tether-sim demo ready: KUBECONFIG={} kubectl get networkprofiles,pods -A",
        kubeconfig.display()
    );
    println!("cut a node off with hack/disconnect.sh edge-1; stop with hack/down.sh");
    // Serve until a signal; the harness's handler (crate::cleanup) removes what the demo made.
    std::future::pending::<()>().await;
    Ok(())
}
