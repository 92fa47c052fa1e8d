//! An append-only journal of JSON records, one checksummed line each, for state that must
//! survive SIGKILL at any moment without an fsync on the hot path.
//!
//! Layout: a header line `<magic> v<version>\n`, then one line per record:
//! `<checksum> <json>\n`, where the checksum is the first 16 hex digits of the SHA-256 of the
//! JSON. A record is appended with a single `write(2)` on a file opened with `O_APPEND`: once
//! that call returns, the record is in the kernel's page cache and survives the death of the
//! process (SIGKILL, panic, OOM kill). Only power loss can take back what was not yet written
//! to the device; the journal is fsynced when it is compacted (and so at a clean stop), not
//! per record.
//!
//! Damage is contained per line: a last line without its newline (torn by power loss) is cut
//! off, a line whose checksum or JSON is wrong is skipped and reported, the others are kept. A
//! file that is not a journal of this kind, or one written by a newer agent, is moved aside to
//! `<name>.damaged` and a fresh journal is started, so nothing is overwritten unread.
//!
//! Compaction replaces the file with a snapshot of what is still live in two steps, so appends
//! wait only for the second, short one: [`Journal::write_snapshot`] writes and fsyncs the
//! snapshot to a temporary file while appends go on; [`Journal::install_snapshot`] copies the
//! records appended meanwhile after it and renames it into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// Hex digits of the per-line checksum.
const SUM_LEN: usize = 16;

/// Something wrong that was found, and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The last line had no newline: a record torn by power loss; it was cut off.
    TornTail {
        /// Bytes cut off.
        bytes: usize,
    },
    /// A line's checksum did not match; the record was skipped.
    Checksum {
        /// 1-based line number (the header is line 1).
        line: usize,
    },
    /// A line's JSON is not a record this agent knows; it was skipped.
    Record {
        /// 1-based line number.
        line: usize,
        /// The parse error.
        error: String,
    },
    /// The file is not a journal of this kind; it was moved aside.
    Foreign {
        /// Where it was moved.
        moved_to: PathBuf,
    },
    /// Written by a newer agent; it was moved aside.
    Newer {
        /// Version found.
        found: u32,
        /// Where it was moved.
        moved_to: PathBuf,
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::TornTail { bytes } => {
                write!(f, "a torn last record ({bytes} bytes) was cut off")
            }
            Damage::Checksum { line } => {
                write!(f, "line {line}: checksum mismatch, record skipped")
            }
            Damage::Record { line, error } => write!(f, "line {line}: {error}, record skipped"),
            Damage::Foreign { moved_to } => {
                write!(
                    f,
                    "not a journal of this kind; moved to {}",
                    moved_to.display()
                )
            }
            Damage::Newer { found, moved_to } => write!(
                f,
                "written by a newer agent (v{found}); moved to {}",
                moved_to.display()
            ),
        }
    }
}

/// An open journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    header: String,
    len: u64,
    records: usize,
}

/// A snapshot written by [`Journal::write_snapshot`], waiting to be installed.
#[derive(Debug)]
pub struct Snapshot {
    tmp: PathBuf,
    file: File,
    /// Length of the journal the snapshot stands for: records after it are copied over.
    covers: u64,
    records: usize,
}

