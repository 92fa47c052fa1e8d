//! Watch streams: ADDED/MODIFIED/DELETED from a resourceVersion, bookmarks, 410 Gone
//! beyond the kept history, timeouts, `sendInitialEvents`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::convert;
use super::resources::ResourceType;
use super::select::{FieldSelector, LabelSelector};
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::store::{EventType, StoredEvent};
use super::table::TableRequest;

/// What a watch request asked for.
pub struct WatchRequest {
    /// Resource type watched.
    pub rt: ResourceType,
    /// Namespace (`""` for all).
    pub namespace: String,
    /// Label and field selectors.
    pub selectors: (LabelSelector, FieldSelector),
    /// `resourceVersion` parameter.
    pub resource_version: Option<String>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: bool,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// Send objects as `meta.k8s.io/v1` Tables (what `kubectl get -w` asks for).
    pub table: Option<TableRequest>,
}

impl WatchRequest {
    fn selects(&self, obj: &Value) -> bool {
        let ns_ok = self.namespace.is_empty()
            || obj["metadata"]["namespace"].as_str() == Some(self.namespace.as_str());
        ns_ok && self.selectors.0.matches(obj) && self.selectors.1.matches(obj)
    }

    /// The event a watcher sees for a stored change, if any: objects entering the
    /// selection are ADDED, leaving it DELETED.
    fn translate(&self, ev: &StoredEvent) -> Option<Value> {
        if ev.key.resource != self.rt.id() {
            return None;
        }
        let object = convert::from_storage(&self.rt, ev.object.clone());
        let now = self.selects(&object);
        let before = ev
            .previous
            .as_ref()
            .is_some_and(|p| self.selects(&convert::from_storage(&self.rt, p.clone())));
        let kind = match (ev.kind, before, now) {
            (EventType::Added, _, true) => "ADDED",
            (EventType::Deleted, _, true) => "DELETED",
            (EventType::Modified, true, true) => "MODIFIED",
            (EventType::Modified, false, true) => "ADDED",
            (EventType::Modified, true, false) => "DELETED",
            _ => return None,
        };
        Some(self.event(kind, object))
    }

    fn event(&self, kind: &str, mut obj: Value) -> Value {
        obj["apiVersion"] = json!(self.rt.api_version());
        if let Some(table) = &self.table {
            obj = table.of_watch_event(&obj);
        }
        json!({"type": kind, "object": obj})
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Value {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({"type": "BOOKMARK", "object": {"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta}})
    }
}

/// One event per line; a Status object (an ERROR event) in its Go field order.
fn line(v: &Value) -> Bytes {
    let object = &v["object"];
    if object["kind"] == "Status" {
        let ty = serde_json::to_string(&v["type"]).unwrap_or_default();
        let status = super::status::encode(object);
        return Bytes::from(format!(
            "{{\"type\":{ty},\"object\":{}}}\n",
            status.trim_end()
        ));
    }
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Start a watch: returns the receiving end of the byte stream of JSON lines.
pub fn start(st: Arc<State>, req: WatchRequest) -> ApiResult<mpsc::Receiver<Bytes>> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let rv = match req.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))?,
        ),
    };
    let mut initial = Vec::new();
    let (rx_events, mut last_rv) = match rv {
        Some(from) if !req.send_initial_events => match st.store.subscribe_after(from) {
            Ok((backlog, rx_events, _)) => {
                let mut last = from;
                for ev in backlog {
                    last = ev.rv;
                    initial.extend(req.translate(&ev));
                }
                (rx_events, last)
            }
            Err(oldest) => {
                let gone =
                    ApiError::expired(format!("too old resource version: {from} ({oldest})"));
                // The real server answers 200 and one ERROR event carrying the 410 Status.
                let _ = tx.try_send(line(&json!({"type": "ERROR", "object": gone.to_status()})));
                return Ok(rx);
            }
        },
        _ => {
            let ns = (!req.namespace.is_empty()).then_some(req.namespace.as_str());
            let (items, rx_events, now) = st.store.snapshot_and_subscribe(&req.rt.id(), ns);
            let items = items.into_iter().map(|o| convert::from_storage(&req.rt, o));
            for o in items.filter(|o| req.selects(o)) {
                initial.push(req.event("ADDED", o));
            }
            if req.send_initial_events && req.bookmarks {
                initial.push(req.bookmark(now, true));
            }
            (rx_events, now)
        }
    };
    let interval = st.bookmark_interval;
    tokio::spawn(async move {
        let mut rx_events: broadcast::Receiver<Arc<StoredEvent>> = rx_events;
        for ev in &initial {
            if tx.send(line(ev)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(req.timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                ev = rx_events.recv() => match ev {
                    Ok(ev) if ev.rv > last_rv => {
                        last_rv = ev.rv;
                        if let Some(out) = req.translate(&ev)
                            && tx.send(line(&out)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Too slow a reader, or shutdown: end the stream; the client re-watches.
                    Err(_) => return,
                },
                _ = tick.tick(), if req.bookmarks => {
                    if tx.send(line(&req.bookmark(last_rv, false))).await.is_err() {
                        return;
                    }
                }
                _ = &mut deadline => return,
                _ = tx.closed() => return,
            }
        }
    });
    Ok(rx)
}
