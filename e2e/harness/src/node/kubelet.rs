//! `tether-node kubelet`: the sim node's kubelet double. It does, for the pods the API binds
//! to its node, what kubelet's pod workers do through CRI, and nothing else (no probes,
//! volumes, restarts of exited containers or node status):
//!
//! - watches the pods with `spec.nodeName=<node>` (kubelet's pod config source
//!   `pkg/kubelet/config/apiserver.go` at Kubernetes v1.34);
//! - runs each through containerd's CRI: RunPodSandbox with the config kubelet builds
//!   (`generatePodSandboxConfig` in `pkg/kubelet/kuberuntime/kuberuntime_sandbox.go`:
//!   metadata name/namespace/uid/attempt, hostname, log directory, the pod's labels plus
//!   `io.kubernetes.pod.*`, cgroup parent, namespace options), then CreateContainer and
//!   StartContainer for each container, from the node's local images (nothing is pulled);
//! - writes the pod's status back (`phase`, `podIP`, `hostIP`, conditions,
//!   `containerStatuses`), retrying until the API takes it, as kubelet's status manager does;
//! - stops (CNI DEL) and removes the sandbox when the pod is deleted;
//! - on request over its control socket ([`super::control`]), replaces a pod's sandbox with
//!   a new one, attempt + 1 — what kubelet does when a sandbox dies, and how a scenario
//!   makes "a new sandbox while the node is cut off" happen.
//!
//! Cut off from the API, it keeps what it runs and can still recreate sandboxes; it never
//! tears a pod down because the API is unreachable, only when the API says it is gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ImageSpec, LinuxContainerConfig,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata, PodSandboxState,
};
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::control::{PodView, Request, Response, SandboxView};
use super::cri::Cri;
use super::{APP_IMAGE, POD_LOG_DIR};

/// Label keys kubelet puts on every sandbox and container (`pkg/kubelet/types/labels.go`).
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
/// See [`POD_NAME_LABEL`].
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// See [`POD_NAME_LABEL`].
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// See [`POD_NAME_LABEL`].
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
/// The User-Agent of its API requests: kubelet's component name first, as yurthub keys its
/// cache on it.
pub const USER_AGENT: &str = "kubelet/v1.34.0 (linux/amd64) tether-e2e";

/// How long one status write may take before it is retried later.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the runtime may take to answer at start.
const RUNTIME_WAIT: Duration = Duration::from_secs(60);

/// What the kubelet double needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Its node's name.
    pub node: String,
    /// Its kubeconfig (the API address and its credentials).
    pub kubeconfig: PathBuf,
    /// The runtime's CRI socket.
    pub runtime: PathBuf,
    /// Where it serves its control socket.
    pub control: PathBuf,
}

/// What a pod's worker is asked to do.
enum Command {
    /// The pod as the API has it now: run it if it has no sandbox.
    Sync(Box<Pod>),
    /// Replace its sandbox with a new one (attempt + 1); the new one's view.
    Recreate(oneshot::Sender<Result<SandboxView, String>>),
    /// The pod is gone from the API: tear everything down.
    Delete,
    /// Try again to run a pod whose sandbox failed to come up.
    Retry,
}

/// State shared by the watcher, the workers, the status writer and the control server.
struct Shared {
    node: String,
    host_ip: Option<IpAddr>,
    cri: Cri,
    client: kube::Client,
    /// What each known pod runs, for the control socket's answers and waits.
    views: watch::Sender<BTreeMap<String, PodView>>,
    /// Each live worker's inbox, by pod UID.
    workers: Mutex<HashMap<String, mpsc::UnboundedSender<Command>>>,
    /// Status not yet delivered, by pod UID: (namespace, name, status).
    statuses: Mutex<BTreeMap<String, (String, String, Value)>>,
    status_queued: Notify,
}

impl Shared {
    fn publish(&self, view: PodView) {
        self.views.send_modify(|views| {
            views.insert(view.uid.clone(), view);
        });
    }

