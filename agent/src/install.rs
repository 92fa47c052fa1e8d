//! `tether-agent install-cni`: put the plugin on the node and chain it into the node's primary
//! CNI configuration, idempotently; `--uninstall` does the reverse, `--check` only looks, and
//! `--watch` ([`watch`]) keeps tether chained while the main plugin rewrites its file.
//!
//! The primary configuration is the first `*.conf`, `*.conflist` or `*.json` file in lexical
//! order, the one containerd uses (go-cni takes the first of libcni's `ConfFiles`, sorted); it
//! must be a conflist (a single-plugin `.conf` is refused with a clear error rather than
//! rewritten). Chaining leaves exactly one `tether` entry, last in the plugin list: a missing
//! one is added, duplicates are removed, and the keys an operator added to it (such as
//! `failurePolicy`) are kept, with `agentSocket` set to `--socket`.
//!
//! Every file is replaced atomically: a temporary file in the same directory, under a name
//! containerd ignores, synced, then renamed over the old one, so a reader sees the old file or
//! the new one and never part of either. A conflist is replaced only if it still holds what the
//! new content was computed from (the main plugin may rewrite it at any time). Nothing is written
//! when the configuration cannot be read.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};
use thiserror::Error;

use crate::cli::InstallArgs;

pub mod watch;

/// The plugin type and file name in the CNI binary directory.
pub const PLUGIN_TYPE: &str = "tether";
/// Standard plugins tether delegates to, installed when the node lacks them.
pub const DELEGATES: &[&str] = &["bandwidth", "tuning"];
/// Extensions of the files containerd reads as network configurations.
const CONF_EXTENSIONS: &[&str] = &["conf", "conflist", "json"];
/// How often chaining reads the conflist again when it changed under it before giving up.
const ATTEMPTS: usize = 3;

/// Why installing, uninstalling or checking failed.
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
    /// The file changed between being read and being replaced; it was left as it is.
    #[error("{0}: rewritten by someone else while tether was updating it; left as it is")]
    Changed(PathBuf),
    /// `--check`: the node is not as install-cni leaves it.
    #[error("{path}: {problem}")]
    NotChained {
        /// The conflist, or the plugin binary.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What chaining put right in a conflist's tether entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// There was none: one was added at the end.
    Inserted,
    /// There were several: one is left, at the end.
    Deduplicated {
        /// How many were removed.
        removed: usize,
    },
    /// There was one, but not last or with another socket.
    Updated,
}

/// What a run changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Files created, replaced or removed.
    pub changed: Vec<PathBuf>,
    /// Delegate plugins the node lacks and the source directory does not have either.
    pub missing_delegates: Vec<String>,
    /// What chaining put right in the primary conflist, if anything.
    pub repair: Option<Repair>,
}

