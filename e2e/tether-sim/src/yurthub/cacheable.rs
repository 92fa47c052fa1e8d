//! Whether a request's answer may be cached, or served from the cache: yurthub's
//! `CanCacheFor` (`pkg/yurthub/cachemanager/cache_manager.go:748-835`).
//!
//! Not for: requests without a component, components that are not cache agents,
//! non-resource requests, delete/deletecollection/proxy, subresources other than `status`,
//! CSRs and SubjectAccessReviews. For a list (not pinned to a name), the first selector seen
//! per (component, resource, namespace) is recorded, in memory only; a list of the same
//! key with another selector is not cacheable, and neither is a list of a key that contains
//! (or is contained in) a recorded one — a cluster-wide and a namespaced list of the same
//! resource by the same component.
//!
//! The decision is made where yurthub makes it: after a 2xx from the cloud, on a failed
//! round trip, and offline before answering from the cache — so a list answered 4xx records
//! nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use super::hub::Hub;
use super::kinds::Gvr;
use super::request::HubRequest;

/// Resources never cached (`cache_manager.go:55-58`).
const NON_CACHEABLE: &[&str] = &["certificatesigningrequests", "subjectaccessreviews"];

/// The list selectors recorded so far: storage key → selector.
#[derive(Default)]
pub struct Recorded(Mutex<HashMap<String, String>>);

/// The request's group, version and resource.
pub fn gvr(req: &HubRequest) -> Gvr {
    Gvr::new(&req.info.group, &req.info.version, &req.info.resource)
}

/// `CanCacheFor`.
pub fn can_cache_for(hub: &Hub, req: &HubRequest) -> bool {
    let info = &req.info;
    let Some(component) = req.component().filter(|c| !c.is_empty()) else {
        return false;
    };
    if !hub.agents.is_cacheable(component)
        || !info.resource_request
        || matches!(info.verb.as_str(), "delete" | "deletecollection" | "proxy")
        || !(info.subresource.is_empty() || info.subresource == "status")
        || NON_CACHEABLE.contains(&info.resource.as_str())
    {
        return false;
    }
    if info.verb != "list" || !info.name.is_empty() {
        return true;
    }
    let Some(key) = hub.cache.key_string(component, &gvr(req), &info.namespace) else {
        return false;
    };
    let mut recorded = hub.recorded.0.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(old) = recorded.get(&key) {
        return *old == req.selector;
    }
    if recorded.keys().any(|k| {
        (k.len() > key.len() && k.contains(key.as_str()))
            || (k.len() < key.len() && key.contains(k.as_str()))
    }) {
        return false;
    }
    recorded.insert(key, req.selector.clone());
    true
}
