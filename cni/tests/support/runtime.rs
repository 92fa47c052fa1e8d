//! An in-test container runtime: runs plugins exactly as containerd's libcni does — one exec
//! per plugin, `CNI_*` in the environment, the configuration on stdin, `prevResult` chained.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// Where Debian's containernetworking-plugins live.
pub const PLUGIN_DIR: &str = "/usr/lib/cni";
/// Longer than any command may take; a plugin still running then is a hang, and a failure.
const HANG: Duration = Duration::from_secs(30);

/// The tether plugin binary built for these tests.
pub fn tether_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tether-cni"))
}

/// What one plugin exec gave back.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Exit status was 0.
    pub success: bool,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl Outcome {
    /// stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// The spec error code on stdout of a failed exec.
    pub fn error_code(&self) -> u64 {
        assert!(!self.success, "expected a failure: {self:?}");
        let err = self.json();
        for key in ["cniVersion", "code", "msg", "details"] {
            assert!(err.get(key).is_some(), "error JSON lacks {key}: {err}");
        }
        err["code"].as_u64().unwrap()
    }
}

/// Runs `binary` with `env` (nothing else from the test's environment) and `stdin`.
pub fn exec(binary: &Path, env: &[(&str, String)], stdin: &[u8]) -> Outcome {
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // A plugin may refuse input early; a broken pipe is its answer, not the test's failure.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let pid = child.id();
    let (done, wait) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let output = match wait.recv_timeout(HANG) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{} hung for {HANG:?}", binary.display());
        }
    };
    let _ = writer.join();
    Outcome {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// One attachment as the runtime names it.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS`.
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`, as kubelet's CRI runtime builds it.
    pub args: String,
}

impl Attachment {
    /// The environment for `command`.
    pub fn env(&self, command: &str) -> Vec<(&'static str, String)> {
        vec![
            ("CNI_COMMAND", command.to_string()),
            ("CNI_CONTAINERID", self.container_id.clone()),
            ("CNI_NETNS", self.netns.clone()),
            ("CNI_IFNAME", self.ifname.clone()),
            ("CNI_PATH", PLUGIN_DIR.to_string()),
            ("CNI_ARGS", self.args.clone()),
        ]
    }
}

/// A conflist: plugins in order, each with its own keys.
#[derive(Debug, Clone)]
pub struct Chain {
    /// `cniVersion` of the list.
    pub version: String,
    /// `name` of the network.
    pub name: String,
    /// `(binary, keys)` per plugin.
    pub plugins: Vec<(PathBuf, Value)>,
}

impl Chain {
    /// The stdin of plugin `i`, with `prevResult` when there is one.
    pub fn conf(&self, i: usize, prev: Option<&Value>) -> Vec<u8> {
        let mut conf = self.plugins[i].1.clone();
        conf["cniVersion"] = json!(self.version);
        conf["name"] = json!(self.name);
        if let Some(prev) = prev {
            conf["prevResult"] = prev.clone();
        }
        serde_json::to_vec(&conf).unwrap()
    }

    /// ADD through the chain; the final result, or the outcome of the plugin that failed.
    pub fn add(&self, a: &Attachment) -> Result<Value, (usize, Outcome)> {
        let mut prev: Option<Value> = None;
        for i in 0..self.plugins.len() {
            let out = exec(
                &self.plugins[i].0,
                &a.env("ADD"),
                &self.conf(i, prev.as_ref()),
            );
            if !out.success {
                return Err((i, out));
            }
            prev = Some(out.json());
        }
        Ok(prev.unwrap_or_default())
    }

    /// ADD that must succeed; also returns tether's own outcome (the last plugin's).
    pub fn add_ok(&self, a: &Attachment) -> Value {
        self.add(a)
            .unwrap_or_else(|(i, out)| panic!("ADD failed at plugin {i}: {out:?}"))
    }

    /// DEL in reverse order with the ADD result, as the runtime does.
    pub fn del(&self, a: &Attachment, result: Option<&Value>) -> Result<(), (usize, Outcome)> {
        for i in (0..self.plugins.len()).rev() {
            let out = exec(&self.plugins[i].0, &a.env("DEL"), &self.conf(i, result));
            if !out.success {
                return Err((i, out));
            }
        }
        Ok(())
    }

    /// CHECK in order with the ADD result.
    pub fn check(&self, a: &Attachment, result: &Value) -> Result<(), (usize, Outcome)> {
        for i in 0..self.plugins.len() {
            let out = exec(
                &self.plugins[i].0,
                &a.env("CHECK"),
                &self.conf(i, Some(result)),
            );
            if !out.success {
                return Err((i, out));
            }
        }
        Ok(())
    }

    /// Runs one command of the last plugin (tether) alone, with `prev` and extra keys.
    pub fn tether(&self, env: &[(&str, String)], prev: Option<&Value>, extra: Value) -> Outcome {
        let last = self.plugins.len() - 1;
        let mut conf: Value = serde_json::from_slice(&self.conf(last, prev)).unwrap();
        if let (Some(conf), Some(extra)) = (conf.as_object_mut(), extra.as_object()) {
            conf.extend(extra.clone());
        }
        exec(
            &self.plugins[last].0,
            env,
            &serde_json::to_vec(&conf).unwrap(),
        )
    }
}
