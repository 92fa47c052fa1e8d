//! The kind backend behind the scenarios' [`crate::backend::Backend`]: the [`KindBackend`]
//! plan for the cluster and every step on nodes and the API server's configuration (each one a
//! command an executor runs or records), kube clients on its kubeconfig for the API. Never run
//! here (no registry for kind's images): correct by construction, and its dry run is tested.
//!
//! Each `up` has a cluster and a work directory of its own (`target/tether-e2e-kind/<name>/`:
//! plan, transcript, kubeconfig), so test cases running at once never meet; with
//! `TETHER_E2E_REUSE=1` a scenario's cluster keeps its name from run to run, one case at a time
//! holds it (a file lock), and `up` clears what earlier runs left.

use std::fs::File;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::apf::BURST_MILLIS;
use super::backend::{KindBackend, SandboxAttachment};
use super::config::{
    EdgeNode, KindConfig, TETHER_AGENT, TETHER_NAMESPACE, reused_cluster_name, unique_cluster_name,
};
use super::exec::{AnyExecutor, DryRunExecutor, RealExecutor};
use async_trait::async_trait;

use crate::backend::{AGENT_USER, Attached, Backend, ClusterSpec, Cut, PodSpec, Request, Up};
use crate::kubeconfig::client_for;

/// A Kind + OpenYurt cluster with tether installed.
pub struct KindCluster {
    backend: Mutex<KindBackend<AnyExecutor>>,
    admin: kube::Client,
    kubeconfig: String,
    aliases: Vec<String>,
    /// The contention load `limit` started, stopped by the next `limit` and at the end.
    load: Mutex<Vec<JoinHandle<()>>>,
    torn_down: bool,
    /// Held while the cluster is in use: no other case of any process takes it meanwhile.
    _lock: CaseLock,
}

/// The scenario's edge nodes as the kind plan's.
pub fn with_nodes(mut config: KindConfig, spec: &ClusterSpec) -> KindConfig {
    config.edge_nodes = edge_nodes(spec);
    config
}

fn edge_nodes(spec: &ClusterSpec) -> Vec<EdgeNode> {
    spec.nodes
        .iter()
        .map(|n| EdgeNode {
            alias: n.name.clone(),
            pool: n.pool.clone(),
        })
        .collect()
}

/// The cluster name of one `up`: the spec's fixed name (the demo); with reuse, the name of
/// the scenario's shape, kept from run to run; else a name of its own.
pub fn cluster_name(spec: &ClusterSpec, reuse: bool) -> String {
    match (&spec.name, reuse) {
        (Some(name), _) => name.clone(),
        (None, true) => reused_cluster_name(&edge_nodes(spec)),
        (None, false) => unique_cluster_name(),
    }
}

/// An exclusive lock on `<dir>.lock`, held until dropped (the OS releases it with the file).
pub struct CaseLock {
    _held: File,
}

impl CaseLock {
    /// Waits for the lock of the cluster whose work directory is `dir`.
    pub fn acquire(dir: &Path) -> anyhow::Result<CaseLock> {
        let path = dir.with_extension("lock");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(CaseLock { _held: file })
    }

