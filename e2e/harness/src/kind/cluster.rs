//! The kind backend behind the scenarios' [`crate::backend::Backend`]: the [`KindBackend`]
//! plan for the cluster, kube clients on its kubeconfig for the API, crictl and iproute2
//! inside the node containers for sandboxes and the kernel. Never run here (no registry for
//! kind's images): correct by construction, and its dry run is tested.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::backend::KindBackend;
use super::config::{EdgeNode, KindConfig, TETHER_AGENT, TETHER_NAMESPACE};
use super::exec::AnyExecutor;
use async_trait::async_trait;

use crate::backend::{AGENT_USER, Attached, Backend, ClusterSpec, Cut, PodSpec, Request, Up};
use crate::kubeconfig::client_for;

/// Where tether-cni keeps its records on a node (DESIGN.md, fixed names).
const CNI_STATE_DIR: &str = "/var/lib/tether/cni";
/// How long kubelet may take to bring a sandbox up.
const SANDBOX_DEADLINE: Duration = Duration::from_secs(120);

/// A Kind + OpenYurt cluster with tether installed.
pub struct KindCluster {
    backend: Mutex<KindBackend<AnyExecutor>>,
    admin: kube::Client,
    kubeconfig: String,
    aliases: Vec<String>,
    torn_down: bool,
}

/// The scenario's edge nodes as the kind plan's.
pub fn with_nodes(mut config: KindConfig, spec: &ClusterSpec) -> KindConfig {
    config.edge_nodes = spec
        .nodes
        .iter()
        .map(|n| EdgeNode {
            alias: n.name.clone(),
            pool: n.pool.clone(),
        })
        .collect();
    config
}

/// Runs blocking backend work without stalling the async runtime's other tasks.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(work)
}

impl KindCluster {
    /// Creates (or, with `TETHER_E2E_REUSE=1`, reuses) the cluster and installs tether. With
    /// `TETHER_E2E_DRY_RUN=1` it writes the plan, runs nothing and says where the plan is.
    pub async fn up(spec: ClusterSpec) -> anyhow::Result<Up> {
        let root = testkit::repo::root()
            .canonicalize()
            .context("locating the repository")?;
        let mut config = with_nodes(KindConfig::in_repo(&root), &spec);
        let dry_run = crate::backend::dry_run();
        // Without the Nix-built image loaded, build one from the workspace's binaries.
        if !dry_run && crate::docker::docker(&["image", "inspect", &config.image]).is_err() {
            let work = config.work_dir.join("image");
            config.image = blocking(|| super::image::build(&crate::binaries::build()?, &work))?;
        }
        let backend = KindBackend::from_env(config)?;
        Self::up_with(spec, backend).await
    }

    /// [`Self::up`] with a backend built by the caller (a test's dry run).
    pub async fn up_with(
        spec: ClusterSpec,
        mut backend: KindBackend<AnyExecutor>,
    ) -> anyhow::Result<Up> {
        let work = backend.config().work_dir.clone();
        blocking(|| -> anyhow::Result<()> {
            backend.up()?;
            backend.install_tether()?;
            Ok(())
        })?;
        if matches!(backend.executor(), AnyExecutor::DryRun(_)) {
            return Ok(Up::Planned(work));
        }
        let kubeconfig = std::fs::read_to_string(backend.kubeconfig())
            .context("reading the kind cluster's kubeconfig")?;
        let admin = client_for(&kubeconfig).await?;
        let container = backend.config().agent_container.clone();
        set_agent_rate(&admin, &container, spec.agent_qps, spec.agent_burst).await?;
        let aliases = spec.nodes.iter().map(|n| n.name.clone()).collect();
        Ok(Up::Running(Box::new(KindCluster {
            backend: Mutex::new(backend),
            admin,
            kubeconfig,
            aliases,
            torn_down: false,
        })))
    }

    fn backend(&self) -> std::sync::MutexGuard<'_, KindBackend<AnyExecutor>> {
        self.backend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `argv` in a node container; its stdout.
    fn exec_on(&self, node: &str, argv: &[&str]) -> anyhow::Result<String> {
        blocking(|| self.backend().exec_on_node(node, argv))?.context("dry run: no output")
    }

