//! The contract the scenarios are written against — [`Backend`], implemented by the `sim`
//! backend (default) and the `kind` backend, chosen with `TETHER_E2E_BACKEND` — and the
//! types it speaks. Neither backend imports the other; what both need lives in leaf modules
//! (`kubeconfig`, `images`, `binaries`, `docker`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use async_trait::async_trait;
use serde_json::Value;

pub use crate::request::Request;

/// Environment variable choosing the backend.
pub const BACKEND_ENV: &str = "TETHER_E2E_BACKEND";
/// Environment variable asking for a dry run: the kind backend writes its plan, runs nothing.
pub const DRY_RUN_ENV: &str = "TETHER_E2E_DRY_RUN";
/// The agent's identity as the API server sees it.
pub const AGENT_USER: &str = "system:serviceaccount:tether-system:tether-agent";

/// Which backend runs the scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Docker containers as edge nodes, an in-process API double.
    Sim,
    /// A Kind cluster with OpenYurt and yurthub.
    Kind,
}

impl BackendKind {
    /// From `TETHER_E2E_BACKEND` (`sim` when unset).
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(BACKEND_ENV).as_deref() {
            Err(_) | Ok("") | Ok("sim") => Ok(BackendKind::Sim),
            Ok("kind") => Ok(BackendKind::Kind),
            Ok(other) => bail!("{BACKEND_ENV}={other:?}: expected \"sim\" or \"kind\""),
        }
    }
}

/// How a node is cut off from the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// `docker network disconnect`, as OpenYurt's own e2e does: the link is gone.
    Network,
    /// Packets to the API server dropped: connections hang instead of failing.
    Blackhole,
}

/// An edge node to create.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Node name.
    pub name: String,
    /// OpenYurt node pool (`apps.openyurt.io/nodepool`).
    pub pool: String,
}

/// The cluster a scenario needs.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// Fixed name of the cluster's network and prefix of its containers (the demo); `None`
    /// makes names unique to the run.
    pub name: Option<String>,
    /// Edge nodes.
    pub nodes: Vec<NodeSpec>,
    /// The agent's client-side QPS.
    pub agent_qps: f64,
    /// The agent's client-side burst.
    pub agent_burst: u32,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            name: None,
            nodes: vec![
                NodeSpec {
                    name: "edge-1".into(),
                    pool: "hangzhou".into(),
                },
                NodeSpec {
                    name: "edge-2".into(),
                    pool: "shanghai".into(),
                },
            ],
            agent_qps: 5.0,
            agent_burst: 10,
        }
    }
}

/// A pod to put on a node.
#[derive(Debug, Clone)]
pub struct PodSpec {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl PodSpec {
    /// A pod in `default` with one label.
    pub fn labelled(name: &str, key: &str, value: &str) -> Self {
        PodSpec {
            namespace: "default".into(),
            name: name.into(),
            labels: BTreeMap::from([(key.into(), value.into())]),
        }
    }
}

/// A pod whose sandbox came up on a node: what tether recorded for it, and where to look in
/// the kernel.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Node it runs on (the scenario's name for it, e.g. `edge-1`).
    pub node: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Sandbox ID.
    pub container_id: String,
    /// Name of the pod's network namespace on the node (for `ip -n`).
    pub netns: String,
    /// The host side of the pod's veth pair.
    pub host_veth: Option<String>,
    /// tether's state record for the attachment (`stateDir/<id>@eth0.json`).
    pub tether: Value,
}

impl Attached {
    /// Where the agent's answer came from (`live`, `cache`, `default`), `None` if it gave none.
    pub fn source(&self) -> Option<&str> {
        self.tether["source"].as_str()
    }

    /// Name of the applied profile.
    pub fn profile(&self) -> Option<&str> {
        self.tether["profile"]["name"].as_str()
    }

    /// Generation of the applied profile.
    pub fn generation(&self) -> Option<i64> {
        self.tether["profile"]["generation"].as_i64()
    }
}

/// A running cluster on one backend, as the scenarios use it. Every method means the same on
/// both backends; a node is named as the scenario names it (`edge-1`). Dropping the cluster
/// tears it down, keeping its logs when the test is failing.
#[async_trait]
pub trait Backend: Send + Sync {
    /// A client with cluster-admin rights.
    fn admin(&self) -> kube::Client;

    /// A client authenticated as the agent's ServiceAccount, for probing its RBAC.
    async fn as_agent(&self) -> anyhow::Result<kube::Client>;

    /// A client authenticated as the agent's pod on `node`: its token names the node, as a
    /// pod-bound ServiceAccount token does since Kubernetes 1.32.
    async fn as_agent_on(&self, node: &str) -> anyhow::Result<kube::Client>;

    /// The scenario's names of the edge nodes.
    fn nodes(&self) -> Vec<String>;

