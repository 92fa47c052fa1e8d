//! What a Kind cluster for tether is made of: its name, its edge nodes and their pools, the
//! tether image, and where the generated files go.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::error::KindError;

/// The docker network kind puts every node on (kind v0.31 `fixedNetworkName`).
pub const KIND_NETWORK: &str = "kind";
/// Namespace of the tether DaemonSet (DESIGN.md, fixed names).
pub const TETHER_NAMESPACE: &str = "tether-system";
/// Name of the tether DaemonSet and of its ServiceAccount.
pub const TETHER_AGENT: &str = "tether-agent";
/// Where kubeadm's API server writes its audit log inside the control-plane container.
pub const AUDIT_LOG_PATH: &str = "/var/log/kubernetes/kube-apiserver-audit.log";
/// Directory of the audit policy inside the control-plane container (mounted from the host).
pub const AUDIT_POLICY_DIR: &str = "/etc/kubernetes/policies";
/// Node label that makes a node a member of a NodePool (and an edge node, for an Edge pool).
pub const NODEPOOL_LABEL: &str = "apps.openyurt.io/nodepool";
/// Label yurt-manager sets once node-servant has installed yurthub on the node.
pub const EDGE_WORKER_LABEL: &str = "openyurt.io/is-edge-worker";
/// yurthub's health endpoint on an edge node (yurtadm's CheckYurthubHealthz, OpenYurt v1.7.0).
pub const YURTHUB_HEALTHZ: &str = "http://127.0.0.1:10267/v1/healthz";
/// Prefix of every cluster name the harness makes; the demo's is `tether-kind`.
pub const CLUSTER_PREFIX: &str = "tether-e2e";
/// Where the harness keeps one directory per cluster (plan, kubeconfig, records), under the
/// repository.
pub const WORK_ROOT: &str = "target/tether-e2e-kind";
/// kube-apiserver `--max-requests-inflight` on the control plane. With
/// [`MAX_MUTATING_REQUESTS_INFLIGHT`] it makes the server's concurrency limit (ServerCL,
/// k8s.io/apiserver v0.34.3 `pkg/server/options/feature.go:77-84`) [`SERVER_CONCURRENCY`].
pub const MAX_REQUESTS_INFLIGHT: u32 = 164;
/// kube-apiserver `--max-mutating-requests-inflight` (the default 2:1 split of 400:200 kept).
pub const MAX_MUTATING_REQUESTS_INFLIGHT: u32 = 82;
/// ServerCL: one more than the shares of the priority levels Kubernetes v1.34 creates
/// ([`BOOTSTRAP_SHARES`]), so that a level given NCS shares, NCS ≤ 16, gets exactly NCS seats:
/// ceil(246·NCS / (245 + NCS)) = NCS. The default 600 cannot give 2 seats with any whole NCS.
pub const SERVER_CONCURRENCY: u32 = MAX_REQUESTS_INFLIGHT + MAX_MUTATING_REQUESTS_INFLIGHT;
/// Sum of `nominalConcurrencyShares` of the bootstrap priority levels of Kubernetes v1.34
/// (k8s.io/apiserver v0.34.3 `pkg/apis/flowcontrol/bootstrap/default.go`: exempt 0,
/// catch-all 5, system 30, node-high 40, leader-election 10, workload-high 40, workload-low
/// 100, global-default 20). A real run reads the live levels instead; a dry run plans with this.
pub const BOOTSTRAP_SHARES: u32 = 245;

/// One edge node and the NodePool it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeNode {
    /// Short name the scenarios and hack/ scripts use, e.g. `edge-1`.
    pub alias: String,
    /// NodePool (type Edge) the node is labelled into, e.g. `hangzhou`.
    pub pool: String,
}

