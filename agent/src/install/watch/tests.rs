//! The watcher on a fake node's directories: tether chained again after the main plugin
//! rewrites its conflist (as kindnetd does: a temporary file renamed over it), exactly once,
//! passes that change nothing write nothing, and the loop uninstalls when stopped.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use serde_json::{Value, json};

use super::super::tests::{KINDNET, Node, node, plugins};
use super::*;

const FILE: &str = "10-kindnet.conflist";

/// What kindnetd does when it starts: its template written to a temporary file, renamed over
/// the conflist.
fn kindnetd_rewrites(n: &Node, content: &str) {
    let tmp = n.args.cni_conf_dir.join(format!("{FILE}.temp"));
    fs::write(&tmp, content).unwrap();
    fs::rename(&tmp, n.args.cni_conf_dir.join(FILE)).unwrap();
}

fn tethers(n: &Node) -> Vec<Value> {
    plugins(n, FILE)
        .into_iter()
        .filter(|p| p["type"] == "tether")
        .collect()
}

fn assert_chained_once_last(n: &Node) {
    let p = plugins(n, FILE);
    assert_eq!(tethers(n).len(), 1, "{p:?}");
    assert_eq!(p.last().unwrap()["type"], "tether", "{p:?}");
}

fn lines(w: &Watcher<'_>, pass: &Pass, first: bool) -> Vec<String> {
    w.describe(pass, first)
        .into_iter()
        .map(|(_, l)| l)
        .collect()
}

#[test]
fn a_rewrite_without_tether_is_chained_again_exactly_once() {
    let n = node(true);
    let mut w = Watcher::new(&n.args);
    let first = w.pass().unwrap();
    assert_eq!(first.repair, Some(Repair::Inserted));
    assert!(!first.rewritten);
    assert_chained_once_last(&n);

    kindnetd_rewrites(&n, KINDNET);
    assert!(tethers(&n).is_empty());
    let again = w.pass().unwrap();
    assert_eq!(
        (again.repair, again.rewritten),
        (Some(Repair::Inserted), true)
    );
    assert_eq!(w.rewrites(), 1);
    assert_chained_once_last(&n);
    let log = lines(&w, &again, false);
    assert!(
        log.iter().any(|l| l.contains("was rewritten without tether")
            && l.contains("1 time since start")),
        "{log:?}"
    );
    assert_eq!(
        w.pass().unwrap(),
        Pass::default(),
        "the next pass finds nothing to do"
    );
    assert_chained_once_last(&n);
}

#[test]
fn passes_over_an_unchanged_file_write_nothing() {
    let n = node(true);
    crate::install::install(&n.args).unwrap();
    let path = n.args.cni_conf_dir.join(FILE);
    let (inode, modified) = {
        let m = fs::metadata(&path).unwrap();
        (m.ino(), m.modified().unwrap())
    };
    let bin = n.args.cni_bin_dir.join("tether");
    let bin_inode = fs::metadata(&bin).unwrap().ino();
    let mut w = Watcher::new(&n.args);
    let first = w.pass().unwrap();
    assert_eq!(first.repair, None);
    assert!(first.binaries.is_empty());
    assert_eq!(
        lines(&w, &first, true),
        [format!(
            "watch: tether already chained in {}",
            path.display()
        )]
    );
    for _ in 0..3 {
        assert_eq!(w.pass().unwrap(), Pass::default());
    }
    let m = fs::metadata(&path).unwrap();
    assert_eq!((m.ino(), m.modified().unwrap()), (inode, modified));
    assert_eq!(fs::metadata(&bin).unwrap().ino(), bin_inode);
}

#[test]
fn a_rewrite_with_two_entries_is_left_with_one() {
    let n = node(true);
    let mut w = Watcher::new(&n.args);
    w.pass().unwrap();
    let twice = json!({"cniVersion": "0.4.0", "name": "kindnet", "plugins": [
        {"type": "ptp"},
        {"type": "tether", "agentSocket": "/run/tether/agent.sock"},
        {"type": "tether", "agentSocket": "/run/tether/agent.sock"}
    ]});
    kindnetd_rewrites(&n, &twice.to_string());
    let pass = w.pass().unwrap();
    assert_eq!(pass.repair, Some(Repair::Deduplicated { removed: 1 }));
    assert!(!pass.rewritten);
    assert_chained_once_last(&n);
}

#[test]
fn the_entry_an_operator_customised_survives_a_rewrite() {
    let n = node(true);
    let mut w = Watcher::new(&n.args);
    w.pass().unwrap();
    let mut list: Value =
        serde_json::from_slice(&fs::read(n.args.cni_conf_dir.join(FILE)).unwrap()).unwrap();
    list["plugins"][2]["failurePolicy"] = json!("fail");
    kindnetd_rewrites(&n, &list.to_string());
    assert_eq!(
        w.pass().unwrap().repair,
        None,
        "an edit of the entry is kept"
    );

    kindnetd_rewrites(&n, KINDNET);
    assert!(w.pass().unwrap().rewritten);
    assert_eq!(
        tethers(&n),
        [
            json!({"type": "tether", "agentSocket": "/run/tether/agent.sock", "failurePolicy": "fail"})
        ]
    );
}

#[test]
fn waits_for_the_main_plugins_configuration_before_installing_anything() {
    let n = node(false);
    let conflists = ["10-kindnet.conflist", "99-other.conflist"];
    for f in conflists {
        fs::remove_file(n.args.cni_conf_dir.join(f)).unwrap();
    }
    let mut w = Watcher::new(&n.args);
    assert!(matches!(w.pass(), Err(InstallError::NoConflist(_))));
    assert!(!n.args.cni_bin_dir.join("tether").exists());

    kindnetd_rewrites(&n, KINDNET);
    let pass = w.pass().unwrap();
    assert_eq!(
        (pass.repair, pass.rewritten),
        (Some(Repair::Inserted), false)
    );
    assert!(pass.binaries.contains(&n.args.cni_bin_dir.join("tether")));
    assert_eq!(pass.missing_delegates, ["bandwidth"]);
    assert_chained_once_last(&n);
}

