//! The DaemonSet image the kind backend builds from the workspace's binaries, run for real:
//! what deploy/daemonset.yaml runs in it works, on a read-only root as the DaemonSet sets it,
//! and the tether-cni it carries for the node is static.
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

/// The bytes of `path` in `image`, copied out of a container that never starts.
fn docker_file(image: &str, path: &str, work: &std::path::Path) -> Vec<u8> {
    let created = Command::new("docker")
        .args(["create", image])
        .output()
        .unwrap();
    assert!(created.status.success(), "docker create {image}");
    let id = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    let dest = work.join("copied");
    let copied = Command::new("docker")
        .args(["cp", &format!("{id}:{path}")])
        .arg(&dest)
        .status()
        .unwrap();
    let _ = Command::new("docker").args(["rm", &id]).output();
    assert!(copied.success(), "docker cp {path}");
    std::fs::read(dest).unwrap()
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
    // tether-cni runs on the kind node, not in this image: it must need no loader of its own.
    let cni = docker_file(&image, "/opt/tether/bin/tether-cni", work.path());
    assert_eq!(
        e2e::kind::image::elf_interpreter(&cni),
        Ok(None),
        "tether-cni in the image is static (no PT_INTERP)"
    );
    // What install-cni copies onto the node answers as a CNI plugin.
    for plugin in ["tether-cni", "bandwidth", "tuning"] {
        let entrypoint = format!("/opt/tether/bin/{plugin}");
        let options = ["-e", "CNI_COMMAND=VERSION", "--entrypoint", &entrypoint];
        let out = docker_run(&options, &image, &[]);
        assert!(out.contains("supportedVersions"), "{plugin}: {out}");
    }
}