/// The files of `conf_dir` containerd reads as network configurations, in lexical order.
fn conf_files(conf_dir: &Path) -> Result<Vec<PathBuf>, InstallError> {
    let mut files: Vec<PathBuf> = fs::read_dir(conf_dir)
        .map_err(io_err(conf_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| CONF_EXTENSIONS.contains(&x))
                && p.is_file()
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The configuration file the runtime uses: the first `*.conf`, `*.conflist` or `*.json` of
/// `conf_dir` in lexical order.
pub fn primary_conflist(conf_dir: &Path) -> Result<PathBuf, InstallError> {
    conf_files(conf_dir)?
        .into_iter()
        .next()
        .ok_or_else(|| InstallError::NoConflist(conf_dir.to_owned()))
}

/// A conflist as read: its bytes (what a replacement is checked against) and its JSON.
struct Conflist {
    path: PathBuf,
    bytes: Vec<u8>,
    value: Value,
}

impl Conflist {
    fn parse(path: PathBuf, bytes: Vec<u8>) -> Result<Self, InstallError> {
        let value: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => return Err(InstallError::NotConflist(path)),
        };
        if !value.get("plugins").is_some_and(Value::is_array) {
            return Err(InstallError::NotConflist(path));
        }
        Ok(Self { path, bytes, value })
    }

    fn read(path: &Path) -> Result<Self, InstallError> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        Self::parse(path.to_owned(), bytes)
    }

    fn plugins(&self) -> &[Value] {
        self.value
            .get("plugins")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

fn is_tether(plugin: &Value) -> bool {
    plugin.get("type").and_then(Value::as_str) == Some(PLUGIN_TYPE)
}

/// The entry to chain into `list`: its first tether entry (keys an operator added, such as
/// `failurePolicy`, are kept), else `remembered` (the entry a watcher chained before the file
/// was rewritten), else a new one; with `agentSocket` set to `socket`.
fn entry_for(list: &Conflist, remembered: Option<&Value>, socket: &Path) -> Value {
    let mut entry = list
        .plugins()
        .iter()
        .find(|p| is_tether(p))
        .or(remembered)
        .filter(|e| e.is_object())
        .cloned()
        .unwrap_or_else(|| json!({"type": PLUGIN_TYPE}));
    if let Some(fields) = entry.as_object_mut() {
        fields.insert(
            "agentSocket".to_owned(),
            Value::from(socket.to_string_lossy().into_owned()),
        );
    }
    entry
}

/// `list` with `entry` as its only tether entry, last; and what that put right.
fn chained(list: &Conflist, entry: &Value) -> (Value, Option<Repair>) {
    let before = list.plugins().iter().filter(|p| is_tether(p)).count();
    let mut after = list.value.clone();
    if let Some(plugins) = after.get_mut("plugins").and_then(Value::as_array_mut) {
        plugins.retain(|p| !is_tether(p));
        plugins.push(entry.clone());
    }
    let repair = match before {
        _ if after == list.value => None,
        0 => Some(Repair::Inserted),
        1 => Some(Repair::Updated),
        n => Some(Repair::Deduplicated { removed: n - 1 }),
    };
    (after, repair)
}

/// `list` without any tether entry.
fn unchained(list: &Conflist) -> Value {
    let mut after = list.value.clone();
    if let Some(plugins) = after.get_mut("plugins").and_then(Value::as_array_mut) {
        plugins.retain(|p| !is_tether(p));
    }
    after
}

/// Where [`replace_file`] writes before renaming: a dot file in the same directory, with an
/// extension containerd does not read.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    path.with_file_name(format!(".{name}.tether-tmp"))
}

/// Replaces `path` with `bytes` (permissions `mode`): writes [`temp_path`], syncs it and renames
/// it over `path`, so a reader sees the old file or the new one, never part of either. With
/// `expected`, the rename happens only if `path` still holds exactly `expected` just before it
/// ([`InstallError::Changed`] otherwise; nothing is changed).
fn replace_file(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    expected: Option<&[u8]>,
) -> Result<(), InstallError> {
    let tmp = temp_path(path);
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.sync_all()
    })();
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(InstallError::Io { path: tmp, source });
    }
    if let Some(expected) = expected
        && fs::read(path).ok().as_deref() != Some(expected)
    {
        let _ = fs::remove_file(&tmp);
        return Err(InstallError::Changed(path.to_owned()));
    }
    if let Err(source) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(InstallError::Io {
            path: path.to_owned(),
            source,
        });
    }
    // Make the rename itself durable; a directory that cannot be synced changes nothing above.
    if let Some(dir) = path.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Writes `after` over `list` if it differs; `Ok(Some(bytes))` when it wrote them.
fn save_conflist(list: &Conflist, after: &Value) -> Result<Option<Vec<u8>>, InstallError> {
    if *after == list.value {
        return Ok(None);
    }
    let mut bytes = serde_json::to_vec_pretty(after).map_err(|e| io_err(&list.path)(e.into()))?;
    bytes.push(b'\n');
    replace_file(&list.path, &bytes, 0o644, Some(&list.bytes))?;
    Ok(Some(bytes))
}

/// The primary conflist after chaining.
struct Chained {
    path: PathBuf,
    /// Its content now.
    bytes: Vec<u8>,
    /// The tether entry in it.
    entry: Value,
    repair: Option<Repair>,
}

