//! The sim backend's cluster: a Docker network, the API double on its gateway address loaded
//! with deploy/ as a user would apply it, and one container per edge node.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::image;
use super::node::{EdgeNode, NodeSetup};
use crate::backend::{Attached, Backend, ClusterSpec, Cut, PodSpec, Request};
use crate::cleanup;
use crate::kubeconfig::client_for;
use crate::phase::phase;
use crate::{binaries, docker};
use async_trait::async_trait;
use testkit::kernel::host_veth_in_result;
use tether_sim::apiserver::{self, ApiServer, AuditEvent, FlowLimit, SimConfig};

static NEXT: AtomicU32 = AtomicU32::new(0);
/// Label naming the cluster a container or network belongs to.
const CLUSTER_LABEL: &str = "tether.e2e.cluster";

/// A running sim cluster.
pub struct SimCluster {
    id: String,
    network: String,
    work: PathBuf,
    server: Option<ApiServer>,
    admin: kube::Client,
    nodes: Vec<EdgeNode>,
    torn_down: bool,
}

/// The node image, built once per process however many clusters start at the same time.
async fn node_image() -> anyhow::Result<String> {
    static IMAGE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    IMAGE
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(|| {
                let bins = binaries::build()?;
                let work =
                    std::env::temp_dir().join(format!("tether-e2e-image-{}", std::process::id()));
                let built = image::build(&bins, &work);
                let _ = std::fs::remove_dir_all(&work);
                built
            })
            .await?
        })
        .await
        .cloned()
}

impl SimCluster {
    /// Brings the cluster up with tether installed and every node's agent serving.
    pub async fn up(spec: ClusterSpec) -> anyhow::Result<SimCluster> {
        cleanup::install();
        let id = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let p = phase(format!("sim {id}: Docker network"));
        docker::available().context("the sim backend needs a running Docker engine")?;
        let network = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("tether-e2e-{id}"));
        docker::docker(&[
            "network",
            "create",
            "--label",
            &cleanup::owner_label(),
            "--label",
            &format!("{CLUSTER_LABEL}={id}"),
            &network,
        ])?;
        let gateway: IpAddr = docker::docker(&[
            "network",
            "inspect",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}",
            &network,
        ])?
        .trim()
        .parse()
        .with_context(|| format!("gateway of docker network {network}"))?;
        p.done();
        let work = std::env::temp_dir().join(format!("tether-e2e-{id}"));
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        // From here on, a failure drops `cluster`, which removes what exists so far.
        let mut cluster = SimCluster {
            id,
            network,
            work,
            server: None,
            admin: placeholder_client()?,
            nodes: Vec::new(),
            torn_down: false,
        };

        let p = phase("sim: API server and deploy/");
        let config = SimConfig {
            listen: (gateway, 0).into(),
            extra_sans: vec![gateway.to_string()],
            audit_file: Some(cluster.work.join("audit.jsonl")),
            ..SimConfig::default()
        };
        let server = apiserver::start(config)
            .await
            .context("starting the API double")?;
        for doc in testkit::repo::deploy_documents()? {
            // The node containers play the DaemonSet's pods; the double serves no workloads.
            if doc["kind"] == "DaemonSet" {
                continue;
            }
            let what = format!(
                "{}/{}",
                doc["kind"].as_str().unwrap_or("?"),
                doc["metadata"]["name"].as_str().unwrap_or("?")
            );
            server
                .load_object(doc)
                .with_context(|| format!("applying {what} from deploy/"))?;
        }
        cluster.admin = client_for(&server.admin_kubeconfig()).await?;
        let nodes: Api<Node> = Api::all(cluster.admin.clone());
        for node in &spec.nodes {
            let object = json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node.name, "labels": {
                    "apps.openyurt.io/nodepool": node.pool,
                    "openyurt.io/is-edge-worker": "true",
                    "kubernetes.io/hostname": node.name,
                }},
            });
            nodes
                .create(&PostParams::default(), &serde_json::from_value(object)?)
                .await
                .with_context(|| format!("creating node {}", node.name))?;
        }
        let api = (gateway, server.addr().port());
        let ca = server.ca_pem().to_string();
        cluster.server = Some(server);
        p.done();

        let p = phase("sim: node image");
        let image = node_image().await?;
        p.done();

        for node in &spec.nodes {
            let p = phase(format!("sim: start {}", node.name));
            let dir = cluster.work.join(&node.name);
            // A DaemonSet pod's projected token is bound to its pod, hence to its node.
            let token = cluster.server().mint_service_account_token_on_node(
                "tether-system",
                "tether-agent",
                &node.name,
            );
            let started = EdgeNode::start(NodeSetup {
                name: &node.name,
                image: &image,
                network: &cluster.network,
                cluster_label: (CLUSTER_LABEL, &cluster.id),
                api,
                token: &token,
                ca_pem: &ca,
                dir: &dir,
                qps: spec.agent_qps,
                burst: spec.agent_burst,
            })
            .await?;
            cluster.nodes.push(started);
            p.done();
        }
        Ok(cluster)
    }

    fn server(&self) -> &ApiServer {
        // Set in `up` before the cluster is handed out.
        self.server
            .as_ref()
            .unwrap_or_else(|| unreachable!("sim cluster without a server"))
    }

    /// A kubeconfig with cluster-admin rights, for kubectl on the host.
    pub fn admin_kubeconfig(&self) -> String {
        self.server().admin_kubeconfig()
    }

    /// One node.
    pub fn node(&self, name: &str) -> anyhow::Result<&EdgeNode> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("no node {name} in this cluster"))
    }

    /// When the test is failing, copies every node's log and the audit log to
    /// `target/e2e-artifacts/<cluster>/` and says where.
    fn keep_artifacts_if_failing(&self) {
        if !std::thread::panicking() {
            return;
        }
        let dir = testkit::repo::root()
            .join("target/e2e-artifacts")
            .join(&self.id);
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        for node in &self.nodes {
            let _ = std::fs::write(dir.join(format!("{}.log", node.name)), node.logs());
        }
        let _ = std::fs::copy(self.work.join("audit.jsonl"), dir.join("audit.jsonl"));
        eprintln!(
            "[e2e] test failed: node logs and the audit log kept in {}",
            dir.display()
        );
    }
}