    fn forget(&self, uid: &str) {
        self.views.send_modify(|views| {
            views.remove(uid);
        });
        lock(&self.statuses).remove(uid);
        lock(&self.workers).remove(uid);
    }

    fn queue_status(&self, pod: &Pod, status: Value) {
        let (Some(uid), Some(namespace), Some(name)) = (
            pod.metadata.uid.clone(),
            pod.metadata.namespace.clone(),
            pod.metadata.name.clone(),
        ) else {
            return;
        };
        lock(&self.statuses).insert(uid, (namespace, name, status));
        self.status_queued.notify_one();
    }

    /// The worker of `pod`, started if it has none.
    fn worker(self: &Arc<Self>, uid: &str) -> mpsc::UnboundedSender<Command> {
        let mut workers = lock(&self.workers);
        if let Some(tx) = workers.get(uid).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        workers.insert(uid.to_string(), tx.clone());
        tokio::spawn(Worker::new(Arc::clone(self), uid.to_string()).run(rx));
        tx
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the kubelet double until the process is stopped.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let cri = Cri::connect(&config.runtime, RUNTIME_WAIT).await?;
    let kubeconfig = Kubeconfig::read_from(&config.kubeconfig)
        .with_context(|| format!("reading {}", config.kubeconfig.display()))?;
    let mut client_config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .with_context(|| format!("loading {}", config.kubeconfig.display()))?;
    client_config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
    let host_ip = host_ip();
    let client = kube::Client::try_from(client_config).context("building the API client")?;
    println!(
        "kubelet: node {} (host IP {host_ip:?}), API from {}",
        config.node,
        config.kubeconfig.display()
    );
    let shared = Arc::new(Shared {
        node: config.node.clone(),
        host_ip,
        cri,
        client,
        views: watch::channel(BTreeMap::new()).0,
        workers: Mutex::new(HashMap::new()),
        statuses: Mutex::new(BTreeMap::new()),
        status_queued: Notify::new(),
    });
    adopt(&shared).await?;
    tokio::spawn(write_statuses(Arc::clone(&shared)));
    let listener = listen(&config.control)?;
    tokio::spawn(serve(Arc::clone(&shared), listener));
    watch_pods(shared).await
}

/// The node's address as kubelet finds it without `--node-ip`: that of the interface holding
/// the default route (apimachinery's `ChooseHostInterface`) — the source address the kernel
/// picks for an address only the default route reaches (a UDP "connect" sends nothing). Not the
/// way to the API server: that is yurthub, on the node itself.
fn host_ip() -> Option<IpAddr> {
    // TEST-NET-1 (RFC 5737): never routed anywhere but by a default route.
    let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(("192.0.2.1", 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip())
}

/// Takes over the sandboxes a previous run of the kubelet double left ready, as kubelet
/// does after a restart, so a restart neither duplicates nor loses a pod's sandbox.
async fn adopt(shared: &Arc<Shared>) -> anyhow::Result<()> {
    for sandbox in shared.cri.list_pod_sandbox().await? {
        if sandbox.state != PodSandboxState::SandboxReady as i32 {
            continue;
        }
        let Some(meta) = sandbox.metadata else {
            continue;
        };
        let (status, info) = shared.cri.pod_sandbox_status(&sandbox.id).await?;
        let view = PodView {
            namespace: meta.namespace.clone(),
            name: meta.name.clone(),
            uid: meta.uid.clone(),
            sandbox: Some(SandboxView {
                id: sandbox.id.clone(),
                attempt: meta.attempt,
                netns: netns_path(&info),
                ip: status.network.map(|n| n.ip).filter(|ip| !ip.is_empty()),
                containers: Vec::new(),
            }),
            error: None,
        };
        println!(
            "kubelet: adopting sandbox {} of {}/{} (attempt {})",
            sandbox.id, meta.namespace, meta.name, meta.attempt
        );
        shared.publish(view);
        shared.worker(&meta.uid);
    }
    Ok(())
}

/// Follows the pods bound to the node; each change goes to the pod's worker.
async fn watch_pods(shared: Arc<Shared>) -> anyhow::Result<()> {
    let selector = format!("spec.nodeName={}", shared.node);
    let config = watcher::Config::default().fields(&selector);
    let mut events =
        std::pin::pin!(watcher(Api::<Pod>::all(shared.client.clone()), config).default_backoff());
    let mut listed: Option<HashSet<String>> = None;
    let mut failing = false;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => {
                if failing {
                    println!("kubelet: pod watch is back");
                    failing = false;
                }
                event
            }
            Err(e) => {
                // Cut off, the watch fails until the link is back; the pods keep running.
                if !failing {
                    println!("kubelet: pod watch failing (pods keep running): {e}");
                    failing = true;
                }
                continue;
            }
        };
        match event {
            watcher::Event::Init => listed = Some(HashSet::new()),
            watcher::Event::InitApply(pod) => {
                if let (Some(seen), Some(uid)) = (listed.as_mut(), pod.metadata.uid.clone()) {
                    seen.insert(uid);
                }
                sync(&shared, pod);
            }
            watcher::Event::Apply(pod) => sync(&shared, pod),
            watcher::Event::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid {
                    let _ = shared.worker(&uid).send(Command::Delete);
                }
            }
            watcher::Event::InitDone => {
                // Pods deleted while the watch was down appear only as missing from the list.
                let seen = listed.take().unwrap_or_default();
                let known: Vec<String> = shared.views.borrow().keys().cloned().collect();
                for uid in known.into_iter().filter(|uid| !seen.contains(uid)) {
                    let _ = shared.worker(&uid).send(Command::Delete);
                }
            }
        }
    }
    bail!("the pod watch ended")
}

