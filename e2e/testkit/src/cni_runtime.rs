//! The runtime side of CNI, as containerd's libcni does it: run each plugin of a network
//! list once per command, with `CNI_*` in the environment, the plugin's configuration on
//! stdin and the previous plugin's result as `prevResult`.
//!
//! `tether-cni` itself never uses this (it lives here, not in the plugin crate, for that
//! reason); cni's privileged tests and benchmark and the e2e harness's edge nodes do, so that
//! all of them drive the plugin exactly as a runtime would.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Map, Value};

/// Where Debian's containernetworking-plugins put the plugins.
pub const DEBIAN_PLUGIN_DIR: &str = "/usr/lib/cni";
use wait_timeout::ChildExt;

/// Why a plugin could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The network list is not valid JSON of the expected shape.
    #[error("invalid network list: {0}")]
    List(String),
    /// No binary for a plugin type in the plugin directories.
    #[error("plugin {plugin:?} not found in {dirs}")]
    NotFound {
        /// The plugin type.
        plugin: String,
        /// The directories searched, `:`-separated.
        dirs: String,
    },
    /// The plugin could not be started or its output read.
    #[error("running {binary}: {source}")]
    Spawn {
        /// The plugin binary.
        binary: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The plugin ran past the deadline and was killed.
    #[error("{binary} did not finish within {timeout:?} and was killed")]
    Hung {
        /// The plugin binary.
        binary: PathBuf,
        /// The deadline.
        timeout: Duration,
    },
}

/// What one plugin run gave back.
#[derive(Debug, Clone)]
pub struct Exec {
    /// Whether the exit status was 0.
    pub success: bool,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

/// A plugin of a list failed: which one and what it said.
#[derive(Debug, thiserror::Error)]
#[error("plugin {index} ({plugin}) failed: {}", failure_text(.exec))]
pub struct Failure {
    /// Position in the list.
    pub index: usize,
    /// Its type.
    pub plugin: String,
    /// Its run, or why it could not run.
    pub exec: Result<Exec, RuntimeError>,
}

fn failure_text(exec: &Result<Exec, RuntimeError>) -> String {
    match exec {
        Ok(exec) => format!("{} {}", exec.stdout.trim(), exec.stderr.trim()),
        Err(e) => e.to_string(),
    }
}

/// Runs `binary` with only `env` (and `PATH`) in its environment and `stdin` on stdin.
pub fn exec(
    binary: &Path,
    env: &[(&str, String)],
    stdin: &[u8],
    timeout: Duration,
) -> Result<Exec, RuntimeError> {
    let spawn_error = |source| RuntimeError::Spawn {
        binary: binary.to_path_buf(),
        source,
    };
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let input = stdin.to_vec();
    let mut pipe = child.stdin.take();
    // A plugin may exit before reading all of stdin; its exit status tells what happened.
    let writer = std::thread::spawn(move || pipe.as_mut().map(|p| p.write_all(&input)));
    let readers = [
        child.stdout.take().map(read_all),
        child.stderr.take().map(read_all),
    ];
    let status = match child.wait_timeout(timeout).map_err(spawn_error)? {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RuntimeError::Hung {
                binary: binary.to_path_buf(),
                timeout,
            });
        }
    };
    let _ = writer.join();
    let [stdout, stderr] = readers.map(|r| r.and_then(|h| h.join().ok()).unwrap_or_default());
    Ok(Exec {
        success: status.success(),
        stdout,
        stderr,
    })
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// One attachment as the runtime names it to every plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_NETNS` (may be empty for DEL).
    pub netns: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`.
    pub args: String,
    /// `CNI_PATH`.
    pub cni_path: String,
}

impl Attachment {
    /// The environment for `command`.
    pub fn env(&self, command: &str) -> Vec<(&'static str, String)> {
        vec![
            ("CNI_COMMAND", command.to_string()),
            ("CNI_CONTAINERID", self.container_id.clone()),
            ("CNI_NETNS", self.netns.clone()),
            ("CNI_IFNAME", self.ifname.clone()),
            ("CNI_PATH", self.cni_path.clone()),
            ("CNI_ARGS", self.args.clone()),
        ]
    }

    /// `CNI_ARGS` as kubelet's CRI runtimes build it for a pod.
    pub fn kubernetes_args(namespace: &str, name: &str, uid: &str, container_id: &str) -> String {
        format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};K8S_POD_INFRA_CONTAINER_ID={container_id};K8S_POD_UID={uid}"
        )
    }
}

/// A network list (conflist): plugins in ADD order.
#[derive(Debug, Clone)]
pub struct NetworkList {
    /// `cniVersion` of the list.
    pub cni_version: String,
    /// `name` of the network.
    pub name: String,
    /// `(binary, the plugin's own keys)` in order.
    pub plugins: Vec<(PathBuf, Map<String, Value>)>,
    /// Deadline of each plugin run.
    pub timeout: Duration,
}

