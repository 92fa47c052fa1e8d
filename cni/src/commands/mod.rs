//! The CNI commands. Each takes the validated invocation and configuration and returns what
//! to print on stdout, or the error the runtime gets.

mod add;
mod check;
mod del;
mod gc;
mod status;

use serde_json::{Value, json};

use crate::config::NetConf;
use crate::delegate::Runner;
use crate::error::{CniError, Code};
use crate::invocation::{Command, Invocation, Target};
use crate::spec::{CniResult, CniVersion};
use crate::state::Record;

/// Runs the invocation's command with `stdin` as the network configuration; returns what
/// to print on stdout, if anything.
pub fn run(invocation: &Invocation, stdin: &[u8]) -> Result<Option<String>, CniError> {
    if invocation.command == Command::Version {
        return Ok(Some(version_info().to_string()));
    }
    let conf = NetConf::parse(stdin)?;
    match invocation.command {
        Command::Add => add::add(invocation, &conf, target(invocation)?).map(Some),
        Command::Del => del::del(invocation, &conf, target(invocation)?).map(|()| None),
        Command::Check => check::check(invocation, &conf, target(invocation)?).map(|()| None),
        Command::Status => status::status(&conf).map(|()| None),
        Command::Gc => gc::gc(invocation, &conf).map(|()| None),
        Command::Version => Ok(Some(version_info().to_string())),
    }
}

/// The VERSION answer.
pub fn version_info() -> Value {
    json!({
        "cniVersion": CniVersion::LATEST.as_str(),
        "supportedVersions": CniVersion::ALL.map(CniVersion::as_str),
    })
}

fn target(invocation: &Invocation) -> Result<&Target, CniError> {
    // Invocation::from_env always sets a target for ADD, DEL and CHECK.
    invocation
        .target
        .as_ref()
        .ok_or_else(|| CniError::new(Code::InvalidEnvironment, "CNI_CONTAINERID is not set"))
}

/// `prevResult` parsed, or the error a chained command without one gets.
fn prev_result(conf: &NetConf, command: Command) -> Result<CniResult, CniError> {
    let prev = conf.prev_result.as_ref().ok_or_else(|| {
        CniError::new(Code::InvalidConfig, format!("{} needs prevResult", command.as_str())).with_details(
            "tether is a chained plugin: list it after the main plugin (bridge, flannel, ...) in a conflist",
        )
    })?;
    CniResult::from_value(prev.clone()).map_err(|e| {
        CniError::new(Code::InvalidConfig, "prevResult is not a CNI result")
            .with_details(e.to_string())
    })
}

/// The delegate runner for an attachment.
fn runner<'a>(invocation: &'a Invocation, conf: &'a NetConf, target: &'a Target) -> Runner<'a> {
    Runner {
        cni_path: &invocation.cni_path,
        network: &conf.name,
        container_id: Some(&target.container_id),
        ifname: Some(&target.ifname),
        netns: target.netns.as_deref(),
        cni_args: &invocation.cni_args,
    }
}

/// Runs DEL of a record's delegates in reverse ADD order, with `prev` converted to the version
/// they run at.
///
/// At the recorded version it stops at the first failure: the runtime retries DEL. A record
/// whose version this build does not know (a newer tether-cni wrote it) can never be replayed
/// at that version, and refusing would leave the sandbox undeletable forever: its delegates
/// are run at `fallback` instead, as far as they go, each failure noted on stderr, and the
/// caller forgets the record.
fn replay_del(
    runner: &Runner<'_>,
    record: &Record,
    fallback: CniVersion,
    prev: Option<&CniResult>,
) -> Result<(), CniError> {
    let Ok(version) = recorded_version(record) else {
        eprintln!(
            "tether: {}@{} was recorded with delegateVersion {:?}, which this tether-cni does not know (a newer one wrote it?); undoing its delegates at {fallback} as far as they go, then forgetting it",
            record.container_id, record.ifname, record.delegate_version
        );
        let prev = prev.map(|r| r.to_value(fallback));
        for delegate in record.delegates.iter().rev() {
            if let Err(e) = runner.run(Command::Del, fallback, delegate, prev.as_ref(), None) {
                eprintln!(
                    "tether: {} DEL at {fallback}: {e}; going on",
                    delegate.plugin
                );
            }
        }
        return Ok(());
    };
    let prev = prev.map(|r| r.to_value(version));
    for delegate in record.delegates.iter().rev() {
        runner.run(Command::Del, version, delegate, prev.as_ref(), None)?;
    }
    Ok(())
}

fn recorded_version(record: &Record) -> Result<CniVersion, CniError> {
    CniVersion::parse(&record.delegate_version).ok_or_else(|| {
        CniError::new(Code::Decode, "state names an unknown cniVersion").with_details(format!(
            "{} for {}@{}",
            record.delegate_version, record.container_id, record.ifname
        ))
    })
}
