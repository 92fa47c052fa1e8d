//! The cache agents: components whose answers yurthub caches and may serve offline
//! (`pkg/yurthub/configuration/manager.go`). Built-ins, plus the comma list under
//! `cache_agents` of ConfigMap `kube-system/yurt-hub-cfg` (watched with label
//! `openyurt.io/configmap-name`), plus the double's own extra list; `*` makes every
//! component one.
//!
//! yurthub reads the ConfigMap through an informer that goes through yurthub itself, so its
//! list is cached (component `yurthub`) and serves a restart while the cloud is away; until
//! it has synced, yurthub answers every client 503 (`cmd/yurthub/app/config/config.go:476-496`,
//! `proxy/proxy.go:150-162`). The double lists and watches the ConfigMap directly with
//! yurthub's identity and keeps the same cached copy.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::Value;

use super::hub::Hub;
use super::kinds::Gvr;

/// The ConfigMap's namespace and name (`pkg/yurthub/util/util.go:78,91`).
pub const NAMESPACE: &str = "kube-system";
/// The ConfigMap's name.
pub const NAME: &str = "yurt-hub-cfg";
/// Its data key (`manager.go:38-41`).
const KEY: &str = "cache_agents";
/// The label the informer selects on (`config.go:355-363`).
const LABEL_SELECTOR: &str = "openyurt.io/configmap-name in (yurt-hub-cfg)";
/// The component yurthub's own requests carry, under which the ConfigMap list is cached.
pub const HUB_COMPONENT: &str = "yurthub";

/// The built-in cache agents of yurthub v1.7.0 on `node` (`manager.go:43-45,62`):
/// kubelet, kube-proxy, flanneld, coredns, raven-agent-ds, yurttunnel-agent, yurthub and
/// its own multiplexer `multiplexer-proxy-<node>`.
pub fn built_in_cache_agents(node: &str) -> Vec<String> {
    [
        "kubelet",
        "kube-proxy",
        "flanneld",
        "coredns",
        "raven-agent-ds",
        "yurttunnel-agent",
        HUB_COMPONENT,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("multiplexer-proxy-{node}")])
    .collect()
}

/// The current set and whether the ConfigMap has synced.
pub struct CacheAgents {
    base: Vec<String>,
    all: RwLock<BTreeSet<String>>,
    synced: RwLock<Option<String>>,
    last_error: Mutex<String>,
}

impl CacheAgents {
    /// The built-ins plus `extra`, before the ConfigMap is read.
    pub fn new(node: &str, extra: &[String]) -> Self {
        let mut base = built_in_cache_agents(node);
        base.extend(
            extra
                .iter()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty()),
        );
        let all = base.iter().cloned().collect();
        Self {
            base,
            all: RwLock::new(all),
            synced: RwLock::new(None),
            last_error: Mutex::new(String::new()),
        }
    }

    /// Whether `component` is cached (`manager.go:119-132`).
    pub fn is_cacheable(&self, component: &str) -> bool {
        let all = self.all.read().unwrap_or_else(|e| e.into_inner());
        all.contains("*") || all.contains(component)
    }

    /// Every agent, sorted.
    pub fn list(&self) -> Vec<String> {
        self.all
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Replace the ConfigMap's part (`manager.go:175-192`); `from` says where it came from.
    fn update(&self, csv: &str, from: &str) {
        let mut all: BTreeSet<String> = self.base.iter().cloned().collect();
        all.extend(
            csv.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(String::from),
        );
        *self.all.write().unwrap_or_else(|e| e.into_inner()) = all;
        *self.synced.write().unwrap_or_else(|e| e.into_inner()) = Some(from.to_string());
    }

    /// `Err(why)` until the ConfigMap has been read once (from the cloud or the cache).
    pub fn ready(&self) -> Result<(), String> {
        if self
            .synced
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Err(if last.is_empty() {
            "yurt-hub-cfg configmap is not synced".into()
        } else {
            format!("yurt-hub-cfg configmap is not synced: {last}")
        })
    }

    fn failed(&self, why: String) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }
}

fn configmaps() -> Gvr {
    Gvr::new("", "v1", "configmaps")
}