fn sync(shared: &Arc<Shared>, pod: Pod) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let command = if pod.metadata.deletion_timestamp.is_some() {
        Command::Delete
    } else {
        Command::Sync(Box::new(pod))
    };
    let _ = shared.worker(&uid).send(command);
}

/// One pod's worker: every CRI call for the pod, in order.
struct Worker {
    shared: Arc<Shared>,
    uid: String,
    pod: Option<Pod>,
    view: PodView,
    /// The attempt number of the next sandbox.
    next_attempt: u32,
    /// Failures in a row, for the back-off before the next try.
    failures: u32,
    /// Whether the current sandbox's status was queued.
    reported: bool,
}

impl Worker {
    fn new(shared: Arc<Shared>, uid: String) -> Worker {
        let view = shared
            .views
            .borrow()
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| PodView {
                uid: uid.clone(),
                ..PodView::default()
            });
        let next_attempt = view.sandbox.as_ref().map_or(0, |s| s.attempt + 1);
        Worker {
            shared,
            uid,
            pod: None,
            view,
            next_attempt,
            failures: 0,
            reported: false,
        }
    }

    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Command>) {
        loop {
            let command = match self.retry_after() {
                Some(delay) => tokio::select! {
                    command = inbox.recv() => command,
                    () = tokio::time::sleep(delay) => Some(Command::Retry),
                },
                None => inbox.recv().await,
            };
            let Some(command) = command else {
                return;
            };
            match command {
                Command::Sync(pod) => {
                    self.learn(*pod);
                    if self.view.sandbox.is_none() {
                        let _ = self.start().await;
                    } else if !self.reported {
                        // An adopted sandbox: its status is written once the pod is known.
                        self.report();
                    }
                }
                Command::Retry => {
                    if self.view.sandbox.is_none() {
                        let _ = self.start().await;
                    }
                }
                Command::Recreate(reply) => {
                    if let Some(sandbox) = self.view.sandbox.take() {
                        self.teardown(&sandbox).await;
                        self.shared.publish(self.view.clone());
                    }
                    let outcome = self.start().await.map_err(|e| format!("{e:#}"));
                    let _ = reply.send(outcome);
                }
                Command::Delete => {
                    if let Some(sandbox) = self.view.sandbox.take() {
                        self.teardown(&sandbox).await;
                    }
                    let dir = self.log_directory();
                    if let Some(dir) = dir {
                        let _ = std::fs::remove_dir_all(dir);
                    }
                    if let Some(pod) = &self.pod
                        && pod.metadata.deletion_timestamp.is_some()
                    {
                        self.finish_deletion(pod).await;
                    }
                    println!(
                        "kubelet: pod {}/{} ({}) is gone from the node",
                        self.view.namespace, self.view.name, self.uid
                    );
                    self.shared.forget(&self.uid);
                    return;
                }
            }
        }
    }

    /// When to try again to run a pod whose sandbox failed to come up.
    fn retry_after(&self) -> Option<Duration> {
        (self.failures > 0 && self.view.sandbox.is_none() && self.pod.is_some())
            .then(|| Duration::from_millis(500 * 2u64.pow(self.failures.min(5))))
    }

    fn learn(&mut self, pod: Pod) {
        self.view.namespace = pod.metadata.namespace.clone().unwrap_or_default();
        self.view.name = pod.metadata.name.clone().unwrap_or_default();
        self.pod = Some(pod);
    }

    fn log_directory(&self) -> Option<PathBuf> {
        let pod = self.pod.as_ref()?;
        Some(PathBuf::from(log_directory(pod)))
    }

    /// Runs a new sandbox and the pod's containers in it; on failure, removes what was made
    /// and schedules another try.
    async fn start(&mut self) -> anyhow::Result<SandboxView> {
        let Some(pod) = self.pod.clone() else {
            bail!("pod {} is not known from the API yet", self.uid);
        };
        let attempt = self.next_attempt;
        match self.run_pod(&pod, attempt).await {
            Ok(sandbox) => {
                self.next_attempt = attempt + 1;
                self.failures = 0;
                self.view.sandbox = Some(sandbox.clone());
                self.view.error = None;
                self.shared.publish(self.view.clone());
                self.report();
                Ok(sandbox)
            }
            Err((made, e)) => {
                if let Some(id) = made {
                    let gone = SandboxView {
                        id,
                        ..SandboxView::default()
                    };
                    self.teardown(&gone).await;
                }
                self.failures += 1;
                self.view.error = Some(format!("{e:#}"));
                self.shared.publish(self.view.clone());
                println!(
                    "kubelet: pod {}/{} failed to start (try {}): {e:#}",
                    self.view.namespace, self.view.name, self.failures
                );
                self.shared
                    .queue_status(&pod, pending_status(&format!("{e:#}")));
                Err(e)
            }
        }
    }

    /// The CRI calls that bring a pod up; on failure, the sandbox made so far (if any).
    async fn run_pod(
        &self,
        pod: &Pod,
        attempt: u32,
    ) -> Result<SandboxView, (Option<String>, anyhow::Error)> {
        let cri = &self.shared.cri;
        let containers = pod
            .spec
            .as_ref()
            .map(|s| s.containers.clone())
            .unwrap_or_default();
        for container in &containers {
            let image = container_image(container);
            match cri.has_image(&image).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err((
                        None,
                        anyhow::anyhow!(
                            "ErrImageNeverPull: image {image} is not on the node and no registry can be reached"
                        ),
                    ));
                }
                Err(e) => return Err((None, e)),
            }
        }
        let config = sandbox_config(pod, attempt);
        std::fs::create_dir_all(&config.log_directory)
            .with_context(|| format!("creating {}", config.log_directory))
            .map_err(|e| (None, e))?;
        let id = cri
            .run_pod_sandbox(config.clone())
            .await
            .map_err(|e| (None, e))?;
        let fail = |e: anyhow::Error| (Some(id.clone()), e);
        let (status, info) = cri.pod_sandbox_status(&id).await.map_err(fail)?;
        let mut started = Vec::new();
        for container in &containers {
            let container_id = cri
                .create_container(&id, container_config(pod, container), config.clone())
                .await
                .map_err(fail)?;
            cri.start_container(&container_id).await.map_err(fail)?;
            started.push(container_id);
        }
        Ok(SandboxView {
            id: id.clone(),
            attempt,
            netns: netns_path(&info),
            ip: status.network.map(|n| n.ip).filter(|ip| !ip.is_empty()),
            containers: started,
        })
    }

    /// Queues the Running status of the pod's current sandbox.
    fn report(&mut self) {
        let (Some(pod), Some(sandbox)) = (&self.pod, &self.view.sandbox) else {
            return;
        };
        let status = running_status(pod, sandbox, self.shared.host_ip);
        self.shared.queue_status(pod, status);
        self.reported = true;
    }

    /// StopPodSandbox (CNI DEL) and RemovePodSandbox, tried again a few times on failure:
    /// a sandbox left behind would keep its network.
    async fn teardown(&self, sandbox: &SandboxView) {
        for attempt in 1..=5u32 {
            let cri = &self.shared.cri;
            let done = match cri.stop_pod_sandbox(&sandbox.id).await {
                Ok(()) => cri.remove_pod_sandbox(&sandbox.id).await,
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => return,
                Err(e) => {
                    println!(
                        "kubelet: tearing down sandbox {} failed (try {attempt}): {e:#}",
                        sandbox.id
                    );
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
            }
        }
    }

    /// A pod deleted with a grace period stays in the API until its kubelet has stopped it
    /// and deletes it for good, as kubelet's status manager does.
    async fn finish_deletion(&self, pod: &Pod) {
        let (Some(namespace), Some(name)) = (&pod.metadata.namespace, &pod.metadata.name) else {
            return;
        };
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), namespace);
        if let Err(e) = api.delete(name, &final_delete(pod)).await {
            println!("kubelet: deleting pod {namespace}/{name} for good failed: {e}");
        }
    }
}

