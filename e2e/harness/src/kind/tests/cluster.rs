//! Dry-run tests of bringing the cluster up: kind config and audit policy, helm and its
//! values, NodePools and labels, tether's overlay, kubeconfig use, the transcript.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{pins, up_and_install};
use crate::kind::files::paths;
use crate::kind::*;

#[test]
fn kind_config_has_one_control_plane_with_the_audit_policy_mounted_and_two_workers() {
    let run = up_and_install();
    let cfg = run.yaml(paths::KIND_CONFIG);
    assert_eq!(cfg["apiVersion"], "kind.x-k8s.io/v1alpha4");
    assert_eq!(cfg["kind"], "Cluster");
    assert_eq!(cfg["name"], "tether-e2e");
    let nodes = cfg["nodes"].as_array().unwrap();
    let roles: Vec<&str> = nodes.iter().map(|n| n["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["control-plane", "worker", "worker"]);
    for node in nodes {
        assert_eq!(
            node["image"],
            pins().kind_node_image.to_string(),
            "every node on the pinned image"
        );
    }
    // the kubeadm patch is itself YAML: parse it and follow the policy file to the host
    let patch: Value =
        serde_saphyr::from_str(nodes[0]["kubeadmConfigPatches"][0].as_str().unwrap()).unwrap();
    assert_eq!(patch["kind"], "ClusterConfiguration");
    let args = &patch["apiServer"]["extraArgs"];
    assert_eq!(
        args["audit-log-path"],
        "/var/log/kubernetes/kube-apiserver-audit.log"
    );
    let policy_in_node = Path::new(args["audit-policy-file"].as_str().unwrap());
    let volumes = patch["apiServer"]["extraVolumes"].as_array().unwrap();
    let mounted = |dir: &Path| {
        volumes.iter().any(|v| {
            dir.starts_with(v["mountPath"].as_str().unwrap()) && v["hostPath"] == v["mountPath"]
        })
    };
    assert!(
        mounted(policy_in_node),
        "policy dir is mounted into the apiserver pod"
    );
    assert!(
        mounted(Path::new("/var/log/kubernetes")),
        "log dir is mounted into the apiserver pod"
    );
    let mount = &nodes[0]["extraMounts"][0];
    let container_dir = Path::new(mount["containerPath"].as_str().unwrap());
    let relative = policy_in_node.strip_prefix(container_dir).unwrap();
    let on_host = Path::new(mount["hostPath"].as_str().unwrap()).join(relative);
    let policy: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&on_host).unwrap()).unwrap();
    assert_eq!(policy["kind"], "Policy");
    assert_eq!(
        policy["omitStages"],
        serde_json::json!(["RequestReceived", "ResponseStarted"]),
        "one event per request: a watch would be logged at ResponseStarted too"
    );
    assert_eq!(policy["rules"][0]["level"], "Metadata");
    assert_eq!(
        policy["rules"][0]["users"][0],
        "system:serviceaccount:tether-system:tether-agent"
    );
    assert!(
        nodes[1].get("extraMounts").is_none() && nodes[1].get("kubeadmConfigPatches").is_none()
    );

    let create =
        &run.commands()[run.position("kind create", |c| c.has_args(&["create", "cluster"]))];
    assert_eq!(
        create.flag("--config"),
        Some(run.work().join(paths::KIND_CONFIG).to_str().unwrap())
    );
    assert_eq!(
        create.flag("--image"),
        Some(pins().kind_node_image.to_string().as_str())
    );
}

