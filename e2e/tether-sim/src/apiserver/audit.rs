//! Audit log: one record per request, kept in memory and optionally appended to a file
//! as JSON lines.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// RFC 3339 time the request arrived.
    pub time: String,
    /// User name (`system:anonymous` without credentials, empty when the token was bad).
    pub user: String,
    /// Groups of the user.
    pub groups: Vec<String>,
    /// Verb (get, list, watch, create, update, patch, delete, ... or the HTTP method).
    pub verb: String,
    /// API group.
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

impl AuditEvent {
    /// When the request arrived; `None` if `time` is not RFC 3339.
    pub fn arrived(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| t.to_utc())
    }
}

/// The log.
#[derive(Clone, Default)]
pub struct AuditLog {
    events: Arc<Mutex<Vec<AuditEvent>>>,
    file: Option<Arc<Mutex<File>>>,
}

impl AuditLog {
    /// A log that also appends JSON lines to `path`.
    pub fn with_file(path: &Path) -> std::io::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            events: Arc::default(),
            file: Some(Arc::new(Mutex::new(f))),
        })
    }

    /// Record one request.
    pub fn record(&self, ev: AuditEvent) {
        if let Some(f) = &self.file
            && let Ok(line) = serde_json::to_string(&ev)
        {
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            // The in-memory log stays authoritative if the disk fills up.
            let _ = writeln!(f, "{line}");
        }
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ev);
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
