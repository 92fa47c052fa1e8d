//! The sim backend's cluster: a Docker network, the API double on its gateway address loaded
//! with deploy/ as a user would apply it, and one container per edge node.
//!
//! Pods go the way they go on a kind node: created in the API, run by the node's kubelet
//! double through containerd's CRI (which runs the CNI chain), their status written back.
//! A new sandbox and a pod's end are asked of the kubelet double on the node
//! (`tether-node pod recreate|wait-gone`), which answers even when the node is cut off.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};

use super::image;
use super::node::{EdgeNode, NodeSetup};
use crate::backend::{Attached, Backend, ClusterSpec, Cut, PodSpec, Request};
use crate::cleanup;
use crate::kubeconfig::client_for;
use crate::node::APP_IMAGE;
use crate::node::control::{PodView, Response};
use crate::phase::phase;
use crate::{binaries, docker};
use async_trait::async_trait;
use tether_sim::apiserver::{self, ApiServer, AuditEvent, FlowLimit, SimConfig, UserInfo};

static NEXT: AtomicU32 = AtomicU32::new(0);
/// Label naming the cluster a container or network belongs to.
const CLUSTER_LABEL: &str = "tether.e2e.cluster";
/// How long a pod may take from its creation to Running, and a sandbox to come or go: 100
/// pods started at once on two loaded cores take tens of seconds.
const POD_DEADLINE: Duration = Duration::from_secs(120);
/// Group of every node's kubelet identity (`system:node:<name>`).
const NODES_GROUP: &str = "system:nodes";

/// What the kubelet doubles, and the yurthub doubles with the same node identity, may do. A
/// real API server lets a kubelet at its own node's pods and Lease with the Node authorizer;
/// the double has RBAC only, so this role is bound to every node (any node may touch any pod:
/// a known difference). yurthub renews `kube-node-lease/<node>` and reads `yurt-hub-cfg`.
fn kubelet_rbac() -> [Value; 2] {
    [
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "tether-e2e:kubelet-double"},
            "rules": [
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
                {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["get", "patch", "update"]},
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update", "patch"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "tether-e2e:kubelet-double"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "tether-e2e:kubelet-double"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": NODES_GROUP}],
        }),
    ]
}