/// kubelet's last word on a stopped pod: grace 0, and the pod's uid as a precondition so
/// that a new pod of the same name is never deleted (kubernetes
/// `pkg/kubelet/status/status_manager.go`, `syncPod`).
pub fn final_delete(pod: &Pod) -> DeleteParams {
    DeleteParams::default()
        .grace_period(0)
        .preconditions(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        })
}

/// Writes queued pod statuses to the API, keeping those that fail for the next round.
async fn write_statuses(shared: Arc<Shared>) {
    loop {
        let pending: Vec<(String, (String, String, Value))> =
            std::mem::take(&mut *lock(&shared.statuses))
                .into_iter()
                .collect();
        if pending.is_empty() {
            shared.status_queued.notified().await;
            continue;
        }
        let failed: Vec<(String, (String, String, Value))> = futures::stream::iter(pending)
            .map(|(uid, (namespace, name, status))| {
                let shared = Arc::clone(&shared);
                async move {
                    let api: Api<Pod> = Api::namespaced(shared.client.clone(), &namespace);
                    let patch = Patch::Merge(json!({"status": status}));
                    let sent = tokio::time::timeout(
                        STATUS_TIMEOUT,
                        api.patch_status(&name, &PatchParams::default(), &patch),
                    )
                    .await;
                    match sent {
                        Ok(Ok(_)) => None,
                        Ok(Err(kube::Error::Api(e))) if e.code == 404 => None,
                        other => {
                            let why = match other {
                                Ok(Err(e)) => e.to_string(),
                                _ => format!("no answer within {STATUS_TIMEOUT:?}"),
                            };
                            println!(
                                "kubelet: status of {namespace}/{name} not written ({why}); will retry"
                            );
                            Some((uid, (namespace, name, status)))
                        }
                    }
                }
            })
            .buffer_unordered(8)
            .filter_map(|f| async move { f })
            .collect()
            .await;
        if failed.is_empty() {
            continue;
        }
        {
            let mut statuses = lock(&shared.statuses);
            for (uid, entry) in failed {
                // A newer status queued meanwhile wins; a forgotten pod stays forgotten.
                if shared.views.borrow().contains_key(&uid) {
                    statuses.entry(uid).or_insert(entry);
                }
            }
        }
        // The API is unreachable or refusing: try again in a second, or sooner on news.
        let _ = tokio::time::timeout(Duration::from_secs(1), shared.status_queued.notified()).await;
    }
}

