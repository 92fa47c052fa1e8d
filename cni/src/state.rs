//! What ADD delegated, recorded per attachment under `stateDir` so DEL, CHECK and GC can
//! replay it without the agent.
//!
//! One JSON file per attachment, `<containerID>@<ifname>.json` (`@` cannot occur in a
//! container ID, so the name splits back unambiguously). Files are written to a temporary
//! name and renamed, so a reader sees a whole record or none. They are not fsynced: they
//! describe kernel objects that do not survive a reboot either.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::delegate::Delegate;
use crate::error::{CniError, Code};
use crate::protocol::{ProfileRef, Source};

/// Format of the records this build writes and reads.
pub const FORMAT: u32 = 1;
const SUFFIX: &str = ".json";
const TEMP_MARK: &str = ".json.tmp.";

/// What ADD did for one attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// [`FORMAT`] when written.
    pub format: u32,
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_NETNS` at ADD.
    pub netns: Option<PathBuf>,
    /// Network name the delegates were given.
    pub network: String,
    /// `cniVersion` the delegates were run at.
    pub delegate_version: String,
    /// `CNI_ARGS` at ADD, handed to delegates again on replay.
    pub cni_args: String,
    /// The profile applied, if any.
    pub profile: Option<ProfileRef>,
    /// Where the agent's answer came from; `None` when the agent did not answer.
    pub source: Option<Source>,
    /// The delegates run, in ADD order.
    pub delegates: Vec<Delegate>,
}

/// The records under one state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

fn io_error(action: &str, path: &Path, e: io::Error) -> CniError {
    CniError::new(Code::Io, format!("cannot {action} {}", path.display()))
        .with_details(e.to_string())
}

impl StateDir {
    /// The state directory at `dir`; created on first write.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Where the record of an attachment lives.
    pub fn path(&self, container_id: &str, ifname: &str) -> PathBuf {
        self.dir.join(format!("{container_id}@{ifname}{SUFFIX}"))
    }

    /// Writes `record` atomically, replacing any earlier one.
    pub fn save(&self, record: &Record) -> Result<(), CniError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| io_error("create state directory", &self.dir, e))?;
        let path = self.path(&record.container_id, &record.ifname);
        let temp = self.dir.join(format!(
            "{}@{}{TEMP_MARK}{}",
            record.container_id,
            record.ifname,
            std::process::id()
        ));
        let bytes = serde_json::to_vec(record).unwrap_or_default();
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut f| f.write_all(&bytes))
            .and_then(|()| fs::rename(&temp, &path));
        written.map_err(|e| {
            let _ = fs::remove_file(&temp);
            io_error("write state", &path, e)
        })
    }

    /// The record of an attachment, `None` when there is none.
    pub fn load(&self, container_id: &str, ifname: &str) -> Result<Option<Record>, CniError> {
        read_record(&self.path(container_id, ifname))
    }

    /// Removes the record of an attachment; no record is not an error.
    pub fn remove(&self, container_id: &str, ifname: &str) -> Result<(), CniError> {
        let path = self.path(container_id, ifname);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_error("remove state", &path, e))
            }
            _ => Ok(()),
        }
    }

    /// Every record, as `(containerID, ifname, record or why it is unreadable)`; temporary
    /// files left by processes that died mid-write are removed on the way.
    #[allow(clippy::type_complexity)]
    pub fn list(&self) -> Result<Vec<(String, String, Result<Record, CniError>)>, CniError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("read state directory", &self.dir, e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("read state directory", &self.dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((_, pid)) = name.split_once(TEMP_MARK) {
                // Another plugin process may be writing it right now; only orphans go.
                if !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_file(entry.path());
                }
                continue;
            }
            let Some((container_id, ifname)) =
                name.strip_suffix(SUFFIX).and_then(|n| n.split_once('@'))
            else {
                continue;
            };
            let record = read_record(&entry.path()).and_then(|r| {
                r.ok_or_else(|| CniError::new(Code::Io, "state vanished while listing"))
            });
            records.push((container_id.to_string(), ifname.to_string(), record));
        }
        records.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(records)
    }
}

fn read_record(path: &Path) -> Result<Option<Record>, CniError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("read state", path, e)),
    };
    let record: Record = serde_json::from_slice(&bytes).map_err(|e| {
        CniError::new(Code::Decode, format!("state {} is corrupt", path.display()))
            .with_details(e.to_string())
    })?;
    if record.format != FORMAT {
        return Err(CniError::new(
            Code::Decode,
            format!("state {} has format {}", path.display(), record.format),
        )
        .with_details(format!("this tether-cni reads format {FORMAT}")));
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(cid: &str, ifname: &str) -> Record {
        Record {
            format: FORMAT,
            container_id: cid.into(),
            ifname: ifname.into(),
            netns: Some("/var/run/netns/x".into()),
            network: "kindnet".into(),
            delegate_version: "1.0.0".into(),
            cni_args: "K8S_POD_NAME=p".into(),
            profile: Some(ProfileRef {
                name: "camera".into(),
                generation: 2,
            }),
            source: Some(Source::Cache),
            delegates: vec![Delegate {
                plugin: "tuning".into(),
                conf: json!({"mtu": 1400}).as_object().cloned().unwrap(),
            }],
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tether-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn save_load_list_remove() {
        let dir = temp_dir("cycle");
        let state = StateDir::new(&dir);
        assert_eq!(state.load("c1", "eth0").unwrap(), None);
        assert!(state.list().unwrap().is_empty());
        state.save(&record("c1", "eth0")).unwrap();
        state.save(&record("c1", "net@1")).unwrap();
        assert_eq!(
            state.load("c1", "eth0").unwrap(),
            Some(record("c1", "eth0"))
        );
        let listed: Vec<_> = state
            .list()
            .unwrap()
            .into_iter()
            .map(|(c, i, r)| (c, i, r.is_ok()))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("c1".into(), "eth0".into(), true),
                ("c1".into(), "net@1".into(), true)
            ]
        );
        state.remove("c1", "eth0").unwrap();
        state.remove("c1", "eth0").unwrap();
        assert_eq!(state.load("c1", "eth0").unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_and_future_records_are_reported() {
        let dir = temp_dir("corrupt");
        let state = StateDir::new(&dir);
        state.save(&record("c1", "eth0")).unwrap();
        fs::write(state.path("c1", "eth0"), b"{\"format\": 1, \"contai").unwrap();
        assert_eq!(state.load("c1", "eth0").unwrap_err().code, Code::Decode);
        let mut future = serde_json::to_value(record("c2", "eth0")).unwrap();
        future["format"] = 2.into();
        fs::write(state.path("c2", "eth0"), future.to_string()).unwrap();
        let err = state.load("c2", "eth0").unwrap_err();
        assert!(err.msg.contains("format 2"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn interrupted_writes_are_swept_by_list() {
        let dir = temp_dir("sweep");
        let state = StateDir::new(&dir);
        state.save(&record("c1", "eth0")).unwrap();
        // No process has this pid: pid_max is at most 2^22.
        let leftover = dir.join("c9@eth0.json.tmp.99999999");
        fs::write(&leftover, b"{").unwrap();
        let listed = state.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(!leftover.exists());
        let live = dir.join(format!("c8@eth0.json.tmp.{}", std::process::id()));
        fs::write(&live, b"{").unwrap();
        assert_eq!(state.list().unwrap().len(), 1);
        assert!(live.exists(), "a live writer's temp file must survive");
        fs::remove_dir_all(&dir).unwrap();
    }
}
