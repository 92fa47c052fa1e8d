//! The DaemonSet image the kind backend builds from the workspace's binaries, run for real:
//! what deploy/daemonset.yaml runs in it works, on a read-only root as the DaemonSet sets it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

/// `docker run --rm --read-only OPTIONS IMAGE COMMAND...`; its stdout.
fn docker_run(options: &[&str], image: &str, command: &[&str]) -> String {
    let out = Command::new("docker")
        .args(["run", "--rm", "--read-only"])
        .args(options)
        .arg(image)
        .args(command)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker run {options:?} {image} {command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_agent_image_runs_what_the_daemonset_runs() {
    let docker = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !docker {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Docker is required under CI=true"
        );
        eprintln!("skipped: no Docker");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let image = e2e::kind::image::build(&e2e::binaries::build().unwrap(), work.path()).unwrap();

    let version = docker_run(&[], &image, &["tether-agent", "--version"]);
    assert!(version.starts_with("tether-agent "), "{version}");
    let crd = docker_run(&[], &image, &["tether-agent", "crd"]);
    assert!(crd.contains("networkprofiles.tether.dev"), "{crd}");
    let help = docker_run(&[], &image, &["tether-agent", "install-cni", "--help"]);
    assert!(help.contains("--cni-conf-dir"), "{help}");
    // What install-cni copies onto the node answers as a CNI plugin.
    for plugin in ["tether-cni", "bandwidth", "tuning"] {
        let entrypoint = format!("/opt/tether/bin/{plugin}");
        let options = ["-e", "CNI_COMMAND=VERSION", "--entrypoint", &entrypoint];
        let out = docker_run(&options, &image, &[]);
        assert!(out.contains("supportedVersions"), "{plugin}: {out}");
    }
}
