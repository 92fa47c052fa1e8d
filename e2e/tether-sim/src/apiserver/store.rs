//! The object store: generic JSON objects, one monotonic resourceVersion, a bounded
//! event history for watches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::status::ApiResult;

/// Where an object lives: `group/plural`, namespace (`""` if cluster-scoped), name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// `group/plural`.
    pub resource: String,
    /// Namespace or `""`.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

impl Key {
    /// Build a key.
    pub fn new(resource: &str, namespace: &str, name: &str) -> Self {
        Self {
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// Kind of change a watch reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

/// One committed change.
#[derive(Debug)]
pub struct StoredEvent {
    /// resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// Key of the object.
    pub key: Key,
    /// The object after the change (for deletes: as it was, with the deletion's RV).
    pub object: Value,
    /// The object before the change (updates only), to tell selector entry/exit.
    pub previous: Option<Value>,
}

/// What a write closure decides.
pub enum Write {
    /// Store this object (create or replace).
    Put(Value),
    /// Remove the object.
    Delete,
}

/// How the store computes `metadata.generation`.
#[derive(Clone, Copy, Debug)]
pub enum Generation {
    /// Bump when anything but metadata and status changes.
    IgnoreStatus,
    /// Bump when anything but metadata changes.
    All,
    /// Never set: the kind's strategy leaves `metadata.generation` alone.
    Untracked,
}

struct Inner {
    rv: u64,
    compacted: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<StoredEvent>>,
    cap: usize,
}

/// The shared store.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<StoredEvent>>,
}

/// A watch start point: the events after the asked version, then the live feed.
pub type Subscription = (
    Vec<Arc<StoredEvent>>,
    broadcast::Receiver<Arc<StoredEvent>>,
    u64,
);

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn without(obj: &Value, fields: &[&str]) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for f in fields {
            m.remove(*f);
        }
    }
    o
}

/// The objects of one resource (optionally one namespace): a range scan, since keys
/// order by resource, then namespace, then name.
fn select(objects: &BTreeMap<Key, Value>, resource: &str, namespace: Option<&str>) -> Vec<Value> {
    let start = Key::new(resource, namespace.unwrap_or_default(), "");
    objects
        .range(start..)
        .take_while(|(k, _)| k.resource == resource && namespace.is_none_or(|n| k.namespace == n))
        .map(|(_, v)| v.clone())
        .collect()
}