/// Everything the plan is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindConfig {
    /// Docker network of the nodes: kind's `kind` unless `KIND_EXPERIMENTAL_DOCKER_NETWORK`
    /// says otherwise.
    pub network: String,
    /// kind cluster name; node containers are `<name>-control-plane`, `<name>-worker`, ….
    pub cluster_name: String,
    /// The workers, in kind's order: the first is `<name>-worker`, the second `<name>-worker2`.
    pub edge_nodes: Vec<EdgeNode>,
    /// Local docker image with tether-agent, tether-cni and the CNI plugins, loaded into kind.
    pub image: String,
    /// Image name used in `deploy/daemonset.yaml`, replaced by `image` through a kustomize overlay.
    pub deploy_image_name: String,
    /// Name of the agent's container in the DaemonSet (crictl matches on it).
    pub agent_container: String,
    /// Components whose responses yurthub caches (yurthub chart value `cacheAgents`).
    pub cache_agents: Vec<String>,
    /// The repository's `deploy/` directory (absolute).
    pub deploy_dir: PathBuf,
    /// Where generated files are written and the kubeconfig is kept (absolute).
    pub work_dir: PathBuf,
    /// Keep a running cluster of this name instead of recreating it, and leave it up at the end.
    pub reuse: bool,
    /// When reusing, delete what earlier scenario runs left in the cluster (profiles, pods and
    /// Events in `default`, `limit`'s squeeze and load) before this run: the harness's choice,
    /// not the demo's, whose objects stay.
    pub clear_earlier_runs: bool,
}

impl KindConfig {
    /// The defaults the harness and `hack/up.sh` use: cluster `tether-e2e`, two edge nodes
    /// `edge-1` (pool `hangzhou`) and `edge-2` (pool `shanghai`), image `tether-agent:0.1.0`.
    pub fn new(deploy_dir: PathBuf, work_dir: PathBuf) -> KindConfig {
        KindConfig {
            network: KIND_NETWORK.into(),
            cluster_name: "tether-e2e".into(),
            edge_nodes: vec![
                EdgeNode {
                    alias: "edge-1".into(),
                    pool: "hangzhou".into(),
                },
                EdgeNode {
                    alias: "edge-2".into(),
                    pool: "shanghai".into(),
                },
            ],
            image: "tether-agent:0.1.0".into(),
            deploy_image_name: "tether".into(),
            agent_container: "agent".into(),
            cache_agents: vec![TETHER_AGENT.into()],
            deploy_dir,
            work_dir,
            reuse: false,
            clear_earlier_runs: false,
        }
    }

    /// [`KindConfig::new`] for cluster `name` of a checkout at `repo_root` (absolute):
    /// `deploy/` from it, files, transcript and kubeconfig in `target/tether-e2e-kind/<name>/`,
    /// a directory of this cluster's own.
    pub fn in_repo(repo_root: &Path, name: &str) -> KindConfig {
        let mut config = KindConfig::new(
            repo_root.join("deploy"),
            repo_root.join(WORK_ROOT).join(name),
        );
        config.cluster_name = name.to_owned();
        config
    }

    /// Checks names before anything is run: bad input changes nothing.
    pub fn validate(&self) -> Result<(), KindError> {
        let invalid =
            |what: &str, why: &str| Err(KindError::InvalidConfig(format!("{what}: {why}")));
        if !is_dns_label(&self.cluster_name) || self.cluster_name.len() > 40 {
            return invalid(
                &self.cluster_name,
                "cluster name must be a DNS label of at most 40 characters",
            );
        }
        if self.network.is_empty() || self.network.contains(char::is_whitespace) {
            return invalid(&self.network, "docker network name");
        }
        if self.edge_nodes.is_empty() {
            return invalid("edge_nodes", "at least one edge node is needed");
        }
        for (i, node) in self.edge_nodes.iter().enumerate() {
            if !is_dns_label(&node.alias) || !is_dns_label(&node.pool) {
                return invalid(
                    &node.alias,
                    "node aliases and pool names must be DNS labels",
                );
            }
            if self.edge_nodes[..i].iter().any(|n| n.alias == node.alias) {
                return invalid(&node.alias, "node alias used twice");
            }
        }
        if self.cache_agents.is_empty() || self.cache_agents.iter().any(|a| !is_dns_label(a)) {
            return invalid(
                "cache_agents",
                "each cache agent must be a lowercase User-Agent prefix",
            );
        }
        if !self.cache_agents.iter().any(|a| a == TETHER_AGENT) {
            return invalid("cache_agents", "tether-agent must be cached by yurthub");
        }
        for (what, path) in [
            ("deploy_dir", &self.deploy_dir),
            ("work_dir", &self.work_dir),
        ] {
            if !path.is_absolute() {
                return invalid(what, "must be an absolute path");
            }
        }
        if self.image.is_empty() || self.image.contains(char::is_whitespace) {
            return invalid("image", "must be a docker image reference");
        }
        Ok(())
    }

