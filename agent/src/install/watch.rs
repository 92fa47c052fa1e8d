//! `install-cni --watch`: keep tether chained while the node's main plugin rewrites its conflist,
//! and take it out when stopped.
//!
//! kindnetd writes `/etc/cni/net.d/10-kindnet.conflist` from its template each time it starts
//! (a temporary file renamed over the path), which drops the tether entry a one-shot install
//! added. The watcher looks at the configuration directory every `--watch-interval-ms` (1 s):
//! it picks the primary conflist again (a file that now sorts first takes over, as it does for
//! containerd), reads it, and when it differs from what the previous pass left, chains tether
//! into it as [`super::install`] does (exactly one entry, last, written atomically and only
//! over the content it was computed from). A pass over an unchanged file parses and writes
//! nothing. It also puts the plugin binary back when it is gone or its size changed.
//!
//! Polling rather than inotify: it needs no new dependency, survives what loses an inotify watch
//! (the directory replaced, events overflowing, the hostPath mounted after the watch), and costs
//! a directory listing and a read of a file of a few hundred bytes per second. The price is up to
//! one interval during which pods are added without tether after a rewrite.
//!
//! On SIGTERM or SIGINT the watcher stops looking, then uninstalls ([`super::uninstall`]) unless
//! `--keep-on-exit`; a crash or SIGKILL leaves tether chained. `agent/README.md` says why the
//! DaemonSet runs it as a native sidecar and what that means for restarts and deletion.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::MissedTickBehavior;

use super::{
    Compare, Conflist, InstallArgs, InstallError, Outcome, Repair, chain, describe,
    install_binaries, io_err, primary_conflist, uninstall,
};

/// How much a log line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something was done, or there was nothing to do.
    Info,
    /// Something stands in the way; the watcher tries again.
    Warn,
}

/// What one [`Watcher::pass`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// The primary conflist (`None` when the pass skipped it: unchanged since the last pass).
    pub conflist: Option<PathBuf>,
    /// What chaining put right in it.
    pub repair: Option<Repair>,
    /// The primary conflist was rewritten without tether after tether had been chained into it.
    pub rewritten: bool,
    /// The primary conflist is another file than the one chained before.
    pub moved_from: Option<PathBuf>,
    /// Plugin binaries put on the node.
    pub binaries: Vec<PathBuf>,
    /// Delegate plugins nobody has (reported by the first successful pass only).
    pub missing_delegates: Vec<String>,
}

/// Keeps tether chained, one [`Watcher::pass`] at a time.
#[derive(Debug)]
pub struct Watcher<'a> {
    args: &'a InstallArgs,
    /// The tether entry last chained, put back when the file is rewritten without it.
    entry: Option<Value>,
    /// The primary conflist and its content after the last pass.
    seen: Option<(PathBuf, Vec<u8>)>,
    /// Times the primary conflist was rewritten without tether and tether was chained again.
    rewrites: u64,
}

impl<'a> Watcher<'a> {
    /// A watcher that has not looked yet.
    pub fn new(args: &'a InstallArgs) -> Self {
        Self {
            args,
            entry: None,
            seen: None,
            rewrites: 0,
        }
    }

    /// Times tether was chained again after the main plugin rewrote its conflist without it.
    pub fn rewrites(&self) -> u64 {
        self.rewrites
    }

    /// Looks once: chains tether into the primary conflist if it is not there exactly once and
    /// last, and puts the plugin binaries back if they are gone. Nothing is written when the
    /// configuration cannot be read.
    pub fn pass(&mut self) -> Result<Pass, InstallError> {
        let first = self.seen.is_none();
        let path = primary_conflist(&self.args.cni_conf_dir)?;
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let unchanged = self
            .seen
            .as_ref()
            .is_some_and(|(p, b)| *p == path && *b == bytes);
        let list = if unchanged {
            None
        } else {
            Some(Conflist::parse(path.clone(), bytes)?)
        };
        let mut outcome = Outcome::default();
        let compare = if first { Compare::Bytes } else { Compare::Size };
        install_binaries(self.args, compare, &mut outcome)?;
        let mut pass = Pass {
            binaries: outcome.changed,
            missing_delegates: if first {
                outcome.missing_delegates
            } else {
                Vec::new()
            },
            ..Pass::default()
        };
        let Some(list) = list else {
            return Ok(pass);
        };
        let chained = chain(self.args, list, self.entry.as_ref())?;
        let before = self.seen.take().map(|(p, _)| p);
        pass.rewritten =
            chained.repair == Some(Repair::Inserted) && before.as_ref() == Some(&chained.path);
        if pass.rewritten {
            self.rewrites += 1;
        }
        pass.moved_from = before.filter(|p| *p != chained.path);
        pass.repair = chained.repair;
        pass.conflist = Some(chained.path.clone());
        self.entry = Some(chained.entry);
        self.seen = Some((chained.path, chained.bytes));
        Ok(pass)
    }

