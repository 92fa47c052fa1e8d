//! What `exactly_once.rs` drives: `tether-sim`'s API double loaded with `deploy/` and a small
//! cluster, optionally an edge node's yurthub double reaching it through a link the test can
//! cut, the real `tether-agent` binary (started, SIGKILLed, restarted), ADDs over its socket as
//! `tether-cni` sends them, a seeded random source, and the checks on the API's Events and the
//! double's audit log.

// Test support: failing loudly is what a panic in a test helper is for.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent::profile::crd::NetworkProfile;
use cni::protocol::{ADD_PATH, AddResponse, HEALTHZ_PATH};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use tether_sim::apiserver::{ApiServer, AuditEvent, SimConfig};
use tether_sim::link::Link;
use tether_sim::yurthub::{self, ServingCert, Upstream, Yurthub, YurthubConfig};

/// The node of these tests.
pub const NODE: &str = "edge-1";
/// The agent's identity.
pub const AGENT_USER: &str = "system:serviceaccount:tether-system:tether-agent";
/// Namespace of the test pods.
pub const NS: &str = "default";

/// Whether the test can run: the agent serves only uid 0 on its socket. Skips locally with a
/// message, fails under `CI=true`.
pub fn root() -> bool {
    let ok = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let ci = std::env::var("CI").as_deref() == Ok("true");
    assert!(
        ok || !ci,
        "test skipped under CI=true: not root (the agent's socket serves uid 0 only)"
    );
    if !ok {
        eprintln!("skipped: not root (the agent's socket serves uid 0 only)");
    }
    ok
}

/// A small, seeded random source (xorshift64*): the same seed, the same kill moments.
pub struct Rng(u64);

impl Rng {
    /// From `TETHER_TEST_SEED`, else `default`.
    pub fn seeded(default: u64) -> Self {
        let seed = std::env::var("TETHER_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("seed {seed} (set TETHER_TEST_SEED to replay)");
        Self(seed.max(1))
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// The API double with `deploy/` applied, a node, pods and a profile.
pub struct Cluster {
    pub server: ApiServer,
    pub admin: kube::Client,
    /// The agent's kubeconfig: a token of its ServiceAccount bound to `edge-1`.
    pub kubeconfig: PathBuf,
    /// (name, uid) of the pods on `edge-1`; every one is selected by profile `cam`.
    pub pods: Vec<(String, String)>,
}

fn deploy_documents() -> Vec<Value> {
    testkit::repo::deploy_documents().unwrap_or_else(|e| panic!("{e}"))
}

/// The profile every test pod matches.
pub fn camera_profile(mtu: u32) -> Value {
    json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam"},
           "spec": {"priority": 1, "podSelector": {"matchLabels": {"app": "cam"}}, "mtu": mtu}})
}

/// A profile of higher priority for the pods labelled `tier: hi`.
pub fn high_profile() -> Value {
    json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "cam-hi"},
           "spec": {"priority": 5, "podSelector": {"matchLabels": {"app": "cam", "tier": "hi"}},
                    "bandwidth": {"ingressRate": "10M", "ingressBurst": "1M", "egressRate": "5M", "egressBurst": "512k"}}})
}

