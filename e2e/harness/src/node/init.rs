//! `tether-node init`: PID 1 of an edge node. Runs the preparation steps (install-cni), then
//! keeps the agent running, restarting it when it exits as kubelet restarts a container, and
//! stops it on SIGTERM.

use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;
use signal_hook::consts::{SIGINT, SIGTERM};

use super::{AGENT_PID_FILE, INIT_CONFIG};

/// The init's steps, from [`INIT_CONFIG`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitConfig {
    /// Commands run once, in order, before the agent; any failure stops the node.
    pub before: Vec<Vec<String>>,
    /// The supervised command.
    pub run: Vec<String>,
}

impl InitConfig {
    /// Reads `{"before": [[argv...]...], "run": [argv...]}`.
    pub fn parse(json: &[u8]) -> anyhow::Result<Self> {
        let value: Value = serde_json::from_slice(json)?;
        let argv = |v: &Value| -> anyhow::Result<Vec<String>> {
            let list = v.as_array().context("a command is not an array")?;
            let argv: Option<Vec<String>> = list
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect();
            let argv = argv.context("a command has a non-string argument")?;
            if argv.is_empty() {
                bail!("an empty command");
            }
            Ok(argv)
        };
        let before = match value.get("before") {
            Some(Value::Array(steps)) => steps.iter().map(argv).collect::<anyhow::Result<_>>()?,
            None => Vec::new(),
            Some(_) => bail!("\"before\" is not an array"),
        };
        let run = argv(value.get("run").context("no \"run\" command")?)?;
        Ok(InitConfig { before, run })
    }
}

fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// Runs the node until SIGTERM or SIGINT.
pub fn run() -> anyhow::Result<()> {
    let config = InitConfig::parse(
        &fs::read(INIT_CONFIG).with_context(|| format!("reading {INIT_CONFIG}"))?,
    )
    .with_context(|| format!("parsing {INIT_CONFIG}"))?;
    for step in &config.before {
        println!("tether-node: running {}", step.join(" "));
        let status = command(step)
            .status()
            .with_context(|| format!("starting {}", step[0]))?;
        if !status.success() {
            bail!("{} failed: {status}", step.join(" "));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    if let Some(dir) = Path::new(AGENT_PID_FILE).parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut restarts = 0u32;
    loop {
        let mut child = start(&config.run)?;
        let status = supervise(&mut child, &stop)?;
        if stop.load(Ordering::SeqCst) {
            println!("tether-node: agent stopped ({status}); node shutting down");
            return Ok(());
        }
        restarts += 1;
        // kubelet's crash-loop back-off, compressed: a test restarts the agent on purpose.
        let backoff = Duration::from_millis(100 * u64::from(restarts.min(10)));
        println!("tether-node: agent exited ({status}); restart {restarts} in {backoff:?}");
        std::thread::sleep(backoff);
    }
}

fn start(argv: &[String]) -> anyhow::Result<Child> {
    let child = command(argv)
        .spawn()
        .with_context(|| format!("starting {}", argv[0]))?;
    fs::write(AGENT_PID_FILE, child.id().to_string())
        .with_context(|| format!("writing {AGENT_PID_FILE}"))?;
    println!("tether-node: agent running as pid {}", child.id());
    Ok(child)
}

/// Waits for the child, forwarding SIGTERM to it once the node is asked to stop.
fn supervise(child: &mut Child, stop: &AtomicBool) -> anyhow::Result<std::process::ExitStatus> {
    let mut forwarded = false;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the agent")? {
            return Ok(status);
        }
        if stop.load(Ordering::SeqCst) && !forwarded {
            signal(child.id(), Signal::TERM)?;
            forwarded = true;
        }
        // PID 1 has nothing else to do; a short nap keeps signal forwarding prompt.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: Signal) -> anyhow::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .context("invalid pid")?;
    kill_process(pid, sig).with_context(|| format!("signalling pid {pid:?}"))
}

fn agent_pid() -> anyhow::Result<u32> {
    fs::read_to_string(AGENT_PID_FILE)
        .with_context(|| format!("reading {AGENT_PID_FILE}"))?
        .trim()
        .parse()
        .with_context(|| format!("parsing {AGENT_PID_FILE}"))
}

/// `tether-node restart-agent`: SIGTERM to the agent; returns once init has started the next
/// one, so whoever waits for readiness next talks to the new process.
pub fn restart_agent() -> anyhow::Result<()> {
    let old = agent_pid()?;
    signal(old, Signal::TERM)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while agent_pid().ok() == Some(old) {
        if std::time::Instant::now() > deadline {
            bail!("the agent (pid {old}) was not restarted within 30s");
        }
        // init rewrites the pid file when it starts the next agent; nothing to wait on but it.
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_config_parses_and_rejects_nonsense() {
        let config = InitConfig::parse(
            br#"{"before": [["/bin/install", "--x"]], "run": ["/bin/agent", "run"]}"#,
        )
        .unwrap();
        assert_eq!(
            config.before,
            vec![vec!["/bin/install".to_string(), "--x".to_string()]]
        );
        assert_eq!(
            config.run,
            vec!["/bin/agent".to_string(), "run".to_string()]
        );
        for bad in [
            &br#"{}"#[..],
            br#"{"run": []}"#,
            br#"{"run": [1]}"#,
            br#"{"run": ["a"], "before": "x"}"#,
            b"nope",
        ] {
            assert!(
                InitConfig::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