    /// The log lines of `pass`.
    pub fn describe(&self, pass: &Pass, first: bool) -> Vec<(Level, String)> {
        let mut lines: Vec<(Level, String)> = pass
            .binaries
            .iter()
            .map(|b| (Level::Info, format!("watch: installed {}", b.display())))
            .collect();
        lines.extend(pass.missing_delegates.iter().map(|name| {
            (
                Level::Warn,
                format!(
                    "warning: the node has no {name} plugin and none was shipped; tether will not be able to apply that part of a profile"
                ),
            )
        }));
        let Some(path) = &pass.conflist else {
            return lines;
        };
        let path = path.display();
        if let Some(old) = &pass.moved_from {
            lines.push((
                Level::Info,
                format!(
                    "watch: the primary CNI configuration is now {path} (was {})",
                    old.display()
                ),
            ));
        }
        let line = match pass.repair {
            Some(Repair::Inserted) if pass.rewritten => format!(
                "watch: {path} was rewritten without tether; chained tether again ({} time{} since start)",
                self.rewrites,
                if self.rewrites == 1 { "" } else { "s" }
            ),
            Some(Repair::Inserted) => format!("watch: chained tether into {path}"),
            Some(repair) => format!("watch: {path}: {}", describe(repair)),
            None if first => format!("watch: tether already chained in {path}"),
            None => return lines,
        };
        lines.push((Level::Info, line));
        lines
    }
}

/// Keeps tether chained, one pass every `--watch-interval-ms`, until `shutdown` completes; then
/// uninstalls, unless `--keep-on-exit`. Errors of a pass are logged (once until they change) and
/// the next pass tries again; only the uninstall's error is returned.
pub async fn watch(
    args: &InstallArgs,
    shutdown: impl Future<Output = ()>,
    log: &mut dyn FnMut(Level, &str),
) -> Result<Outcome, InstallError> {
    let mut ticks = tokio::time::interval(Duration::from_millis(args.watch_interval_ms.max(1)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks.tick().await;
    tokio::pin!(shutdown);
    let mut watcher = Watcher::new(args);
    let mut last_error: Option<String> = None;
    let mut first = true;
    loop {
        match watcher.pass() {
            Ok(pass) => {
                for (level, line) in watcher.describe(&pass, first) {
                    log(level, &line);
                }
                first = false;
                last_error = None;
            }
            Err(e) => {
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    log(
                        Level::Warn,
                        &format!(
                            "watch: {text}; trying again every {} ms",
                            args.watch_interval_ms
                        ),
                    );
                    last_error = Some(text);
                }
            }
        }
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = ticks.tick() => {}
        }
    }
    if args.keep_on_exit {
        log(
            Level::Info,
            "watch: stopping; tether stays chained (--keep-on-exit)",
        );
        return Ok(Outcome::default());
    }
    let outcome = uninstall(args)?;
    for path in &outcome.changed {
        log(
            Level::Info,
            &format!("watch: stopping; uninstall: updated {}", path.display()),
        );
    }
    if outcome.changed.is_empty() {
        log(
            Level::Info,
            "watch: stopping; uninstall: tether was not installed",
        );
    }
    Ok(outcome)
}

/// `install-cni --watch`: [`watch`] until SIGTERM or SIGINT, logging to stdout and stderr.
pub fn run(args: &InstallArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        // The handlers are in place before the first pass: a SIGTERM any time after tether is
        // chained takes it out again.
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        println!(
            "watch: keeping tether chained in {} (looking every {} ms); SIGTERM or SIGINT {}",
            args.cni_conf_dir.display(),
            args.watch_interval_ms,
            if args.keep_on_exit {
                "stops, leaving it chained (--keep-on-exit)"
            } else {
                "takes it out"
            }
        );
        let mut log = |level: Level, line: &str| match level {
            Level::Info => println!("{line}"),
            Level::Warn => eprintln!("{line}"),
        };
        watch(args, shutdown, &mut log).await.with_context(|| {
            format!(
                "uninstall of the tether CNI plugin from {}",
                args.cni_conf_dir.display()
            )
        })?;
        Ok(())
    })
}

#[cfg(test)]
mod tests;
