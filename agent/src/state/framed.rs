//! A small, versioned, checksummed file format for state the agent keeps across restarts.
//!
//! Layout: one header line `<magic> v<version> <payload-length> <sha256-hex>\n`, then the JSON
//! payload. Files are replaced atomically (temporary file, fsync, rename, fsync of the
//! directory), so a crash leaves either the old or the new file, never a mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Why a framed file cannot be used.
#[derive(Debug, Error)]
pub enum FrameError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: io::Error,
    },
    /// The header is missing or does not name this kind of file.
    #[error("{0}: not a {1} file")]
    Header(PathBuf, &'static str),
    /// Written by a newer agent.
    #[error("{path}: format v{found} is newer than v{supported}")]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u32,
        /// Newest version this agent reads.
        supported: u32,
    },
    /// Shorter or longer than the header says.
    #[error("{path}: truncated or extended: header says {expected} bytes, found {found}")]
    Length {
        /// The file.
        path: PathBuf,
        /// Length in the header.
        expected: usize,
        /// Length on disk.
        found: usize,
    },
    /// The payload does not match its checksum.
    #[error("{0}: checksum mismatch")]
    Checksum(PathBuf),
    /// The payload is not the expected JSON.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FrameError + '_ {
    move |source| FrameError::Io {
        path: path.to_owned(),
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `value` to `path` atomically in the framed format.
pub fn write<T: Serialize>(
    path: &Path,
    magic: &'static str,
    version: u32,
    value: &T,
) -> Result<(), FrameError> {
    let payload = serde_json::to_vec(value).map_err(|source| FrameError::Json {
        path: path.to_owned(),
        source,
    })?;
    let header = format!(
        "{magic} v{version} {} {}\n",
        payload.len(),
        hex(&Sha256::digest(&payload))
    );
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(header.as_bytes()).map_err(io_err(&tmp))?;
    file.write_all(&payload).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// Reads a framed file; `Ok(None)` when it does not exist.
pub fn read<T: DeserializeOwned>(
    path: &Path,
    magic: &'static str,
    version: u32,
) -> Result<Option<T>, FrameError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FrameError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let header_err = || FrameError::Header(path.to_owned(), magic);
    let newline = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(header_err)?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| header_err())?;
    let payload = &bytes[newline + 1..];
    let fields: Vec<&str> = header.split(' ').collect();
    let [m, v, len, sum] = fields.as_slice() else {
        return Err(header_err());
    };
    if *m != magic {
        return Err(header_err());
    }
    let found: u32 = v
        .strip_prefix('v')
        .and_then(|v| v.parse().ok())
        .ok_or_else(header_err)?;
    if found > version {
        return Err(FrameError::NewerFormat {
            path: path.to_owned(),
            found,
            supported: version,
        });
    }
    let expected: usize = len.parse().map_err(|_| header_err())?;
    if expected != payload.len() {
        return Err(FrameError::Length {
            path: path.to_owned(),
            expected,
            found: payload.len(),
        });
    }
    if hex(&Sha256::digest(payload)) != *sum {
        return Err(FrameError::Checksum(path.to_owned()));
    }
    serde_json::from_slice(payload)
        .map(Some)
        .map_err(|source| FrameError::Json {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests;
