//! The kubelet double's control socket (`/run/tether-node/kubelet.sock`): what a scenario
//! asks the node's kubelet directly, because the API may be out of reach (a node cut off
//! still recreates sandboxes). One JSON request per connection, one JSON line back.
//!
//! `tether-node pod show|recreate|wait-gone --uid U` are its clients on the node.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A question to the kubelet double.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Request {
    /// The pod as the kubelet double runs it; waits up to `timeout_ms` for a ready sandbox
    /// (0: answer at once).
    Show {
        /// Pod UID.
        uid: String,
        /// How long to wait for a ready sandbox.
        timeout_ms: u64,
    },
    /// A new sandbox for the pod (attempt + 1): the current one stopped (CNI DEL) and
    /// removed, another run (CNI ADD) — what kubelet does when a sandbox dies. Answers once
    /// the new one is ready, or fails after `timeout_ms`.
    Recreate {
        /// Pod UID.
        uid: String,
        /// Give up after this long.
        timeout_ms: u64,
    },
    /// Waits until the kubelet double has nothing left of the pod: its sandbox stopped (CNI
    /// DEL) and removed, after the pod was deleted.
    AwaitGone {
        /// Pod UID.
        uid: String,
        /// Give up after this long.
        timeout_ms: u64,
    },
    /// Every pod the kubelet double knows.
    List,
}

/// A pod as the kubelet double runs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// The running sandbox, if any.
    pub sandbox: Option<SandboxView>,
    /// Why the last attempt to run it failed, if it did.
    pub error: Option<String>,
}

/// A pod sandbox the runtime reported ready.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxView {
    /// Sandbox ID (CNI's `CNI_CONTAINERID`).
    pub id: String,
    /// Its attempt number (0 for a pod's first sandbox).
    pub attempt: u32,
    /// Path of its network namespace (`/var/run/netns/cni-…`).
    pub netns: Option<String>,
    /// The pod IP the runtime reported.
    pub ip: Option<String>,
    /// IDs of its running app containers.
    pub containers: Vec<String>,
}

/// The kubelet double's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Response {
    /// One pod.
    Pod(PodView),
    /// Every pod.
    Pods(Vec<PodView>),
    /// The request was done (a pod is gone).
    Done,
    /// It could not be done.
    Error(String),
}

/// Sends `request` to the kubelet double at `socket`; its answer, an error when it says
/// the request failed.
pub fn ask(socket: &Path, request: &Request, timeout: Duration) -> anyhow::Result<Response> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to the kubelet double at {}", socket.display()))?;
    // The server's own deadline is the request's; this one only guards against a hung server.
    stream
        .set_read_timeout(Some(timeout + Duration::from_secs(5)))
        .context("setting a read timeout")?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .context("sending to the kubelet double")?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .context("reading the kubelet double's answer")?;
    let response: Response = serde_json::from_str(&answer)
        .with_context(|| format!("the kubelet double answered {answer:?}"))?;
    if let Response::Error(e) = response {
        bail!("the kubelet double: {e}");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_have_a_stable_wire_form() {
        let request = Request::Recreate {
            uid: "u1".into(),
            timeout_ms: 5,
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(text, r#"{"op":"recreate","uid":"u1","timeoutMs":5}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), request);
        let list: Request = serde_json::from_str(r#"{"op":"list"}"#).unwrap();
        assert_eq!(list, Request::List);
        let answer = serde_json::to_string(&Response::Error("no".into())).unwrap();
        assert_eq!(answer, r#"{"error":"no"}"#);
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }
}