    async fn agent_client(&self, token_spec: Value) -> anyhow::Result<kube::Client> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.admin.clone(), TETHER_NAMESPACE);
        let request: TokenRequest = serde_json::from_value(json!({"spec": token_spec}))?;
        let token = accounts
            .create_token_request(TETHER_AGENT, &PostParams::default(), &request)
            .await
            .context("requesting a token for the agent's ServiceAccount")?
            .status
            .context("TokenRequest without status")?
            .token;
        let mut kubeconfig: Value =
            serde_saphyr::from_str(&self.kubeconfig).context("parsing the kubeconfig")?;
        if let Some(users) = kubeconfig["users"].as_array_mut() {
            for user in users {
                user["user"] = json!({"token": token});
            }
        }
        client_for(&serde_json::to_string(&kubeconfig)?).await
    }

    /// The ready sandbox IDs of a pod on a node.
    fn sandboxes(&self, node: &str, namespace: &str, name: &str) -> anyhow::Result<Vec<String>> {
        let out = self.exec_on(
            node,
            &[
                "crictl",
                "pods",
                "--namespace",
                namespace,
                "--name",
                name,
                "--state",
                "ready",
                "-q",
            ],
        )?;
        Ok(out.split_whitespace().map(str::to_string).collect())
    }

    /// Waits until kubelet has a ready sandbox for the pod that is not in `old`; its ID.
    fn await_new_sandbox(
        &self,
        node: &str,
        namespace: &str,
        name: &str,
        old: &[String],
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + SANDBOX_DEADLINE;
        loop {
            if let Some(id) = self
                .sandboxes(node, namespace, name)?
                .into_iter()
                .find(|id| !old.contains(id))
            {
                return Ok(id);
            }
            if Instant::now() > deadline {
                bail!(
                    "no new sandbox for {namespace}/{name} on {node} within {SANDBOX_DEADLINE:?}"
                );
            }
            // kubelet gives no event a test on the node could wait on; ask crictl again.
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// What tether recorded for a sandbox, and where its netns and host veth are.
    fn attached(
        &self,
        node: &str,
        namespace: &str,
        name: &str,
        id: &str,
    ) -> anyhow::Result<Attached> {
        let record = self.exec_on(node, &["cat", &format!("{CNI_STATE_DIR}/{id}@eth0.json")])?;
        let tether: Value = serde_json::from_str(&record)
            .with_context(|| format!("tether's record of {id} on {node}"))?;
        let netns = tether["netns"]
            .as_str()
            .and_then(|p| p.rsplit('/').next())
            .context("record without netns")?
            .to_string();
        // The host veth is the peer of the pod's eth0: its ifindex is eth0's link index.
        let links: Value = serde_json::from_str(&self.exec_on(
            node,
            &["ip", "-n", &netns, "-j", "link", "show", "dev", "eth0"],
        )?)?;
        let peer = links[0]["link_index"].as_i64();
        let host: Value =
            serde_json::from_str(&self.exec_on(node, &["ip", "-j", "link", "show"])?)?;
        let host_veth = host
            .as_array()
            .and_then(|l| l.iter().find(|l| l["ifindex"].as_i64() == peer))
            .and_then(|l| l["ifname"].as_str())
            .map(str::to_string);
        Ok(Attached {
            node: node.into(),
            namespace: namespace.into(),
            name: name.into(),
            container_id: id.into(),
            netns,
            host_veth,
            tether,
        })
    }

    fn blackhole(&self, node: &str, op: &str) -> anyhow::Result<()> {
        let control_plane = self.backend().config().control_plane();
        let api = self.exec_on(&control_plane, &["hostname", "-i"])?;
        let api = api
            .split_whitespace()
            .next()
            .context("control plane has no address")?
            .to_string();
        self.exec_on(node, &["iptables", op, "OUTPUT", "-d", &api, "-j", "DROP"])?;
        self.exec_on(node, &["iptables", op, "INPUT", "-s", &api, "-j", "DROP"])?;
        Ok(())
    }
}

#[async_trait]
impl Backend for KindCluster {
    /// Cluster-admin client.
    fn admin(&self) -> kube::Client {
        self.admin.clone()
    }

    /// A client with a fresh token of the agent's ServiceAccount (TokenRequest).
    async fn as_agent(&self) -> anyhow::Result<kube::Client> {
        self.agent_client(json!({"audiences": [], "expirationSeconds": 3600}))
            .await
    }

    /// A client with a token bound to the agent's pod on `node`, as the DaemonSet pod there
    /// gets it: the API server adds the node's name to its user info.
    async fn as_agent_on(&self, node: &str) -> anyhow::Result<kube::Client> {
        let node_name = self.node_name(node)?;
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), TETHER_NAMESPACE);
        let on_node =
            kube::api::ListParams::default().fields(&format!("spec.nodeName={node_name}"));
        let pod = pods
            .list(&on_node)
            .await?
            .items
            .into_iter()
            .next()
            .with_context(|| format!("no tether-agent pod on {node_name}"))?;
        let (name, uid) = (
            pod.metadata.name.unwrap_or_default(),
            pod.metadata.uid.unwrap_or_default(),
        );
        self.agent_client(json!({
            "audiences": [],
            "expirationSeconds": 3600,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": name, "uid": uid},
        }))
        .await
    }

    /// The scenarios' node names.
    fn nodes(&self) -> Vec<String> {
        self.aliases.clone()
    }

    /// The Kubernetes name of a node (`edge-1` → `tether-e2e-worker`).
    fn node_name(&self, alias: &str) -> anyhow::Result<String> {
        Ok(self.backend().config().node_name(alias)?)
    }

    /// Runs `argv` in a node container; its stdout.
    async fn node_exec(&self, node: &str, argv: &[&str]) -> anyhow::Result<String> {
        self.exec_on(node, argv)
    }

    /// Creates the pod bound to the node; kubelet starts its sandbox at once. Its UID.
    async fn create_pod(&self, node: &str, spec: &PodSpec) -> anyhow::Result<String> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), &spec.namespace);
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": spec.labels},
            "spec": {
                "nodeName": self.node_name(node)?,
                // kind's node image carries this image (it is containerd's sandbox image)
                "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10", "imagePullPolicy": "IfNotPresent"}],
                "tolerations": [{"operator": "Exists"}],
            },
        }))?;
        let created = pods
            .create(&PostParams::default(), &pod)
            .await
            .with_context(|| format!("creating pod {}/{}", spec.namespace, spec.name))?;
        created.metadata.uid.context("created pod has no uid")
    }

    /// Creates the pod and returns its first sandbox.
    async fn add_pod(&self, node: &str, spec: &PodSpec) -> anyhow::Result<Attached> {
        Backend::create_pod(self, node, spec).await?;
        blocking(|| {
            let id = self.await_new_sandbox(node, &spec.namespace, &spec.name, &[])?;
            self.attached(node, &spec.namespace, &spec.name, &id)
        })
    }

    /// A new sandbox for an existing pod: its current sandboxes are removed with crictl and
    /// kubelet makes another (CNI ADD runs again, through the agent's cache when cut off).
    async fn add_sandbox(
        &self,
        node: &str,
        namespace: &str,
        name: &str,
        _uid: &str,
    ) -> anyhow::Result<Attached> {
        blocking(|| {
            let old = self.sandboxes(node, namespace, name)?;
            for id in &old {
                self.exec_on(node, &["crictl", "stopp", id])?;
                self.exec_on(node, &["crictl", "rmp", id])?;
            }
            let id = self.await_new_sandbox(node, namespace, name, &old)?;
            self.attached(node, namespace, name, &id)
        })
    }

    /// Tears a pod's sandbox down for good: the pod is deleted and kubelet runs CNI DEL.
    async fn del_sandbox(&self, pod: &Attached) -> anyhow::Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), &pod.namespace);
        pods.delete(&pod.name, &DeleteParams::default().grace_period(0))
            .await?;
        let deadline = Instant::now() + SANDBOX_DEADLINE;
        blocking(|| {
            while !self
                .sandboxes(&pod.node, &pod.namespace, &pod.name)?
                .is_empty()
            {
                if Instant::now() > deadline {
                    bail!(
                        "the sandbox of {}/{} outlived its pod by {SANDBOX_DEADLINE:?}",
                        pod.namespace,
                        pod.name
                    );
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Ok(())
        })
    }

    /// Cuts a node off: `docker network disconnect kind <node>`, or the API server's address
    /// dropped both ways with iptables inside the node.
    async fn cut(&self, node: &str, how: Cut) -> anyhow::Result<()> {
        match how {
            Cut::Network => Ok(blocking(|| self.backend().disconnect(node))?),
            Cut::Blackhole => self.blackhole(node, "-I"),
        }
    }

    /// Undoes [`Self::cut`].
    async fn reconnect(&self, node: &str, how: Cut) -> anyhow::Result<()> {
        match how {
            Cut::Network => Ok(blocking(|| self.backend().reconnect(node))?),
            Cut::Blackhole => self.blackhole(node, "-D"),
        }
    }

    /// Restarts the agent's container on a node and waits for a new one.
    async fn restart_agent(&self, node: &str) -> anyhow::Result<()> {
        Ok(blocking(|| self.backend().restart_agent(node))?)
    }

    /// The API server's audit log (audit.k8s.io/v1 events, one per line).
    async fn audit(&self) -> anyhow::Result<Vec<Request>> {
        let log = blocking(|| self.backend().audit_log())?.context("dry run: no audit log")?;
        log.lines()
            .filter(|l| !l.trim().is_empty())
            .map(parse_audit_event)
            .collect()
    }

    /// API Priority and Fairness for the agent: the PriorityLevelConfiguration of
    /// deploy/flowcontrol.yaml squeezed to the least concurrency with rejection. APF limits
    /// the agent's flow only, and concurrency, not QPS.
    async fn limit(&self, user: &str, _max_in_flight: usize, _qps: f64) -> anyhow::Result<()> {
        only_the_agent(user)?;
        let api: Api<k8s_openapi::api::flowcontrol::v1::PriorityLevelConfiguration> =
            Api::all(self.admin.clone());
        let patch = json!({"spec": {"limited": {"nominalConcurrencyShares": 1, "lendablePercent": 0, "limitResponse": {"type": "Reject"}}}});
        api.patch(TETHER_AGENT, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .context("squeezing the agent's priority level")?;
        Ok(())
    }

    /// Requests of the agent's priority level the API server rejected
    /// (`apiserver_flowcontrol_rejected_requests_total`).
    async fn rejected(&self, user: &str) -> anyhow::Result<u64> {
        only_the_agent(user)?;
        let metrics =
            blocking(|| self.backend().apiserver_metrics())?.context("dry run: no metrics")?;
        Ok(metrics
            .lines()
            .filter(|l| {
                l.starts_with("apiserver_flowcontrol_rejected_requests_total")
                    && l.contains(&format!("priority_level=\"{TETHER_AGENT}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    /// Deletes the cluster (kept with `TETHER_E2E_REUSE=1`), exporting its logs first when the
    /// test is failing.
    async fn down(self: Box<Self>) -> anyhow::Result<()> {
        let mut this = *self;
        this.torn_down = true;
        let backend = this
            .backend
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keep_logs_if_failing(backend);
        blocking(|| backend.down())?;
        Ok(())
    }
}

/// On kind the API server's limits are API Priority and Fairness for the agent's FlowSchema
/// (deploy/flowcontrol.yaml): they cannot single out another user.
fn only_the_agent(user: &str) -> anyhow::Result<()> {
    if user != AGENT_USER {
        bail!("on kind, API Priority and Fairness is set up for {AGENT_USER} only, not {user}");
    }
    Ok(())
}

/// When the test is failing, exports the cluster's logs (`kind export logs`) and says where.
fn keep_logs_if_failing(backend: &mut KindBackend<AnyExecutor>) {
    if !std::thread::panicking() {
        return;
    }
    let dir = testkit::repo::root().join("target/e2e-artifacts/kind");
    match blocking(|| backend.export_logs(&dir)) {
        Ok(_) => eprintln!("[e2e] test failed: kind logs kept in {}", dir.display()),
        Err(e) => eprintln!("[e2e] test failed; exporting kind logs failed: {e}"),
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        // Reached without `down` when a scenario fails: keep the evidence, then delete.
        let backend = self
            .backend
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keep_logs_if_failing(backend);
        if let Err(e) = blocking(|| backend.down()) {
            eprintln!("[e2e] deleting the kind cluster failed: {e}");
        }
    }
}

/// Gives the DaemonSet's agent the scenario's client-side rate limit (`TETHER_QPS`,
/// `TETHER_BURST`) and waits until every node runs the updated pod.
async fn set_agent_rate(
    admin: &kube::Client,
    container: &str,
    qps: f64,
    burst: u32,
) -> anyhow::Result<()> {
    use k8s_openapi::api::apps::v1::DaemonSet;
    let api: Api<DaemonSet> = Api::namespaced(admin.clone(), TETHER_NAMESPACE);
    // Strategic merge: containers and env merge by name, the rest of the DaemonSet stays.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{
        "name": container,
        "env": [{"name": "TETHER_QPS", "value": qps.to_string()}, {"name": "TETHER_BURST", "value": burst.to_string()}],
    }]}}}});
    let patched = api
        .patch(
            TETHER_AGENT,
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .context("setting the agent's rate limit")?;
    let generation = patched.metadata.generation.unwrap_or_default();
    let rolled_out = move |ds: Option<&DaemonSet>| {
        ds.and_then(|ds| ds.status.as_ref()).is_some_and(|s| {
            s.observed_generation >= Some(generation)
                && s.updated_number_scheduled == Some(s.desired_number_scheduled)
                && s.number_available == Some(s.desired_number_scheduled)
        })
    };
    tokio::time::timeout(
        Duration::from_secs(180),
        kube::runtime::wait::await_condition(api, TETHER_AGENT, rolled_out),
    )
    .await
    .context("the agent DaemonSet did not roll out within 180 s")??;
    Ok(())
}

/// One line of the API server's audit log as a [`Request`].
pub fn parse_audit_event(line: &str) -> anyhow::Result<Request> {
    let e: Value = serde_json::from_str(line).context("an audit log line is not JSON")?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let time = text(&e["requestReceivedTimestamp"]);
    chrono::DateTime::parse_from_rfc3339(&time)
        .with_context(|| format!("audit event time {time:?}"))?;
    let groups = e["user"]["groups"]
        .as_array()
        .map(|g| g.iter().map(text).collect())
        .unwrap_or_default();
    Ok(Request {
        time,
        user: text(&e["user"]["username"]),
        groups,
        verb: text(&e["verb"]),
        api_group: text(&e["objectRef"]["apiGroup"]),
        resource: text(&e["objectRef"]["resource"]),
        subresource: text(&e["objectRef"]["subresource"]),
        namespace: text(&e["objectRef"]["namespace"]),
        name: text(&e["objectRef"]["name"]),
        uri: text(&e["requestURI"]),
        code: e["responseStatus"]["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or_default(),
        user_agent: text(&e["userAgent"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::exec::DryRunExecutor;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_dry_run_writes_the_whole_plan_for_the_scenarios_cluster_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let deploy = testkit::repo::deploy_dir();
        let spec = ClusterSpec::default();
        let config = with_nodes(KindConfig::new(deploy, work.clone()), &spec);
        let exec = AnyExecutor::DryRun(DryRunExecutor::new(work.clone()).unwrap());
        let backend = KindBackend::new(config, exec).unwrap();
        match KindCluster::up_with(spec, backend).await.unwrap() {
            Up::Planned(dir) => assert_eq!(dir, work, "the plan is where the work dir is"),
            Up::Running(_) => panic!("a dry run cannot hand out a cluster"),
        }
        let transcript = std::fs::read_to_string(work.join("commands.sh")).unwrap();
        for step in [
            "kind create cluster",
            "upgrade --install yurt-manager",
            "apply -k",
            "rollout status --namespace tether-system daemonset/tether-agent",
        ] {
            assert!(
                transcript.contains(step),
                "no {step:?} in the transcript:\n{transcript}"
            );
        }
        let kind_config: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(work.join("kind-config.yaml")).unwrap(),
        )
        .unwrap();
        let workers = kind_config["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["role"] == "worker")
            .count();
        assert_eq!(workers, 2, "one kind worker per edge node of the scenario");
    }

    #[test]
    fn audit_events_of_the_real_server_parse() {
        // The shape of an audit.k8s.io/v1 Event at level Metadata.
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/apis/tether.dev/v1alpha1/networkprofiles/camera/status?fieldManager=tether-agent%2Fedge-1","verb":"patch","user":{"username":"system:serviceaccount:tether-system:tether-agent","groups":["system:serviceaccounts"]},"userAgent":"tether-agent/0.1.0","objectRef":{"resource":"networkprofiles","name":"camera","apiGroup":"tether.dev","apiVersion":"v1alpha1","subresource":"status"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-26T07:00:43.249104Z","stageTimestamp":"2026-11-26T07:00:43.251000Z"}"#;
        let r = parse_audit_event(line).unwrap();
        assert_eq!(
            (
                r.verb.as_str(),
                r.api_group.as_str(),
                r.resource.as_str(),
                r.subresource.as_str()
            ),
            ("patch", "tether.dev", "networkprofiles", "status")
        );
        assert_eq!(
            (r.code, r.user_agent.as_str(), r.namespace.as_str()),
            (200, "tether-agent/0.1.0", "")
        );
        assert_eq!(
            r.arrived().unwrap().to_rfc3339(),
            "2026-11-26T07:00:43.249104+00:00"
        );
        assert_eq!(r.groups, vec!["system:serviceaccounts".to_string()]);
        assert!(
            parse_audit_event("{}").is_err(),
            "an event without a time is refused"
        );
    }
}