fn listen(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))
}

/// Serves the control socket, one task per connection.
async fn serve(shared: Arc<Shared>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(Arc::clone(&shared), stream));
            }
            Err(e) => {
                println!("kubelet: control socket accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(shared: Arc<Shared>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let response = match BufReader::new(read).read_line(&mut line).await {
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Ok(request) => handle(&shared, request)
                .await
                .unwrap_or_else(|e| Response::Error(format!("{e:#}"))),
            Err(e) => Response::Error(format!("bad request {line:?}: {e}")),
        },
        Err(e) => Response::Error(format!("reading the request: {e}")),
    };
    if let Ok(mut text) = serde_json::to_string(&response) {
        text.push('\n');
        let _ = write.write_all(text.as_bytes()).await;
    }
}

async fn handle(shared: &Arc<Shared>, request: Request) -> anyhow::Result<Response> {
    match request {
        Request::List => Ok(Response::Pods(
            shared.views.borrow().values().cloned().collect(),
        )),
        Request::Show { uid, timeout_ms } => {
            let within = Duration::from_millis(timeout_ms);
            let view = await_view(shared, &uid, within, |v| v.sandbox.is_some()).await;
            match view {
                Some(view) => Ok(Response::Pod(view)),
                None => {
                    let now = shared.views.borrow().get(&uid).cloned();
                    match now {
                        Some(view) if timeout_ms == 0 => Ok(Response::Pod(view)),
                        Some(view) => bail!(
                            "pod {uid} has no ready sandbox after {within:?} (last error: {})",
                            view.error.unwrap_or_else(|| "none".into())
                        ),
                        None => bail!("pod {uid} is not on this node (waited {within:?})"),
                    }
                }
            }
        }
        Request::Recreate { uid, timeout_ms } => {
            let within = Duration::from_millis(timeout_ms);
            // The pod may be newer than the node's view of the API: wait until it is known.
            if await_view(shared, &uid, within, |v| {
                v.sandbox.is_some() || v.error.is_some()
            })
            .await
            .is_none()
            {
                bail!("pod {uid} is not running on this node (waited {within:?})");
            }
            let (tx, rx) = oneshot::channel();
            shared
                .worker(&uid)
                .send(Command::Recreate(tx))
                .map_err(|_| anyhow::anyhow!("pod {uid} is being removed"))?;
            match tokio::time::timeout(within, rx).await {
                Ok(Ok(Ok(_))) => {
                    let view = shared.views.borrow().get(&uid).cloned();
                    view.map(Response::Pod)
                        .with_context(|| format!("pod {uid} vanished"))
                }
                Ok(Ok(Err(e))) => bail!("a new sandbox for pod {uid} failed: {e}"),
                Ok(Err(_)) => bail!("pod {uid} was removed while its sandbox was recreated"),
                Err(_) => bail!("no new sandbox for pod {uid} within {within:?}"),
            }
        }
        Request::AwaitGone { uid, timeout_ms } => {
            let within = Duration::from_millis(timeout_ms);
            let mut views = shared.views.subscribe();
            let gone = tokio::time::timeout(within, views.wait_for(|v| !v.contains_key(&uid)));
            match gone.await {
                Ok(Ok(_)) => Ok(Response::Done),
                _ => bail!("pod {uid} still has its sandbox after {within:?}"),
            }
        }
    }
}

