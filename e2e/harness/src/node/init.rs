//! `tether-node init`: PID 1 of an edge node. It brings the node up in the order a kind
//! node's does, then keeps its processes running:
//!
//! 1. the host fixes containerd needs in a container ([`super::host`]);
//! 2. kindnet's conflist from its template ([`super::kindnet`]);
//! 3. the DaemonSet pod's init steps from [`INIT_CONFIG`] (`before`, none today);
//! 4. containerd, then the node's local images imported into it (`ctr images import`);
//! 5. the pod's sidecars (`tether-agent install-cni --watch`), each started and its check
//!    run until it passes, as kubelet runs a native sidecar's startup probe;
//! 6. the kubelet double (`tether-node kubelet`) and the agent (the `run` of [`INIT_CONFIG`]).
//!
//! Any of those processes that exits is started again, as systemd and kubelet would; on
//! SIGTERM each is stopped, the last started first. As PID 1 it also reaps what is
//! re-parented to it (containerd's shims, daemonised, are).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal, WaitOptions, kill_process, waitpid};
use serde_json::Value;
use signal_hook::consts::{SIGINT, SIGTERM};

use super::{
    AGENT_SERVICE, CNI_CONF_DIR, CONTAINERD_CONFIG, CONTAINERD_NAMESPACE, CONTAINERD_SOCKET,
    IMAGES_ARCHIVE, INIT_CONFIG, RUN_DIR, host, kindnet,
};

/// How long containerd may take to listen on its socket.
const CONTAINERD_WAIT: Duration = Duration::from_secs(60);
/// How long a process may take to stop after SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a sidecar's check may take to pass.
const SIDECAR_WAIT: Duration = Duration::from_secs(60);

/// The init's steps, from [`INIT_CONFIG`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitConfig {
    /// Commands run once, in order, before the agent; any failure stops the node.
    pub before: Vec<Vec<String>>,
    /// Processes kept running beside the agent, started before it.
    pub sidecars: Vec<Sidecar>,
    /// The supervised command.
    pub run: Vec<String>,
}

/// A process kept running beside the agent, as a native sidecar container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sidecar {
    /// Its name, which `tether-node restart` takes (`sidecar-<index>` when the config gives
    /// none).
    pub name: String,
    /// Its command.
    pub run: Vec<String>,
    /// A command that succeeds once it has done its start-up work (its startup probe).
    pub check: Option<Vec<String>>,
}

impl InitConfig {
    /// Reads [`INIT_CONFIG`].
    pub fn read() -> anyhow::Result<Self> {
        InitConfig::parse(&fs::read(INIT_CONFIG).with_context(|| format!("reading {INIT_CONFIG}"))?)
            .with_context(|| format!("parsing {INIT_CONFIG}"))
    }

    /// Reads `{"before": [[argv...]...], "sidecars": [{"name": "...", "run": [argv...],
    /// "check": [argv...]}], "run": [argv...]}`.
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
        let sidecars = match value.get("sidecars") {
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(index, s)| {
                    let name = match s.get("name") {
                        None => format!("sidecar-{index}"),
                        Some(Value::String(name)) if valid_name(name) => name.clone(),
                        Some(other) => bail!("sidecar name {other} is not a simple name"),
                    };
                    Ok(Sidecar {
                        name,
                        run: argv(s.get("run").context("a sidecar has no \"run\" command")?)?,
                        check: s.get("check").map(argv).transpose()?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            None => Vec::new(),
            Some(_) => bail!("\"sidecars\" is not an array"),
        };
        let run = argv(value.get("run").context("no \"run\" command")?)?;
        Ok(InitConfig {
            before,
            sidecars,
            run,
        })
    }
}

/// Names become pid file names: letters, digits and `-` only.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The mark `tether-node stop` leaves so init does not start `name` again.
fn stop_file(name: &str) -> String {
    format!("{RUN_DIR}/{name}.stopped")
}

/// Where init keeps the pid of the service `name`.
fn pid_file(name: &str) -> String {
    format!("{RUN_DIR}/{name}.pid")
}

fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// Runs `argv` to completion; an error naming it when it fails.
fn run_step(argv: &[String]) -> anyhow::Result<()> {
    println!("tether-node: running {}", argv.join(" "));
    let status = command(argv)
        .status()
        .with_context(|| format!("starting {}", argv[0]))?;
    if !status.success() {
        bail!("{} failed: {status}", argv.join(" "));
    }
    Ok(())
}

/// A process init keeps running.
struct Service {
    name: String,
    argv: Vec<String>,
    pid: Option<u32>,
    restarts: u32,
    restart_at: Option<Instant>,
}

impl Service {
    fn new(name: impl Into<String>, argv: Vec<String>) -> Service {
        Service {
            name: name.into(),
            argv,
            pid: None,
            restarts: 0,
            restart_at: None,
        }
    }

    fn start(&mut self) -> anyhow::Result<()> {
        // The child is reaped by init's own waitpid loop, not through this handle.
        let child = command(&self.argv)
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.argv[0]))?;
        let pid_file = pid_file(&self.name);
        fs::write(&pid_file, child.id().to_string())
            .with_context(|| format!("writing {pid_file}"))?;
        println!("tether-node: {} running as pid {}", self.name, child.id());
        self.pid = Some(child.id());
        self.restart_at = None;
        Ok(())
    }
}

