//! `install-cni` on a fake node's directories: chaining into the primary conflist, idempotence,
//! uninstall, missing delegates and configurations it must refuse.

use std::fs;

use super::*;

struct Node {
    _root: tempfile::TempDir,
    args: InstallArgs,
}

const KINDNET: &str = r#"{"cniVersion":"0.4.0","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;

fn node(with_bandwidth_on_node: bool) -> Node {
    let root = tempfile::tempdir().unwrap();
    let dir = |d: &str| {
        let p = root.path().join(d);
        fs::create_dir_all(&p).unwrap();
        p
    };
    let (src, bin, conf) = (dir("src"), dir("bin"), dir("conf"));
    fs::write(src.join("tether-cni"), b"tether-binary").unwrap();
    fs::write(src.join("tuning"), b"tuning-binary").unwrap();
    if with_bandwidth_on_node {
        fs::write(bin.join("bandwidth"), b"node-bandwidth").unwrap();
    }
    fs::write(conf.join("10-kindnet.conflist"), KINDNET).unwrap();
    fs::write(conf.join("99-other.conflist"), KINDNET).unwrap();
    let args = InstallArgs {
        source_dir: src,
        cni_bin_dir: bin,
        cni_conf_dir: conf,
        socket: "/run/tether/agent.sock".into(),
        uninstall: false,
    };
    Node { _root: root, args }
}

fn plugins(n: &Node, file: &str) -> Vec<Value> {
    let v: Value =
        serde_json::from_slice(&fs::read(n.args.cni_conf_dir.join(file)).unwrap()).unwrap();
    v["plugins"].as_array().unwrap().clone()
}

#[test]
fn installs_binaries_and_chains_tether_last_in_the_primary_conflist_once() {
    let n = node(true);
    let first = install(&n.args).unwrap();
    assert_eq!(first.missing_delegates, Vec::<String>::new());
    assert_eq!(
        fs::read(n.args.cni_bin_dir.join("tether")).unwrap(),
        b"tether-binary"
    );
    assert_eq!(
        fs::metadata(n.args.cni_bin_dir.join("tether"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert_eq!(
        fs::read(n.args.cni_bin_dir.join("bandwidth")).unwrap(),
        b"node-bandwidth",
        "the node's own plugin is kept"
    );
    assert_eq!(
        fs::read(n.args.cni_bin_dir.join("tuning")).unwrap(),
        b"tuning-binary"
    );
    let p = plugins(&n, "10-kindnet.conflist");
    assert_eq!(p.len(), 3);
    assert_eq!(
        p[2],
        json!({"type": "tether", "agentSocket": "/run/tether/agent.sock"})
    );
    assert_eq!(p[0]["type"], "ptp");
    assert_eq!(
        plugins(&n, "99-other.conflist").len(),
        2,
        "only the primary conflist is touched"
    );
    let whole: Value =
        serde_json::from_slice(&fs::read(n.args.cni_conf_dir.join("10-kindnet.conflist")).unwrap())
            .unwrap();
    assert_eq!(
        (whole["cniVersion"].as_str(), whole["name"].as_str()),
        (Some("0.4.0"), Some("kindnet")),
        "other keys are kept"
    );
    let again = install(&n.args).unwrap();
    assert_eq!(again, Outcome::default(), "a second run changes nothing");
    assert_eq!(plugins(&n, "10-kindnet.conflist").len(), 3);
    assert!(
        fs::read_dir(&n.args.cni_conf_dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("tmp"))
    );
}

#[test]
fn uninstall_restores_the_plugin_list_and_removes_the_binary() {
    let n = node(false);
    let before = plugins(&n, "10-kindnet.conflist");
    install(&n.args).unwrap();
    let outcome = uninstall(&n.args).unwrap();
    assert_eq!(outcome.changed.len(), 2);
    assert_eq!(plugins(&n, "10-kindnet.conflist"), before);
    assert!(!n.args.cni_bin_dir.join("tether").exists());
    assert_eq!(uninstall(&n.args).unwrap(), Outcome::default());
}

#[test]
fn reports_delegates_nobody_has() {
    let n = node(false);
    fs::remove_file(n.args.source_dir.join("tuning")).unwrap();
    let o = install(&n.args).unwrap();
    assert_eq!(o.missing_delegates, ["bandwidth", "tuning"]);
}

#[test]
fn a_missing_or_broken_conflist_changes_nothing() {
    let n = node(false);
    for f in ["10-kindnet.conflist", "99-other.conflist"] {
        fs::remove_file(n.args.cni_conf_dir.join(f)).unwrap();
    }
    assert!(matches!(install(&n.args), Err(InstallError::NoConflist(_))));
    fs::write(
        n.args.cni_conf_dir.join("10-x.conflist"),
        b"{\"plugins\": 3}",
    )
    .unwrap();
    assert!(matches!(
        install(&n.args),
        Err(InstallError::NotConflist(_))
    ));
    assert_eq!(
        fs::read(n.args.cni_conf_dir.join("10-x.conflist")).unwrap(),
        b"{\"plugins\": 3}"
    );
    assert!(!n.args.cni_bin_dir.join("tether").exists());
}

#[test]
fn a_single_plugin_conf_sorting_first_is_refused_not_bypassed() {
    let n = node(false);
    fs::write(
        n.args.cni_conf_dir.join("05-bridge.conf"),
        br#"{"cniVersion":"0.4.0","name":"b","type":"bridge"}"#,
    )
    .unwrap();
    assert!(
        matches!(install(&n.args), Err(InstallError::NotConflist(p)) if p.ends_with("05-bridge.conf"))
    );
    assert_eq!(
        plugins(&n, "10-kindnet.conflist").len(),
        2,
        "a later conflist is not what the runtime uses"
    );
}