/// Waits up to `within` until the pod's view satisfies `ready`; the view, `None` on timeout.
async fn await_view(
    shared: &Shared,
    uid: &str,
    within: Duration,
    ready: impl Fn(&PodView) -> bool,
) -> Option<PodView> {
    let mut views = shared.views.subscribe();
    let found =
        tokio::time::timeout(within, views.wait_for(|v| v.get(uid).is_some_and(&ready))).await;
    match found {
        Ok(Ok(views)) => views.get(uid).cloned(),
        _ => None,
    }
}

/// `/var/log/pods/<namespace>_<name>_<uid>`, kubelet's `BuildPodLogsDirectory`.
pub fn log_directory(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{POD_LOG_DIR}/{}_{}_{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    )
}

/// The labels kubelet gives a sandbox: the pod's own and its identity.
fn pod_labels(pod: &Pod) -> HashMap<String, String> {
    let m = &pod.metadata;
    let mut labels: HashMap<String, String> =
        m.labels.clone().unwrap_or_default().into_iter().collect();
    labels.insert(POD_NAME_LABEL.into(), m.name.clone().unwrap_or_default());
    labels.insert(
        POD_NAMESPACE_LABEL.into(),
        m.namespace.clone().unwrap_or_default(),
    );
    labels.insert(POD_UID_LABEL.into(), m.uid.clone().unwrap_or_default());
    labels
}

