//! hack/*.sh: shellcheck-clean, and their decisions (which demo mode, which commands) checked
//! through `--explain` and `--dry-run`, which run nothing. PATH is a temporary directory, so
//! which tools "are installed" is under the test's control; the tool files there are only ever
//! looked up with `command -v`, except `kind`, which answers `kind get clusters` for mode
//! detection. Neither the sim nor kind is started here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output};

fn root() -> PathBuf {
    testkit::repo::root()
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A PATH directory holding only the named tools, and a demo state directory.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new(tools: &[&str]) -> Sandbox {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(sandbox.bin()).unwrap();
        std::fs::create_dir(sandbox.demo()).unwrap();
        for tool in tools {
            sandbox.tool(tool, "#!/bin/sh\nexit 0\n");
        }
        sandbox
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn demo(&self) -> PathBuf {
        self.dir.path().join("demo")
    }

    fn tool(&self, name: &str, script: &str) {
        let file = self.bin().join(name);
        std::fs::write(&file, script).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn state(&self, file: &str, contents: &str) {
        std::fs::write(self.demo().join(file), contents).unwrap();
    }

    fn script(&self, name: &str, args: &[&str]) -> Output {
        Command::new(which("bash").unwrap())
            .arg(root().join("hack").join(name))
            .args(args)
            .env_clear()
            .env("PATH", self.bin())
            .env("TETHER_DEMO_DIR", self.demo())
            .output()
            .unwrap()
    }
}

/// A live process whose pid stands for a running sim; killed on drop.
struct LivePid(Child);

impl LivePid {
    fn new() -> LivePid {
        LivePid(
            Command::new(which("sleep").unwrap())
                .arg("300")
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for LivePid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn hack_scripts_are_shellcheck_clean() {
    let Some(shellcheck) = which("shellcheck") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "shellcheck is required in CI"
        );
        eprintln!("SKIPPED: shellcheck is not installed");
        return;
    };
    let scripts: Vec<PathBuf> = std::fs::read_dir(root().join("hack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    assert!(scripts.len() >= 5, "{scripts:?}");
    let out = Command::new(shellcheck)
        .args(&scripts)
        .current_dir(root())
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success(), "{stdout}");
}

#[test]
fn without_kind_up_picks_the_sim_and_says_why() {
    let sandbox = Sandbox::new(&["docker", "kubectl"]);
    let out = sandbox.script("up.sh", &["--explain"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("mode: sim\n"), "{stdout}");
    assert!(stdout.contains("not installed: kind helm"), "{stdout}");
    assert!(
        stdout.contains("cargo build -q -p e2e --bin tether-demo"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("tether-demo --dir {}", sandbox.demo().display())),
        "{stdout}"
    );
    assert!(
        !sandbox.demo().join("pid").exists(),
        "--explain starts nothing"
    );
}

#[test]
fn with_kind_kubectl_and_helm_up_picks_kind_unless_told_sim() {
    let sandbox = Sandbox::new(&["docker", "kind", "kubectl", "helm"]);
    let (stdout, _) = text(&sandbox.script("up.sh", &["--explain"]));
    assert!(
        stdout.contains("mode: kind\nreason: kind, kubectl and helm are installed"),
        "{stdout}"
    );
    assert!(stdout.contains("tether-kind up --dir"), "{stdout}");
    let (stdout, _) = text(&sandbox.script("up.sh", &["--sim", "--explain"]));
    assert!(
        stdout.contains("mode: sim\nreason: --sim was given"),
        "{stdout}"
    );
}

#[test]
fn missing_tools_are_named_with_the_way_to_get_them() {
    let sandbox = Sandbox::new(&["docker", "kind"]);
    let out = sandbox.script("up.sh", &["--kind", "--explain"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("missing: kubectl helm") && stderr.contains("nix develop"),
        "{stderr}"
    );
    let no_docker = Sandbox::new(&["kind", "kubectl", "helm"]);
    let (_, stderr) = text(&no_docker.script("up.sh", &["--explain"]));
    assert!(stderr.contains("docker is required"), "{stderr}");
    let (_, stderr) = text(&sandbox.script("up.sh", &["--bogus"]));
    assert!(stderr.contains("usage: hack/up.sh"), "{stderr}");
}

#[test]
fn in_sim_mode_nodes_are_cut_off_on_the_sims_docker_network() {
    let sandbox = Sandbox::new(&["docker"]);
    let sim = LivePid::new();
    sandbox.state("mode", "sim\n");
    sandbox.state("pid", &format!("{}\n", sim.0.id()));
    let (stdout, stderr) = text(&sandbox.script("disconnect.sh", &["--dry-run", "edge-1"]));
    assert_eq!(
        stdout, "docker network disconnect tether-demo tether-demo-edge-1\n",
        "{stderr}"
    );
    let (stdout, _) = text(&sandbox.script("reconnect.sh", &["edge-2", "--dry-run"]));
    assert_eq!(
        stdout,
        "docker network connect tether-demo tether-demo-edge-2\n"
    );
    let (stdout, _) = text(&sandbox.script("down.sh", &["--dry-run"]));
    assert_eq!(stdout, format!("kill -TERM {}\n", sim.0.id()));
    assert!(
        sandbox.demo().join("pid").exists(),
        "a dry run removes nothing"
    );
}

#[test]
fn in_kind_mode_the_kind_backend_does_it() {
    let sandbox = Sandbox::new(&["docker", "kubectl"]);
    // stands in for `kind get clusters` only, so that the script sees the demo cluster
    sandbox.tool(
        "kind",
        "#!/bin/sh\n[ \"$1 $2\" = 'get clusters' ] && echo tether-kind\n",
    );
    sandbox.state("mode", "kind\n");
    let (stdout, stderr) = text(&sandbox.script("disconnect.sh", &["--dry-run", "edge-1"]));
    let binary = root()
        .canonicalize()
        .unwrap()
        .join("target/debug/tether-kind");
    let expected = format!(
        "{} disconnect edge-1 --dir {} --name tether-kind\n",
        binary.display(),
        sandbox.demo().display()
    );
    assert_eq!(stdout, expected, "{stderr}");
    let (stdout, _) = text(&sandbox.script("down.sh", &["--dry-run"]));
    assert_eq!(stdout, "kind delete cluster --name tether-kind\n");
}

#[test]
fn down_removes_what_a_crashed_sim_left_behind() {
    let sandbox = Sandbox::new(&[]);
    // stands in for `docker ps` / `docker network inspect` listing a dead sim's leftovers
    sandbox.tool(
        "docker",
        "#!/bin/sh\ncase \"$1\" in ps) echo tether-demo-edge-1; echo tether-demo-edge-2 ;; esac\n",
    );
    sandbox.state("mode", "sim\n");
    sandbox.state("pid", "999999999\n");
    let (stdout, stderr) = text(&sandbox.script("down.sh", &["--dry-run"]));
    assert_eq!(
        stdout,
        "docker rm --force tether-demo-edge-1 tether-demo-edge-2\ndocker network rm tether-demo\n",
        "{stderr}"
    );
}

#[test]
fn nothing_up_or_bad_names_are_clear_errors() {
    let sandbox = Sandbox::new(&["docker"]);
    sandbox.state("mode", "sim\n");
    sandbox.state("pid", "999999999\n"); // no such process: the sim is gone
    let out = sandbox.script("disconnect.sh", &["edge-1"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("no demo is up"), "{:?}", text(&out));
    let out = sandbox.script("disconnect.sh", &["Edge_1"]);
    assert!(text(&out).1.contains("not a node name"), "{:?}", text(&out));
    let out = sandbox.script("reconnect.sh", &[]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&sandbox.script("down.sh", &[]));
    assert!(stderr.contains("no demo is up"), "{stderr}");
}
