//! `tether-agent install-cni`: put the plugin on the node and chain it into the node's primary
//! CNI configuration, idempotently, and the reverse with `--uninstall`.
//!
//! The primary configuration is the first `*.conf`, `*.conflist` or `*.json` file in lexical
//! order, the one the container runtime uses; it must be a conflist (a single-plugin `.conf`
//! is refused with a clear error rather than rewritten). Every file is replaced atomically (temporary file in the same directory, then
//! rename). Nothing is written when the configuration cannot be read.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};
use thiserror::Error;

use crate::cli::InstallArgs;

/// The plugin type and file name in the CNI binary directory.
pub const PLUGIN_TYPE: &str = "tether";
/// Standard plugins tether delegates to, installed when the node lacks them.
pub const DELEGATES: &[&str] = &["bandwidth", "tuning"];

/// Why installing or uninstalling failed.
#[derive(Debug, Error)]
pub enum InstallError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// No configuration in the directory (the main plugin is not installed yet).
    #[error("no CNI configuration in {0}; is the node's main CNI plugin installed?")]
    NoConflist(PathBuf),
    /// The conflist is not a JSON object with a `plugins` array.
    #[error("{0}: not a CNI conflist (want a JSON object with a \"plugins\" array)")]
    NotConflist(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a run changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Files created, replaced or removed.
    pub changed: Vec<PathBuf>,
    /// Delegate plugins the node lacks and the source directory does not have either.
    pub missing_delegates: Vec<String>,
}

/// The configuration file the runtime uses: the first `*.conf`, `*.conflist` or `*.json` of
/// `conf_dir` in lexical order.
pub fn primary_conflist(conf_dir: &Path) -> Result<PathBuf, InstallError> {
    let mut lists: Vec<PathBuf> = fs::read_dir(conf_dir)
        .map_err(io_err(conf_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x == "conflist" || x == "conf" || x == "json")
                && p.is_file()
        })
        .collect();
    lists.sort();
    lists
        .into_iter()
        .next()
        .ok_or_else(|| InstallError::NoConflist(conf_dir.to_owned()))
}

fn read_conflist(path: &Path) -> Result<Value, InstallError> {
    let text = fs::read(path).map_err(io_err(path))?;
    let value: Value =
        serde_json::from_slice(&text).map_err(|_| InstallError::NotConflist(path.to_owned()))?;
    if !value.get("plugins").is_some_and(Value::is_array) {
        return Err(InstallError::NotConflist(path.to_owned()));
    }
    Ok(value)
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), InstallError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tether-tmp"));
    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

fn copy_if_different(
    from: &Path,
    to: &Path,
    changed: &mut Vec<PathBuf>,
) -> Result<(), InstallError> {
    let bytes = fs::read(from).map_err(io_err(from))?;
    if fs::read(to).ok().as_deref() != Some(bytes.as_slice()) {
        write_atomic(to, &bytes, 0o755)?;
        changed.push(to.to_owned());
    }
    Ok(())
}

fn tether_entry(socket: &Path) -> Value {
    json!({"type": PLUGIN_TYPE, "agentSocket": socket.to_string_lossy()})
}

fn is_tether(plugin: &Value) -> bool {
    plugin.get("type").and_then(Value::as_str) == Some(PLUGIN_TYPE)
}

fn save_conflist(
    path: &Path,
    before: &Value,
    after: &Value,
    changed: &mut Vec<PathBuf>,
) -> Result<(), InstallError> {
    if before != after {
        let mut bytes = serde_json::to_vec_pretty(after).map_err(|e| io_err(path)(e.into()))?;
        bytes.push(b'\n');
        write_atomic(path, &bytes, 0o644)?;
        changed.push(path.to_owned());
    }
    Ok(())
}

/// Installs the plugin and chains it last in the primary conflist; running it again changes nothing.
pub fn install(args: &InstallArgs) -> Result<Outcome, InstallError> {
    let conflist = primary_conflist(&args.cni_conf_dir)?;
    let before = read_conflist(&conflist)?;
    let mut outcome = Outcome::default();
    copy_if_different(
        &args.source_dir.join("tether-cni"),
        &args.cni_bin_dir.join(PLUGIN_TYPE),
        &mut outcome.changed,
    )?;
    for name in DELEGATES {
        let (target, source) = (args.cni_bin_dir.join(name), args.source_dir.join(name));
        if target.exists() {
            continue;
        }
        if source.exists() {
            copy_if_different(&source, &target, &mut outcome.changed)?;
        } else {
            outcome.missing_delegates.push((*name).to_owned());
        }
    }
    let mut after = before.clone();
    if let Some(plugins) = after.get_mut("plugins").and_then(Value::as_array_mut) {
        plugins.retain(|p| !is_tether(p));
        plugins.push(tether_entry(&args.socket));
    }
    save_conflist(&conflist, &before, &after, &mut outcome.changed)?;
    Ok(outcome)
}

/// Removes the tether entry from the primary conflist and the plugin binary. The delegate
/// plugins stay: other configurations may use them.
pub fn uninstall(args: &InstallArgs) -> Result<Outcome, InstallError> {
    let mut outcome = Outcome::default();
    match primary_conflist(&args.cni_conf_dir) {
        Ok(conflist) => {
            let before = read_conflist(&conflist)?;
            let mut after = before.clone();
            if let Some(plugins) = after.get_mut("plugins").and_then(Value::as_array_mut) {
                plugins.retain(|p| !is_tether(p));
            }
            save_conflist(&conflist, &before, &after, &mut outcome.changed)?;
        }
        Err(InstallError::NoConflist(_)) => {}
        Err(e) => return Err(e),
    }
    let binary = args.cni_bin_dir.join(PLUGIN_TYPE);
    match fs::remove_file(&binary) {
        Ok(()) => outcome.changed.push(binary),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(InstallError::Io {
                path: binary,
                source,
            });
        }
    }
    Ok(outcome)
}

/// Entry point of the subcommand.
pub fn run(args: &InstallArgs) -> anyhow::Result<()> {
    let (verb, outcome) = if args.uninstall {
        ("uninstall", uninstall(args))
    } else {
        ("install", install(args))
    };
    let outcome = outcome.with_context(|| {
        format!(
            "{verb} of the tether CNI plugin into {}",
            args.cni_conf_dir.display()
        )
    })?;
    for path in &outcome.changed {
        println!("{verb}: updated {}", path.display());
    }
    for name in &outcome.missing_delegates {
        eprintln!(
            "warning: the node has no {name} plugin and none was shipped; tether will not be able to apply that part of a profile"
        );
    }
    if outcome.changed.is_empty() {
        println!("{verb}: already up to date");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