/// Runs the node until SIGTERM or SIGINT.
pub fn run() -> anyhow::Result<()> {
    let config = InitConfig::read()?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGTERM, SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    fs::create_dir_all(RUN_DIR).with_context(|| format!("creating {RUN_DIR}"))?;
    host::prepare()?;
    kindnet::write(Path::new(kindnet::TEMPLATE), Path::new(CNI_CONF_DIR))?;
    for step in &config.before {
        run_step(step)?;
    }

    let mut services = vec![Service::new(
        "containerd",
        vec![
            "containerd".into(),
            "--config".into(),
            CONTAINERD_CONFIG.into(),
        ],
    )];
    services[0].start()?;
    wait_for_socket(Path::new(CONTAINERD_SOCKET), CONTAINERD_WAIT)?;
    run_step(&[
        "ctr".into(),
        "--address".into(),
        CONTAINERD_SOCKET.into(),
        "--namespace".into(),
        CONTAINERD_NAMESPACE.into(),
        "images".into(),
        "import".into(),
        IMAGES_ARCHIVE.into(),
    ])?;
    for sidecar in &config.sidecars {
        let mut service = Service::new(sidecar.name.clone(), sidecar.run.clone());
        service.start()?;
        services.push(service);
        if let Some(check) = &sidecar.check {
            await_check(check, SIDECAR_WAIT)?;
        }
    }
    let mut kubelet = Service::new("kubelet", vec!["tether-node".into(), "kubelet".into()]);
    kubelet.start()?;
    services.push(kubelet);
    let mut agent = Service::new(AGENT_SERVICE, config.run.clone());
    agent.start()?;
    services.push(agent);
    supervise(&mut services, &stop)
}

