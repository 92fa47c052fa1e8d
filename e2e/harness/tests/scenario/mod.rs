//! What every scenario uses: the cluster fixture, NetworkProfiles, waits on API state driven
//! by watches, and readings of a node's kernel.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::backend::{Attached, Cluster, ClusterSpec, Up, read_kernel};
use futures::TryStreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::wait::await_condition;
use kube::runtime::watcher;
use serde_json::{Value, json};
use testkit::kernel;

/// Fixture: a default cluster (edge-1 in pool hangzhou, edge-2 in pool shanghai) with tether;
/// `None` in a dry run, after saying where the plan is (see [`cluster_with`]).
#[rstest::fixture]
pub async fn cluster() -> Option<Cluster> {
    cluster_with(ClusterSpec::default()).await
}

/// Brings a cluster with `spec` up. In a dry run (`TETHER_E2E_DRY_RUN=1`, kind backend) it
/// writes the plan, says where, and returns `None`: the scenario ends there, successfully,
/// since nothing ran that could be checked.
pub async fn cluster_with(spec: ClusterSpec) -> Option<Cluster> {
    match e2e::backend::up(spec)
        .await
        .expect("bringing the cluster up")
    {
        Up::Running(cluster) => Some(cluster),
        Up::Planned(dir) => {
            eprintln!(
                "[e2e] dry run: nothing ran; the plan (files and commands.sh) is in {}",
                dir.display()
            );
            None
        }
    }
}

/// The NetworkProfile API.
pub fn profiles(client: kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("tether.dev", "v1alpha1", "NetworkProfile");
    Api::all_with(
        client,
        &ApiResource::from_gvk_with_plural(&gvk, "networkprofiles"),
    )
}

/// The demo profile's spec (DESIGN.md's example) for pods `app=camera` in pool `hangzhou`.
pub fn camera_spec() -> Value {
    testkit::demo::profile_spec()
}

/// Creates a NetworkProfile; its generation.
pub async fn create_profile(client: &kube::Client, name: &str, spec: Value) -> i64 {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "NetworkProfile",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap();
    let created = profiles(client.clone())
        .create(&PostParams::default(), &object)
        .await
        .expect("creating a NetworkProfile");
    created.metadata.generation.expect("generation")
}

/// Merge-patches a profile's spec; the new generation.
pub async fn patch_profile(client: &kube::Client, name: &str, spec: Value) -> i64 {
    let patched = profiles(client.clone())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": spec})),
        )
        .await
        .expect("patching a NetworkProfile");
    patched.metadata.generation.expect("generation")
}

/// This node's entry in the profile's `status.nodes`.
pub fn status_entry(profile: &DynamicObject, node: &str) -> Option<Value> {
    profile.data["status"]["nodes"]
        .as_array()?
        .iter()
        .find(|e| e["nodeName"] == node)
        .cloned()
}

/// Waits, on a watch of the profile, until `node`'s agent reports at least `pods` matched pods
/// at `generation`. The agent writes this entry only after it has seen the profile and the
/// pods, so it is how a scenario knows the node caught up.
pub async fn await_status(
    cluster: &Cluster,
    profile: &str,
    node: &str,
    pods: i64,
    generation: i64,
    within: Duration,
) -> Value {
    let node_name = cluster.node_name(node).unwrap();
    let api = profiles(cluster.admin());
    let wanted = node_name.clone();
    let condition = move |obj: Option<&DynamicObject>| {
        obj.and_then(|p| status_entry(p, &wanted)).is_some_and(|e| {
            e["matchedPods"].as_i64() >= Some(pods)
                && e["observedGeneration"].as_i64() == Some(generation)
        })
    };
    let found = tokio::time::timeout(within, await_condition(api, profile, condition)).await;
    let latest = profiles(cluster.admin()).get(profile).await.ok();
    match found {
        Ok(Ok(_)) => status_entry(latest.as_ref().unwrap(), &node_name).unwrap(),
        _ => panic!(
            "{node} did not report {pods} pods at generation {generation} of {profile} within {within:?}; status: {}",
            latest
                .map(|p| p.data["status"].to_string())
                .unwrap_or_default()
        ),
    }
}

/// The pod an Event is about.
pub fn regarding(event: &Event) -> Option<&str> {
    event.regarding.as_ref().and_then(|r| r.name.as_deref())
}

/// Waits, on a watch of `namespace`'s Events, until `done` holds for the Events seen; returns them.
pub async fn await_events(
    client: &kube::Client,
    namespace: &str,
    within: Duration,
    done: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let mut seen: BTreeMap<String, Event> = BTreeMap::new();
    let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
    let outcome = tokio::time::timeout(within, async {
        let mut listed = false;
        while let Some(change) = stream.try_next().await.expect("watching Events") {
            match change {
                watcher::Event::Apply(e) | watcher::Event::InitApply(e) => {
                    seen.insert(e.metadata.uid.clone().unwrap_or_default(), e);
                }
                watcher::Event::Delete(e) => {
                    seen.remove(&e.metadata.uid.clone().unwrap_or_default());
                }
                watcher::Event::Init => seen.clear(),
                watcher::Event::InitDone => listed = true,
            }
            let events: Vec<Event> = seen.values().cloned().collect();
            if listed && done(&events) {
                return Ok(events);
            }
        }
        Err(())
    })
    .await;
    match outcome {
        Ok(Ok(events)) => events,
        _ => {
            let events: Vec<String> = seen
                .values()
                .map(|e| format!("{:?}: {:?}", regarding(e), e.note))
                .collect();
            panic!(
                "Events in {namespace} did not reach the expected state within {within:?}; seen: {events:#?}"
            )
        }
    }
}

/// The tbf rate on `dev` of `node`, in bits per second.
pub async fn tbf_rate_bits(cluster: &Cluster, node: &str, dev: &str) -> Option<u64> {
    read_kernel(cluster.as_ref(), node, &kernel::tbf_rate_bits(dev)).await
}

/// The ifb device the bandwidth plugin redirects `dev`'s ingress to.
pub async fn redirect_target(cluster: &Cluster, node: &str, dev: &str) -> Option<String> {
    read_kernel(cluster.as_ref(), node, &kernel::redirect_target(dev)).await
}

/// The MTU of the pod's eth0.
pub async fn pod_mtu(cluster: &Cluster, pod: &Attached) -> u64 {
    read_kernel(
        cluster.as_ref(),
        &pod.node,
        &kernel::mtu(Some(&pod.netns), "eth0"),
    )
    .await
    .unwrap_or_else(|| panic!("no eth0 in {} on {}", pod.netns, pod.node))
}

/// A sysctl inside the pod's network namespace.
pub async fn pod_sysctl(cluster: &Cluster, pod: &Attached, key: &str) -> String {
    read_kernel(
        cluster.as_ref(),
        &pod.node,
        &kernel::sysctl(&pod.netns, key),
    )
    .await
    .unwrap_or_else(|| panic!("sysctl {key} in {} on {}", pod.netns, pod.node))
}

/// Whether a link exists on the node's host side.
pub async fn host_link_exists(cluster: &Cluster, node: &str, name: &str) -> bool {
    read_kernel(cluster.as_ref(), node, &kernel::link_exists(name))
        .await
        .is_some()
}
