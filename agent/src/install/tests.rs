//! `install-cni` on a fake node's directories: chaining into the primary conflist, idempotence,
//! de-duplication, the atomic replace, uninstall, `--check`, missing delegates and
//! configurations it must refuse. The watcher's own tests are in `watch/tests.rs`.

use std::fs;

use super::*;

pub(super) struct Node {
    pub(super) _root: tempfile::TempDir,
    pub(super) args: InstallArgs,
}

pub(super) const KINDNET: &str = r#"{"cniVersion":"0.4.0","name":"kindnet","plugins":[{"type":"ptp","ipMasq":false},{"type":"portmap","capabilities":{"portMappings":true}}]}"#;

pub(super) fn node(with_bandwidth_on_node: bool) -> Node {
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
        watch: false,
        watch_interval_ms: 1000,
        keep_on_exit: false,
        check: false,
    };
    Node { _root: root, args }
}

pub(super) fn plugins(n: &Node, file: &str) -> Vec<Value> {
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

fn write_plugins(n: &Node, file: &str, plugins: Value) {
    let list = json!({"cniVersion": "0.4.0", "name": "kindnet", "plugins": plugins});
    fs::write(
        n.args.cni_conf_dir.join(file),
        serde_json::to_vec(&list).unwrap(),
    )
    .unwrap();
}

fn tether_count(plugins: &[Value]) -> usize {
    plugins.iter().filter(|p| p["type"] == "tether").count()
}

#[test]
fn two_tether_entries_become_one_last_keeping_the_operators_keys() {
    let n = node(true);
    write_plugins(
        &n,
        "10-kindnet.conflist",
        json!([
            {"type": "ptp"},
            {"type": "tether", "failurePolicy": "fail", "agentSocket": "/old.sock"},
            {"type": "portmap"},
            {"type": "tether"}
        ]),
    );
    let outcome = install(&n.args).unwrap();
    assert_eq!(outcome.repair, Some(Repair::Deduplicated { removed: 1 }));
    assert_eq!(
        plugins(&n, "10-kindnet.conflist"),
        [
            json!({"type": "ptp"}),
            json!({"type": "portmap"}),
            json!({"type": "tether", "failurePolicy": "fail", "agentSocket": "/run/tether/agent.sock"}),
        ]
    );
    assert_eq!(install(&n.args).unwrap(), Outcome::default());
}

#[test]
fn an_entry_that_is_not_last_is_moved_to_the_end() {
    let n = node(true);
    write_plugins(
        &n,
        "10-kindnet.conflist",
        json!([{"type": "ptp"}, {"type": "tether", "agentSocket": "/run/tether/agent.sock"}, {"type": "portmap"}]),
    );
    let outcome = install(&n.args).unwrap();
    assert_eq!(outcome.repair, Some(Repair::Updated));
    let p = plugins(&n, "10-kindnet.conflist");
    assert_eq!(
        (tether_count(&p), p[2]["type"].as_str()),
        (1, Some("tether"))
    );
}

#[test]
fn the_conflist_is_replaced_by_a_rename_never_rewritten_in_place() {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let n = node(true);
    let path = n.args.cni_conf_dir.join("10-kindnet.conflist");
    // What a crash in the middle of an earlier write would leave: containerd and install-cni
    // both ignore it, and the next write replaces it.
    let stale = n.args.cni_conf_dir.join(".10-kindnet.conflist.tether-tmp");
    fs::write(&stale, b"{\"plugins\": [").unwrap();
    assert_eq!(primary_conflist(&n.args.cni_conf_dir).unwrap(), path);
    let mut reader = fs::File::open(&path).unwrap();
    let inode = fs::metadata(&path).unwrap().ino();

    install(&n.args).unwrap();

    let mut old = String::new();
    reader.read_to_string(&mut old).unwrap();
    assert_eq!(old, KINDNET, "a reader of the old file sees all of it");
    let meta = fs::metadata(&path).unwrap();
    assert_ne!(meta.ino(), inode, "the path names a new file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    assert_eq!(tether_count(&plugins(&n, "10-kindnet.conflist")), 1);
    assert!(!stale.exists());
    let names: Vec<String> = fs::read_dir(&n.args.cni_conf_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
}

#[test]
fn a_conflist_rewritten_while_being_updated_is_left_to_the_newer_writer() {
    let n = node(true);
    let path = n.args.cni_conf_dir.join("10-kindnet.conflist");
    let outcome = replace_file(&path, b"{}", 0o644, Some(b"what was read before"));
    assert!(matches!(outcome, Err(InstallError::Changed(p)) if p == path));
    assert_eq!(fs::read_to_string(&path).unwrap(), KINDNET);
    assert!(!temp_path(&path).exists());
}

#[test]
fn uninstall_takes_tether_out_of_every_configuration_and_leaves_other_files() {
    let n = node(true);
    install(&n.args).unwrap();
    // An earlier primary configuration that still chains tether, and one that is no conflist.
    write_plugins(
        &n,
        "99-other.conflist",
        json!([{"type": "ptp"}, {"type": "tether"}]),
    );
    let single = br#"{"cniVersion":"0.4.0","name":"b","type":"bridge"}"#;
    fs::write(n.args.cni_conf_dir.join("50-bridge.conf"), single).unwrap();
    let outcome = uninstall(&n.args).unwrap();
    assert_eq!(outcome.changed.len(), 3, "{outcome:?}");
    assert_eq!(
        fs::read_to_string(n.args.cni_conf_dir.join("10-kindnet.conflist"))
            .unwrap()
            .parse::<Value>()
            .unwrap(),
        KINDNET.parse::<Value>().unwrap()
    );
    assert_eq!(plugins(&n, "99-other.conflist"), [json!({"type": "ptp"})]);
    assert_eq!(
        fs::read(n.args.cni_conf_dir.join("50-bridge.conf")).unwrap(),
        single
    );
}

#[test]
fn check_says_what_is_wrong_and_changes_nothing() {
    let n = node(true);
    let problem = |n: &Node| match check(&n.args) {
        Err(InstallError::NotChained { problem, .. }) => problem,
        other => panic!("{other:?}"),
    };
    assert_eq!(problem(&n), "tether is not in the plugin list");
    assert_eq!(
        fs::read_to_string(n.args.cni_conf_dir.join("10-kindnet.conflist")).unwrap(),
        KINDNET
    );
    install(&n.args).unwrap();
    assert_eq!(
        check(&n.args).unwrap(),
        n.args.cni_conf_dir.join("10-kindnet.conflist")
    );
    write_plugins(
        &n,
        "10-kindnet.conflist",
        json!([{"type": "ptp"}, {"type": "tether", "agentSocket": "/run/tether/agent.sock"}, {"type": "tether", "agentSocket": "/run/tether/agent.sock"}]),
    );
    assert_eq!(problem(&n), "tether is in the plugin list 2 times");
    write_plugins(
        &n,
        "10-kindnet.conflist",
        json!([{"type": "tether", "agentSocket": "/run/tether/agent.sock"}, {"type": "ptp"}]),
    );
    assert_eq!(problem(&n), "tether is not the last plugin");
    write_plugins(
        &n,
        "10-kindnet.conflist",
        json!([{"type": "ptp"}, {"type": "tether", "agentSocket": "/elsewhere.sock"}]),
    );
    assert_eq!(
        problem(&n),
        "tether's agentSocket is not /run/tether/agent.sock"
    );
    install(&n.args).unwrap();
    fs::remove_file(n.args.cni_bin_dir.join("tether")).unwrap();
    assert_eq!(problem(&n), "the plugin binary is missing");
}

#[test]
fn the_watch_flags_parse_and_exclude_the_other_modes() {
    use crate::cli::{Cli, Command};
    use clap::Parser;
    let parse = |args: &[&str]| {
        Cli::try_parse_from(["tether-agent", "install-cni"].iter().chain(args)).map(|c| c.command)
    };
    let watch = parse(&["--watch", "--watch-interval-ms", "50", "--keep-on-exit"]).unwrap();
    assert!(
        matches!(watch, Command::InstallCni(a) if a.watch && a.keep_on_exit && a.watch_interval_ms == 50 && !a.uninstall && !a.check)
    );
    assert!(
        matches!(parse(&["--check"]).unwrap(), Command::InstallCni(a) if a.check && !a.watch && a.watch_interval_ms == 1000)
    );
    for wrong in [
        &["--watch", "--uninstall"][..],
        &["--watch", "--check"],
        &["--check", "--uninstall"],
        &["--watch", "--watch-interval-ms", "0"],
    ] {
        assert!(parse(wrong).is_err(), "{wrong:?}");
    }
}
