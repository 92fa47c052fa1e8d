//! The sim demo as a user runs it: `hack/up.sh --sim`, kubectl against it, a node cut off and
//! back with `hack/disconnect.sh` / `hack/reconnect.sh`, then `hack/down.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    testkit::repo::root()
}

/// The demo's state directory; `hack/down.sh` runs on drop, so a failing test leaves nothing.
struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn script(&self, name: &str, args: &[&str]) -> Output {
        let out = Command::new("bash")
            .arg(root().join("hack").join(name))
            .args(args)
            .env("TETHER_DEMO_DIR", self.dir.path())
            .current_dir(root())
            .output()
            .unwrap();
        eprintln!(
            "hack/{name} {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.script("down.sh", &[]);
    }
}

fn networks_of(container: &str) -> String {
    let out = Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
            container,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker inspect {container}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker_available() -> bool {
    let ok = Command::new("docker")
        .args(["info"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "Docker is required under CI=true"
    );
    ok
}

#[test]
fn the_sim_demo_comes_up_is_cut_off_and_goes_away() {
    if !docker_available() {
        eprintln!("skipped: no Docker");
        return;
    }
    let demo = Demo {
        dir: tempfile::tempdir().unwrap(),
    };
    let up = demo.script("up.sh", &["--sim"]);
    assert!(
        up.status.success(),
        "hack/up.sh --sim failed; log:\n{}",
        std::fs::read_to_string(demo.dir.path().join("log")).unwrap_or_default()
    );
    let said = String::from_utf8_lossy(&up.stderr);
    assert!(said.contains("mode: sim (--sim was given)"), "{said}");
    assert!(demo.dir.path().join("ready").exists());

    assert_eq!(
        demo.kubectl(&["get", "networkprofiles", "-o", "name"])
            .trim(),
        "networkprofile.tether.dev/camera"
    );
    let pods = demo.kubectl(&["get", "pods", "-n", "default", "-o", "name"]);
    for pod in ["camera-1", "camera-2", "web-1"] {
        assert!(pods.contains(&format!("pod/{pod}")), "{pods}");
    }
    // The node's kubelet reported each pod: Running, with its IP and node.
    let status = demo.kubectl(&[
        "get",
        "pods",
        "-n",
        "default",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.podIP} {.spec.nodeName} {.status.hostIP}{\"\\n\"}{end}",
    ]);
    for (pod, node) in [
        ("camera-1", "edge-1"),
        ("web-1", "edge-1"),
        ("camera-2", "edge-2"),
    ] {
        let line = status
            .lines()
            .find(|l| l.starts_with(&format!("{pod} ")))
            .unwrap_or_else(|| panic!("{pod} missing: {status}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert_eq!((fields[1], fields[3]), ("Running", node), "{line}");
        assert!(fields[2].parse::<std::net::IpAddr>().is_ok(), "{line}");
        // The node's own address, not yurthub's on the node, which its kubelet talks to.
        assert!(fields[4].parse::<std::net::IpAddr>().is_ok(), "{line}");
        assert_ne!(fields[4], e2e::node::YURTHUB_IP, "{line}");
    }
    // ... and kubectl prints them as it does against a real cluster (the API double's Tables).
    let wide = demo.kubectl(&["get", "pods", "-n", "default", "-o", "wide"]);
    let mut lines = wide.lines();
    assert_eq!(
        lines
            .next()
            .map(|h| h.split_whitespace().collect::<Vec<_>>()),
        Some(vec![
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ]),
        "{wide}"
    );
    for line in lines {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells.len(), 9, "{wide}");
        assert_eq!((cells[1], cells[2]), ("1/1", "Running"), "{wide}");
        assert!(cells[5].parse::<std::net::IpAddr>().is_ok(), "{wide}");
        assert!(cells[6].starts_with("edge-"), "{wide}");
    }
    let profiles = demo.kubectl(&["get", "networkprofiles"]);
    let rows: Vec<Vec<&str>> = profiles
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.first().map(Vec::as_slice),
        Some(&["NAME", "PRIORITY", "MTU", "PODS", "NODES", "AGE"][..]),
        "{profiles}"
    );
    assert_eq!(
        rows.get(1).map(|r| &r[..3]),
        Some(&["camera", "10", "1400"][..]),
        "{profiles}"
    );
    let log = std::fs::read_to_string(demo.dir.path().join("log")).unwrap();
    assert!(
        log.contains("pod default/camera-1 on edge-1: profile camera, source live"),
        "{log}"
    );
    assert!(
        log.contains("pod default/camera-2 on edge-2: profile none"),
        "{log}"
    );

    assert_eq!(networks_of("tether-demo-edge-1"), "tether-demo");
    assert!(demo.script("disconnect.sh", &["edge-1"]).status.success());
    assert_eq!(networks_of("tether-demo-edge-1"), "");
    assert!(demo.script("reconnect.sh", &["edge-1"]).status.success());
    assert_eq!(networks_of("tether-demo-edge-1"), "tether-demo");

    assert!(demo.script("down.sh", &[]).status.success());
    let left = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "name=^tether-demo-",
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "containers left after down.sh"
    );
    let network = Command::new("docker")
        .args(["network", "inspect", "tether-demo"])
        .output()
        .unwrap();
    assert!(
        !network.status.success(),
        "network tether-demo left after down.sh"
    );
}