#[async_trait]
impl Backend for SimCluster {
    /// Cluster-admin client.
    fn admin(&self) -> kube::Client {
        self.admin.clone()
    }

    /// A client with the agent's ServiceAccount token, bound to no node.
    async fn as_agent(&self) -> anyhow::Result<kube::Client> {
        let server = self.server();
        let token = server.mint_service_account_token("tether-system", "tether-agent");
        client_for(&server.kubeconfig_for(&server.url(), &token)).await
    }

    /// A client with the token the agent's pod on `node` gets (it names the node).
    async fn as_agent_on(&self, node: &str) -> anyhow::Result<kube::Client> {
        let server = self.server();
        let token =
            server.mint_service_account_token_on_node("tether-system", "tether-agent", node);
        client_for(&server.kubeconfig_for(&server.url(), &token)).await
    }

    /// Node names.
    fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The same on the sim: node containers are named after the scenario's nodes.
    fn node_name(&self, node: &str) -> anyhow::Result<String> {
        Ok(self.node(node)?.name.clone())
    }

    async fn node_exec(&self, node: &str, argv: &[&str]) -> anyhow::Result<String> {
        self.node(node)?.exec(argv).await
    }

    /// The sim's main plugin is `bridge` without `mtu` (its primary conflist): the pod's veth
    /// keeps the kernel's default, 1500, whatever the node network's MTU.
    async fn default_pod_mtu(&self, node: &str) -> anyhow::Result<u32> {
        self.node(node)?;
        let conflist = image::primary_conflist();
        Ok(match conflist["plugins"][0]["mtu"].as_u64() {
            Some(mtu) => u32::try_from(mtu)?,
            None => 1500,
        })
    }

    async fn cut(&self, node: &str, how: Cut) -> anyhow::Result<()> {
        self.node(node)?.cut(how).await
    }

    async fn reconnect(&self, node: &str, how: Cut) -> anyhow::Result<()> {
        self.node(node)?.reconnect(how).await
    }

    async fn restart_agent(&self, node: &str) -> anyhow::Result<()> {
        self.node(node)?.restart_agent().await
    }

    /// Creates the pod in the API on `node`, then its sandbox.
    async fn add_pod(&self, node: &str, spec: &PodSpec) -> anyhow::Result<Attached> {
        let uid = self.create_pod(node, spec).await?;
        self.add_sandbox(node, &spec.namespace, &spec.name, &uid)
            .await
    }

