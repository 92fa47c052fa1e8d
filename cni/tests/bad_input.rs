//! Bad input on every path gets the spec's error JSON on stdout, a non-zero exit, no call to
//! the agent and nothing under `stateDir`. No privileges needed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::agent::{Agent, Behaviour};
use support::runtime::{ExecExt, exec, tether_binary};
use support::{Node, camera_profile};
use testkit::cni_runtime::Exec;

fn env(command: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CNI_COMMAND", command.to_string()),
        ("CNI_CONTAINERID", "abc123".into()),
        ("CNI_NETNS", "/var/run/netns/does-not-matter".into()),
        ("CNI_IFNAME", "eth0".into()),
        ("CNI_PATH", "/usr/lib/cni".into()),
        (
            "CNI_ARGS",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p".into(),
        ),
    ]
}

fn prev() -> Value {
    json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}], "ips": [{"address": "10.0.0.2/24", "interface": 0}]})
}

fn conf(node: &Node) -> Value {
    json!({"cniVersion": "1.0.0", "name": "n", "type": "tether", "agentSocket": node.socket(),
           "stateDir": node.state_dir(), "failurePolicy": "fail", "prevResult": prev()})
}

/// Runs tether, and checks what every bad input must leave behind.
fn refused(node: &Node, agent: &Agent, env: &[(&str, String)], stdin: &[u8]) -> (u64, Value, Exec) {
    let out = exec(&tether_binary(), env, stdin);
    let code = out.error_code();
    assert!(agent.requests().is_empty(), "the agent was asked: {out:?}");
    assert!(
        node.state_files().is_empty(),
        "state written: {:?}",
        node.state_files()
    );
    (code, out.json(), out)
}

#[test]
fn every_bad_input_is_refused_with_the_spec_error() {
    let node = Node::new();
    let agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let good = conf(&node).to_string();

    let mut oversized = conf(&node);
    oversized["pad"] = json!(" ".repeat(1 << 20));
    let mut unsupported = conf(&node);
    unsupported["cniVersion"] = json!("0.2.0");
    let mut no_prev = conf(&node);
    no_prev.as_object_mut().unwrap().remove("prevResult");
    let mut bad_prev = conf(&node);
    bad_prev["prevResult"] = json!({"ips": [{"address": "not an address"}]});
    let mut bad_key = conf(&node);
    bad_key["agentTimeoutMs"] = json!("soon");

    let stdin_cases: Vec<(&str, Vec<u8>, u64, &str)> = vec![
        (
            "malformed",
            b"{\"cniVersion\": \"1.0.0\", ".to_vec(),
            6,
            "decode",
        ),
        ("empty", Vec::new(), 6, "decode"),
        ("binary", vec![0xff, 0xfe, 0x00], 6, "decode"),
        (
            "oversized",
            oversized.to_string().into_bytes(),
            6,
            "too large",
        ),
        (
            "unsupported version",
            unsupported.to_string().into_bytes(),
            1,
            "cniVersion",
        ),
        (
            "no prevResult",
            no_prev.to_string().into_bytes(),
            7,
            "prevResult",
        ),
        (
            "bad prevResult",
            bad_prev.to_string().into_bytes(),
            7,
            "prevResult",
        ),
        (
            "bad key type",
            bad_key.to_string().into_bytes(),
            6,
            "agentTimeoutMs",
        ),
    ];
    for (what, stdin, code, mentions) in stdin_cases {
        let (got, err, out) = refused(&node, &agent, &env("ADD"), &stdin);
        assert_eq!(got, code, "{what}: {out:?}");
        assert!(
            err.to_string()
                .to_lowercase()
                .contains(&mentions.to_lowercase()),
            "{what}: {err}"
        );
    }

    let mut env_cases: Vec<(String, Vec<(&str, String)>)> = Vec::new();
    for var in [
        "CNI_COMMAND",
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_IFNAME",
        "CNI_PATH",
    ] {
        let mut e = env("ADD");
        e.retain(|(k, _)| *k != var);
        env_cases.push((var.to_string(), e));
    }
    for (var, value) in [
        ("CNI_COMMAND", "REBOOT"),
        ("CNI_CONTAINERID", "../../etc"),
        ("CNI_IFNAME", "name-much-too-long"),
        ("CNI_NETNS", "relative/ns"),
        ("CNI_ARGS", "K8S_POD_NAME"),
    ] {
        let mut e = env("ADD");
        e.retain(|(k, _)| *k != var);
        e.push((var, value.to_string()));
        env_cases.push((var.to_string(), e));
    }
    for (var, e) in env_cases {
        let (code, err, out) = refused(&node, &agent, &e, good.as_bytes());
        assert_eq!(code, 4, "{var}: {out:?}");
        assert!(err["msg"].as_str().unwrap().contains(&var), "{var}: {err}");
        // The error answers in the configuration's version when it could be read.
        assert_eq!(err["cniVersion"], "1.0.0", "{var}: {err}");
    }
}

#[test]
fn a_container_without_kubernetes_identity_passes_through_under_both_policies() {
    let node = Node::new();
    let agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    // podman's CNI backend passes the container's name alone; nerdctl passes no K8S_ keys.
    for args in ["IgnoreUnknown=1;K8S_POD_NAME=web", "IgnoreUnknown=1", ""] {
        for policy in ["ignore", "fail"] {
            let mut conf = conf(&node);
            conf["failurePolicy"] = json!(policy);
            let mut e = env("ADD");
            e.retain(|(k, _)| *k != "CNI_ARGS");
            e.push(("CNI_ARGS", args.to_string()));
            let out = exec(&tether_binary(), &e, conf.to_string().as_bytes());
            assert!(out.success, "{args:?} {policy}: {out:?}");
            assert_eq!(
                out.json(),
                prev(),
                "{args:?} {policy}: the previous result, unchanged"
            );
            assert!(
                out.stderr.contains("no Kubernetes identity"),
                "{args:?} {policy}: a note on stderr: {out:?}"
            );
            for command in ["CHECK", "DEL"] {
                let mut e = e.clone();
                e.retain(|(k, _)| *k != "CNI_COMMAND");
                e.push(("CNI_COMMAND", command.to_string()));
                let out = exec(&tether_binary(), &e, conf.to_string().as_bytes());
                assert!(out.success, "{command} {args:?} {policy}: {out:?}");
                assert!(out.stdout.is_empty(), "{command}: {out:?}");
            }
        }
    }
    assert!(agent.requests().is_empty(), "the agent was asked");
    assert!(
        node.state_files().is_empty(),
        "recorded: {:?}",
        node.state_files()
    );
}

#[test]
fn version_lists_every_supported_version_without_reading_stdin() {
    let out = exec(&tether_binary(), &[("CNI_COMMAND", "VERSION".into())], b"");
    assert!(out.success, "{out:?}");
    assert_eq!(
        out.json(),
        json!({"cniVersion": "1.1.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})
    );
}

#[test]
fn gc_and_status_refuse_versions_that_lack_them() {
    let node = Node::new();
    let agent = Agent::start(&node.socket(), Behaviour::Answer(camera_profile()));
    let old = conf(&node).to_string();
    for command in ["GC", "STATUS"] {
        let e = vec![
            ("CNI_COMMAND", command.to_string()),
            ("CNI_PATH", "/usr/lib/cni".to_string()),
        ];
        let (code, _, out) = refused(&node, &agent, &e, old.as_bytes());
        assert_eq!(code, 1, "{command}: {out:?}");
    }
}