/// Runs `check` until it succeeds, as kubelet runs a startup probe.
fn await_check(check: &[String], within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let out = command(check)
            .output()
            .with_context(|| format!("running {}", check.join(" ")))?;
        if out.status.success() {
            println!("tether-node: {} passed", check.join(" "));
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} still fails after {within:?}: {}",
                check.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        // A probe's period: what it checks gives no other sign.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until something listens on `socket`.
fn wait_for_socket(socket: &Path, within: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on {} after {within:?}", socket.display());
        }
        // containerd gives no other sign that it listens.
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Reaps every exited child; for each, its pid and a description of how it ended.
fn reap() -> Vec<(u32, String)> {
    let mut reaped = Vec::new();
    while let Ok(Some((pid, status))) = waitpid(None, WaitOptions::NOHANG) {
        let how = match (status.exit_status(), status.terminating_signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (_, Some(signal)) => format!("signal {signal}"),
            _ => "stopped".to_string(),
        };
        reaped.push((pid.as_raw_nonzero().get().unsigned_abs(), how));
    }
    reaped
}

/// Keeps the services running until asked to stop, then stops them.
fn supervise(services: &mut [Service], stop: &AtomicBool) -> anyhow::Result<()> {
    loop {
        if stop.load(Ordering::SeqCst) {
            shut_down(services);
            println!("tether-node: node shutting down");
            return Ok(());
        }
        for (pid, how) in reap() {
            if let Some(service) = services.iter_mut().find(|s| s.pid == Some(pid)) {
                service.pid = None;
                if Path::new(&stop_file(&service.name)).exists() {
                    println!("tether-node: {} stopped on request ({how})", service.name);
                    continue;
                }
                service.restarts += 1;
                // A crash-loop back-off, compressed: a test restarts the agent on purpose.
                let backoff = Duration::from_millis(100 * u64::from(service.restarts.min(10)));
                println!(
                    "tether-node: {} exited ({how}); restart {} in {backoff:?}",
                    service.name, service.restarts
                );
                service.restart_at = Some(Instant::now() + backoff);
            }
        }
        for service in services.iter_mut() {
            if service.restart_at.is_some_and(|at| Instant::now() >= at)
                && let Err(e) = service.start()
            {
                println!("tether-node: {e:#}");
                service.restart_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
        // PID 1 has nothing else to do; a short nap keeps restarts and signals prompt.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM to each service, the last started first, each given [`STOP_GRACE`].
fn shut_down(services: &mut [Service]) {
    for service in services.iter_mut().rev() {
        let Some(pid) = service.pid else {
            continue;
        };
        let _ = signal(pid, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        while service.pid.is_some() && Instant::now() < deadline {
            if reap().iter().any(|(p, _)| *p == pid) {
                service.pid = None;
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if service.pid.is_some() {
            let _ = signal(pid, Signal::KILL);
        }
        println!("tether-node: {} stopped", service.name);
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

fn pid_of(name: &str) -> anyhow::Result<u32> {
    let file = pid_file(name);
    fs::read_to_string(&file)
        .with_context(|| format!("reading {file}"))?
        .trim()
        .parse()
        .with_context(|| format!("parsing {file}"))
}

/// `tether-node restart NAME`: SIGTERM to the service `name` (`agent`, `kubelet`,
/// `containerd` or a sidecar's name); returns once init has started the next one and, for a
/// sidecar, once its check passes again — so whoever talks to it next talks to the new
/// process.
pub fn restart(name: &str) -> anyhow::Result<()> {
    let config = InitConfig::read()?;
    let old = pid_of(name).with_context(|| format!("no running service {name:?}"))?;
    signal(old, Signal::TERM)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pid_of(name).ok() == Some(old) {
        if Instant::now() > deadline {
            bail!("{name} (pid {old}) was not restarted within 30s");
        }
        // init rewrites the pid file when it starts the next one; nothing to wait on but it.
        std::thread::sleep(Duration::from_millis(20));
    }
    let check = config
        .sidecars
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.check.as_ref());
    if let Some(check) = check {
        await_check(check, SIDECAR_WAIT)?;
    }
    Ok(())
}

/// `tether-node stop NAME`: stops the service `name` for good, as kubelet stops the containers
/// of a deleted pod (SIGTERM, then SIGKILL after [`STOP_GRACE`]); returns once it has exited.
pub fn stop(name: &str) -> anyhow::Result<()> {
    let pid = pid_of(name).with_context(|| format!("no running service {name:?}"))?;
    let mark = stop_file(name);
    fs::write(&mark, b"").with_context(|| format!("writing {mark}"))?;
    signal(pid, Signal::TERM)?;
    let deadline = Instant::now() + STOP_GRACE;
    while alive(pid) {
        if Instant::now() > deadline {
            signal(pid, Signal::KILL)?;
        }
        if Instant::now() > deadline + STOP_GRACE {
            bail!("{name} (pid {pid}) did not exit after SIGKILL");
        }
        // init reaps it; its pid going away is the only sign.
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Whether `pid` still exists (not yet reaped by init).
fn alive(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_config_parses_and_rejects_nonsense() {
        let config = InitConfig::parse(
            br#"{"before": [["/bin/install", "--x"]], "sidecars": [{"run": ["/bin/w"], "check": ["/bin/c"]}, {"name": "hub", "run": ["/bin/h"]}], "run": ["/bin/agent", "run"]}"#,
        )
        .unwrap();
        assert_eq!(
            config.sidecars,
            vec![
                Sidecar {
                    name: "sidecar-0".to_string(),
                    run: vec!["/bin/w".to_string()],
                    check: Some(vec!["/bin/c".to_string()]),
                },
                Sidecar {
                    name: "hub".to_string(),
                    run: vec!["/bin/h".to_string()],
                    check: None,
                }
            ]
        );
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
            br#"{"run": ["a"], "sidecars": [{"check": ["c"]}]}"#,
            br#"{"run": ["a"], "sidecars": {}}"#,
            br#"{"run": ["a"], "sidecars": [{"name": "../x", "run": ["b"]}]}"#,
            br#"{"run": ["a"], "sidecars": [{"name": 1, "run": ["b"]}]}"#,
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
