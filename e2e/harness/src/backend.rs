//! The one interface the scenarios are written against, and the backends behind it:
//! `sim` (default) and `kind`, chosen with `TETHER_E2E_BACKEND`.

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::Value;

use crate::kind::cluster::KindCluster;
use crate::sim::SimCluster;

/// Environment variable choosing the backend.
pub const BACKEND_ENV: &str = "TETHER_E2E_BACKEND";
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

/// The host-side veth in a bridge plugin's result: no sandbox, not the bridge (listed first).
pub fn host_veth_in_result(result: &Value) -> Option<String> {
    let interfaces = result["interfaces"].as_array()?;
    let bridge = interfaces.first()?["name"].as_str()?;
    interfaces
        .iter()
        .find(|i| i.get("sandbox").is_none() && i["name"] != bridge)
        .and_then(|i| i["name"].as_str())
        .map(str::to_string)
}

/// One request as the API server's audit log has it: the sim's own record, which the kind
/// backend fills from the real server's audit.k8s.io/v1 events.
pub use tether_sim::apiserver::AuditEvent as Request;

/// A cluster on one of the backends. Dropping it tears everything down.
pub enum Cluster {
    /// The sim backend.
    Sim(Box<SimCluster>),
    /// The kind backend.
    Kind(Box<KindCluster>),
}

impl Cluster {
    /// Brings a cluster up on the backend `TETHER_E2E_BACKEND` names, with tether installed.
    pub async fn up(spec: ClusterSpec) -> anyhow::Result<Cluster> {
        match BackendKind::from_env()? {
            BackendKind::Sim => Ok(Cluster::Sim(Box::new(SimCluster::up(spec).await?))),
            BackendKind::Kind => Ok(Cluster::Kind(Box::new(KindCluster::up(spec).await?))),
        }
    }

    /// A client with cluster-admin rights.
    pub fn admin(&self) -> kube::Client {
        match self {
            Cluster::Sim(c) => c.admin(),
            Cluster::Kind(c) => c.admin(),
        }
    }

    /// A client authenticated as the agent's ServiceAccount, for probing its RBAC.
    pub async fn as_agent(&self) -> anyhow::Result<kube::Client> {
        match self {
            Cluster::Sim(c) => c.as_agent().await,
            Cluster::Kind(c) => c.as_agent().await,
        }
    }

    /// A client authenticated as the agent's pod on `node`: its token names the node,
    /// as a pod-bound ServiceAccount token does since Kubernetes 1.32.
    pub async fn as_agent_on(&self, node: &str) -> anyhow::Result<kube::Client> {
        match self {
            Cluster::Sim(c) => c.as_agent_on(node).await,
            Cluster::Kind(c) => c.as_agent_on(node).await,
        }
    }

    /// Names of the edge nodes.
    pub fn nodes(&self) -> Vec<String> {
        match self {
            Cluster::Sim(c) => c.nodes(),
            Cluster::Kind(c) => c.nodes(),
        }
    }

    /// Creates the pod on `node` in the API, then brings its sandbox up through the node's CNI chain.
    pub async fn add_pod(&self, node: &str, pod: &PodSpec) -> anyhow::Result<Attached> {
        match self {
            Cluster::Sim(c) => c.add_pod(node, pod).await,
            Cluster::Kind(c) => c.add_pod(node, pod).await,
        }
    }

    /// The Kubernetes name of a node the scenarios call `node` (the same on the sim).
    pub fn node_name(&self, node: &str) -> anyhow::Result<String> {
        match self {
            Cluster::Sim(c) => c.node(node).map(|n| n.name.clone()),
            Cluster::Kind(c) => c.node_name(node),
        }
    }

    /// Creates the pod object bound to `node`; its UID. On the sim its sandbox waits for
    /// [`Cluster::add_sandbox`]; on kind, kubelet starts one at once.
    pub async fn create_pod(&self, node: &str, pod: &PodSpec) -> anyhow::Result<String> {
        match self {
            Cluster::Sim(c) => c.create_pod(node, pod).await,
            Cluster::Kind(c) => c.create_pod(node, pod).await,
        }
    }

    /// A new sandbox for a pod that exists in the API, through the node's CNI chain — as when
    /// a sandbox is recreated while the node is cut off (on kind: its sandboxes are removed
    /// with crictl and kubelet makes another).
    pub async fn add_sandbox(
        &self,
        node: &str,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> anyhow::Result<Attached> {
        match self {
            Cluster::Sim(c) => c.add_sandbox(node, namespace, name, uid).await,
            Cluster::Kind(c) => c.add_sandbox(node, namespace, name).await,
        }
    }

    /// Tears the pod's sandbox down through CNI DEL (on kind: the pod is deleted).
    pub async fn del_sandbox(&self, pod: &Attached) -> anyhow::Result<()> {
        match self {
            Cluster::Sim(c) => c.del_sandbox(pod).await,
            Cluster::Kind(c) => c.del_sandbox(pod).await,
        }
    }

    /// Runs `argv` on a node (host side); its stdout.
    pub async fn node_exec(&self, node: &str, argv: &[&str]) -> anyhow::Result<String> {
        match self {
            Cluster::Sim(c) => c.node(node)?.exec(argv).await,
            Cluster::Kind(c) => c.node_exec(node, argv),
        }
    }

    /// Cuts a node off from the cloud.
    pub async fn cut(&self, node: &str, how: Cut) -> anyhow::Result<()> {
        match self {
            Cluster::Sim(c) => c.node(node)?.cut(how).await,
            Cluster::Kind(c) => c.cut(node, how),
        }
    }

    /// Reconnects a node cut off with `how`.
    pub async fn reconnect(&self, node: &str, how: Cut) -> anyhow::Result<()> {
        match self {
            Cluster::Sim(c) => c.node(node)?.reconnect(how).await,
            Cluster::Kind(c) => c.reconnect(node, how),
        }
    }

    /// Restarts the agent on a node and waits until it serves again.
    pub async fn restart_agent(&self, node: &str) -> anyhow::Result<()> {
        match self {
            Cluster::Sim(c) => c.node(node)?.restart_agent().await,
            Cluster::Kind(c) => c.restart_agent(node),
        }
    }

    /// Every request the API server has seen so far.
    pub async fn audit(&self) -> anyhow::Result<Vec<Request>> {
        match self {
            Cluster::Sim(c) => Ok(c.audit()),
            Cluster::Kind(c) => c.audit(),
        }
    }

    /// Makes the API server limit `user` to `max_in_flight` requests at once and `qps`.
    pub async fn limit(&self, user: &str, max_in_flight: usize, qps: f64) -> anyhow::Result<()> {
        match self {
            Cluster::Sim(c) => {
                c.limit(user, max_in_flight, qps);
                Ok(())
            }
            Cluster::Kind(c) => c.limit(max_in_flight, qps).await,
        }
    }

    /// Requests of `user` the API server rejected with 429.
    pub async fn rejected(&self, user: &str) -> anyhow::Result<u64> {
        match self {
            Cluster::Sim(c) => Ok(c.rejected(user)),
            Cluster::Kind(c) => c.rejected(),
        }
    }

    /// Tears the cluster down, keeping logs and the audit log if the test is failing.
    pub async fn down(self) -> anyhow::Result<()> {
        match self {
            Cluster::Sim(c) => c.down().await,
            Cluster::Kind(c) => c.down(),
        }
    }
}
