//! Events, core v1 and events.k8s.io/v1 alike (one storage, one printer): `printEvent` of
//! `pkg/printers/internalversion/printers.go` (Kubernetes v1.34). Cells are computed on
//! the stored (core v1) form.

use serde_json::{Value, json};

use super::age::{self, Now};
use super::columns::{Column, Row, text};
use super::docs;

/// LAST SEEN TYPE REASON OBJECT MESSAGE | wide: SUBOBJECT SOURCE FIRST SEEN COUNT NAME
/// (in the order the printer emits them).
pub fn columns() -> Vec<Column> {
    vec![
        Column::text("Last Seen", docs::EVENT_LAST_TIMESTAMP),
        Column::text("Type", docs::EVENT_TYPE),
        Column::text("Reason", docs::EVENT_REASON),
        Column::text("Object", docs::EVENT_INVOLVED_OBJECT),
        Column::text("Subobject", docs::OBJECT_REFERENCE_FIELD_PATH).wide(),
        Column::text("Source", docs::EVENT_SOURCE).wide(),
        Column::text("Message", docs::EVENT_MESSAGE),
        Column::text("First Seen", docs::EVENT_FIRST_TIMESTAMP).wide(),
        Column::text("Count", docs::EVENT_COUNT).wide(),
        Column::name().wide(),
    ]
}

/// `formatEventSource`: component (else reportingComponent), then `, host` (else
/// reportingInstance) when there is one.
fn source(ev: &Value) -> String {
    let or = |a: &Value, b: &Value| match text(a) {
        "" => text(b).to_string(),
        s => s.to_string(),
    };
    let component = or(&ev["source"]["component"], &ev["reportingComponent"]);
    match or(&ev["source"]["host"], &ev["reportingInstance"]).as_str() {
        "" => component,
        instance => format!("{component}, {instance}"),
    }
}

/// The row of one stored (core v1) Event, computed at `now`.
pub fn row(ev: &Value, now: Now) -> Row {
    let first = if age::parse(&ev["firstTimestamp"]).is_some() {
        age::since(&ev["firstTimestamp"], now)
    } else {
        age::since(&ev["eventTime"], now)
    };
    let mut last = if age::parse(&ev["lastTimestamp"]).is_some() {
        age::since(&ev["lastTimestamp"], now)
    } else {
        first.clone()
    };
    let mut count = ev["count"].as_i64().unwrap_or(0);
    if ev["series"].is_object() {
        last = age::since(&ev["series"]["lastObservedTime"], now);
        count = ev["series"]["count"].as_i64().unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let object = &ev["involvedObject"];
    let kind = text(&object["kind"]).to_lowercase();
    let target = match text(&object["name"]) {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    vec![
        json!(last),
        json!(text(&ev["type"])),
        json!(text(&ev["reason"])),
        json!(target),
        json!(text(&object["fieldPath"])),
        json!(source(ev)),
        json!(text(&ev["message"]).trim()),
        json!(first),
        json!(count),
        ev["metadata"]["name"].clone(),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        age::parse(&json!("2025-01-01T12:00:00Z")).unwrap()
    }

    #[test]
    fn a_core_event() {
        let ev = json!({"metadata": {"name": "p.1"}, "type": "Warning", "reason": "BackOff",
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{a}"},
            "source": {"component": "kubelet", "host": "edge-1"}, "message": " restarting \n",
            "firstTimestamp": "2025-01-01T11:00:00Z", "lastTimestamp": "2025-01-01T11:58:00Z", "count": 7});
        assert_eq!(
            row(&ev, now()).cells,
            vec![
                json!("2m"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/p"),
                json!("spec.containers{a}"),
                json!("kubelet, edge-1"),
                json!("restarting"),
                json!("60m"),
                json!(7),
                json!("p.1")
            ]
        );
    }

    #[test]
    fn a_new_api_event_without_timestamps_or_count() {
        // As stored from events.k8s.io/v1: eventTime, reportingComponent, no count.
        let ev = json!({"metadata": {"name": "e"}, "type": "Normal", "reason": "Attached",
            "involvedObject": {"kind": "NetworkProfile"}, "reportingComponent": "tether.dev/agent",
            "reportingInstance": "edge-1", "message": "ok", "eventTime": "2025-01-01T11:59:30.000000Z"});
        let c = row(&ev, now()).cells;
        assert_eq!(
            (&c[0], &c[3], &c[5], &c[7], &c[8]),
            (
                &json!("30s"),
                &json!("networkprofile"),
                &json!("tether.dev/agent, edge-1"),
                &json!("30s"),
                &json!(1)
            )
        );
        let series = json!({"series": {"count": 4, "lastObservedTime": "2025-01-01T11:59:00.000000Z"},
            "eventTime": "2025-01-01T11:00:00.000000Z"});
        let c = row(&series, now()).cells;
        assert_eq!(
            (&c[0], &c[7], &c[8]),
            (&json!("60s"), &json!("60m"), &json!(4))
        );
    }
}