    /// The lock if it is free now, `None` if another holder has it.
    pub fn try_acquire(dir: &Path) -> anyhow::Result<Option<CaseLock>> {
        let path = dir.with_extension("lock");
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(CaseLock { _held: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
    }
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
        let reuse = std::env::var("TETHER_E2E_REUSE").is_ok_and(|v| v == "1");
        Self::up_in(spec, &root, crate::backend::dry_run(), reuse).await
    }

    /// [`Self::up`] for the checkout at `root`, the choices made by the caller.
    pub async fn up_in(
        spec: ClusterSpec,
        root: &Path,
        dry_run: bool,
        reuse: bool,
    ) -> anyhow::Result<Up> {
        let name = cluster_name(&spec, reuse);
        let mut config = with_nodes(KindConfig::in_repo(root, &name), &spec);
        config.reuse = reuse;
        config.clear_earlier_runs = reuse;
        let lock = blocking(|| CaseLock::acquire(&config.work_dir))?;
        // Without the Nix-built image loaded, build one from the workspace's binaries.
        if !dry_run && crate::docker::docker(&["image", "inspect", &config.image]).is_err() {
            let work = config.work_dir.join("image");
            config.image = blocking(|| super::image::build(&crate::binaries::build()?, &work))?;
        }
        let exec = match dry_run {
            true => AnyExecutor::DryRun(DryRunExecutor::new(config.work_dir.clone())?),
            false => AnyExecutor::Real(RealExecutor),
        };
        let backend = KindBackend::new(config, exec)?;
        Self::up_with(spec, backend, lock).await
    }

    /// [`Self::up`] with a backend built by the caller, holding `lock`.
    pub async fn up_with(
        spec: ClusterSpec,
        mut backend: KindBackend<AnyExecutor>,
        lock: CaseLock,
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
            load: Mutex::new(Vec::new()),
            torn_down: false,
            _lock: lock,
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

    /// A client of this cluster authenticated with `token`.
    async fn client_with_token(&self, token: &str) -> anyhow::Result<kube::Client> {
        let mut kubeconfig: Value =
            serde_saphyr::from_str(&self.kubeconfig).context("parsing the kubeconfig")?;
        if let Some(users) = kubeconfig["users"].as_array_mut() {
            for user in users {
                user["user"] = json!({"token": token});
            }
        }
        client_for(&serde_json::to_string(&kubeconfig)?).await
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
        self.client_with_token(&token).await
    }

    /// The sandbox as the contract's [`Attached`].
    fn attached(
        &self,
        node: &str,
        namespace: &str,
        name: &str,
        sandbox: &str,
    ) -> anyhow::Result<Attached> {
        let SandboxAttachment {
            id,
            netns,
            host_veth,
            record,
        } = blocking(|| self.backend().sandbox_attachment(node, sandbox))?
            .context("dry run: no sandbox")?;
        Ok(Attached {
            node: node.into(),
            namespace: namespace.into(),
            name: name.into(),
            container_id: id,
            netns,
            host_veth,
            tether: record,
        })
    }

    fn stop_load(&self) {
        let mut load = self
            .load
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for task in load.drain(..) {
            task.abort();
        }
    }
}

/// The contention load of one seat: for [`BURST_MILLIS`] of every second, LIST requests back to
/// back as the load's ServiceAccount, which APF puts in the agent's priority level. Their
/// answers, 429 included, do not matter: each request held a seat while it ran.
async fn contention_load(client: kube::Client) {
    let pods: Api<Pod> = Api::all(client);
    let burst = Duration::from_millis(BURST_MILLIS);
    loop {
        let start = tokio::time::Instant::now();
        while start.elapsed() < burst {
            // the load's own answers are of no interest (see above)
            let _ = pods.list(&ListParams::default().limit(500)).await;
        }
        tokio::time::sleep_until(start + Duration::from_secs(1)).await;
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
        let on_node = ListParams::default().fields(&format!("spec.nodeName={node_name}"));
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

    /// The Kubernetes name of a node (`edge-1` → `tether-e2e-<pid>-<n>-worker`).
    fn node_name(&self, alias: &str) -> anyhow::Result<String> {
        Ok(self.backend().config().node_name(alias)?)
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

    /// Creates the pod and returns its first sandbox, found by the pod's UID.
    async fn add_pod(&self, node: &str, spec: &PodSpec) -> anyhow::Result<Attached> {
        let uid = Backend::create_pod(self, node, spec).await?;
        blocking(|| {
            let id = self.backend().await_sandbox(node, &uid, &[])?;
            self.attached(node, &spec.namespace, &spec.name, &id)
        })
    }

    /// A new sandbox for the pod `uid`: its ready sandboxes (found by UID, never by name) are
    /// removed with crictl and kubelet makes another (CNI ADD runs again, through the agent's
    /// cache when cut off).
    async fn add_sandbox(
        &self,
        node: &str,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> anyhow::Result<Attached> {
        blocking(|| {
            let id = self.backend().recreate_sandbox(node, uid)?;
            self.attached(node, namespace, name, &id)
        })
    }

    /// Tears a pod's sandbox down for good: the pod is deleted and kubelet stops its sandbox,
    /// running CNI DEL; waits until that sandbox is no longer ready.
    async fn del_sandbox(&self, pod: &Attached) -> anyhow::Result<()> {
        let pods: Api<Pod> = Api::namespaced(self.admin.clone(), &pod.namespace);
        pods.delete(&pod.name, &DeleteParams::default().grace_period(0))
            .await?;
        Ok(blocking(|| {
            self.backend()
                .await_sandbox_gone(&pod.node, &pod.container_id)
        })?)
    }

    /// Runs `argv` in a node container; its stdout.
    async fn node_exec(&self, node: &str, argv: &[&str]) -> anyhow::Result<String> {
        self.exec_on(node, argv)
    }

    /// The MTU of the node's `eth0`, which kindnetd writes into the conflist for every pod
    /// (kind's network takes it from Docker's default bridge network: kind v0.31.0
    /// `pkg/cluster/internal/providers/docker/network.go:66-69,163-176`).
    async fn default_pod_mtu(&self, node: &str) -> anyhow::Result<u32> {
        blocking(|| self.backend().default_pod_mtu(node))?.context("dry run: no MTU")
    }

    /// Cuts a node off (`docker network disconnect`, or the API server's IPv4 and IPv6
    /// addresses dropped both ways inside the node) and checks the API server is out of reach.
    async fn cut(&self, node: &str, how: Cut) -> anyhow::Result<()> {
        Ok(blocking(|| self.backend().cut(node, how))?)
    }

    /// Undoes [`Backend::cut`] and returns once yurthub is healthy again, the node Ready and its
    /// conflist still chaining tether.
    async fn reconnect(&self, node: &str, how: Cut) -> anyhow::Result<()> {
        Ok(blocking(|| self.backend().reconnect(node, how))?)
    }

    /// Restarts the agent's container on a node and waits for a new one.
    async fn restart_agent(&self, node: &str) -> anyhow::Result<()> {
        Ok(blocking(|| self.backend().restart_agent(node))?)
    }

    /// Restarts kindnetd on the node and waits for its new container.
    async fn restart_main_plugin(&self, node: &str) -> anyhow::Result<()> {
        Ok(blocking(|| self.backend().restart_main_plugin(node))?)
    }

    /// Deletes the tether DaemonSet and waits until its pods are gone.
    async fn remove_tether(&self) -> anyhow::Result<()> {
        Ok(blocking(|| self.backend().remove_tether())?)
    }

    /// Restarts the node's `yurthub.service` and waits for its health endpoint.
    async fn restart_yurthub(&self, node: &str) -> anyhow::Result<()> {
        Ok(blocking(|| self.backend().restart_yurthub(node))?)
    }

    /// The API server's audit log (audit.k8s.io/v1 events), one request per `auditID`.
    async fn audit(&self) -> anyhow::Result<Vec<Request>> {
        blocking(|| self.backend().audit_requests())?.context("dry run: no audit log")
    }

    /// API Priority and Fairness for the agent, which is all kind has: the agent's priority
    /// level (deploy/flowcontrol.yaml) gets exactly `max_in_flight` seats — shares computed from
    /// the other levels' and the server's 246 seats, none lent, none borrowed — and rejects
    /// what finds them all busy with 429. Then, since the agent alone seldom has more than one
    /// or two requests in flight, `max_in_flight` load requests of the harness's own
    /// ServiceAccount keep those seats busy for 100 ms of every second, so the agent's requests
    /// meet contention on purpose; their own 429s are not the agent's. `qps`: **not enforced**
    /// — APF limits concurrency and has no rate limit; nothing here approximates one.
    async fn limit(&self, user: &str, max_in_flight: usize, _qps: f64) -> anyhow::Result<()> {
        only_the_agent(user)?;
        let seats = u32::try_from(max_in_flight).context("max_in_flight")?;
        self.stop_load();
        let token = blocking(|| self.backend().limit(seats))?;
        let client = self.client_with_token(&token).await?;
        let mut load = self
            .load
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for _ in 0..seats {
            load.push(tokio::spawn(contention_load(client.clone())));
        }
        Ok(())
    }

    /// Requests of the agent the API server answered 429, counted in the audit log.
    async fn rejected(&self, user: &str) -> anyhow::Result<u64> {
        only_the_agent(user)?;
        blocking(|| self.backend().rejected(user))?.context("dry run: no audit log")
    }

    /// Deletes the cluster (kept with `TETHER_E2E_REUSE=1`), exporting its logs first when the
    /// test is failing.
    async fn down(self: Box<Self>) -> anyhow::Result<()> {
        let mut this = *self;
        this.torn_down = true;
        this.stop_load();
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
    let dir = testkit::repo::root()
        .join("target/e2e-artifacts/kind")
        .join(&backend.config().cluster_name);
    match blocking(|| backend.export_logs(&dir)) {
        Ok(_) => eprintln!("[e2e] test failed: kind logs kept in {}", dir.display()),
        Err(e) => eprintln!("[e2e] test failed; exporting kind logs failed: {e}"),
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        self.stop_load();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::NodeSpec;
    use crate::kind::config::WORK_ROOT;

    fn planned(up: Up) -> std::path::PathBuf {
        match up {
            Up::Planned(dir) => dir,
            Up::Running(_) => panic!("a dry run cannot hand out a cluster"),
        }
    }

    /// A checkout whose deploy/ is the repository's, so plans can be written under a temporary
    /// `target/`.
    fn checkout() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(testkit::repo::deploy_dir(), root.path().join("deploy"))
            .unwrap();
        root
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn parallel_cases_get_a_cluster_a_directory_and_a_transcript_each() {
        let root = checkout();
        let (a, b) = tokio::join!(
            KindCluster::up_in(ClusterSpec::default(), root.path(), true, false),
            KindCluster::up_in(ClusterSpec::default(), root.path(), true, false),
        );
        let (a, b) = (planned(a.unwrap()), planned(b.unwrap()));
        assert_ne!(a, b, "one work directory per case");
        for dir in [&a, &b] {
            let name = dir.file_name().unwrap().to_str().unwrap();
            assert!(
                name.starts_with("tether-e2e-") && name.len() <= 40,
                "{name}"
            );
            assert_eq!(*dir, root.path().join(WORK_ROOT).join(name));
            let transcript = std::fs::read_to_string(dir.join("commands.sh")).unwrap();
            let other = if dir == &a { &b } else { &a };
            let other = other.file_name().unwrap().to_str().unwrap();
            assert!(
                transcript.contains(&format!("--name {name} ")),
                "{transcript}"
            );
            assert!(
                !transcript.contains(other),
                "{name}'s transcript mentions {other}:\n{transcript}"
            );
            assert!(
                !transcript.contains("delete cluster"),
                "a fresh name has no stale cluster to delete"
            );
            let kind_config: Value = serde_saphyr::from_str(
                &std::fs::read_to_string(dir.join("kind-config.yaml")).unwrap(),
            )
            .unwrap();
            assert_eq!(kind_config["name"], name);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_reused_cluster_keeps_its_name_and_is_cleared_of_earlier_runs() {
        let root = checkout();
        let spec = ClusterSpec::default();
        let first = planned(
            KindCluster::up_in(spec.clone(), root.path(), true, true)
                .await
                .unwrap(),
        );
        let second = planned(
            KindCluster::up_in(spec.clone(), root.path(), true, true)
                .await
                .unwrap(),
        );
        assert_eq!(
            first, second,
            "the second run finds the first one's cluster"
        );
        let one_node = ClusterSpec {
            nodes: vec![NodeSpec {
                name: "edge-1".into(),
                pool: "hangzhou".into(),
            }],
            ..ClusterSpec::default()
        };
        let other = planned(
            KindCluster::up_in(one_node, root.path(), true, true)
                .await
                .unwrap(),
        );
        assert_ne!(first, other, "a cluster of another shape has another name");
        let transcript = std::fs::read_to_string(first.join("commands.sh")).unwrap();
        let at = |needle: &str| {
            transcript
                .find(needle)
                .unwrap_or_else(|| panic!("no {needle:?} in:\n{transcript}"))
        };
        let apply = at(" apply -k ");
        assert!(
            at(
                "delete prioritylevelconfigurations.flowcontrol.apiserver.k8s.io tether-agent --ignore-not-found"
            ) < apply
        );
        assert!(at("--selector=tether.dev/e2e=contention") < apply);
        let rollout = at("rollout status");
        for step in [
            "delete networkprofiles.tether.dev --all",
            "delete pods --all --namespace default --force --grace-period=0",
            "delete events.events.k8s.io --all --namespace default",
        ] {
            assert!(rollout < at(step), "{step} after the rollout");
        }
    }

    #[test]
    fn one_case_at_a_time_holds_a_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("tether-e2e-rx");
        let held = CaseLock::acquire(&work).unwrap();
        assert!(
            CaseLock::try_acquire(&work).unwrap().is_none(),
            "a second holder waits"
        );
        drop(held);
        assert!(CaseLock::try_acquire(&work).unwrap().is_some());
    }
}