impl Cluster {
    /// Starts the double in this runtime and fills it; the agent's kubeconfig goes to `dir`.
    pub async fn start(dir: &Path, pods: usize) -> Self {
        let server = tether_sim::apiserver::start(SimConfig::default())
            .await
            .unwrap();
        for doc in deploy_documents() {
            if doc["kind"] == "DaemonSet" {
                continue; // the test plays the DaemonSet's pod
            }
            server.load_object(doc).unwrap();
        }
        server
            .load_object(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE, "labels": {"apps.openyurt.io/nodepool": "hangzhou"}}}))
            .unwrap();
        server.load_object(camera_profile(1400)).unwrap();
        let mut names = Vec::new();
        for i in 0..pods {
            let name = format!("cam-{i}");
            let tier = if i % 3 == 0 { "hi" } else { "lo" };
            server
                .load_object(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": NS, "name": name, "labels": {"app": "cam", "tier": tier}},
                    "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "pause"}]}}))
                .unwrap();
            names.push(name);
        }
        let kc = Kubeconfig::from_yaml(&server.admin_kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        let admin = kube::Client::try_from(config).unwrap();
        let pod_api = Api::<Pod>::namespaced(admin.clone(), NS);
        let mut pods_with_uid = Vec::new();
        for name in names {
            let uid = pod_api.get(&name).await.unwrap().metadata.uid.unwrap();
            pods_with_uid.push((name, uid));
        }
        let token =
            server.mint_service_account_token_on_node("tether-system", "tether-agent", NODE);
        let kubeconfig = dir.join("agent.kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig_for(&server.url(), &token)).unwrap();
        Self {
            server,
            admin,
            kubeconfig,
            pods: pods_with_uid,
        }
    }

    /// Sets profile `cam`'s MTU (a new generation).
    pub async fn set_mtu(&self, mtu: u32) {
        Api::<NetworkProfile>::all(self.admin.clone())
            .patch(
                "cam",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"mtu": mtu}})),
            )
            .await
            .unwrap();
    }

    /// Creates or deletes profile `cam-hi`.
    pub async fn set_high_profile(&self, present: bool) {
        let api = Api::<NetworkProfile>::all(self.admin.clone());
        if present {
            self.server.load_object(high_profile()).unwrap();
        } else {
            let _ = api.delete("cam-hi", &Default::default()).await;
        }
    }

    /// The agent's ServiceAccount token bound to `edge-1`.
    pub fn agent_token(&self) -> String {
        self.server
            .mint_service_account_token_on_node("tether-system", "tether-agent", NODE)
    }

    /// The agent's Events, by (pod, pod uid, profile, generation): how many of each.
    pub async fn agent_events(&self) -> BTreeMap<(String, String, String, i64), usize> {
        let events = Api::<Event>::all(self.admin.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        let mut out = BTreeMap::new();
        for e in events.items {
            if e.reporting_controller.as_deref() != Some(agent::api::report::REPORTING_CONTROLLER) {
                continue;
            }
            let regarding = e.regarding.unwrap_or_default();
            let profile = e.related.and_then(|r| r.name).unwrap_or_default();
            let generation = generation_of(e.note.as_deref().unwrap_or_default());
            *out.entry((
                regarding.name.unwrap_or_default(),
                regarding.uid.unwrap_or_default(),
                profile,
                generation,
            ))
            .or_default() += 1;
        }
        out
    }

    /// The agent's Event creates in the audit log, by answer code.
    pub fn event_creates(&self) -> BTreeMap<u16, usize> {
        let mut out = BTreeMap::new();
        for a in self.server.audit_events() {
            if is_agent_event_create(&a) {
                *out.entry(a.code).or_default() += 1;
            }
        }
        out
    }
}

fn is_agent_event_create(a: &AuditEvent) -> bool {
    a.user == AGENT_USER && a.verb == "create" && a.resource == "events"
}

