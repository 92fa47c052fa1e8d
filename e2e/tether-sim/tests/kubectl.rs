//! tether-sim driven by kubectl the way an operator would, and the `tether-sim` binary.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tether_sim::apiserver::{ApiServer, FlowLimit, SimConfig};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn start(rt: &tokio::runtime::Runtime, config: SimConfig) -> ApiServer {
    rt.block_on(server_with(config))
}

/// A child process killed (by its own handle) when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn profile(name: &str, app: &str, priority: u32) -> String {
    format!(
        "apiVersion: tether.dev/v1alpha1\nkind: NetworkProfile\nmetadata:\n  name: {name}\n  labels: {{app: {app}}}\nspec:\n  priority: {priority}\n"
    )
}

#[test]
fn kubectl_applies_lists_patches_and_deletes() {
    let rt = runtime();
    let server = start(&rt, SimConfig::default());
    let k = Kubectl::new(&server, server.admin_token());
    let crd = k.file("crd.yaml", CRD);
    assert!(k.ok(&["apply", "-f", crd.to_str().unwrap()]).contains(
        "customresourcedefinition.apiextensions.k8s.io/networkprofiles.tether.dev created"
    ));
    k.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/networkprofiles.tether.dev",
        "--timeout=10s",
    ]);
    let objs = k.file("profiles.yaml", PROFILES);
    let out = k.ok(&["apply", "-f", objs.to_str().unwrap()]);
    assert!(
        out.contains("networkprofile.tether.dev/camera created")
            && out.contains("networkprofile.tether.dev/radar created"),
        "{out}"
    );
    assert!(
        k.ok(&["apply", "-f", objs.to_str().unwrap()])
            .contains("camera unchanged")
    );

    assert_eq!(
        k.ok(&["get", "netprof", "-l", "app in (camera)", "-o", "name"]),
        "networkprofile.tether.dev/camera\n"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "networkprofiles",
            "--field-selector",
            "metadata.name=radar",
            "-o",
            "name"
        ]),
        "networkprofile.tether.dev/radar\n"
    );
    let table = k.ok(&["get", "netprof"]);
    assert!(
        table.starts_with("NAME") && table.contains("camera") && table.contains("radar"),
        "{table}"
    );

    k.ok(&[
        "patch",
        "netprof",
        "camera",
        "--type=merge",
        "-p",
        r#"{"spec":{"mtu":1500}}"#,
    ]);
    k.ok(&[
        "patch",
        "netprof",
        "camera",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/priority","value":11}]"#,
    ]);
    let got: Value =
        serde_json::from_str(&k.ok(&["get", "netprof", "camera", "-o", "json"])).unwrap();
    assert_eq!(
        (
            got["spec"]["mtu"].as_i64(),
            got["spec"]["priority"].as_i64(),
            got["metadata"]["generation"].as_i64()
        ),
        (Some(1500), Some(11), Some(3))
    );

    // Server-side apply of two status entries by two managers, then a spec conflict.
    for (node, pods) in [("edge-1", 3), ("edge-2", 5)] {
        let f = k.file(&format!("{node}.yaml"), &format!(
            "apiVersion: tether.dev/v1alpha1\nkind: NetworkProfile\nmetadata: {{name: camera}}\nstatus:\n  nodes:\n  - {{nodeName: {node}, matchedPods: {pods}, observedGeneration: 3}}\n"));
        k.ok(&[
            "apply",
            "--server-side",
            "--subresource=status",
            &format!("--field-manager=tether-agent-{node}"),
            "-f",
            f.to_str().unwrap(),
        ]);
    }
    let nodes = k.ok(&[
        "get",
        "netprof",
        "camera",
        "-o",
        "jsonpath={.status.nodes[*].nodeName}",
    ]);
    assert_eq!(nodes, "edge-1 edge-2");
    let mine = k.file("mine.yaml", &profile("camera", "camera", 99));
    let err = k.fails(&[
        "apply",
        "--server-side",
        "--field-manager=ops",
        "-f",
        mine.to_str().unwrap(),
    ]);
    assert!(
        err.contains("Apply failed with") && err.contains(".spec.priority"),
        "{err}"
    );
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager=ops",
        "--force-conflicts",
        "-f",
        mine.to_str().unwrap(),
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "netprof",
            "camera",
            "-o",
            "jsonpath={.spec.priority}"
        ]),
        "99"
    );

    // Server-side dry runs validate and answer but store nothing.
    let dry = k.file("dry.yaml", &profile("dry", "x", 1));
    assert!(
        k.ok(&["apply", "--dry-run=server", "-f", dry.to_str().unwrap()])
            .contains("networkprofile.tether.dev/dry created (server dry run)")
    );
    assert!(k.fails(&["get", "netprof", "dry"]).contains("NotFound"));
    k.ok(&["delete", "netprof", "camera", "--dry-run=server"]);
    k.ok(&["get", "netprof", "camera"]);
    // kubectl asks for strict field validation: unknown fields are refused, bad values are 422.
    let bogus = k.file(
        "bogus.yaml",
        &format!("{}  bogus: 1\n", profile("bogus", "x", 1)),
    );
    let err = k.fails(&["apply", "-f", bogus.to_str().unwrap()]);
    assert!(
        err.contains("strict decoding error: unknown field \"spec.bogus\""),
        "{err}"
    );
    let small = k.file(
        "small.yaml",
        &format!("{}  mtu: 100\n", profile("small", "x", 1)),
    );
    let err = k.fails(&["apply", "-f", small.to_str().unwrap()]);
    assert!(
        err.contains("The NetworkProfile \"small\" is invalid: spec.mtu: Invalid value: 100:")
            && err.contains("spec.mtu in body should be greater than or equal to 576"),
        "{err}"
    );
    // `kubectl get -w` asks for Tables in the watch stream.
    let watch = k.run(&["get", "netprof", "camera", "-w", "--request-timeout=2s"]);
    assert!(
        watch.stdout.starts_with("NAME") && watch.stdout.contains("camera"),
        "{}{}",
        watch.stdout,
        watch.stderr
    );

    assert!(
        k.ok(&["delete", "netprof", "radar"])
            .contains("\"radar\" deleted")
    );
    let err = k.fails(&["get", "netprof", "radar"]);
    assert!(
        err.contains(
            "Error from server (NotFound): networkprofiles.tether.dev \"radar\" not found"
        ),
        "{err}"
    );
    rt.block_on(server.shutdown());
}

