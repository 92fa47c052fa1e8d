//! One request as the API server's audit log has it, whichever backend's server that is: the
//! sim fills it from the double's own audit, kind from audit.k8s.io/v1 events.

/// One request the API server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// RFC 3339 time the request arrived.
    pub time: String,
    /// User name.
    pub user: String,
    /// Groups of the user.
    pub groups: Vec<String>,
    /// Verb (get, list, watch, create, update, patch, delete, …).
    pub verb: String,
    /// API group (empty for core).
    pub api_group: String,
    /// Resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Namespace.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// Request URI.
    pub uri: String,
    /// Response code.
    pub code: u16,
    /// User-Agent header.
    pub user_agent: String,
}

impl Request {
    /// When the request arrived; `None` if `time` is not RFC 3339.
    pub fn arrived(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}