/// Chains tether into `list` (the primary conflist as read), reading it again and starting
/// over when it is rewritten under us, up to [`ATTEMPTS`] times.
fn chain(
    args: &InstallArgs,
    mut list: Conflist,
    remembered: Option<&Value>,
) -> Result<Chained, InstallError> {
    let mut attempt = 1;
    loop {
        let entry = entry_for(&list, remembered, &args.socket);
        let (after, repair) = chained(&list, &entry);
        match save_conflist(&list, &after) {
            Ok(written) => {
                return Ok(Chained {
                    bytes: written.unwrap_or(list.bytes),
                    path: list.path,
                    entry,
                    repair,
                });
            }
            Err(InstallError::Changed(_)) if attempt < ATTEMPTS => {
                attempt += 1;
                list = Conflist::read(&primary_conflist(&args.cni_conf_dir)?)?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How [`install_binaries`] decides that an installed plugin is the one to install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// Same bytes (what a one-shot install does).
    Bytes,
    /// Same size (what the watcher does on every pass, so it does not read megabytes a second).
    Size,
}

fn copy_if_different(
    from: &Path,
    to: &Path,
    compare: Compare,
    changed: &mut Vec<PathBuf>,
) -> Result<(), InstallError> {
    if compare == Compare::Size {
        let len = |p: &Path| fs::metadata(p).ok().map(|m| m.len());
        if len(to).is_some() && len(to) == len(from) {
            return Ok(());
        }
    }
    let bytes = fs::read(from).map_err(io_err(from))?;
    if fs::read(to).ok().as_deref() != Some(bytes.as_slice()) {
        replace_file(to, &bytes, 0o755, None)?;
        changed.push(to.to_owned());
    }
    Ok(())
}

/// Puts `tether-cni` on the node as `tether`, and each delegate the node lacks.
fn install_binaries(
    args: &InstallArgs,
    compare: Compare,
    outcome: &mut Outcome,
) -> Result<(), InstallError> {
    copy_if_different(
        &args.source_dir.join("tether-cni"),
        &args.cni_bin_dir.join(PLUGIN_TYPE),
        compare,
        &mut outcome.changed,
    )?;
    for name in DELEGATES {
        let (target, source) = (args.cni_bin_dir.join(name), args.source_dir.join(name));
        if target.exists() {
            continue;
        }
        if source.exists() {
            copy_if_different(&source, &target, Compare::Bytes, &mut outcome.changed)?;
        } else {
            outcome.missing_delegates.push((*name).to_owned());
        }
    }
    Ok(())
}

/// Installs the plugin and chains it last in the primary conflist, exactly once; running it
/// again changes nothing.
pub fn install(args: &InstallArgs) -> Result<Outcome, InstallError> {
    let list = Conflist::read(&primary_conflist(&args.cni_conf_dir)?)?;
    let mut outcome = Outcome::default();
    install_binaries(args, Compare::Bytes, &mut outcome)?;
    let chained = chain(args, list, None)?;
    if chained.repair.is_some() {
        outcome.changed.push(chained.path);
        outcome.repair = chained.repair;
    }
    Ok(outcome)
}

/// Removes every tether entry from the configurations in the directory (the primary one, and
/// any an earlier primary left behind), then the plugin binary. The delegate plugins stay: other
/// configurations may use them. Files that are not conflists cannot hold an entry and are left
/// alone.
pub fn uninstall(args: &InstallArgs) -> Result<Outcome, InstallError> {
    let mut outcome = Outcome::default();
    for path in conf_files(&args.cni_conf_dir)? {
        let mut attempt = 1;
        loop {
            let list = match Conflist::read(&path) {
                Ok(list) => list,
                Err(InstallError::NotConflist(_)) => break,
                Err(InstallError::Io { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    break;
                }
                Err(e) => return Err(e),
            };
            match save_conflist(&list, &unchained(&list)) {
                Ok(Some(_)) => outcome.changed.push(path.clone()),
                Ok(None) => {}
                Err(InstallError::Changed(_)) if attempt < ATTEMPTS => {
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(e),
            }
            break;
        }
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

/// Whether the node is as install-cni leaves it: the primary conflist ends with exactly one
/// tether entry, for `--socket`, and the plugin binary is there. Changes nothing; returns the
/// primary conflist.
pub fn check(args: &InstallArgs) -> Result<PathBuf, InstallError> {
    let path = primary_conflist(&args.cni_conf_dir)?;
    let list = Conflist::read(&path)?;
    let plugins = list.plugins();
    let entries: Vec<&Value> = plugins.iter().filter(|p| is_tether(p)).collect();
    let socket = args.socket.to_string_lossy();
    let problem = match entries.as_slice() {
        [] => Some("tether is not in the plugin list".to_owned()),
        [entry] => {
            if !plugins.last().is_some_and(is_tether) {
                Some("tether is not the last plugin".to_owned())
            } else if entry.get("agentSocket").and_then(Value::as_str) != Some(&socket) {
                Some(format!("tether's agentSocket is not {socket}"))
            } else {
                None
            }
        }
        many => Some(format!("tether is in the plugin list {} times", many.len())),
    };
    if let Some(problem) = problem {
        return Err(InstallError::NotChained { path, problem });
    }
    let binary = args.cni_bin_dir.join(PLUGIN_TYPE);
    if !binary.is_file() {
        return Err(InstallError::NotChained {
            path: binary,
            problem: "the plugin binary is missing".to_owned(),
        });
    }
    Ok(path)
}

/// Entry point of the subcommand.
pub fn run(args: &InstallArgs) -> anyhow::Result<()> {
    if args.check {
        let path = check(args).context("tether is not chained")?;
        println!("check: tether is chained in {}", path.display());
        return Ok(());
    }
    if args.watch {
        return watch::run(args);
    }
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
    if let Some(repair) = outcome.repair {
        println!("{verb}: {}", describe(repair));
    }
    warn_missing(&outcome.missing_delegates);
    if outcome.changed.is_empty() {
        println!("{verb}: already up to date");
    }
    Ok(())
}

/// What a [`Repair`] did, for the log.
fn describe(repair: Repair) -> String {
    match repair {
        Repair::Inserted => "added the tether entry at the end of the plugin list".to_owned(),
        Repair::Deduplicated { removed } => format!(
            "removed {removed} duplicate tether entr{}; one is left, last",
            if removed == 1 { "y" } else { "ies" }
        ),
        Repair::Updated => {
            "rewrote the tether entry: last in the plugin list, with the configured agentSocket"
                .to_owned()
        }
    }
}

fn warn_missing(missing: &[String]) {
    for name in missing {
        eprintln!(
            "warning: the node has no {name} plugin and none was shipped; tether will not be able to apply that part of a profile"
        );
    }
}

#[cfg(test)]
mod tests;