#[test]
fn kubectl_sees_errors_as_a_real_server_words_them() {
    let rt = runtime();
    let server = start(
        &rt,
        SimConfig {
            watch_history: 3,
            ..SimConfig::default()
        },
    );
    let k = Kubectl::new(&server, server.admin_token());
    let cm = k.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: default}\ndata: {a: '1'}\n");
    k.ok(&["create", "-f", cm.to_str().unwrap()]);
    let err = k.fails(&["create", "-f", cm.to_str().unwrap()]);
    assert!(
        err.contains("Error from server (AlreadyExists): error when creating")
            && err.contains("configmaps \"c\" already exists"),
        "{err}"
    );
    // A replace carrying a stale resourceVersion.
    let current: Value = serde_json::from_str(&k.ok(&["get", "cm", "c", "-o", "json"])).unwrap();
    k.ok(&["label", "cm", "c", "x=1"]);
    let stale = k.file("stale.json", &current.to_string());
    let err = k.fails(&["replace", "-f", stale.to_str().unwrap()]);
    assert!(
        err.contains("Error from server (Conflict)")
            && err.contains("the object has been modified"),
        "{err}"
    );
    // 403 for someone RBAC does not allow (through impersonation), and can-i.
    let err = k.fails(&["get", "pods", "--as=system:serviceaccount:default:nobody"]);
    assert!(err.contains("Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:default:nobody\" cannot list resource \"pods\""), "{err}");
    assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    let no = k.run(&[
        "auth",
        "can-i",
        "create",
        "pods",
        "--as=system:serviceaccount:default:nobody",
    ]);
    assert_eq!((no.ok, no.stdout.trim()), (false, "no"));
    // 410: a watch from a version older than the history kept.
    for i in 0..5 {
        k.ok(&["label", "cm", "c", &format!("n={i}"), "--overwrite"]);
    }
    let out = k.ok(&[
        "get",
        "--raw",
        "/api/v1/configmaps?watch=1&resourceVersion=2&timeoutSeconds=5",
    ]);
    let ev: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (
            ev["type"].as_str(),
            ev["object"]["code"].as_i64(),
            ev["object"]["reason"].as_str()
        ),
        (Some("ERROR"), Some(410), Some("Expired"))
    );
    // 429 once the identity's APF budget is spent (kubectl retries, then gives up).
    let token = server.mint_service_account_token("default", "busy");
    server.set_flow_limit(
        "system:serviceaccount:default:busy",
        Some(FlowLimit {
            max_in_flight: 1,
            qps: 0.0,
            burst: 0.0,
        }),
    );
    let busy = Kubectl::new(&server, &token);
    let err = busy.fails(&["get", "--raw", "/version"]);
    assert!(
        err.contains(
            "Error from server (TooManyRequests): Too many requests, please try again later."
        ),
        "{err}"
    );
    rt.block_on(server.shutdown());
}