#[test]
fn helm_installs_the_pinned_charts_with_tether_agent_in_cache_agents() {
    let run = up_and_install();
    let v = pins();
    let manager = &run.commands()[run.position("helm install", |c| {
        c.program == "helm" && c.has_args(&["upgrade", "--install", "yurt-manager", "yurt-manager"])
    })];
    assert_eq!(manager.flag("--repo"), Some(v.openyurt_helm_repo.as_str()));
    assert_eq!(
        manager.flag("--repo"),
        Some("https://openyurtio.github.io/charts")
    );
    assert_eq!(manager.flag("--version"), Some("1.7.0"));
    assert_eq!(manager.flag("--namespace"), Some("kube-system"));
    assert!(manager.has_args(&["--wait"]));
    let values = run.yaml(paths::YURT_MANAGER_VALUES);
    assert_eq!(
        manager.flag("--values"),
        Some(
            run.work()
                .join(paths::YURT_MANAGER_VALUES)
                .to_str()
                .unwrap()
        )
    );
    assert_eq!(values["image"]["tag"], v.yurt_manager_image_tag.to_string());
    assert_eq!(
        values["nodeServant"]["image"]["tag"], "v1.7.0",
        "never the chart's default `latest`"
    );

    let template_at = run.position("helm template", |c| {
        c.program == "helm" && c.has_args(&["template", "yurthub", "yurthub"])
    });
    let template = &run.commands()[template_at];
    assert_eq!(template.flag("--version"), Some("1.7.0"));
    assert_eq!(
        template.flag("--show-only"),
        Some("templates/yurthub-cfg.yaml")
    );
    let yurthub = run.yaml(paths::YURTHUB_VALUES);
    let agents: Vec<&str> = yurthub["cacheAgents"]
        .as_str()
        .unwrap()
        .split(',')
        .map(str::trim)
        .collect();
    assert!(agents.contains(&"tether-agent"), "{agents:?}");
    assert!(
        yurthub.get("yurthub").is_none(),
        "chart yurthub reads top-level cacheAgents"
    );
    let cfg_path = run.work().join(paths::YURTHUB_CFG);
    assert_eq!(
        template.stdout_to.as_deref(),
        Some(cfg_path.as_path()),
        "helm template's output is the file applied next"
    );
    assert!(
        run.transcript()
            .lines()
            .any(|l| l.starts_with("helm template yurthub")
                && l.ends_with(&format!(" > {}", cfg_path.display()))),
        "the transcript redirects it too"
    );
    let apply_cfg = run.position("apply yurthub-cfg", |c| {
        c.has_args(&["apply", "-f", cfg_path.to_str().unwrap()])
    });
    assert!(template_at < apply_cfg);
    assert!(
        run.position("kind create", |c| c.has_args(&["create", "cluster"]))
            < run.position("helm", |c| c.program == "helm" && c.args[0] != "version")
    );
}

#[test]
fn nodepools_and_labels_make_each_worker_an_edge_node_and_the_plan_waits_for_it() {
    let run = up_and_install();
    let pools = run.yaml_docs(paths::NODEPOOLS);
    let names: Vec<&str> = pools
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hangzhou", "shanghai"]);
    for pool in &pools {
        assert_eq!(pool["apiVersion"], "apps.openyurt.io/v1beta2");
        assert_eq!(pool["kind"], "NodePool");
        assert_eq!(
            pool["spec"]["type"], "Edge",
            "only Edge pools are converted"
        );
    }
    let nodepools_file = run.work().join(paths::NODEPOOLS);
    let apply_pools = run.position("apply nodepools", |c| {
        c.has_args(&["apply", "-f", nodepools_file.to_str().unwrap()])
    });
    let manager = run.position("helm install", |c| c.has_args(&["upgrade", "--install"]));
    assert!(
        manager < apply_pools,
        "the NodePool CRD comes with yurt-manager"
    );
    for (node, pool) in [
        ("tether-e2e-worker", "hangzhou"),
        ("tether-e2e-worker2", "shanghai"),
    ] {
        let label = run.position("label", |c| {
            c.has_args(&[
                "label",
                "--overwrite",
                "node",
                node,
                &format!("apps.openyurt.io/nodepool={pool}"),
            ])
        });
        assert!(apply_pools < label);
        let wait = run.position("wait edge", |c| {
            c.has_args(&[
                "wait",
                "--for=jsonpath={.metadata.labels.openyurt\\.io/is-edge-worker}=true",
                &format!("node/{node}"),
            ])
        });
        assert!(label < wait);

        let health = run.position("healthz", |c| {
            c.argv()
                == [
                    "docker",
                    "exec",
                    node,
                    "curl",
                    "--fail",
                    "--silent",
                    "--show-error",
                    "--max-time",
                    "5",
                    "http://127.0.0.1:10267/v1/healthz",
                ]
        });
        assert!(wait < health);
    }
    assert!(
        !run.commands().iter().any(|c| c.has_args(&[
            "label",
            "--overwrite",
            "node",
            "tether-e2e-control-plane"
        ])),
        "the control plane stays a cloud node"
    );
}

