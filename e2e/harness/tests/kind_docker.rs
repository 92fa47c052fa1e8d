//! The kind backend's docker steps for real: `disconnect` and `reconnect_network` run the plan's
//! commands through `RealExecutor` against real containers on a docker network made the way
//! kind makes its own (IPv4 assigned by Docker, a user-set IPv6 ULA subnet). Kubernetes is not
//! involved; the containers only sleep. Needs Docker (no registry: the image is imported from
//! the host's `sleep` and the libraries it links). Under `CI=true` a missing Docker fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::kind::{KindBackend, KindConfig, KindError, RealExecutor};

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("running docker");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (
        out.status.success(),
        text + &String::from_utf8_lossy(&out.stderr),
    )
}

fn docker_ok(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("running docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn docker_available() -> bool {
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var("CI").as_deref() != Ok("true"),
        "Docker is required in CI"
    );
    if !ok {
        eprintln!("SKIPPED: no Docker daemon");
    }
    ok
}

/// Everything the test creates in Docker, removed on drop (also when the test fails).
struct Fixture {
    name: String,
    image: String,
    containers: Vec<String>,
    network: String,
    work: tempfile::TempDir,
}

impl Fixture {
    /// An image with /bin/sleep, and a network named like the cluster; with `own_ipv4`, the
    /// network also gets an IPv4 subnet of its own (the first of a few that is free).
    fn new(tag: &str, own_ipv4: bool) -> Fixture {
        let pid = std::process::id();
        let name = format!("tkt{tag}{pid}");
        let fixture = Fixture {
            image: format!("tether-kind-test-sleep:{name}"),
            network: format!("{name}-net"),
            containers: Vec::new(),
            work: tempfile::tempdir().unwrap(),
            name,
        };
        fixture.import_sleep_image();
        let ula = format!("fd74:{:x}:{:x}::/64", pid & 0xffff, tag.len());
        let mut errors = Vec::new();
        for attempt in 0..8 {
            let subnet = format!(
                "10.{}.{}.0/24",
                200 + (pid + attempt) % 50,
                (pid / 50 + attempt) % 250
            );
            let mut create = vec!["network", "create", "-d=bridge", "--ipv6", "--subnet", &ula];
            if own_ipv4 {
                create.extend(["--subnet", &subnet]);
            }
            create.push(&fixture.network);
            match docker(&create) {
                (true, _) => return fixture,
                (false, why) => errors.push(why),
            }
            if !own_ipv4 {
                break;
            }
        }
        panic!("docker network create failed: {errors:?}");
    }

    fn import_sleep_image(&self) {
        let rootfs = self.work.path().join("rootfs");
        let sleep = which("sleep");
        let mut files = vec![sleep.clone()];
        // the dynamic libraries `sleep` needs, as ldd lists them (none if it is static)
        if let Ok(out) = Command::new("ldd").arg(&sleep).output() {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            files.extend(
                text.split_whitespace()
                    .filter(|w| w.starts_with('/'))
                    .map(PathBuf::from),
            );
        }
        for file in &files {
            let dest = rootfs.join(file.strip_prefix("/").unwrap());
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(file, &dest).unwrap();
        }
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::copy(&sleep, rootfs.join("bin/sleep")).unwrap();
        let tar = self.work.path().join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        docker_ok(&["import", tar.to_str().unwrap(), &self.image]);
    }

    fn run(&mut self, container: &str, extra: &[&str]) {
        let mut args = vec!["run", "-d", "--name", container, "--network", &self.network];
        args.extend(extra);
        args.extend([self.image.as_str(), "/bin/sleep", "600"]);
        docker_ok(&args);
        self.containers.push(container.to_owned());
    }

    fn address(&self, container: &str) -> String {
        let format = format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            self.network
        );
        docker_ok(&["inspect", "--format", &format, container])
    }

    fn attached(&self, container: &str) -> bool {
        docker_ok(&[
            "inspect",
            "--format",
            "{{json .NetworkSettings.Networks}}",
            container,
        ])
        .contains(&format!("\"{}\"", self.network))
    }

    fn backend(&self) -> KindBackend<RealExecutor> {
        let mut config = KindConfig::new(
            PathBuf::from("/nonexistent/deploy"),
            self.work.path().join("kind"),
        );
        config.cluster_name = self.name.clone();
        config.network = self.network.clone();
        KindBackend::new(config, RealExecutor).unwrap()
    }

    fn worker(&self) -> String {
        format!("{}-worker", self.name)
    }

    fn record(&self) -> PathBuf {
        self.work
            .path()
            .join("kind/disconnected")
            .join(format!("{}.ipv4", self.worker()))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for container in &self.containers {
            let _ = docker(&["rm", "-f", container]);
        }
        let _ = docker(&["network", "rm", &self.network]);
        let _ = docker(&["rmi", &self.image]);
    }
}

fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| Path::is_file(p))
        .unwrap()
}

#[test]
fn a_node_is_cut_off_and_comes_back_on_its_own_address() {
    if !docker_available() {
        return;
    }
    let mut fx = Fixture::new("a", false);
    let worker = fx.worker();
    fx.run(&worker, &[]);
    let before = fx.address(&worker);
    assert!(!before.is_empty());
    let mut backend = fx.backend();

    assert_eq!(backend.disconnect("edge-1").unwrap(), worker);
    assert!(!fx.attached(&worker), "the node is off the network");
    // `docker inspect … > record`, as the transcript has it: the address and a newline
    assert_eq!(std::fs::read_to_string(fx.record()).unwrap().trim(), before);

    assert_eq!(backend.reconnect_network("edge-1").unwrap(), worker);
    assert!(fx.attached(&worker));
    assert_eq!(fx.address(&worker), before);
    assert!(!fx.record().exists(), "the record is consumed");
}

#[test]
fn a_node_that_comes_back_on_another_address_is_reported() {
    if !docker_available() {
        return;
    }
    // an IPv4 subnet of our own, so another container can be given the node's address
    let mut fx = Fixture::new("bb", true);
    let worker = fx.worker();
    fx.run(&worker, &[]);
    let before = fx.address(&worker);
    let mut backend = fx.backend();
    backend.disconnect("edge-1").unwrap();
    let squatter = format!("{}-squatter", fx.name);
    fx.run(&squatter, &["--ip", &before]);

    match backend.reconnect_network("edge-1") {
        Err(KindError::AddressChanged {
            node,
            before: b,
            after,
        }) => {
            assert_eq!(
                (node.as_str(), b.as_str()),
                (worker.as_str(), before.as_str())
            );
            assert_ne!(after, before);
            assert_eq!(after, fx.address(&worker));
        }
        other => panic!("expected AddressChanged, got {other:?}"),
    }
}
