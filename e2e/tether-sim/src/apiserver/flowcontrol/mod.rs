//! API Priority and Fairness from the stored FlowSchemas and PriorityLevelConfigurations:
//! a request is classified to the first matching FlowSchema (`config.rs`) and takes a seat
//! of its Limited priority level, waiting in that level's queues (`queueset.rs`) or being
//! rejected with 429 (kube-apiserver v1.34 `staging/src/k8s.io/apiserver/pkg/util/flowcontrol/apf_filter.go`
//! `Handle`). Requests that match no stored schema are not limited.

pub mod config;
pub mod queueset;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;

use super::rbac::{Attributes, UserInfo};
use super::store::Store;
use config::Config;
use queueset::{QueueSet, Rejection, Seat};

/// A quarter of the default 60 s `--request-timeout`, as v1.34 derives the queue-wait limit.
pub const QUEUE_WAIT_LIMIT: Duration = Duration::from_secs(15);

/// The group the mandatory `exempt` FlowSchema sends to the exempt level (matching
/// precedence 1, so before any stored schema).
const PRIVILEGED_GROUP: &str = "system:masters";

const FLOW_SCHEMAS: &str = "flowcontrol.apiserver.k8s.io/flowschemas";
const PRIORITY_LEVELS: &str = "flowcontrol.apiserver.k8s.io/prioritylevelconfigurations";

#[derive(Debug, Default)]
struct Digested {
    flow_schemas: Vec<Value>,
    priority_levels: Vec<Value>,
    config: Arc<Config>,
}

/// The stored-object flow control: the last digested configuration and each Limited
/// level's queues.
#[derive(Debug, Default)]
pub struct FlowControl {
    digested: Mutex<Digested>,
    levels: Mutex<HashMap<String, Arc<QueueSet>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// FNV-1a of the schema name and flow distinguisher: the flow's shuffle-sharding hash.
fn flow_hash(schema: &str, distinguisher: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in schema.bytes().chain([0]).chain(distinguisher.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl FlowControl {
    /// The configuration of the stored objects, digested again only when they changed;
    /// changed levels are reshaped in place so their waiters keep their places.
    fn config(&self, store: &Store) -> Arc<Config> {
        let (flow_schemas, _) = store.list(FLOW_SCHEMAS, None);
        let (priority_levels, _) = store.list(PRIORITY_LEVELS, None);
        let mut d = lock(&self.digested);
        if d.flow_schemas != flow_schemas || d.priority_levels != priority_levels {
            let config = Arc::new(config::digest(&flow_schemas, &priority_levels));
            let mut levels = lock(&self.levels);
            levels.retain(|name, set| match config.levels.get(name) {
                Some(Some(shape)) => {
                    set.reshape(*shape);
                    true
                }
                _ => false,
            });
            *d = Digested {
                flow_schemas,
                priority_levels,
                config,
            };
        }
        d.config.clone()
    }

    fn level(&self, name: &str, shape: queueset::Shape) -> Arc<QueueSet> {
        lock(&self.levels)
            .entry(name.to_string())
            .or_insert_with(|| QueueSet::new(shape))
            .clone()
    }

    /// Requests waiting in the queues of a priority level.
    pub fn waiting(&self, level: &str) -> usize {
        lock(&self.levels).get(level).map_or(0, |s| s.waiting())
    }

    /// Classify and admit a request: `Ok(None)` when it is not limited, `Ok(Some(seat))`
    /// once it holds a seat, `Err` when it is rejected.
    pub async fn admit(
        &self,
        store: &Store,
        user: &UserInfo,
        a: &Attributes,
    ) -> Result<Option<Seat>, Rejection> {
        // Read first, so that any request applies a changed configuration to the queues.
        let config = self.config(store);
        if user.groups.iter().any(|g| g == PRIVILEGED_GROUP) {
            return Ok(None);
        }
        let Some(schema) = config.matching(user, a) else {
            return Ok(None);
        };
        let Some(Some(shape)) = config.levels.get(&schema.level) else {
            return Ok(None);
        };
        let set = self.level(&schema.level, *shape);
        let hash = flow_hash(&schema.name, &schema.flow_of(user, a));
        set.acquire(hash, QUEUE_WAIT_LIMIT).await.map(Some)
    }
}
