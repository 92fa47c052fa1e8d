//! The cloud side of the fleet benchmark: `tether-sim`'s API double with `deploy/` applied,
//! N nodes with a pod each, one NetworkProfile every node reports on, the agents' flow limited as APF would,
//! and the region's link to it (one [`Link`] every agent goes through, cut and restored at
//! once). The double and the link run on runtimes of their own, with named threads, so that
//! the double's CPU time can be read apart from everything else in this process.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tether_sim::apiserver::{self, ApiServer, AuditEvent, FlowLimit, SimConfig};
use tether_sim::link::Link;

/// Who every agent is to the API server: one ServiceAccount, as in a DaemonSet.
pub const AGENT_USER: &str = "system:serviceaccount:tether-system:tether-agent";
/// Name prefix of the double's runtime threads (what [`crate::cpu`] samples).
pub const API_THREADS: &str = "sim-api";
/// The profile every node reports on.
pub const PROFILE: &str = "fleet";
/// Events the double keeps for watches; the cut writes more than this, so every watch the
/// agents resume is answered 410 and they all relist, as after a cut longer than etcd's
/// compaction window.
pub const WATCH_HISTORY: usize = 2_000;

/// The node name of agent `i`.
pub fn node(i: usize) -> String {
    format!("edge-{i:05}")
}

/// The double, its link, and their runtimes (declared in drop order).
pub struct Cloud {
    pub server: ApiServer,
    pub link: Link,
    _link_runtime: tokio::runtime::Runtime,
    _api_runtime: tokio::runtime::Runtime,
}

impl Cloud {
    /// Starts the double with `deploy/` and `nodes` nodes, the profile at generation 1, and
    /// the agents' flow limited to `limit`.
    pub fn start(nodes: usize, limit: FlowLimit) -> Self {
        let api_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(API_THREADS)
            .enable_all()
            .build()
            .unwrap();
        let link_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sim-link")
            .enable_all()
            .build()
            .unwrap();
        let server = api_runtime
            .block_on(apiserver::start(SimConfig {
                watch_history: WATCH_HISTORY,
                ..SimConfig::default()
            }))
            .unwrap();
        for doc in testkit::repo::deploy_documents().unwrap() {
            if doc["kind"] == "DaemonSet" {
                continue; // the benchmark runs the DaemonSet's pods itself
            }
            server.load_object(doc).unwrap();
        }
        for i in 0..nodes {
            server
                .load_object(json!({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": node(i), "labels": {"apps.openyurt.io/nodepool": "fleet"}}}))
                .unwrap();
            // A node reports on a profile only while the profile selects one of its pods.
            server
                .load_object(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"namespace": "default", "name": format!("cam-{}", node(i)), "labels": {"app": "camera"}},
                    "spec": {"nodeName": node(i), "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}))
                .unwrap();
        }
        server.load_object(profile(1400)).unwrap();
        server.set_flow_limit(AGENT_USER, Some(limit));
        let addr = server.url().trim_start_matches("https://").parse().unwrap();
        let link = link_runtime.block_on(Link::start(addr)).unwrap();
        Self {
            server,
            link,
            _link_runtime: link_runtime,
            _api_runtime: api_runtime,
        }
    }

    /// Writes agent `i`'s kubeconfig under `dir`: through the link, with a token of the
    /// agents' ServiceAccount bound to its node.
    pub fn kubeconfig(&self, dir: &Path, i: usize) -> PathBuf {
        let token = self.server.mint_service_account_token_on_node(
            "tether-system",
            "tether-agent",
            &node(i),
        );
        let url = format!("https://{}", self.link.addr());
        let path = dir.join("kubeconfig");
        std::fs::write(&path, self.server.kubeconfig_for(&url, &token)).unwrap();
        path
    }

    /// The profile's generation.
    pub fn generation(&self) -> i64 {
        self.profile()["metadata"]["generation"].as_i64().unwrap()
    }

    fn profile(&self) -> Value {
        self.server
            .object("tether.dev/networkprofiles", "", PROFILE)
            .unwrap()
    }

    /// Size of the profile as stored, `managedFields` included (one entry per node's field
    /// manager), in bytes of JSON: what every status write sends to every profile watch.
    pub fn profile_bytes(&self) -> usize {
        self.profile().to_string().len()
    }

    /// How many of the nodes' status entries carry `generation`.
    pub fn current_entries(&self, generation: i64) -> usize {
        let profile = self.profile();
        profile["status"]["nodes"].as_array().map_or(0, |entries| {
            entries
                .iter()
                .filter(|e| e["observedGeneration"].as_i64() == Some(generation))
                .count()
        })
    }

    /// Changes the profile (a new generation) and writes `churn` unrelated objects, so that
    /// the resourceVersions the agents hold fall out of the watch history.
    pub fn change_profile(&self, mtu: u32, churn: usize) {
        self.server.load_object(profile(mtu)).unwrap();
        for i in 0..churn {
            self.server
                .load_object(json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"namespace": "default", "name": "churn"},
                    "data": {"i": i.to_string()}}))
                .unwrap();
        }
    }

    /// The agents' requests, in order of arrival.
    pub fn agent_requests(&self) -> Vec<AuditEvent> {
        self.server
            .audit_events()
            .into_iter()
            .filter(|e| e.user == AGENT_USER)
            .collect()
    }
}

/// Profile `fleet`: every pod on every node.
fn profile(mtu: u32) -> Value {
    json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": PROFILE},
           "spec": {"priority": 1, "podSelector": {}, "mtu": mtu}})
}
