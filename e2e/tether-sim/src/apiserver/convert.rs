//! One storage, several API views: `events.k8s.io/v1` Events are stored as core v1
//! Events (as the real server does), so `kubectl get events` shows what the agent
//! reported through the new API, and both watches see every event.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// events.k8s.io/v1 field ↔ core v1 field.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn is_new_event(rt: &ResourceType) -> bool {
    rt.group == "events.k8s.io"
}

fn rename(mut obj: Value, pairs: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    if let Some(m) = obj.as_object_mut() {
        for (from, to) in pairs {
            if let Some(v) = m.remove(from) {
                m.insert(to.to_string(), v);
            }
        }
    }
    obj
}

/// The stored form of an object received through `rt`. Empty `omitempty` fields are
/// left out, as the real server's decoding leaves them.
pub fn to_storage(rt: &ResourceType, mut obj: Value) -> Value {
    super::omit_empty::apply(rt, &mut obj);
    if !is_new_event(rt) {
        return obj;
    }
    let mut o = rename(obj, EVENT_FIELDS.iter().copied());
    o["apiVersion"] = json!("v1");
    o
}

/// The form of a stored object served through `rt`.
/// Custom objects get their schema's defaults, as the real storage codec's decoding
/// gives them.
pub fn from_storage(rt: &ResourceType, mut obj: Value) -> Value {
    if rt.custom {
        super::defaulting::apply(&mut obj, &rt.schema);
    }
    if !is_new_event(rt) {
        return obj;
    }
    let mut o = rename(obj, EVENT_FIELDS.iter().map(|(a, b)| (*b, *a)));
    o["apiVersion"] = json!(rt.api_version());
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::builtins::builtins;

    #[test]
    fn events_round_trip_between_the_two_apis() {
        let new = builtins()
            .into_iter()
            .find(|r| r.group == "events.k8s.io")
            .unwrap();
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "n", "regarding": {"name": "p"},
                        "reportingController": "tether.dev/agent", "reason": "R"});
        let stored = to_storage(&new, ev.clone());
        assert_eq!(
            (
                stored["message"].as_str(),
                stored["involvedObject"]["name"].as_str()
            ),
            (Some("n"), Some("p"))
        );
        assert_eq!(stored["reportingComponent"], "tether.dev/agent");
        assert_eq!(from_storage(&new, stored), ev);
    }
}