    /// The Kubernetes name of the node a scenario calls `node`.
    fn node_name(&self, node: &str) -> anyhow::Result<String>;

    /// Creates the pod object bound to `node`; its UID. Its first sandbox comes with
    /// [`Backend::add_pod`] or [`Backend::add_sandbox`].
    async fn create_pod(&self, node: &str, pod: &PodSpec) -> anyhow::Result<String>;

    /// Creates the pod on `node` and waits for its first sandbox, through the node's CNI chain.
    async fn add_pod(&self, node: &str, pod: &PodSpec) -> anyhow::Result<Attached>;

    /// A new sandbox for the pod `uid`, which exists in the API, through the node's CNI chain
    /// — as when a sandbox is recreated while the node is cut off.
    async fn add_sandbox(
        &self,
        node: &str,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> anyhow::Result<Attached>;

    /// Tears the pod's sandbox down through CNI DEL.
    async fn del_sandbox(&self, pod: &Attached) -> anyhow::Result<()>;

    /// Runs `argv` on a node, outside any pod; its stdout, an error when it fails.
    async fn node_exec(&self, node: &str, argv: &[&str]) -> anyhow::Result<String>;

    /// The MTU a pod on `node` gets when no profile sets one: what the node's main CNI plugin
    /// gives it, the node network's on kind (kindnetd uses eth0's), not an assumed 1500.
    async fn default_pod_mtu(&self, node: &str) -> anyhow::Result<u32>;

    /// Cuts a node off from the cloud.
    async fn cut(&self, node: &str, how: Cut) -> anyhow::Result<()>;

    /// Reconnects a node cut off with `how`.
    async fn reconnect(&self, node: &str, how: Cut) -> anyhow::Result<()>;

    /// Restarts the agent on a node and waits until it serves again.
    async fn restart_agent(&self, node: &str) -> anyhow::Result<()>;

    /// Restarts the node's main CNI plugin daemon (kindnetd), which writes its conflist again
    /// from its template — without tether; returns once it has restarted.
    async fn restart_main_plugin(&self, node: &str) -> anyhow::Result<()>;

    /// Removes tether's DaemonSet and waits until its pods are gone from every node, as
    /// `kubectl delete` of it does.
    async fn remove_tether(&self) -> anyhow::Result<()>;

    /// Restarts yurthub on a node — cut off or not — and waits until it serves again.
    async fn restart_yurthub(&self, node: &str) -> anyhow::Result<()>;

    /// Every request the API server has seen so far, once each.
    async fn audit(&self) -> anyhow::Result<Vec<Request>>;

    /// Makes the API server hold `user` to `max_in_flight` requests at once and `qps`,
    /// rejecting the rest with 429.
    async fn limit(&self, user: &str, max_in_flight: usize, qps: f64) -> anyhow::Result<()>;

    /// Requests of `user` the API server rejected with 429.
    async fn rejected(&self, user: &str) -> anyhow::Result<u64>;

    /// Tears the cluster down now, keeping logs and the audit log if the test is failing.
    async fn down(self: Box<Self>) -> anyhow::Result<()>;
}

/// A cluster on whichever backend `TETHER_E2E_BACKEND` names.
pub type Cluster = Box<dyn Backend>;

/// What [`up`] gives back.
pub enum Up {
    /// A running cluster with tether installed.
    Running(Cluster),
    /// A dry run: nothing ran; every file and command is under this directory.
    Planned(PathBuf),
}

/// Whether `TETHER_E2E_DRY_RUN=1`.
pub fn dry_run() -> bool {
    std::env::var(DRY_RUN_ENV).is_ok_and(|v| v == "1")
}

/// Brings a cluster up on the backend `TETHER_E2E_BACKEND` names, with tether installed; in a
/// dry run, writes the plan instead.
pub async fn up(spec: ClusterSpec) -> anyhow::Result<Up> {
    let kind = BackendKind::from_env()?;
    match kind {
        BackendKind::Sim if dry_run() => {
            bail!("{DRY_RUN_ENV}=1 plans the kind backend only; set {BACKEND_ENV}=kind")
        }
        BackendKind::Sim => Ok(Up::Running(Box::new(
            crate::sim::SimCluster::up(spec).await?,
        ))),
        BackendKind::Kind => crate::kind::cluster::KindCluster::up(spec).await,
    }
}

/// Reads the kernel of `node` with `read` (see [`testkit::kernel`]); `None` when the command
/// fails or its output holds no value.
pub async fn read_kernel<T>(
    cluster: &dyn Backend,
    node: &str,
    read: &testkit::kernel::Read<T>,
) -> Option<T> {
    let out = cluster.node_exec(node, &read.args()).await.ok()?;
    read.parse(&out)
}
