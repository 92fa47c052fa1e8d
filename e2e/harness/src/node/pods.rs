//! `tether-node pod add|del`: a pod sandbox as containerd makes one — a network namespace
//! and the node's primary conflist run through it — with the outcome as JSON on stdout.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use testkit::cni_runtime::{Attachment, NetworkList};

use super::{CNI_BIN_DIR, CNI_CONF_DIR, POD_STATE_DIR};

/// The interface every pod gets.
pub const IFNAME: &str = "eth0";

/// Who the sandbox is for.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Pod namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod UID.
    pub uid: String,
    /// Sandbox (container) ID, also the network namespace's name.
    pub container_id: String,
}

fn netns_path(container_id: &str) -> String {
    format!("/var/run/netns/{container_id}")
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The node's primary network list: the first `*.conflist` in lexical order, as runtimes pick it.
pub fn primary_list() -> anyhow::Result<(PathBuf, NetworkList)> {
    let mut lists: Vec<PathBuf> = fs::read_dir(CNI_CONF_DIR)
        .with_context(|| format!("reading {CNI_CONF_DIR}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conflist"))
        .collect();
    lists.sort();
    let path = lists
        .into_iter()
        .next()
        .with_context(|| format!("no *.conflist in {CNI_CONF_DIR}"))?;
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let list = NetworkList::from_conflist(&bytes, &[PathBuf::from(CNI_BIN_DIR)])
        .with_context(|| format!("loading {}", path.display()))?;
    Ok((path, list))
}

fn attachment(sandbox: &Sandbox) -> Attachment {
    Attachment {
        container_id: sandbox.container_id.clone(),
        netns: netns_path(&sandbox.container_id),
        ifname: IFNAME.into(),
        args: Attachment::kubernetes_args(
            &sandbox.namespace,
            &sandbox.name,
            &sandbox.uid,
            &sandbox.container_id,
        ),
        cni_path: CNI_BIN_DIR.into(),
    }
}

/// What tether recorded for the attachment, read from the `stateDir` of its list entry.
fn tether_record(list: &NetworkList, container_id: &str) -> Value {
    let state_dir = list
        .plugins
        .iter()
        .find(|(_, conf)| conf.get("type").and_then(Value::as_str) == Some("tether"))
        .map(|(_, conf)| {
            conf.get("stateDir")
                .and_then(Value::as_str)
                .unwrap_or(cni::config::DEFAULT_STATE_DIR)
                .to_string()
        });
    state_dir
        .and_then(|dir| {
            fs::read(Path::new(&dir).join(format!("{container_id}@{IFNAME}.json"))).ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// Creates the sandbox and runs ADD; on failure undoes both, as containerd does.
/// `Ok(Err(..))` is a plugin's failure, reported as JSON; `Err` is the node's own.
pub fn add(sandbox: &Sandbox) -> anyhow::Result<Result<Value, Value>> {
    let (_, list) = primary_list()?;
    ip(&["netns", "add", &sandbox.container_id])?;
    let a = attachment(sandbox);
    match list.add(&a) {
        Ok((result, stderr)) => {
            fs::create_dir_all(POD_STATE_DIR)
                .with_context(|| format!("creating {POD_STATE_DIR}"))?;
            let saved = Path::new(POD_STATE_DIR).join(format!("{}.json", sandbox.container_id));
            fs::write(&saved, result.to_string())
                .with_context(|| format!("writing {}", saved.display()))?;
            Ok(Ok(json!({
                "containerId": sandbox.container_id,
                "netns": a.netns,
                "result": result,
                "stderr": stderr,
                "tether": tether_record(&list, &sandbox.container_id),
            })))
        }
        Err(failure) => {
            let _ = list.del(&a, None);
            let _ = ip(&["netns", "del", &sandbox.container_id]);
            let (stdout, stderr) = match &failure.exec {
                Ok(exec) => (exec.stdout.clone(), exec.stderr.clone()),
                Err(e) => (String::new(), e.to_string()),
            };
            Ok(Err(
                json!({"plugin": failure.plugin, "index": failure.index, "stdout": stdout, "stderr": stderr}),
            ))
        }
    }
}

/// Runs DEL with the saved ADD result and removes the sandbox; succeeds when already gone.
pub fn del(container_id: &str) -> anyhow::Result<()> {
    let (_, list) = primary_list()?;
    let saved = Path::new(POD_STATE_DIR).join(format!("{container_id}.json"));
    let result: Option<Value> = fs::read(&saved)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let sandbox = Sandbox {
        namespace: String::new(),
        name: String::new(),
        uid: String::new(),
        container_id: container_id.into(),
    };
    let mut a = attachment(&sandbox);
    a.args = "IgnoreUnknown=1".into();
    list.del(&a, result.as_ref())
        .map_err(|e| anyhow::anyhow!("DEL of {container_id}: {e}"))?;
    if Path::new(&a.netns).exists() {
        ip(&["netns", "del", container_id])?;
    }
    match fs::remove_file(&saved) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", saved.display()))
        }
        _ => Ok(()),
    }
}
