//! `tether-cni`, installed as `/opt/cni/bin/tether`: a chained CNI plugin that applies the
//! NetworkProfile the tether agent picks for a pod, through the `bandwidth` and `tuning`
//! plugins. This file only dispatches; the commands live in the library.

use std::io::{self, Read, Write};
use std::process::ExitCode;

use cni::commands;
use cni::config::{MAX_STDIN_BYTES, NetConf};
use cni::error::{CniError, Code};
use cni::invocation::{Command, Invocation};
use cni::spec::CniVersion;

fn main() -> ExitCode {
    let env = |var: &str| std::env::var_os(var).map(|v| v.to_string_lossy().into_owned());
    let mut stdin = Vec::new();
    let outcome = Invocation::from_env(env).and_then(|invocation| {
        // VERSION needs no configuration; not reading stdin keeps it instant.
        if invocation.command != Command::Version {
            read_stdin(&mut stdin)?;
        }
        commands::run(&invocation, &stdin)
    });
    let mut stdout = io::stdout().lock();
    match outcome {
        Ok(output) => {
            if let Some(output) = output {
                let _ = writeln!(stdout, "{output}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let version = NetConf::sniff_version(&stdin).unwrap_or(CniVersion::LATEST);
            let _ = writeln!(stdout, "{}", e.to_json(version));
            ExitCode::FAILURE
        }
    }
}

/// Reads stdin, one byte past the limit so an oversized configuration is noticed.
fn read_stdin(buf: &mut Vec<u8>) -> Result<(), CniError> {
    io::stdin()
        .lock()
        .take(MAX_STDIN_BYTES as u64 + 1)
        .read_to_end(buf)
        .map(drop)
        .map_err(|e| {
            CniError::new(Code::Io, "cannot read the network configuration on stdin")
                .with_details(e.to_string())
        })
}
