//! What the double's audit log says about the storm: requests per agent, 429s, and whether
//! any agent sent a request again before the `Retry-After` of the 429 it got for it.
//!
//! Every agent is the same user (one ServiceAccount), so a request is attributed to its node
//! by what its URI names: the pods and node watches' field selectors, the status patches'
//! `fieldManager=tether-agent/<node>`. NetworkProfile lists and watches and the upstream probe
//! (`GET /api`) name no node; they are counted, and their 429s reported apart.

use std::collections::BTreeMap;

use tether_sim::apiserver::AuditEvent;

/// `Retry-After` of every 429 the double sends (`apiserver/server.rs`, `error_response`).
pub const RETRY_AFTER_MICROS: i64 = 1_000_000;

/// The storm's requests, summed up.
#[derive(Debug, Default)]
pub struct Storm {
    /// Requests of every agent in the window.
    pub requests: usize,
    /// Requests by kind: `list`, `watch`, `patch`, `probe`, `other`.
    pub by_kind: BTreeMap<&'static str, usize>,
    /// Requests attributed to each node.
    pub per_node: BTreeMap<String, usize>,
    /// 429s.
    pub throttled: usize,
    /// 429s of requests naming their node.
    pub throttled_attributed: usize,
    /// Of those, how many the same node sent again (same verb and URI) before Retry-After.
    pub early_retries: usize,
}

/// Microseconds since the Unix epoch at which `e` arrived.
pub fn arrived_micros(e: &AuditEvent) -> Option<i64> {
    e.arrived().map(|t| t.timestamp_micros())
}

/// Sums up the requests that arrived in `from..=to` (microseconds since the epoch).
pub fn storm(events: &[AuditEvent], from: i64, to: i64) -> Storm {
    let mut out = Storm::default();
    let timed: Vec<(i64, &AuditEvent)> = events
        .iter()
        .filter_map(|e| Some((arrived_micros(e)?, e)))
        .filter(|(t, _)| (from..=to).contains(t))
        .collect();
    for &(t, e) in &timed {
        out.requests += 1;
        *out.by_kind.entry(kind(e)).or_default() += 1;
        let node = node_of(&e.uri);
        if let Some(node) = &node {
            *out.per_node.entry(node.clone()).or_default() += 1;
        }
        if e.code != 429 {
            continue;
        }
        out.throttled += 1;
        let Some(node) = node else { continue };
        out.throttled_attributed += 1;
        let again = timed.iter().find(|(t2, e2)| {
            *t2 > t
                && e2.verb == e.verb
                && e2.uri == e.uri
                && node_of(&e2.uri) == Some(node.clone())
        });
        if again.is_some_and(|(t2, _)| t2 - t < RETRY_AFTER_MICROS) {
            out.early_retries += 1;
        }
    }
    out
}

fn kind(e: &AuditEvent) -> &'static str {
    match e.verb.as_str() {
        "list" => "list",
        "watch" => "watch",
        "patch" => "patch",
        _ if e.uri == "/api" => "probe",
        _ => "other",
    }
}

/// The node a request URI names, if any.
pub fn node_of(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        let v = percent_decode(v);
        match k {
            "fieldSelector" => v
                .strip_prefix("spec.nodeName=")
                .or_else(|| v.strip_prefix("metadata.name="))
                .map(str::to_owned),
            "fieldManager" => v.strip_prefix("tether-agent/").map(str::to_owned),
            _ => None,
        }
    })
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hex: Vec<u8> = bytes.by_ref().take(2).collect();
        match std::str::from_utf8(&hex)
            .ok()
            .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            Some(v) => out.push(v),
            None => out.extend_from_slice(&hex),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
