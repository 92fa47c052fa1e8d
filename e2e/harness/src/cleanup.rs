//! Nothing the harness makes outlives it: every container and network carries the label
//! `tether.e2e.owner=<pid>`; a run removes its own at the end, on failure and on Ctrl-C, and
//! sweeps those of earlier runs whose process is gone.

use std::sync::Once;

use crate::docker;

/// Label key on everything the harness creates.
pub const OWNER_LABEL: &str = "tether.e2e.owner";

/// `tether.e2e.owner=<this pid>`.
pub fn owner_label() -> String {
    format!("{OWNER_LABEL}={}", std::process::id())
}

/// Removes the containers and networks labelled with `owner`.
pub fn remove_owned_by(owner: &str) {
    let filter = format!("label={OWNER_LABEL}={owner}");
    if let Ok(ids) = docker::docker(&["ps", "-aq", "--filter", &filter]) {
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = docker::docker(&args);
        }
    }
    if let Ok(ids) = docker::docker(&["network", "ls", "-q", "--filter", &filter]) {
        for id in ids.split_whitespace() {
            let _ = docker::docker(&["network", "rm", id]);
        }
    }
}

/// Once per process: sweep what dead earlier runs left, and clean up on SIGINT/SIGTERM.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        sweep_dead_owners();
        let Ok(mut signals) = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ]) else {
            eprintln!("[e2e] cannot install signal handlers; Ctrl-C may leave containers behind");
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("[e2e] signal {signal}: removing this run's containers and networks");
                remove_owned_by(&std::process::id().to_string());
                std::process::exit(128 + signal);
            }
        });
    });
}

fn sweep_dead_owners() {
    let format = format!("{{{{.Label \"{OWNER_LABEL}\"}}}}");
    let Ok(owners) = docker::docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={OWNER_LABEL}"),
        "--format",
        &format,
    ]) else {
        return;
    };
    let mut owners: Vec<&str> = owners.split_whitespace().collect();
    owners.sort_unstable();
    owners.dedup();
    for owner in owners {
        if !std::path::Path::new("/proc").join(owner).exists() {
            eprintln!("[e2e] removing leftovers of dead run {owner}");
            remove_owned_by(owner);
        }
    }
}