#[test]
fn a_removed_plugin_binary_is_put_back() {
    let n = node(true);
    let mut w = Watcher::new(&n.args);
    w.pass().unwrap();
    let bin = n.args.cni_bin_dir.join("tether");
    fs::remove_file(&bin).unwrap();
    let pass = w.pass().unwrap();
    assert_eq!(pass.binaries, std::slice::from_ref(&bin));
    assert_eq!(fs::read(&bin).unwrap(), b"tether-binary");
}

#[test]
fn a_configuration_that_sorts_first_takes_over() {
    let n = node(true);
    let mut w = Watcher::new(&n.args);
    w.pass().unwrap();
    fs::write(n.args.cni_conf_dir.join("05-new.conflist"), KINDNET).unwrap();
    let pass = w.pass().unwrap();
    assert_eq!(
        (pass.conflist, pass.moved_from, pass.rewritten),
        (
            Some(n.args.cni_conf_dir.join("05-new.conflist")),
            Some(n.args.cni_conf_dir.join(FILE)),
            false
        )
    );
    assert_eq!(
        tethers(&n).len(),
        1,
        "the old file keeps its entry until uninstall"
    );
    assert_eq!(plugins(&n, "05-new.conflist").len(), 3);
}

/// Runs [`watch`] with `shutdown`, within a deadline, collecting its log.
async fn watch_logged(
    args: &InstallArgs,
    shutdown: impl Future<Output = ()>,
    mut on_line: impl FnMut(&str),
) -> (Result<Outcome, InstallError>, Vec<(Level, String)>) {
    let mut log = Vec::new();
    let mut record = |level: Level, line: &str| {
        on_line(line);
        log.push((level, line.to_owned()));
    };
    let outcome = tokio::time::timeout(Duration::from_secs(20), watch(args, shutdown, &mut record))
        .await
        .expect("the watcher stops within the deadline");
    (outcome, log)
}

#[tokio::test]
async fn stopping_the_watch_uninstalls() {
    let n = node(true);
    let (outcome, log) = watch_logged(&n.args, std::future::ready(()), |_| {}).await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.changed.len(), 2, "{outcome:?}");
    assert!(log[0].1.starts_with("watch: installed"), "{log:?}");
    assert!(
        log.iter()
            .any(|(_, l)| l.starts_with("watch: chained tether into"))
    );
    assert!(log.iter().any(|(_, l)| l.contains("uninstall: updated")));
    assert_eq!(
        fs::read_to_string(n.args.cni_conf_dir.join(FILE))
            .unwrap()
            .parse::<Value>()
            .unwrap(),
        KINDNET.parse::<Value>().unwrap()
    );
    assert!(!n.args.cni_bin_dir.join("tether").exists());
}

#[tokio::test]
async fn keep_on_exit_leaves_tether_chained() {
    let mut n = node(true);
    n.args.keep_on_exit = true;
    let (outcome, log) = watch_logged(&n.args, std::future::ready(()), |_| {}).await;
    assert_eq!(outcome.unwrap(), Outcome::default());
    assert!(log.last().unwrap().1.contains("--keep-on-exit"));
    assert_chained_once_last(&n);
    assert!(n.args.cni_bin_dir.join("tether").exists());
}

#[tokio::test]
async fn the_loop_puts_tether_back_after_each_rewrite_until_stopped() {
    let mut n = node(true);
    n.args.watch_interval_ms = 10;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let shutdown = async move {
        let _ = stopped.await;
    };
    // Each step reacts to the log line of the previous one: no timing assumptions.
    let node_ref = &n;
    let on_line = |line: &str| {
        if line.starts_with("watch: chained tether into") {
            kindnetd_rewrites(node_ref, KINDNET);
        } else if line.contains("(1 time since start)") {
            assert_chained_once_last(node_ref);
            kindnetd_rewrites(node_ref, KINDNET);
        } else if line.contains("(2 times since start)") {
            assert_chained_once_last(node_ref);
            if let Some(stop) = stop.take() {
                let _ = stop.send(());
            }
        }
    };
    let (outcome, log) = watch_logged(&n.args, shutdown, on_line).await;
    outcome.unwrap();
    let rewrites = log
        .iter()
        .filter(|(_, l)| l.contains("was rewritten without tether"))
        .count();
    assert_eq!(rewrites, 2, "{log:?}");
    assert!(tethers(&n).is_empty(), "uninstalled when stopped");
}

#[tokio::test(start_paused = true)]
async fn an_error_is_logged_once_until_it_changes() {
    let mut n = node(true);
    n.args.watch_interval_ms = 10;
    for f in ["10-kindnet.conflist", "99-other.conflist"] {
        fs::remove_file(n.args.cni_conf_dir.join(f)).unwrap();
    }
    // The clock is paused: the sleep ends after ten passes of virtual time, at once.
    let shutdown = tokio::time::sleep(Duration::from_millis(100));
    let (outcome, log) = watch_logged(&n.args, shutdown, |_| {}).await;
    outcome.unwrap();
    let warnings: Vec<&String> = log
        .iter()
        .filter(|(level, _)| *level == Level::Warn)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(warnings.len(), 1, "{log:?}");
    assert!(warnings[0].contains("no CNI configuration"), "{warnings:?}");
    assert!(warnings[0].contains("trying again every 10 ms"));
}