    /// Creates the pod object, bound to `node`; its UID.
    async fn create_pod(&self, node: &str, spec: &PodSpec) -> anyhow::Result<String> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), &spec.namespace);
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
        }))?;
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .with_context(|| format!("creating pod {}/{}", spec.namespace, spec.name))?;
        created.metadata.uid.context("created pod has no uid")
    }

    /// Brings up a sandbox for a pod through the node's CNI chain.
    async fn add_sandbox(
        &self,
        node: &str,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> anyhow::Result<Attached> {
        let container_id = uuid::Uuid::new_v4().simple().to_string();
        let argv = [
            "tether-node",
            "pod",
            "add",
            "--namespace",
            namespace,
            "--name",
            name,
            "--uid",
            uid,
            "--container-id",
            &container_id,
        ];
        let (code, stdout, stderr) = self.node(node)?.exec_status(&argv).await?;
        if code != 0 {
            bail!(
                "sandbox of {namespace}/{name} on {node} failed (exit {code}): {}{}",
                stdout.trim(),
                stderr.trim()
            );
        }
        let report: Value = serde_json::from_str(&stdout)
            .with_context(|| format!("tether-node printed {stdout:?}"))?;
        Ok(Attached {
            node: node.into(),
            namespace: namespace.into(),
            name: name.into(),
            // tether-node names the namespace after the sandbox
            netns: container_id.clone(),
            container_id,
            host_veth: host_veth_in_result(&report["result"]),
            tether: report["tether"].clone(),
        })
    }

    /// CNI DEL of a sandbox.
    async fn del_sandbox(&self, pod: &Attached) -> anyhow::Result<()> {
        self.node(&pod.node)?
            .exec(&[
                "tether-node",
                "pod",
                "del",
                "--container-id",
                &pod.container_id,
            ])
            .await
            .map(drop)
    }

    /// The audit log so far.
    async fn audit(&self) -> anyhow::Result<Vec<Request>> {
        Ok(self
            .server()
            .audit_events()
            .into_iter()
            .map(request_of)
            .collect())
    }

    /// API Priority and Fairness for `user`.
    async fn limit(&self, user: &str, max_in_flight: usize, qps: f64) -> anyhow::Result<()> {
        self.server().set_flow_limit(
            user,
            Some(FlowLimit {
                max_in_flight,
                qps,
                burst: qps.max(1.0),
            }),
        );
        Ok(())
    }

    /// 429s sent to `user`.
    async fn rejected(&self, user: &str) -> anyhow::Result<u64> {
        Ok(self.server().rejected_requests(user))
    }

    /// Tears down in order: nodes, network, server, files.
    async fn down(mut self: Box<Self>) -> anyhow::Result<()> {
        self.keep_artifacts_if_failing();
        for node in std::mem::take(&mut self.nodes) {
            node.remove().await?;
        }
        docker::docker(&["network", "rm", &self.network])?;
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(&self.work);
        self.torn_down = true;
        Ok(())
    }
}

/// The double's audit record as the contract's [`Request`].
fn request_of(e: AuditEvent) -> Request {
    Request {
        time: e.time,
        user: e.user,
        groups: e.groups,
        verb: e.verb,
        api_group: e.api_group,
        resource: e.resource,
        subresource: e.subresource,
        namespace: e.namespace,
        name: e.name,
        uri: e.uri,
        code: e.code,
        user_agent: e.user_agent,
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        // Reached without `down` when a scenario fails: keep the evidence, remove the rest.
        self.keep_artifacts_if_failing();
        let filter = format!("label={CLUSTER_LABEL}={}", self.id);
        if let Ok(ids) = docker::docker(&["ps", "-aq", "--filter", &filter]) {
            for id in ids.split_whitespace() {
                let _ = docker::docker(&["rm", "-f", "-v", id]);
            }
        }
        let _ = docker::docker(&["network", "rm", &self.network]);
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// A client that is never used: `SimCluster` needs one before the API server exists, so a
/// half-built cluster can still be dropped (and cleaned up) on the way.
fn placeholder_client() -> anyhow::Result<kube::Client> {
    let config = kube::Config::new("https://127.0.0.1:1".parse()?);
    Ok(kube::Client::try_from(config)?)
}