/// What kubelet sends in RunPodSandbox for `pod`'s sandbox number `attempt`.
pub fn sandbox_config(pod: &Pod, attempt: u32) -> PodSandboxConfig {
    let m = &pod.metadata;
    let uid = m.uid.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .or_else(|| m.name.clone())
        .unwrap_or_default();
    let mut annotations: HashMap<String, String> = m
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    annotations.insert("kubernetes.io/config.source".into(), "api".into());
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: m.name.clone().unwrap_or_default(),
            uid: uid.clone(),
            namespace: m.namespace.clone().unwrap_or_default(),
            attempt,
        }),
        hostname,
        log_directory: log_directory(pod),
        labels: pod_labels(pod),
        annotations,
        linux: Some(LinuxPodSandboxConfig {
            // kubelet's cgroupfs layout for a BestEffort pod.
            cgroup_parent: format!("/kubepods/besteffort/pod{uid}"),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Pod as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_image(container: &Container) -> String {
    container
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| APP_IMAGE.into())
}

/// What kubelet sends in CreateContainer for one of `pod`'s containers.
pub fn container_config(pod: &Pod, container: &Container) -> ContainerConfig {
    let mut labels = pod_labels(pod);
    labels.retain(|k, _| k.starts_with("io.kubernetes."));
    labels.insert(CONTAINER_NAME_LABEL.into(), container.name.clone());
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: container.name.clone(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: container_image(container),
            ..Default::default()
        }),
        command: container.command.clone().unwrap_or_default(),
        args: container.args.clone().unwrap_or_default(),
        labels,
        log_path: format!("{}/0.log", container.name),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Pod as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The network namespace path in containerd's verbose PodSandboxStatus `info`: its runtime
/// spec's network namespace.
pub fn netns_path(info: &HashMap<String, String>) -> Option<String> {
    let info: Value = serde_json::from_str(info.get("info")?).ok()?;
    info["runtimeSpec"]["linux"]["namespaces"]
        .as_array()?
        .iter()
        .find(|n| n["type"] == "network")?["path"]
        .as_str()
        .map(str::to_string)
}

fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// The status of a pod whose sandbox and containers run.
pub fn running_status(pod: &Pod, sandbox: &SandboxView, host_ip: Option<IpAddr>) -> Value {
    let now = now();
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now});
    let containers: Vec<Value> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .zip(sandbox.containers.iter())
        .map(|(c, id)| {
            json!({
                "name": c.name,
                "image": container_image(c),
                "imageID": "",
                "containerID": format!("containerd://{id}"),
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    let mut status = json!({
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers"),
            condition("Initialized"),
            condition("Ready"),
            condition("ContainersReady"),
            condition("PodScheduled"),
        ],
        "startTime": now,
        "containerStatuses": containers,
        "qosClass": "BestEffort",
    });
    if let Some(ip) = &sandbox.ip {
        status["podIP"] = json!(ip);
        status["podIPs"] = json!([{"ip": ip}]);
    }
    if let Some(ip) = host_ip {
        status["hostIP"] = json!(ip.to_string());
        status["hostIPs"] = json!([{"ip": ip.to_string()}]);
    }
    status
}

/// The status of a pod whose sandbox could not be started.
pub fn pending_status(why: &str) -> Value {
    json!({
        "phase": "Pending",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "False", "reason": "SandboxFailed", "message": why, "lastTransitionTime": now()},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": now()},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "cam-1", "namespace": "default", "uid": "u-1", "labels": {"app": "camera"}},
            "spec": {"nodeName": "edge-1", "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
        }))
        .unwrap()
    }

    #[test]
    fn the_sandbox_config_carries_what_kubelet_sends() {
        let config = sandbox_config(&pod(), 2);
        let meta = config.metadata.unwrap();
        assert_eq!(
            (
                meta.name.as_str(),
                meta.namespace.as_str(),
                meta.uid.as_str(),
                meta.attempt
            ),
            ("cam-1", "default", "u-1", 2)
        );
        assert_eq!(config.hostname, "cam-1");
        assert_eq!(config.log_directory, "/var/log/pods/default_cam-1_u-1");
        assert_eq!(config.labels["app"], "camera");
        assert_eq!(config.labels[POD_NAME_LABEL], "cam-1");
        assert_eq!(config.labels[POD_NAMESPACE_LABEL], "default");
        assert_eq!(config.labels[POD_UID_LABEL], "u-1");
        assert_eq!(
            config.linux.unwrap().cgroup_parent,
            "/kubepods/besteffort/podu-1"
        );
    }

    #[test]
    fn the_container_config_names_the_container_and_its_pod() {
        let p = pod();
        let container = &p.spec.as_ref().unwrap().containers[0];
        let config = container_config(&p, container);
        assert_eq!(config.metadata.unwrap().name, "app");
        assert_eq!(config.image.unwrap().image, "registry.k8s.io/pause:3.10");
        assert_eq!(config.labels[CONTAINER_NAME_LABEL], "app");
        assert_eq!(config.labels[POD_UID_LABEL], "u-1");
        assert!(
            !config.labels.contains_key("app"),
            "pod labels stay on the sandbox"
        );
        assert_eq!(config.log_path, "app/0.log");
    }

    #[test]
    fn the_netns_is_read_from_the_runtime_spec() {
        let info = HashMap::from([(
            "info".to_string(),
            json!({"runtimeSpec": {"linux": {"namespaces": [
                {"type": "pid"},
                {"type": "network", "path": "/var/run/netns/cni-1234"},
            ]}}})
            .to_string(),
        )]);
        assert_eq!(
            netns_path(&info).as_deref(),
            Some("/var/run/netns/cni-1234")
        );
        assert_eq!(netns_path(&HashMap::new()), None);
        let garbage = HashMap::from([("info".to_string(), "{".to_string())]);
        assert_eq!(netns_path(&garbage), None);
    }

    #[test]
    fn the_final_delete_is_graceless_and_pinned_to_the_pod_s_uid() {
        let params = final_delete(&pod());
        assert_eq!(params.grace_period_seconds, Some(0));
        assert_eq!(
            params.preconditions.and_then(|pre| pre.uid).as_deref(),
            Some("u-1")
        );
    }

    #[test]
    fn a_running_status_has_the_ip_phase_and_ready_condition() {
        let sandbox = SandboxView {
            id: "s1".into(),
            attempt: 0,
            netns: None,
            ip: Some("10.244.0.5".into()),
            containers: vec!["c1".into()],
        };
        let status = running_status(&pod(), &sandbox, Some("172.18.0.2".parse().unwrap()));
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["podIP"], "10.244.0.5");
        assert_eq!(status["hostIP"], "172.18.0.2");
        assert!(
            status["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        );
        assert_eq!(
            status["containerStatuses"][0]["containerID"],
            "containerd://c1"
        );
        assert!(status["containerStatuses"][0]["state"]["running"].is_object());
    }
}
