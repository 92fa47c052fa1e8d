//! The binary's socket, with its default limits, against callers that misbehave: connections
//! that stall mid-request, bodies that never arrive, and requests hyper's parser refuses. Found
//! by fuzzing probes; each test failed before its fix.
//!
//! Needs root, like `offline.rs`: the binary serves uid-0 peers only.

// The helpers fail the test by panicking.
#![allow(clippy::unwrap_used)]

#[path = "support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use cni::protocol::{ADD_PATH, ErrorBody};
use support::{Agent, kubeconfig, query, wait_until_or};

/// An ADD as `tether-cni` sends it.
const ADD: &str = r#"{"containerId":"c1","ifname":"eth0","netns":"/var/run/netns/x","podNamespace":"default","podName":"cam-1","podUid":"uid-1"}"#;
/// Nothing listens on port 1 of the loopback: the agent answers defaults at once.
const UNREACHABLE: &str = "https://127.0.0.1:1";
/// How long `tether-cni` waits for an answer (`agentTimeoutMs`' default).
const PLUGIN_DEADLINE: Duration = Duration::from_millis(cni::config::DEFAULT_AGENT_TIMEOUT_MS);
/// The agent's `--connection-timeout-ms` default, and time to spare.
const CLOSED_WITHIN: Duration = Duration::from_secs(10);

/// Runs the binary as root only; elsewhere the test is skipped, except in CI.
fn agent(dir: &Path) -> Option<Agent> {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "test skipped under CI=true: not root (the agent serves uid-0 peers only)"
        );
        eprintln!("skipped: not root (the agent serves uid-0 peers only)");
        return None;
    }
    let agent = Agent::start(dir, &kubeconfig(dir, UNREACHABLE));
    assert_eq!(query(&agent.socket, "POST", ADD_PATH, ADD).0, 200);
    Some(agent)
}

/// The three places a request can stall: in the request line, in the headers, in the body.
fn stall(socket: &Path, n: usize) -> UnixStream {
    let partial: &[u8] = match n % 3 {
        0 => b"POST /v1/cni/a",
        1 => b"POST /v1/cni/add HTTP/1.1\r\nHost: agent\r\nContent-Le",
        _ => b"POST /v1/cni/add HTTP/1.1\r\nHost: agent\r\nContent-Length: 100\r\n\r\n{",
    };
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(partial).unwrap();
    s
}

/// Waits for the agent to close `s`; returns what it sent before closing.
fn closed_by_agent(mut s: UnixStream, deadline: Instant) -> Vec<u8> {
    let left = deadline.saturating_duration_since(Instant::now());
    s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .unwrap();
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => out,
        // A reset is a close too: the agent dropped it with bytes unread.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => out,
        Err(e) => panic!("a stalled connection still open at the deadline: {e}"),
    }
}

fn metric(agent: &Agent, name: &str) -> String {
    let (status, text) = agent.ops("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map_or_else(|| format!("{name} missing"), str::to_owned)
}

#[test]
fn three_hundred_stalled_connections_do_not_lock_out_an_add() {
    let dir = tempfile::tempdir().unwrap();
    let Some(agent) = agent(dir.path()) else {
        return;
    };
    let stalled: Vec<UnixStream> = (0..300).map(|n| stall(&agent.socket, n)).collect();

    let started = Instant::now();
    let (status, body) = query(&agent.socket, "POST", ADD_PATH, ADD);
    let took = started.elapsed();
    eprintln!("ADD answered in {took:?} with 300 stalled connections open");
    assert_eq!(status, 200, "{body}");
    assert!(
        took < PLUGIN_DEADLINE,
        "answered in {took:?}: after tether-cni gave up ({PLUGIN_DEADLINE:?})"
    );

    let deadline = Instant::now() + CLOSED_WITHIN;
    for s in stalled {
        assert_eq!(
            closed_by_agent(s, deadline),
            b"",
            "a stalled request is closed unanswered"
        );
    }
}

#[test]
fn bodies_cut_off_mid_way_leave_no_request_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let Some(agent) = agent(dir.path()) else {
        return;
    };
    let name = "tether_agent_socket_in_flight";
    let cut: Vec<UnixStream> = (0..5).map(|_| stall(&agent.socket, 2)).collect();
    wait_until_or(
        CLOSED_WITHIN,
        || metric(&agent, name) == format!("{name} 5"),
        || metric(&agent, name),
    );
    let deadline = Instant::now() + CLOSED_WITHIN;
    for s in cut {
        closed_by_agent(s, deadline);
    }
    wait_until_or(
        CLOSED_WITHIN,
        || metric(&agent, name) == format!("{name} 0"),
        || metric(&agent, name),
    );
}

/// Sends `request` whole and returns the status, the Content-Type and the body of the answer.
fn send(socket: &Path, request: &[u8]) -> (u16, String, String) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(CLOSED_WITHIN)).unwrap();
    // The agent may answer and close before it has read everything of a huge head.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

#[test]
fn requests_the_parser_refuses_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let Some(agent) = agent(dir.path()) else {
        return;
    };
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(u16::MAX as usize)
    );
    let many_headers = format!(
        "GET /v1/healthz HTTP/1.1\r\n{}\r\n",
        (0..101)
            .map(|n| format!("X-{n}: v\r\n"))
            .collect::<String>()
    );
    let huge_header = format!(
        "GET /v1/healthz HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "v".repeat(512 * 1024)
    );
    let cases: [(&str, &[u8], u16); 8] = [
        ("URI too long", long_uri.as_bytes(), 414),
        ("too many headers", many_headers.as_bytes(), 431),
        ("head larger than the buffer", huge_header.as_bytes(), 431),
        ("bad method", b"P\x01ST /v1/cni/add HTTP/1.1\r\n\r\n", 400),
        ("bad version", b"GET /v1/healthz HTTP/7.1\r\n\r\n", 400),
        (
            "bad Content-Length",
            b"POST /v1/cni/add HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding not ending in chunked",
            b"POST /v1/cni/add HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            400,
        ),
        (
            "bad chunk size",
            b"POST /v1/cni/add HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
        ),
    ];
    for (what, request, want) in cases {
        let (status, content_type, body) = send(&agent.socket, request);
        assert_eq!(status, want, "{what}: {body}");
        assert_eq!(content_type, "application/json", "{what}");
        let error: ErrorBody = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{what}: body {body:?} is not an ErrorBody: {e}"));
        assert!(!error.error.is_empty(), "{what}");
    }
    // Still serving.
    assert_eq!(query(&agent.socket, "POST", ADD_PATH, ADD).0, 200);
}