/// ConfigMap `kube-system/yurt-hub-cfg` as chart `yurthub` renders it from
/// deploy/openyurt-values.yaml (`cacheAgents` → key `cache_agents`): the one source of the
/// cache agents for sim and kind.
fn yurthub_config() -> anyhow::Result<Value> {
    let values = testkit::repo::deploy_file_documents("openyurt-values.yaml")?;
    let agents = values
        .first()
        .and_then(|v| v["cacheAgents"].as_str())
        .context("deploy/openyurt-values.yaml has no cacheAgents")?;
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "yurt-hub-cfg",
            "namespace": "kube-system",
            "labels": {"openyurt.io/configmap-name": "yurt-hub-cfg"},
        },
        "data": {"cache_agents": agents},
    }))
}

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
            // The node containers play the DaemonSet's pods: the double's controller would create
            // pods the kubelet double cannot run (the nodes' containerd has no agent image).
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
        for doc in kubelet_rbac() {
            server
                .load_object(doc)
                .context("granting the kubelet doubles their rights")?;
        }
        server
            .load_object(yurthub_config()?)
            .context("creating yurthub's ConfigMap kube-system/yurt-hub-cfg")?;
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
            let kubelet_token = cluster.server().mint_user_token(UserInfo {
                name: format!("system:node:{}", node.name),
                groups: vec![NODES_GROUP.into(), "system:authenticated".into()],
                ..UserInfo::default()
            });
            let api_url = match api.0 {
                IpAddr::V4(ip) => format!("https://{ip}:{}", api.1),
                IpAddr::V6(ip) => format!("https://[{ip}]:{}", api.1),
            };
            // kubelet goes through yurthub, yurthub to the API server, both as the node.
            let yurthub_url = format!(
                "https://{}:{}",
                crate::node::YURTHUB_IP,
                crate::node::YURTHUB_PORT
            );
            let kubelet_kubeconfig = cluster
                .server()
                .kubeconfig_for(&yurthub_url, &kubelet_token);
            let yurthub_kubeconfig = cluster.server().kubeconfig_for(&api_url, &kubelet_token);
            let (yurthub_cert, yurthub_key) = cluster
                .server()
                .issue_serving_cert(&[crate::node::YURTHUB_IP])
                .context("issuing yurthub's serving certificate")?;
            let started = EdgeNode::start(NodeSetup {
                name: &node.name,
                image: &image,
                network: &cluster.network,
                cluster_label: (CLUSTER_LABEL, &cluster.id),
                api,
                token: &token,
                ca_pem: &ca,
                kubelet_kubeconfig: &kubelet_kubeconfig,
                yurthub_kubeconfig: &yurthub_kubeconfig,
                yurthub_tls: (&yurthub_cert, &yurthub_key),
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

    /// Waits, on a watch of the pod, until its kubelet reports it Running with an IP.
    async fn await_running(&self, node: &str, spec: &PodSpec) -> anyhow::Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), &spec.namespace);
        let running = |pod: Option<&Pod>| {
            pod.and_then(|p| p.status.as_ref()).is_some_and(|s| {
                s.phase.as_deref() == Some("Running")
                    && s.pod_ip.as_ref().is_some_and(|ip| !ip.is_empty())
            })
        };
        let waited = tokio::time::timeout(
            POD_DEADLINE,
            await_condition(pods.clone(), &spec.name, running),
        )
        .await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => {
                let status = pods
                    .get(&spec.name)
                    .await
                    .ok()
                    .and_then(|p| p.status)
                    .map(|s| serde_json::to_string(&s).unwrap_or_default());
                bail!(
                    "pod {}/{} on {node} was not Running with an IP within {POD_DEADLINE:?}; status: {}",
                    spec.namespace,
                    spec.name,
                    status.unwrap_or_else(|| "none".into())
                )
            }
        }
    }

    /// Asks the kubelet double on `node` (`tether-node pod <op> --uid <uid>`) for a pod.
    async fn ask_kubelet(&self, node: &str, op: &str, uid: &str) -> anyhow::Result<PodView> {
        let timeout = POD_DEADLINE.as_millis().to_string();
        let out = self
            .node(node)?
            .exec(&[
                "tether-node",
                "pod",
                op,
                "--uid",
                uid,
                "--timeout-ms",
                &timeout,
            ])
            .await?;
        match serde_json::from_str(&out)
            .with_context(|| format!("tether-node pod {op} on {node} printed {out:?}"))?
        {
            Response::Pod(view) => Ok(view),
            other => bail!("tether-node pod {op} on {node} answered {other:?}"),
        }
    }

    /// What tether recorded for the pod's sandbox, and where its netns and host veth are.
    async fn attached(&self, node: &str, view: &PodView) -> anyhow::Result<Attached> {
        let sandbox = view.sandbox.as_ref().with_context(|| {
            format!(
                "pod {}/{} on {node} has no sandbox",
                view.namespace, view.name
            )
        })?;
        let on = self.node(node)?;
        let path = record_path(&sandbox.id);
        let record = on.exec(&["cat", &path]).await.with_context(|| {
            format!(
                "tether's record of {}/{} on {node}",
                view.namespace, view.name
            )
        })?;
        let tether: Value =
            serde_json::from_str(&record).with_context(|| format!("parsing {path} on {node}"))?;
        // containerd's netns, under /var/run/netns where `ip netns` finds it.
        let netns = sandbox
            .netns
            .as_deref()
            .or_else(|| tether["netns"].as_str())
            .and_then(|p| p.rsplit('/').next())
            .with_context(|| format!("no network namespace for sandbox {}", sandbox.id))?
            .to_string();
        // The host veth is the peer of the pod's eth0: its ifindex is eth0's link index.
        let eth0: Value = serde_json::from_str(
            &on.exec(&["ip", "-n", &netns, "-j", "link", "show", "dev", "eth0"])
                .await?,
        )
        .with_context(|| format!("eth0 of {netns} on {node}"))?;
        let peer = eth0[0]["link_index"].as_i64();
        let links: Value = serde_json::from_str(&on.exec(&["ip", "-j", "link", "show"]).await?)
            .with_context(|| format!("links of {node}"))?;
        let host_veth = links
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|l| peer.is_some() && l["ifindex"].as_i64() == peer)
            })
            .and_then(|l| l["ifname"].as_str())
            .map(str::to_string);
        Ok(Attached {
            node: node.into(),
            namespace: view.namespace.clone(),
            name: view.name.clone(),
            container_id: sandbox.id.clone(),
            netns,
            host_veth,
            tether,
        })
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

    async fn restart_yurthub(&self, node: &str) -> anyhow::Result<()> {
        self.node(node)?.restart_yurthub().await
    }

    async fn restart_main_plugin(&self, node: &str) -> anyhow::Result<()> {
        self.node(node)?.restart_main_plugin().await
    }

    async fn remove_tether(&self) -> anyhow::Result<()> {
        for node in &self.nodes {
            node.remove_tether().await?;
        }
        Ok(())
    }

    /// Creates the pod in the API on `node`; once the kubelet double reports it Running
    /// with an IP, what tether recorded for its sandbox.
    async fn add_pod(&self, node: &str, spec: &PodSpec) -> anyhow::Result<Attached> {
        let uid = self.create_pod(node, spec).await?;
        self.await_running(node, spec).await?;
        let view = self.ask_kubelet(node, "show", &uid).await?;
        self.attached(node, &view).await
    }

    /// Creates the pod object, bound to `node`; its UID. The node's kubelet double starts it.
    async fn create_pod(&self, node: &str, spec: &PodSpec) -> anyhow::Result<String> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), &spec.namespace);
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels},
            "spec": {
                "nodeName": self.node_name(node)?,
                // the node's local app image (nothing can be pulled)
                "containers": [{"name": "app", "image": APP_IMAGE, "imagePullPolicy": "IfNotPresent"}],
            },
        }))?;
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .with_context(|| format!("creating pod {}/{}", spec.namespace, spec.name))?;
        created.metadata.uid.context("created pod has no uid")
    }

    /// Asks the node's kubelet double for a new sandbox of the pod (attempt + 1): the old
    /// one goes through CNI DEL, the new one through ADD — through the agent's cache when
    /// the node is cut off.
    async fn add_sandbox(
        &self,
        node: &str,
        _namespace: &str,
        _name: &str,
        uid: &str,
    ) -> anyhow::Result<Attached> {
        let view = self.ask_kubelet(node, "recreate", uid).await?;
        self.attached(node, &view).await
    }

    /// Deletes the pod (grace 0) and waits until the kubelet double has stopped (CNI DEL)
    /// and removed its sandbox.
    async fn del_sandbox(&self, pod: &Attached) -> anyhow::Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), &pod.namespace);
        let uid = pods
            .get(&pod.name)
            .await
            .with_context(|| format!("reading pod {}/{}", pod.namespace, pod.name))?
            .metadata
            .uid
            .with_context(|| format!("pod {}/{} has no uid", pod.namespace, pod.name))?;
        pods.delete(&pod.name, &DeleteParams::default().grace_period(0))
            .await
            .with_context(|| format!("deleting pod {}/{}", pod.namespace, pod.name))?;
        let timeout = POD_DEADLINE.as_millis().to_string();
        self.node(&pod.node)?
            .exec(&[
                "tether-node",
                "pod",
                "wait-gone",
                "--uid",
                &uid,
                "--timeout-ms",
                &timeout,
            ])
            .await
            .with_context(|| {
                format!(
                    "the sandbox of {}/{} outlived its pod",
                    pod.namespace, pod.name
                )
            })?;
        let record = record_path(&pod.container_id);
        if self.node(&pod.node)?.exec(&["cat", &record]).await.is_ok() {
            bail!(
                "sandbox {} of {}/{} is gone but tether's {record} is still there: CNI DEL did not run",
                pod.container_id,
                pod.namespace,
                pod.name
            );
        }
        Ok(())
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

/// Where tether records a sandbox's attachment on a node.
fn record_path(sandbox: &str) -> String {
    format!("{}/{sandbox}@eth0.json", cni::config::DEFAULT_STATE_DIR)
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