/// The generation in an Event note: `profile cam (generation 4): ...`.
pub fn generation_of(note: &str) -> i64 {
    note.split("(generation ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|g| g.parse().ok())
        .unwrap_or(-1)
}

/// The agent binary as a child process, killed on drop.
pub struct Agent {
    pub child: Child,
    pub socket: PathBuf,
    pub metrics_port: u16,
}

impl Agent {
    /// Starts `tether-agent run` for `edge-1` with its state and socket under `dir`; does not
    /// wait for anything (the test's ADDs find out when it answers).
    pub fn start(dir: &Path, kubeconfig: &Path) -> Self {
        let socket = dir.join("run").join("agent.sock");
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("agent.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tether-agent"))
            .args(["run", "--node-name", NODE])
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.join("state"))
            // The flusher must keep up with the ADDs of the test, not a node's steady state.
            .args(["--qps", "500", "--burst", "500"])
            .env("KUBECONFIG", kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            child,
            socket,
            metrics_port,
        }
    }

    /// SIGKILL, and wait for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit code.
    pub fn terminate(mut self) -> i32 {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.child.wait().unwrap().code().unwrap_or(-1)
    }

    /// GET of `path` on the operations endpoint, if it answers.
    pub fn ops(&self, path: &str) -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out.split_once("\r\n\r\n")?.1.to_owned())
    }

    /// `/v1/healthz` on the socket, if it answers.
    pub fn health(&self) -> Option<Value> {
        let (status, body) = query(&self.socket, "GET", HEALTHZ_PATH, "").ok()?;
        (status == 200).then(|| serde_json::from_str(&body).ok())?
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request over the socket as `tether-cni` sends it; status and body, or why not.
pub fn query(
    socket: &Path,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line: {out:?}")))?;
    Ok((
        status,
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    ))
}

/// An ADD for a pod; the answer if the agent gave one (it may be starting or dying).
pub fn add(socket: &Path, container: u64, pod: &str, uid: &str) -> Option<AddResponse> {
    let body = json!({"containerId": format!("c{container}"), "ifname": "eth0", "netns": "/var/run/netns/x",
                      "podNamespace": NS, "podName": pod, "podUid": uid})
    .to_string();
    let (status, body) = query(socket, "POST", ADD_PATH, &body).ok()?;
    assert_eq!(status, 200, "{body}");
    let answer: AddResponse = serde_json::from_str(&body).unwrap();
    assert_eq!(answer.validate(), Ok(()));
    Some(answer)
}

/// Polls `cond` until it holds, failing the test with `what` at `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last lines of the agents' log, for a failure message.
pub fn log_tail(dir: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// An edge node's way to the cloud: a yurthub double (probing every second) whose upstream goes
/// through a link the test cuts, and the agent's kubeconfig pointing at the double.
pub struct EdgeNode {
    pub link: Link,
    pub hub: Yurthub,
    pub agent_kubeconfig: PathBuf,
}

impl EdgeNode {
    /// Starts the link and the double in this runtime; its cache and the kubeconfig go to `dir`.
    pub async fn start(cluster: &Cluster, dir: &Path) -> Self {
        let api = &cluster.server;
        let link = Link::start(api.addr()).await.unwrap();
        let upstream = api.kubeconfig_for(&format!("https://{}", link.addr()), api.admin_token());
        let (cert_pem, key_pem) = api.issue_serving_cert(&["127.0.0.1", "localhost"]).unwrap();
        let mut config = YurthubConfig::new(
            NODE,
            Upstream::from_kubeconfig(&upstream).await.unwrap(),
            ServingCert { cert_pem, key_pem },
            dir.join("yurthub-cache"),
        );
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.probe.interval = Duration::from_secs(1);
        // What deploy/openyurt-values.yaml's cacheAgents does on a real node.
        config.cache_agents = vec!["tether-agent".into()];
        let hub = yurthub::start(config).await.unwrap();
        let agent_kubeconfig = dir.join("agent-via-yurthub.kubeconfig");
        // The double's serving certificate is signed by the cluster CA, as real yurthub's is.
        std::fs::write(
            &agent_kubeconfig,
            api.kubeconfig_for(&hub.url(), &cluster.agent_token()),
        )
        .unwrap();
        Self {
            link,
            hub,
            agent_kubeconfig,
        }
    }
}

/// The checks every variant ends with: each answered key has exactly one Event, the audit log
/// has one 201 per Event, only 201 and 409, and at most one 409 per kill.
pub async fn check_exactly_once(
    cluster: &Cluster,
    answered: &std::collections::BTreeSet<(String, String, String, i64)>,
    kills: usize,
) -> (usize, BTreeMap<u16, usize>) {
    let events = cluster.agent_events().await;
    let creates = cluster.event_creates();
    let created = creates.get(&201).copied().unwrap_or(0);
    let conflicts = creates.get(&409).copied().unwrap_or(0);
    let duplicated: Vec<_> = events.iter().filter(|(_, n)| **n != 1).collect();
    assert!(duplicated.is_empty(), "Events not unique: {duplicated:?}");
    let missing: Vec<_> = answered
        .iter()
        .filter(|k| !events.contains_key(*k))
        .collect();
    assert!(missing.is_empty(), "answered, never reported: {missing:?}");
    assert_eq!(
        created,
        events.len(),
        "exactly one 201 create per Event: {creates:?}"
    );
    assert!(
        conflicts <= kills,
        "{conflicts} creates answered 409 for {kills} kills: Events re-sent that were known to be delivered"
    );
    assert!(
        creates.keys().all(|code| [201, 409].contains(code)),
        "{creates:?}"
    );
    (events.len(), creates)
}