impl Store {
    /// A store that keeps `history` events for watches.
    pub fn new(history: usize) -> Self {
        let (tx, _) = broadcast::channel(8192);
        let inner = Inner {
            rv: 1,
            compacted: 0,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            cap: history.max(1),
        };
        Self {
            inner: Mutex::new(inner),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// The version below which watches get 410 Gone.
    pub fn compacted_rv(&self) -> u64 {
        self.lock().compacted
    }

    /// One object.
    pub fn get(&self, key: &Key) -> Option<Value> {
        self.lock().objects.get(key).cloned()
    }

    /// Every object of a resource (optionally in one namespace), ordered by namespace and
    /// name, with the store's resourceVersion.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Value>, u64) {
        let g = self.lock();
        let items = select(&g.objects, resource, namespace);
        (items, g.rv)
    }

    /// Keys matching a predicate.
    pub fn keys(&self, pred: impl Fn(&Key) -> bool) -> Vec<Key> {
        self.lock()
            .objects
            .keys()
            .filter(|k| pred(k))
            .cloned()
            .collect()
    }

    /// Read-modify-write one object atomically. The closure sees the current object and
    /// decides; the store fills uid, creationTimestamp, generation and resourceVersion.
    /// Returns the stored (or deleted) object and the previous one. Unchanged objects keep
    /// their resourceVersion and emit no event.
    pub fn write(
        &self,
        key: &Key,
        generation: Generation,
        f: impl FnOnce(Option<&Value>) -> ApiResult<Write>,
    ) -> ApiResult<(Value, Option<Value>)> {
        self.write_or_preview(key, generation, false, f)
    }

    /// [`Store::write`], or with `dry_run` everything but the commit (`dryRun=All`).
    pub fn write_or_preview(
        &self,
        key: &Key,
        generation: Generation,
        dry_run: bool,
        f: impl FnOnce(Option<&Value>) -> ApiResult<Write>,
    ) -> ApiResult<(Value, Option<Value>)> {
        let mut g = self.lock();
        let old = g.objects.get(key).cloned();
        let decision = f(old.as_ref())?;
        let next_rv = g.rv + 1;
        let (kind, object) = match decision {
            Write::Delete => {
                let Some(mut o) = old.clone() else {
                    return Err(super::status::ApiError::internal(
                        "delete of a missing object",
                    ));
                };
                if dry_run {
                    return Ok((o, old));
                }
                g.objects.remove(key);
                o["metadata"]["resourceVersion"] = json!(next_rv.to_string());
                (EventType::Deleted, o)
            }
            Write::Put(mut o) => {
                let meta = &mut o["metadata"];
                match &old {
                    None => {
                        // A uid set already was chosen by the write's strategy (a Job's
                        // selector names it); clients' uids are dropped before.
                        if meta["uid"].as_str().is_none_or(str::is_empty) {
                            meta["uid"] = json!(uuid::Uuid::new_v4().to_string());
                        }
                        meta["creationTimestamp"] = json!(now());
                        // An untracked kind keeps what the client sent: nothing on
                        // the create path resets it (apiserver `rest/create.go`).
                        if !matches!(generation, Generation::Untracked) {
                            meta["generation"] = json!(1);
                        }
                    }
                    Some(prev) => {
                        meta["uid"] = prev["metadata"]["uid"].clone();
                        meta["creationTimestamp"] = prev["metadata"]["creationTimestamp"].clone();
                        meta["resourceVersion"] = prev["metadata"]["resourceVersion"].clone();
                        // Updates keep the stored generation (`rest.BeforeUpdate`); only
                        // an object that has one is bumped.
                        let gen_now = prev["metadata"]["generation"].as_u64();
                        match (gen_now, meta.as_object_mut()) {
                            (Some(g), _) => meta["generation"] = json!(g),
                            (None, Some(m)) => {
                                m.remove("generation");
                            }
                            (None, None) => {}
                        }
                        if o == *prev {
                            return Ok((o, old));
                        }
                        let ignored: Option<&[&str]> = match generation {
                            Generation::IgnoreStatus => Some(&["metadata", "status"]),
                            Generation::All => Some(&["metadata"]),
                            Generation::Untracked => None,
                        };
                        if let (Some(g), Some(ignored)) = (gen_now, ignored)
                            && without(&o, ignored) != without(prev, ignored)
                        {
                            o["metadata"]["generation"] = json!(g + 1);
                        }
                    }
                }
                if dry_run {
                    return Ok((o, old));
                }
                o["metadata"]["resourceVersion"] = json!(next_rv.to_string());
                g.objects.insert(key.clone(), o.clone());
                (
                    if old.is_some() {
                        EventType::Modified
                    } else {
                        EventType::Added
                    },
                    o,
                )
            }
        };
        g.rv = next_rv;
        let ev = Arc::new(StoredEvent {
            rv: next_rv,
            kind,
            key: key.clone(),
            object: object.clone(),
            previous: old.clone(),
        });
        g.history.push_back(ev.clone());
        while g.history.len() > g.cap {
            if let Some(dropped) = g.history.pop_front() {
                g.compacted = dropped.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(ev);
        Ok((object, old))
    }

    /// Subscribe to changes after `rv`. `Err(oldest)` when `rv` predates the history kept.
    pub fn subscribe_after(&self, rv: u64) -> Result<Subscription, u64> {
        let g = self.lock();
        if rv < g.compacted {
            return Err(g.compacted + 1);
        }
        let backlog = g.history.iter().filter(|e| e.rv > rv).cloned().collect();
        Ok((backlog, self.tx.subscribe(), g.rv))
    }

    /// Subscribe to changes from now on, with a consistent snapshot of a resource.
    pub fn snapshot_and_subscribe(
        &self,
        resource: &str,
        namespace: Option<&str>,
    ) -> (Vec<Value>, broadcast::Receiver<Arc<StoredEvent>>, u64) {
        let g = self.lock();
        let items = select(&g.objects, resource, namespace);
        (items, self.tx.subscribe(), g.rv)
    }
}