#[test]
fn tether_is_loaded_applied_through_the_overlay_and_awaited() {
    let run = up_and_install();
    let store = run.position("image store", |c| {
        c.argv() == ["docker", "info", "--format", "{{json .DriverStatus}}"]
    });
    let load = run.position("kind load", |c| {
        c.argv()
            == [
                "kind",
                "load",
                "docker-image",
                "tether-agent:0.1.0",
                "--name",
                "tether-e2e",
            ]
    });
    let overlay_dir = run.work().join(paths::OVERLAY_DIR);
    let apply = run.position("apply -k", |c| {
        c.has_args(&["apply", "-k", overlay_dir.to_str().unwrap()])
    });
    let rollout = run.position("rollout", |c| {
        c.has_args(&[
            "rollout",
            "status",
            "--namespace",
            "tether-system",
            "daemonset/tether-agent",
        ])
    });
    assert!(store < load && load < apply && apply < rollout);
    assert!(
        !run.commands().iter().any(|c| c.has_args(&["delete"])),
        "a fresh cluster has nothing of earlier runs to delete"
    );
    let overlay = run.yaml(paths::OVERLAY);
    let base = overlay_dir.join(overlay["resources"][0].as_str().unwrap());
    let normalised: PathBuf = base.components().fold(PathBuf::new(), |mut p, c| {
        match c {
            std::path::Component::ParentDir => {
                p.pop();
            }
            other => p.push(other),
        }
        p
    });
    let deploy = testkit::repo::deploy_dir();
    assert_eq!(normalised, deploy.canonicalize().unwrap());
    assert_eq!(overlay["images"][0]["name"], "tether");
    assert_eq!(overlay["images"][0]["newName"], "tether-agent");
    assert_eq!(overlay["images"][0]["newTag"], "0.1.0");
}

#[test]
fn every_kubectl_and_helm_call_uses_the_clusters_own_kubeconfig() {
    let run = up_and_install();
    let kubeconfig = run.work().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().unwrap();
    for cmd in run.commands().iter().filter(|c| {
        c.program == "kubectl" && c.args[0] != "version" || c.has_args(&["upgrade", "--install"])
    }) {
        assert_eq!(cmd.flag("--kubeconfig"), Some(kubeconfig), "{cmd}");
    }
    let create =
        &run.commands()[run.position("kind create", |c| c.has_args(&["create", "cluster"]))];
    assert_eq!(create.flag("--kubeconfig"), Some(kubeconfig));
}

#[test]
fn the_transcript_replays_as_a_script_running_exactly_the_planned_commands() {
    let mut run = up_and_install();
    run.backend.apply_demo().unwrap();
    let transcript_path = run.work().join(DryRunExecutor::TRANSCRIPT);
    let status = std::process::Command::new("bash")
        .arg("-n")
        .arg(&transcript_path)
        .status()
        .unwrap();
    assert!(status.success(), "bash -n commands.sh");
    // replay it with stand-ins for the tools that log their argv and print nothing
    let stubs = tempfile::tempdir().unwrap();
    let log = stubs.path().join("argv.log");
    for tool in ["docker", "kind", "kubectl", "helm"] {
        let stub = stubs.path().join(tool);
        std::fs::write(
            &stub,
            "#!/usr/bin/env bash\n{ printf '%s' \"${0##*/}\"; printf '\\x1f%s' \"$@\"; printf '\\x1e'; } >>\"$TETHER_REPLAY_LOG\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let rendered = run.work().join(paths::YURTHUB_CFG);
    assert!(!rendered.exists(), "the dry run itself runs nothing");
    let out = std::process::Command::new("bash")
        .arg(&transcript_path)
        .env("PATH", format!("{}:/usr/bin:/bin", stubs.path().display()))
        .env("TETHER_REPLAY_LOG", &log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash commands.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replayed: Vec<Vec<String>> = std::fs::read_to_string(&log)
        .unwrap()
        .split('\x1e')
        .filter(|r| !r.is_empty())
        .map(|r| r.split('\x1f').map(str::to_owned).collect())
        .collect();
    let planned: Vec<Vec<String>> = run
        .commands()
        .iter()
        .map(|c| c.argv().into_iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        replayed, planned,
        "the replay runs each planned command once, in order"
    );
    assert!(
        rendered.exists(),
        "helm template's redirect made the file kubectl applies"
    );
    // the demo: a profile for app=camera in the first pool, one such pod per edge node
    let demo = run.yaml_docs(paths::DEMO);
    let profile = demo.iter().find(|d| d["kind"] == "NetworkProfile").unwrap();
    assert_eq!(*profile, testkit::demo::profile(), "the sim demo's profile");
    assert!(
        run.backend
            .config()
            .pools()
            .contains(&testkit::demo::POOL.to_string()),
        "the demo profile's pool is one of the cluster's"
    );
    let pods: Vec<&Value> = demo.iter().filter(|d| d["kind"] == "Pod").collect();
    assert_eq!(
        pods.iter()
            .map(|p| p["spec"]["nodeName"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["tether-e2e-worker", "tether-e2e-worker2"]
    );
    assert!(
        pods.iter()
            .all(|p| p["metadata"]["labels"]["app"] == "camera")
    );
}
