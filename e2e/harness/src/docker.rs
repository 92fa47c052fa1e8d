//! The Docker CLI, for what the harness does the way operators and OpenYurt's own e2e do it:
//! image builds, networks, `docker network disconnect`, `docker exec`, logs.

use std::process::{Command, Output, Stdio};

use thiserror::Error;

/// A Docker command that failed.
#[derive(Debug, Error)]
pub enum DockerError {
    /// The `docker` binary could not be run.
    #[error("cannot run docker {args}: {source} (is Docker installed and on PATH?)")]
    Spawn {
        /// The arguments.
        args: String,
        /// Why.
        source: std::io::Error,
    },
    /// Docker ran and failed.
    #[error("docker {args} failed ({status}): {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it said.
        stderr: String,
    },
}

/// Runs `docker args...`; stdout on success.
pub fn docker(args: &[&str]) -> Result<String, DockerError> {
    let output = raw(args)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(DockerError::Failed {
            args: args.join(" "),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// Runs `docker args...` and returns its output whatever the exit status.
pub fn raw(args: &[&str]) -> Result<Output, DockerError> {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DockerError::Spawn {
            args: args.join(" "),
            source,
        })
}

/// Whether the Docker engine answers.
pub fn available() -> Result<String, DockerError> {
    docker(&["version", "--format", "{{.Server.Version}}"]).map(|v| v.trim().to_string())
}