    /// Container (and Kubernetes node) name of the control plane.
    pub fn control_plane(&self) -> String {
        format!("{}-control-plane", self.cluster_name)
    }

    /// Container (and Kubernetes node) names of the workers, as kind numbers them.
    pub fn worker_names(&self) -> Vec<String> {
        (0..self.edge_nodes.len())
            .map(|i| self.worker_name(i))
            .collect()
    }

    fn worker_name(&self, index: usize) -> String {
        match index {
            0 => format!("{}-worker", self.cluster_name),
            n => format!("{}-worker{}", self.cluster_name, n + 1),
        }
    }

    /// Resolves an alias (`edge-1`) or a kind node name (`tether-e2e-worker`) to the node name.
    pub fn node_name(&self, node: &str) -> Result<String, KindError> {
        self.edge_nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n, self.worker_name(i)))
            .find(|(n, name)| n.alias == node || name == node)
            .map(|(_, name)| name)
            .ok_or_else(|| {
                let known: Vec<String> = self.edge_nodes.iter().map(|n| n.alias.clone()).collect();
                KindError::UnknownNode {
                    node: node.to_owned(),
                    known: known.join(", "),
                }
            })
    }

    /// `(node name, pool)` for every edge node.
    pub fn pool_assignments(&self) -> Vec<(String, String)> {
        self.edge_nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (self.worker_name(i), n.pool.clone()))
            .collect()
    }

    /// The distinct pools, in the order they first appear.
    pub fn pools(&self) -> Vec<String> {
        let mut pools: Vec<String> = Vec::new();
        for node in &self.edge_nodes {
            if !pools.contains(&node.pool) {
                pools.push(node.pool.clone());
            }
        }
        pools
    }

    /// The kubeconfig kind writes for this cluster (never the user's ~/.kube/config).
    pub fn kubeconfig(&self) -> PathBuf {
        self.work_dir.join("kubeconfig")
    }
}

/// A cluster name of its own for each `up` of this process: `tether-e2e-<pid>-<n>` (at most
/// 30 characters; kind allows 40), so test cases running at once never share a cluster or a
/// work directory.
pub fn unique_cluster_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("{CLUSTER_PREFIX}-{}-{n}", std::process::id())
}

/// The name a reused cluster (`TETHER_E2E_REUSE=1`) has from run to run: `tether-e2e-r` and a
/// hash of the edge nodes and their pools, so a scenario finds the cluster of its own shape.
pub fn reused_cluster_name(nodes: &[EdgeNode]) -> String {
    // FNV-1a: stable across Rust releases, unlike std's DefaultHasher
    let mut hash: u32 = 0x811c_9dc5;
    for node in nodes {
        for byte in format!("{}={};", node.alias, node.pool).bytes() {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    format!("{CLUSTER_PREFIX}-r{hash:08x}")
}

/// RFC 1123 label (also a namespace name): lowercase alphanumerics and `-`, not at either end, 1..=63 long.
pub fn is_dns_label(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}