impl NetworkList {
    /// Reads a conflist, finding each plugin's binary by type in `dirs`.
    pub fn from_conflist(json: &[u8], dirs: &[PathBuf]) -> Result<Self, RuntimeError> {
        let list: Value =
            serde_json::from_slice(json).map_err(|e| RuntimeError::List(e.to_string()))?;
        let text = |key: &str| {
            list.get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| RuntimeError::List(format!("no string {key:?}")))
        };
        let (cni_version, name) = (text("cniVersion")?, text("name")?);
        let entries = list
            .get("plugins")
            .and_then(Value::as_array)
            .ok_or_else(|| RuntimeError::List("no \"plugins\" array".into()))?;
        let plugins = entries
            .iter()
            .map(|entry| {
                let conf = entry
                    .as_object()
                    .cloned()
                    .ok_or_else(|| RuntimeError::List("a plugin is not an object".into()))?;
                let kind = conf
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| RuntimeError::List("a plugin has no type".into()))?;
                let binary = dirs
                    .iter()
                    .map(|d| d.join(kind))
                    .find(|p| p.is_file())
                    .ok_or_else(|| RuntimeError::NotFound {
                        plugin: kind.to_string(),
                        dirs: dirs
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(":"),
                    })?;
                Ok((binary, conf))
            })
            .collect::<Result<_, RuntimeError>>()?;
        Ok(NetworkList {
            cni_version,
            name,
            plugins,
            timeout: Duration::from_secs(30),
        })
    }

    /// The stdin of plugin `i`, with `prevResult` when there is one.
    pub fn plugin_conf(&self, i: usize, prev: Option<&Value>) -> Vec<u8> {
        let mut conf = self.plugins[i].1.clone();
        conf.insert("cniVersion".into(), self.cni_version.clone().into());
        conf.insert("name".into(), self.name.clone().into());
        if let Some(prev) = prev {
            conf.insert("prevResult".into(), prev.clone());
        }
        serde_json::to_vec(&conf).unwrap_or_default()
    }

    /// Runs `command` of plugin `i`.
    pub fn run(
        &self,
        i: usize,
        command: &str,
        a: &Attachment,
        prev: Option<&Value>,
    ) -> Result<Exec, Failure> {
        let exec = exec(
            &self.plugins[i].0,
            &a.env(command),
            &self.plugin_conf(i, prev),
            self.timeout,
        );
        match exec {
            Ok(exec) if exec.success => Ok(exec),
            exec => Err(Failure {
                index: i,
                plugin: self.plugin_type(i),
                exec,
            }),
        }
    }

    fn plugin_type(&self, i: usize) -> String {
        self.plugins[i]
            .1
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// ADD through the list; the final result and each plugin's stderr.
    pub fn add(&self, a: &Attachment) -> Result<(Value, Vec<String>), Failure> {
        let mut prev: Option<Value> = None;
        let mut stderr = Vec::new();
        for i in 0..self.plugins.len() {
            let exec = self.run(i, "ADD", a, prev.as_ref())?;
            let result = serde_json::from_str(&exec.stdout).map_err(|_| Failure {
                index: i,
                plugin: self.plugin_type(i),
                exec: Ok(Exec {
                    success: false,
                    ..exec.clone()
                }),
            })?;
            stderr.push(exec.stderr);
            prev = Some(result);
        }
        Ok((prev.unwrap_or_default(), stderr))
    }

    /// DEL in reverse order with the ADD result, as runtimes do.
    pub fn del(&self, a: &Attachment, result: Option<&Value>) -> Result<(), Failure> {
        (0..self.plugins.len())
            .rev()
            .try_for_each(|i| self.run(i, "DEL", a, result).map(drop))
    }

    /// CHECK in order with the ADD result.
    pub fn check(&self, a: &Attachment, result: &Value) -> Result<(), Failure> {
        (0..self.plugins.len()).try_for_each(|i| self.run(i, "CHECK", a, Some(result)).map(drop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflists_resolve_plugins_by_type() {
        let dir = std::env::temp_dir().join(format!("tether-runtime-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bridge"), b"").unwrap();
        let list = br#"{"cniVersion": "0.3.1", "name": "kindnet", "plugins": [{"type": "bridge", "bridge": "cni0"}]}"#;
        let net = NetworkList::from_conflist(list, std::slice::from_ref(&dir)).unwrap();
        assert_eq!(net.plugins[0].0, dir.join("bridge"));
        let conf: Value = serde_json::from_slice(
            &net.plugin_conf(0, Some(&serde_json::json!({"cniVersion": "0.3.1"}))),
        )
        .unwrap();
        assert_eq!(conf["name"], "kindnet");
        assert_eq!(conf["bridge"], "cni0");
        assert_eq!(conf["prevResult"]["cniVersion"], "0.3.1");
        let missing = br#"{"cniVersion": "0.3.1", "name": "n", "plugins": [{"type": "flannel"}]}"#;
        assert!(matches!(
            NetworkList::from_conflist(missing, std::slice::from_ref(&dir)),
            Err(RuntimeError::NotFound { .. })
        ));
        assert!(matches!(
            NetworkList::from_conflist(b"{}", std::slice::from_ref(&dir)),
            Err(RuntimeError::List(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hanging_plugin_is_killed_at_the_deadline() {
        use std::os::unix::fs::PermissionsExt;
        let script = std::env::temp_dir().join(format!("tether-hang-{}", std::process::id()));
        std::fs::write(&script, "#!/bin/sh\necho started >&2\nexec sleep 600\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hang = exec(&script, &[], b"", Duration::from_millis(200));
        std::fs::remove_file(&script).unwrap();
        assert!(matches!(hang, Err(RuntimeError::Hung { .. })), "{hang:?}");
        let done = exec(Path::new("/bin/cat"), &[], b"{}", Duration::from_secs(30)).unwrap();
        assert!(done.success);
        assert_eq!(done.stdout, "{}");
    }
}
