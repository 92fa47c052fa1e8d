//! Shared server state.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use super::apf::Apf;
use super::audit::AuditLog;
use super::rbac::UserInfo;
use super::resources::{Registry, ResourceType};
use super::store::Store;

/// Everything the request handlers share.
pub struct State {
    /// Objects.
    pub store: Store,
    /// Served types.
    pub registry: RwLock<Registry>,
    /// Bearer token → identity.
    pub tokens: RwLock<HashMap<String, UserInfo>>,
    /// APF limits.
    pub apf: Apf,
    /// Audit log.
    pub audit: AuditLog,
    /// Interval of watch bookmarks.
    pub bookmark_interval: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// `host:port` clients reach the server at.
    pub address: String,
    /// The Services' ClusterIPs and node ports.
    pub services: super::strategy::service::Allocations,
}

impl State {
    /// A server state with the built-in types and nothing stored, for unit tests.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        State {
            store: Store::new(10),
            registry: Default::default(),
            tokens: Default::default(),
            apf: Default::default(),
            audit: Default::default(),
            bookmark_interval: Duration::from_secs(60),
            max_body_bytes: 1024,
            address: String::new(),
            services: Default::default(),
        }
    }

    /// Read the registry.
    pub fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the registry.
    pub fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The identity of a bearer token.
    pub fn user_of(&self, token: &str) -> Option<UserInfo> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// Register a token.
    pub fn add_token(&self, token: String, user: UserInfo) {
        self.tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, user);
    }

    /// Find a type by group/version/plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.registry().find(group, version, plural)
    }
}
