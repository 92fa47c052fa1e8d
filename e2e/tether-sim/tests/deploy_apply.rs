//! The done-when test of the workload kinds: the repository's own `deploy/` applied with
//! `kubectl apply -k` to the `tether-sim serve` binary, Nodes created, and the DaemonSet
//! controller placing exactly one tether-agent pod per node.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::TempDir;
use serde_json::Value;

/// The `tether-sim serve` child, interrupted (by its own pid) when dropped.
struct Serve {
    child: Child,
    /// Kept open: `serve` says `tether-sim stopped` on the way out.
    _stdout: BufReader<ChildStdout>,
    kubeconfig: PathBuf,
    dir: TempDir,
}

impl Serve {
    fn start() -> Self {
        let dir = TempDir::new("deploy-apply");
        let kubeconfig = dir.path("admin.kubeconfig");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether-sim"))
            .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        assert!(first.starts_with("tether-sim listening on "), "{first}");
        Self {
            child,
            _stdout: stdout,
            kubeconfig,
            dir,
        }
    }

    fn kubectl(&self, args: &[&str]) -> std::process::Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path("cache"))
            .env("HOME", &self.dir.0)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn apply(&self, name: &str, yaml: &str) -> String {
        let p = self.dir.path(name);
        std::fs::write(&p, yaml).unwrap();
        self.ok(&["apply", "-f", p.to_str().unwrap()])
    }

    /// The tether-agent pods: (name, node, owner kind/name, controller, blockOwnerDeletion).
    fn agent_pods(&self) -> Vec<(String, String, String, bool, bool)> {
        let list: Value =
            serde_json::from_str(&self.ok(&["get", "pods", "-n", "tether-system", "-o", "json"]))
                .unwrap();
        let mut out: Vec<_> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let owner = &p["metadata"]["ownerReferences"][0];
                (
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                    p["spec"]["nodeName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    format!(
                        "{}/{}",
                        owner["kind"].as_str().unwrap_or_default(),
                        owner["name"].as_str().unwrap_or_default()
                    ),
                    owner["controller"] == true,
                    owner["blockOwnerDeletion"] == true,
                )
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    /// Wait until the agent pods sit on exactly `nodes`, one each.
    fn wait_for_pods_on(&self, nodes: &[&str]) -> Vec<(String, String, String, bool, bool)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let pods = self.agent_pods();
            let on: Vec<&str> = pods.iter().map(|p| p.1.as_str()).collect();
            if on == nodes {
                return pods;
            }
            assert!(Instant::now() < deadline, "pods on {on:?}, want {nodes:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn node(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n"
    )
}

#[test]
fn deploy_applies_and_the_daemonset_puts_one_agent_on_each_node() {
    let serve = Serve::start();
    let deploy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    let applied = serve.ok(&["apply", "-k", deploy.to_str().unwrap()]);
    assert!(
        applied.contains("daemonset.apps/tether-agent created"),
        "{applied}"
    );

    serve.apply(
        "nodes.yaml",
        &format!("{}---\n{}", node("edge-1"), node("edge-2")),
    );
    let pods = serve.wait_for_pods_on(&["edge-1", "edge-2"]);
    for (name, _, owner, controller, block) in &pods {
        assert!(name.starts_with("tether-agent-"), "{name}");
        assert_eq!(owner, "DaemonSet/tether-agent");
        assert!(*controller && *block, "{name}");
    }
    let pod: Value = serde_json::from_str(&serve.ok(&[
        "get",
        "pod",
        "-n",
        "tether-system",
        &pods[0].0,
        "-o",
        "json",
    ]))
    .unwrap();
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["pod-template-generation"], "1");
    assert!(
        labels["controller-revision-hash"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    assert_eq!(pod["spec"]["priority"], 2_000_001_000);
    assert_eq!(pod["status"]["qosClass"], "Burstable");

    serve.apply("node3.yaml", &node("edge-3"));
    let pods = serve.wait_for_pods_on(&["edge-1", "edge-2", "edge-3"]);
    assert_eq!(pods.len(), 3);

    let deadline = Instant::now() + Duration::from_secs(20);
    while serve.ok(&[
        "get",
        "ds",
        "-n",
        "tether-system",
        "tether-agent",
        "-o",
        "jsonpath={.status.desiredNumberScheduled}/{.status.currentNumberScheduled}",
    ]) != "3/3"
    {
        assert!(
            Instant::now() < deadline,
            "DaemonSet status never counted 3 nodes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let table = serve.ok(&["get", "deploy,ds,svc,jobs", "-A"]);
    let row = table
        .lines()
        .find(|l| l.contains("daemonset.apps/tether-agent"))
        .unwrap_or_else(|| panic!("no DaemonSet row in:\n{table}"));
    // `kubectl get all` lists what discovery puts in the `all` category.
    let all = serve.ok(&["get", "all", "-n", "tether-system", "-o", "name"]);
    assert_eq!(
        all.lines()
            .filter(|l| l.starts_with("pod/tether-agent-"))
            .count(),
        3,
        "{all}"
    );
    assert!(
        all.lines().any(|l| l == "daemonset.apps/tether-agent"),
        "{all}"
    );
    let cells: Vec<&str> = row.split_whitespace().collect();
    // NAMESPACE NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE
    assert_eq!(
        cells[..8],
        [
            "tether-system",
            "daemonset.apps/tether-agent",
            "3",
            "3",
            "0",
            "3",
            "0",
            "<none>"
        ],
        "{table}"
    );
}
