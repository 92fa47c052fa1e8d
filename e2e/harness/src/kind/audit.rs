//! The API server's audit log (audit.k8s.io/v1 events, one JSON object a line) as the contract's
//! [`Request`]s, once each.
//!
//! A request can be logged at several stages (k8s.io/apiserver v0.34.3
//! `pkg/apis/audit/v1/types.go:52-67`): `RequestReceived`, `ResponseStarted` (long-running
//! requests only: a watch), `ResponseComplete`, `Panic`. The policy omits the first two
//! ([`crate::kind::files::audit_policy`]); the parser still keeps one request per `auditID`
//! (types.go:79), the last stage logged, so a log written under another policy counts each
//! request once too.

use serde_json::Value;

use super::error::KindError;
use crate::backend::Request;

/// One audit event: its `auditID` and the request it describes.
pub fn parse_event(line: &str) -> Result<(String, Request), KindError> {
    let bad = |why: String| KindError::Unexpected {
        command: "the audit log".into(),
        why,
    };
    let e: Value =
        serde_json::from_str(line).map_err(|e| bad(format!("a line is not JSON: {e}")))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let id = text(&e["auditID"]);
    if id.is_empty() {
        return Err(bad(format!("an event without auditID: {line}")));
    }
    let time = text(&e["requestReceivedTimestamp"]);
    chrono::DateTime::parse_from_rfc3339(&time)
        .map_err(|err| bad(format!("audit event time {time:?}: {err}")))?;
    let groups = e["user"]["groups"]
        .as_array()
        .map(|g| g.iter().map(text).collect())
        .unwrap_or_default();
    let request = Request {
        time,
        user: text(&e["user"]["username"]),
        groups,
        verb: text(&e["verb"]),
        api_group: text(&e["objectRef"]["apiGroup"]),
        resource: text(&e["objectRef"]["resource"]),
        subresource: text(&e["objectRef"]["subresource"]),
        namespace: text(&e["objectRef"]["namespace"]),
        name: text(&e["objectRef"]["name"]),
        uri: text(&e["requestURI"]),
        code: e["responseStatus"]["code"]
            .as_u64()
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or_default(),
        user_agent: text(&e["userAgent"]),
    };
    Ok((id, request))
}

/// Every request of the log once, in the order they first appear, as their last stage has
/// them.
pub fn requests(log: &str) -> Result<Vec<Request>, KindError> {
    let mut order: Vec<String> = Vec::new();
    let mut latest: std::collections::HashMap<String, Request> = Default::default();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let (id, request) = parse_event(line)?;
        if latest.insert(id.clone(), request).is_none() {
            order.push(id);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|id| latest.remove(&id))
        .collect())
}

/// How many requests of `user` the log shows answered 429.
pub fn rejected(requests: &[Request], user: &str) -> u64 {
    let n = requests
        .iter()
        .filter(|r| r.user == user && r.code == 429)
        .count();
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, stage: &str, verb: &str, code: u16) -> String {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"{stage}","requestURI":"/api/v1/pods?watch=true","verb":"{verb}","user":{{"username":"system:serviceaccount:tether-system:tether-agent","groups":["system:serviceaccounts"]}},"userAgent":"tether-agent/0.1.0","objectRef":{{"resource":"pods","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":{code}}},"requestReceivedTimestamp":"2026-11-26T07:00:43.249104Z","stageTimestamp":"2026-11-26T07:00:43.251000Z"}}"#
        )
    }

    #[test]
    fn audit_events_of_the_real_server_parse() {
        // The shape of an audit.k8s.io/v1 Event at level Metadata.
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a","stage":"ResponseComplete","requestURI":"/apis/tether.dev/v1alpha1/networkprofiles/camera/status?fieldManager=tether-agent%2Fedge-1","verb":"patch","user":{"username":"system:serviceaccount:tether-system:tether-agent","groups":["system:serviceaccounts"]},"userAgent":"tether-agent/0.1.0","objectRef":{"resource":"networkprofiles","name":"camera","apiGroup":"tether.dev","apiVersion":"v1alpha1","subresource":"status"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-26T07:00:43.249104Z","stageTimestamp":"2026-11-26T07:00:43.251000Z"}"#;
        let (id, r) = parse_event(line).unwrap();
        assert_eq!(id, "a");
        assert_eq!(
            (
                r.verb.as_str(),
                r.api_group.as_str(),
                r.resource.as_str(),
                r.subresource.as_str()
            ),
            ("patch", "tether.dev", "networkprofiles", "status")
        );
        assert_eq!(
            (r.code, r.user_agent.as_str(), r.namespace.as_str()),
            (200, "tether-agent/0.1.0", "")
        );
        assert_eq!(
            r.arrived().unwrap().to_rfc3339(),
            "2026-11-26T07:00:43.249104+00:00"
        );
        assert_eq!(r.groups, vec!["system:serviceaccounts".to_string()]);
        assert!(
            parse_event("{}").is_err(),
            "an event without an ID is refused"
        );
        assert!(
            parse_event(r#"{"auditID":"x"}"#).is_err(),
            "an event without a time is refused"
        );
    }

    #[test]
    fn a_watch_logged_at_two_stages_is_one_request() {
        let log = [
            event("w", "ResponseStarted", "watch", 200),
            event("l", "ResponseComplete", "list", 429),
            event("w", "ResponseComplete", "watch", 200),
            String::new(),
        ]
        .join("\n");
        let requests = requests(&log).unwrap();
        let verbs: Vec<&str> = requests.iter().map(|r| r.verb.as_str()).collect();
        assert_eq!(verbs, ["watch", "list"], "once each, in order of arrival");
        assert_eq!(
            rejected(
                &requests,
                "system:serviceaccount:tether-system:tether-agent"
            ),
            1
        );
        assert_eq!(rejected(&requests, "someone"), 0);
    }
}