#[test]
fn kubectl_typed_generators_create_objects() {
    let rt = runtime();
    let server = start(&rt, SimConfig::default());
    let k = Kubectl::new(&server, server.admin_token());
    // These generators send protobuf bodies.
    k.ok(&["create", "namespace", "team"]);
    k.ok(&[
        "create",
        "configmap",
        "c",
        "-n",
        "team",
        "--from-literal=a=1",
    ]);
    k.ok(&["create", "serviceaccount", "bot", "-n", "team"]);
    k.ok(&[
        "create",
        "role",
        "read-p1",
        "-n",
        "team",
        "--verb=get",
        "--resource=pods",
        "--resource-name=p1",
    ]);
    k.ok(&[
        "create",
        "rolebinding",
        "bot-read-p1",
        "-n",
        "team",
        "--role=read-p1",
        "--serviceaccount=team:bot",
    ]);
    assert_eq!(
        k.ok(&["get", "cm", "c", "-n", "team", "-o", "jsonpath={.data.a}"]),
        "1"
    );
    let bot = ["-n", "team", "--as=system:serviceaccount:team:bot"];
    assert_eq!(
        k.ok(&[&["auth", "can-i", "get", "pods/p1"][..], &bot[..]].concat())
            .trim(),
        "yes"
    );
    let other = k.run(&[&["auth", "can-i", "get", "pods/p2"][..], &bot[..]].concat());
    assert_eq!((other.ok, other.stdout.trim()), (false, "no"));
    let list = k.ok(&[&["auth", "can-i", "--list"][..], &bot[..]].concat());
    assert!(
        list.lines()
            .any(|l| l.starts_with("pods ") && l.contains("[p1]") && l.contains("[get]")),
        "{list}"
    );
    assert_eq!(
        k.ok(&["get", "sa", "-n", "team", "-o", "name"]),
        "serviceaccount/bot\nserviceaccount/default\n"
    );
    rt.block_on(server.shutdown());
}

#[test]
fn kubectl_watch_sees_changes() {
    let rt = runtime();
    let server = start(&rt, SimConfig::default());
    server.load_yaml(CRD).unwrap();
    server.load_yaml(PROFILES).unwrap();
    let k = Kubectl::new(&server, server.admin_token());
    let mut child = ChildGuard(
        k.command(&[
            "get",
            "netprof",
            "--watch-only",
            "--output-watch-events",
            "-o",
            "json",
            "-l",
            "tier=edge",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    wait_for(10, "kubectl's watch to be established", || {
        server.audit_events().iter().any(|e| {
            e.verb == "watch"
                && e.resource == "networkprofiles"
                && e.user_agent.starts_with("kubectl")
        })
    });
    k.ok(&["label", "netprof", "camera", "seen=yes"]);
    k.ok(&["delete", "netprof", "radar"]);
    let other = k.file("other.yaml", &profile("other", "x", 1));
    k.ok(&["apply", "-f", other.to_str().unwrap()]);
    let mut events = Vec::new();
    while events.len() < 2 {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a watch event");
        let v: Value = serde_json::from_str(&line).unwrap();
        events.push(format!(
            "{} {}",
            v["type"].as_str().unwrap(),
            v["object"]["metadata"]["name"].as_str().unwrap()
        ));
    }
    assert_eq!(
        events,
        ["MODIFIED camera", "DELETED radar"],
        "the unlabelled profile is not selected"
    );
    drop(child);
    rt.block_on(server.shutdown());
}

#[test]
fn the_binary_serves_until_interrupted() {
    let help = Command::new(env!("CARGO_BIN_EXE_tether-sim"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("--kubeconfig") && help.contains("--listen"),
        "{help}"
    );

    let dir = TempDir::new("bin");
    let kubeconfig = dir.path("admin.kubeconfig");
    let audit = dir.path("audit.jsonl");
    let crd = dir.path("crd.yaml");
    std::fs::write(&crd, CRD).unwrap();
    let mut child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_tether-sim"))
            .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg("--load")
            .arg(&crd)
            .arg("--audit-log")
            .arg(&audit)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.starts_with("tether-sim listening on https://127.0.0.1:"),
        "{first}"
    );
    let out = Command::new("kubectl")
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", &dir.0)
        .args(["get", "ns", "-o", "name"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"),
        "{out:?}"
    );
    let crds = Command::new("kubectl")
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", &dir.0)
        .args(["get", "crd", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&crds.stdout),
        "customresourcedefinition.apiextensions.k8s.io/networkprofiles.tether.dev\n"
    );
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(lines.next().unwrap().unwrap(), "tether-sim stopped");
    let audited = std::fs::read_to_string(&audit).unwrap();
    assert!(
        audited
            .lines()
            .any(|l| l.contains("\"resource\":\"customresourcedefinitions\"")
                && l.contains("\"userAgent\":\"kubectl/")),
        "{audited}"
    );
}
