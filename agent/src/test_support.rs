//! Builders shared by the unit tests.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::profile::crd::{NetworkProfile, NetworkProfileSpec, NetworkProfileStatus, NodeStatus};
use crate::state::records::{NodeInfo, PodInfo};

/// Labels from pairs.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A pod on the test node.
pub fn pod(ns: &str, name: &str, uid: &str, l: &[(&str, &str)]) -> PodInfo {
    PodInfo {
        namespace: ns.into(),
        name: name.into(),
        uid: uid.into(),
        labels: labels(l),
    }
}

/// The test node `edge-1`.
pub fn node(l: &[(&str, &str)]) -> NodeInfo {
    NodeInfo {
        name: "edge-1".into(),
        labels: labels(l),
    }
}

/// A profile selecting pods with `app=<app>` and setting an MTU.
pub fn profile(name: &str, generation: i64, priority: i32, app: &str, mtu: u32) -> NetworkProfile {
    let mut p = NetworkProfile::new(
        name,
        NetworkProfileSpec {
            priority,
            pod_selector: Some(LabelSelector {
                match_labels: Some(labels(&[("app", app)])),
                match_expressions: None,
            }),
            mtu: Some(mtu),
            ..Default::default()
        },
    );
    p.metadata = ObjectMeta {
        name: Some(name.into()),
        generation: Some(generation),
        ..Default::default()
    };
    p
}

/// Gives a profile a status entry for `node`.
pub fn with_status(
    mut p: NetworkProfile,
    node: &str,
    matched: u32,
    generation: i64,
) -> NetworkProfile {
    p.status = Some(NetworkProfileStatus {
        nodes: vec![NodeStatus {
            node_name: node.into(),
            matched_pods: matched,
            observed_generation: generation,
        }],
        ..Default::default()
    });
    p
}

/// A mock API server handle, as in kube-rs controller-rs's ApiServerVerifier.
pub type ApiHandle =
    tower_test::mock::Handle<http::Request<kube::client::Body>, http::Response<kube::client::Body>>;

/// A client with the agent's layers over a mock API server.
pub fn mock_client(
    retried: prometheus_client::metrics::counter::Counter,
) -> (kube::Client, ApiHandle) {
    let (service, handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    let limits = crate::api::client::Limits {
        qps: 1000.0,
        burst: 1000,
        throttled: Default::default(),
        retried,
    };
    (
        crate::api::client::with_layers(
            kube::client::ClientBuilder::new(service, "default"),
            &limits,
        ),
        handle,
    )
}

/// A JSON response with `status`.
pub fn respond(status: u16, body: serde_json::Value) -> http::Response<kube::client::Body> {
    http::Response::builder()
        .status(status)
        .body(kube::client::Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}
