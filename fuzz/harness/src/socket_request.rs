//! `socket_request`: raw bytes sent to the agent's socket server (`agent::serve::socket`), as
//! `tether-cni` or anything else able to connect would send them.
//!
//! The real server runs once per process on a Unix socket in `$TMPDIR/tether-fuzz-socket-<pid>` (its entry
//! point takes a `UnixListener`, so no in-memory stream), answering from a loaded store that
//! knows one pod with a profile, with an outbox journaling the Events it owes. Each input is
//! one connection: the bytes are written, the write side is shut, the answer read to the end.
//!
//! Invariants: the server answers at most one well-formed HTTP/1.x response (status line,
//! headers, `Content-Length` equal to the body's length) or closes without one; a body is a
//! JSON object: an `AddResponse` that validates or the health document for a 200, an `ErrorBody` naming the problem otherwise; the in-flight gauge
//! is back to 0 once the connection is closed.
//!
//! Known and tolerated until the fix in `agent/src/serve/` lands: the 4xx that hyper writes
//! itself for a request it cannot parse have an empty body ([`EMPTY_BODY_KNOWN`]).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agent::metrics::Metrics;
use agent::profile::crd::{NetworkProfile, NetworkProfileSpec};
use agent::serve::socket::{self, ServerConfig};
use agent::state::outbox::Outbox;
use agent::state::records::{Feed, NodeInfo, Origin, PodInfo};
use agent::state::store::Store;
use cni::protocol::{AddResponse, ErrorBody};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;

use crate::runtime;

/// Statuses hyper answers with an empty body when it cannot parse a request (bad request line
/// or header, URI too long, headers too large, unsupported version).
pub const EMPTY_BODY_KNOWN: [u16; 4] = [400, 414, 431, 505];

/// Longest a connection may take: the server's own deadline plus slack.
const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

struct Server {
    path: PathBuf,
    metrics: Arc<Metrics>,
    _stop: watch::Sender<bool>,
}

fn profile() -> NetworkProfile {
    let mut p = NetworkProfile::new(
        "fast",
        NetworkProfileSpec {
            priority: 1,
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                match_expressions: None,
            }),
            mtu: Some(1400),
            ..Default::default()
        },
    );
    p.metadata = ObjectMeta {
        name: Some("fast".into()),
        generation: Some(3),
        ..Default::default()
    };
    p
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = socket_dir();
        let path = dir.join("agent.sock");
        let store = Store::new("edge-1");
        store.set_node(
            Some(NodeInfo {
                name: "edge-1".into(),
                labels: BTreeMap::new(),
            }),
            Origin::Api,
        );
        store.replace_pods(
            vec![PodInfo {
                namespace: "default".into(),
                name: "web-0".into(),
                uid: "u-1".into(),
                labels: BTreeMap::from([("app".into(), "web".into())]),
            }],
            Origin::Api,
        );
        store.replace_profiles(vec![profile()], Origin::Api);
        store.set_all_feeds(Feed::Watching);
        let metrics = Arc::new(Metrics::default());
        let (outbox, _) = Outbox::open(&Outbox::path(&dir), 64, metrics.clone());
        // The uid of this process, read from a file it creates: the server serves only it.
        let uid = tempfile::tempfile()
            .and_then(|f| f.metadata())
            .expect("a temporary file")
            .uid();
        let config = ServerConfig {
            // A pod the store does not know is answered at once.
            pod_wait: Duration::ZERO,
            connection_timeout: Duration::from_millis(500),
            max_connections: 4,
            required_uid: uid,
        };
        let (stop, rx) = watch::channel(false);
        let listener = runtime::get()
            .block_on(async { socket::bind(&path) })
            .expect("binding the socket");
        runtime::get().spawn(socket::serve(
            listener,
            store,
            config,
            metrics.clone(),
            Some(outbox),
            rx,
        ));
        Server {
            path,
            metrics,
            _stop: stop,
        }
    })
}

/// The server's directory for this process. A static is never dropped, so the directory cannot
/// be removed at exit: instead the directories of processes that are gone are removed here.
fn socket_dir() -> PathBuf {
    const PREFIX: &str = "tether-fuzz-socket-";
    let tmp = std::env::temp_dir();
    for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(PREFIX)
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = tmp.join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the socket's directory");
    dir
}

/// Runs one input; panics on a broken invariant.
pub fn socket_request(data: &[u8]) {
    let server = server();
    let answer = runtime::get().block_on(async {
        let exchange = async {
            let mut stream = UnixStream::connect(&server.path)
                .await
                .expect("connecting to the agent's socket");
            // The server may answer and close before reading everything: not an error.
            let _ = stream.write_all(data).await;
            let _ = stream.shutdown().await;
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            answer
        };
        tokio::time::timeout(ANSWER_DEADLINE, exchange)
            .await
            .unwrap_or_else(|_| panic!("no answer nor close within {ANSWER_DEADLINE:?}"))
    });
    check_answer(&answer);
    assert_eq!(
        server.metrics.socket_in_flight.get(),
        0,
        "socket_in_flight after the connection closed"
    );
}

fn check_answer(answer: &[u8]) {
    if answer.is_empty() {
        return;
    }
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("answer without the end of its headers: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    // hyper answers an HTTP/1.0 request in HTTP/1.0.
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut length = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("bad header line {line:?}"));
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .expect("a numeric Content-Length"),
            );
        }
    }
    let length = length.unwrap_or_else(|| panic!("answer without Content-Length: {head:?}"));
    // Exactly one answer per connection: nothing follows the body.
    assert_eq!(
        body.len(),
        length,
        "body length vs Content-Length: {text:?}"
    );
    if body.is_empty() {
        assert!(
            EMPTY_BODY_KNOWN.contains(&status),
            "empty body with status {status}"
        );
        return;
    }
    let json: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {body:?}"));
    assert!(json.is_object(), "{status} body is not a JSON object");
    if status == 200 && json.get("ok").is_some() {
        assert!(
            json["ok"].is_boolean() && json["live"].is_boolean(),
            "{body}"
        );
    } else if status == 200 {
        let answer: AddResponse = serde_json::from_value(json)
            .unwrap_or_else(|e| panic!("200 is neither health nor an AddResponse ({e}): {body}"));
        assert!(answer.validate().is_ok(), "invalid answer sent: {body}");
    } else {
        let error: ErrorBody = serde_json::from_value(json)
            .unwrap_or_else(|e| panic!("{status} is not an ErrorBody ({e}): {body}"));
        assert!(!error.error.is_empty(), "{status} with an empty error");
    }
}