/// The agents of the selected ConfigMaps (only `yurt-hub-cfg` counts, `manager.go:90-96`).
fn agents_of(items: &[Value]) -> String {
    items
        .iter()
        .find(|cm| cm["metadata"]["name"] == NAME)
        .and_then(|cm| cm["data"][KEY].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Keep the list as yurthub's informer leaves it in the cache.
fn remember(hub: &Hub, items: &[Value]) {
    let Some(dir) = hub.cache.key(HUB_COMPONENT, &configmaps(), NAMESPACE, "") else {
        return;
    };
    let objects: Vec<_> = items
        .iter()
        .filter_map(|cm| {
            let name = cm["metadata"]["name"].as_str()?;
            let mut cm = cm.clone();
            cm["apiVersion"] = "v1".into();
            cm["kind"] = "ConfigMap".into();
            Some((
                hub.cache
                    .key(HUB_COMPONENT, &configmaps(), NAMESPACE, name)?,
                cm,
            ))
        })
        .collect();
    let _ = hub.cache.replace(&dir, &objects);
}

/// The cached list, if yurthub ever listed the ConfigMaps.
fn from_cache(hub: &Hub) -> Option<Vec<Value>> {
    let dir = hub.cache.key(HUB_COMPONENT, &configmaps(), NAMESPACE, "")?;
    hub.cache.list(&dir).ok().flatten()
}

fn to_values(list: impl IntoIterator<Item = ConfigMap>) -> Vec<Value> {
    list.into_iter()
        .filter_map(|cm| serde_json::to_value(cm).ok())
        .collect()
}

/// One list from the cloud; applies and caches it, returns its resourceVersion.
async fn list_once(hub: &Hub, api: &Api<ConfigMap>) -> Result<String, String> {
    let list = api
        .list(&ListParams::default().labels(LABEL_SELECTOR))
        .await
        .map_err(|e| {
            format!(
                "listing ConfigMaps in {NAMESPACE} at {}: {e}",
                hub.upstream_server
            )
        })?;
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let items = to_values(list.items);
    hub.agents.update(&agents_of(&items), "the cloud");
    remember(hub, &items);
    Ok(rv)
}

/// Before serving: read the ConfigMap from the cloud if it answered the first probe
/// (bounded by `timeout`), else from the cache; then keep watching it.
pub async fn sync_at_start(hub: &Arc<Hub>, timeout: Duration) {
    let api: Api<ConfigMap> = Api::namespaced(hub.clients.direct.clone(), NAMESPACE);
    let mut from_cloud = None;
    if hub.health.is_healthy() {
        match tokio::time::timeout(timeout, list_once(hub, &api)).await {
            Ok(Ok(rv)) => from_cloud = Some(rv),
            Ok(Err(e)) => hub.agents.failed(e),
            Err(_) => hub.agents.failed(format!(
                "listing ConfigMaps at {} timed out",
                hub.upstream_server
            )),
        }
    }
    if from_cloud.is_none()
        && let Some(items) = from_cache(hub)
    {
        hub.agents.update(&agents_of(&items), "the cache");
    }
    let task_hub = hub.clone();
    hub.spawn(async move {
        let hub = task_hub;
        let mut rv = from_cloud;
        loop {
            let from = match rv.take() {
                Some(rv) => rv,
                None => match list_once(&hub, &api).await {
                    Ok(rv) => rv,
                    Err(e) => {
                        hub.agents.failed(e);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            rv = watch(&hub, &api, &from).await;
            if rv.is_none() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
}

/// Follow the ConfigMaps from `from`; returns where to resume, or `None` to list again.
async fn watch(hub: &Hub, api: &Api<ConfigMap>, from: &str) -> Option<String> {
    let params = WatchParams::default().labels(LABEL_SELECTOR).timeout(290);
    let mut stream = api.watch(&params, from).await.ok()?.boxed();
    let mut current: Vec<Value> = from_cache(hub).unwrap_or_default();
    let mut rv = from.to_string();
    while let Ok(Some(event)) = stream.try_next().await {
        let (cm, deleted) = match event {
            WatchEvent::Added(cm) | WatchEvent::Modified(cm) => (cm, false),
            WatchEvent::Deleted(cm) => (cm, true),
            WatchEvent::Bookmark(b) => {
                rv = b.metadata.resource_version;
                continue;
            }
            WatchEvent::Error(_) => return None,
        };
        rv = cm.metadata.resource_version.clone().unwrap_or(rv);
        let name = cm.metadata.name.clone().unwrap_or_default();
        current.retain(|c| c["metadata"]["name"] != name.as_str());
        if !deleted {
            current.extend(to_values([cm]));
        }
        hub.agents.update(&agents_of(&current), "the cloud");
        remember(hub, &current);
    }
    Some(rv)
}