fn checksum(json: &[u8]) -> String {
    Sha256::digest(json)
        .iter()
        .take(SUM_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One record as a journal line.
pub fn line<R: Serialize>(record: &R) -> io::Result<Vec<u8>> {
    let json = serde_json::to_vec(record).map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(json.len() + SUM_LEN + 2);
    out.extend_from_slice(checksum(&json).as_bytes());
    out.push(b' ');
    out.extend_from_slice(&json);
    out.push(b'\n');
    Ok(out)
}

fn append_path(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Journal {
    /// Opens (or creates) the journal at `path` and reads its records, oldest first, with what
    /// was found damaged. Fails only when the file cannot be read or created at all.
    pub fn open<R: DeserializeOwned>(
        path: &Path,
        magic: &str,
        version: u32,
    ) -> io::Result<(Self, Vec<R>, Vec<Damage>)> {
        let header = format!("{magic} v{version}\n");
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut damage = Vec::new();
        let mut records = Vec::new();
        let mut keep = 0;
        if !bytes.is_empty() {
            match check_header(&bytes, magic, version) {
                Ok(body_start) => {
                    keep = body_start;
                    let mut line_no = 1;
                    let mut rest = &bytes[body_start..];
                    while !rest.is_empty() {
                        line_no += 1;
                        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
                            damage.push(Damage::TornTail { bytes: rest.len() });
                            break;
                        };
                        let text = &rest[..end];
                        match parse_line::<R>(text) {
                            Ok(r) => records.push(r),
                            Err(None) => damage.push(Damage::Checksum { line: line_no }),
                            Err(Some(error)) => damage.push(Damage::Record {
                                line: line_no,
                                error,
                            }),
                        }
                        keep += end + 1;
                        rest = &rest[end + 1..];
                    }
                }
                Err(found) => {
                    let moved_to = append_path(path, ".damaged");
                    fs::rename(path, &moved_to)?;
                    damage.push(match found {
                        Some(found) => Damage::Newer { found, moved_to },
                        None => Damage::Foreign { moved_to },
                    });
                }
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let len = if keep == 0 {
            file.set_len(0)?;
            file.write_all(header.as_bytes())?;
            header.len() as u64
        } else {
            // Cuts a torn tail off, so the next record starts on a line of its own.
            file.set_len(keep as u64)?;
            keep as u64
        };
        let journal = Self {
            path: path.to_owned(),
            file,
            header,
            len,
            records: records.len(),
        };
        Ok((journal, records, damage))
    }

    /// Appends one record with a single `write(2)`.
    pub fn append<R: Serialize>(&mut self, record: &R) -> io::Result<()> {
        let bytes = line(record)?;
        self.file.write_all(&bytes)?;
        self.len += bytes.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Records in the file (those replayed at open, those appended since).
    pub fn records(&self) -> usize {
        self.records
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Step one of compaction, without the journal: writes `records` (what is live now, which
    /// the journal's first `covers` bytes stand for) to a temporary file and fsyncs it.
    pub fn write_snapshot<'a, R: Serialize + 'a>(
        path: &Path,
        header: &str,
        covers: u64,
        records: impl IntoIterator<Item = &'a R>,
    ) -> io::Result<Snapshot> {
        let tmp = append_path(path, ".compact");
        let mut buf = header.as_bytes().to_vec();
        let mut count = 0;
        for r in records {
            buf.extend_from_slice(&line(r)?);
            count += 1;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .read(true)
            .open(&tmp)?;
        file.write_all(&buf)?;
        file.sync_all()?;
        Ok(Snapshot {
            tmp,
            file,
            covers,
            records: count,
        })
    }

    /// What [`Journal::write_snapshot`] needs from the journal: its path, header and length.
    pub fn snapshot_point(&self) -> (PathBuf, String, u64) {
        (self.path.clone(), self.header.clone(), self.len)
    }

    /// Step two of compaction: copies the records appended since the snapshot was taken after
    /// it, renames it over the journal and appends to it from now on. Returns the directory to
    /// fsync (outside any lock) for the rename to survive power loss.
    pub fn install_snapshot(&mut self, mut snapshot: Snapshot) -> io::Result<PathBuf> {
        let mut tail = Vec::new();
        let mut reader = File::open(&self.path)?;
        reader.seek(SeekFrom::Start(snapshot.covers))?;
        reader.read_to_end(&mut tail)?;
        let tail_records = tail.iter().filter(|b| **b == b'\n').count();
        snapshot.file.seek(SeekFrom::End(0))?;
        snapshot.file.write_all(&tail)?;
        let len = snapshot.file.seek(SeekFrom::End(0))?;
        fs::rename(&snapshot.tmp, &self.path)?;
        self.file = OpenOptions::new()
            .append(true)
            .read(true)
            .open(&self.path)?;
        self.len = len;
        self.records = snapshot.records + tail_records;
        Ok(self
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned))
    }
}

/// Fsyncs a directory, so a rename in it survives power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// Where the records start; `Err(Some(v))` for a newer version, `Err(None)` for a foreign file.
fn check_header(bytes: &[u8], magic: &str, version: u32) -> Result<usize, Option<u32>> {
    let end = bytes.iter().position(|b| *b == b'\n').ok_or(None)?;
    let header = std::str::from_utf8(&bytes[..end]).map_err(|_| None)?;
    let (m, v) = header.split_once(' ').ok_or(None)?;
    if m != magic {
        return Err(None);
    }
    let found: u32 = v
        .strip_prefix('v')
        .and_then(|v| v.parse().ok())
        .ok_or(None)?;
    if found > version {
        return Err(Some(found));
    }
    Ok(end + 1)
}

/// A record from a line; `Err(None)` for a bad checksum, `Err(Some(e))` for bad JSON.
fn parse_line<R: DeserializeOwned>(text: &[u8]) -> Result<R, Option<String>> {
    if text.len() < SUM_LEN + 1 || text[SUM_LEN] != b' ' {
        return Err(None);
    }
    let (sum, json) = (&text[..SUM_LEN], &text[SUM_LEN + 1..]);
    if sum != checksum(json).as_bytes() {
        return Err(None);
    }
    serde_json::from_slice(json).map_err(|e| Some(e.to_string()))
}

#[cfg(test)]
mod tests;
