//! An in-process Kubernetes API server double: HTTPS with its own CA, bearer tokens,
//! RBAC, ValidatingAdmissionPolicies (CEL), watches, server-side apply, APF-style 429s
//! and an audit log.

mod admission;
mod admission_eval;
mod admission_match;
mod admission_objects;
mod apf;
mod audit;
mod body;
mod builtins;
mod cel_eval;
mod collector;
mod convert;
mod crud;
mod daemon;
mod defaulting;
mod deletion;
mod discovery;
mod fields;
mod flowcontrol;
mod handle;
mod hooks;
mod modify;
mod names;
mod namespaces;
mod omit_empty;
mod openapi;
mod patch;
mod pod_subresources;
mod proto;
mod proto_objects;
mod rbac;
pub(crate) mod request;
mod resources;
mod review;
mod route;
mod scale;
mod select;
mod server;
mod state;
mod status;
mod store;
mod strategic;
mod strategy;
mod table;
pub(crate) mod tls;
mod validate;
mod watch;
mod workloads;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::oneshot;

pub use apf::FlowLimit;
pub use audit::AuditEvent;
pub use rbac::{NODE_NAME_EXTRA, UserInfo};
pub use status::ApiError;

pub use handle::ApiServer;
use handle::new_token;
use state::State;

/// Errors starting the server or loading objects into it.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding or serving failed.
    #[error("tether-sim I/O on {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("tether-sim certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
    /// TLS configuration failed.
    #[error("tether-sim TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A document could not be parsed.
    #[error("tether-sim could not parse document {index}: {message}")]
    Parse {
        /// Index of the document (0-based).
        index: usize,
        /// Parser message.
        message: String,
    },
    /// The server refused an object, as it would over HTTP.
    #[error("tether-sim refused {what}: {} ({})", .error.message, .error.code)]
    Refused {
        /// `Kind/name` of the object.
        what: String,
        /// The Status the server answered.
        error: ApiError,
    },
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// Extra subject alternative names for the serving certificate (DNS names or IPs).
    pub extra_sans: Vec<String>,
    /// Events kept for watches; older resourceVersions get 410 Gone.
    pub watch_history: usize,
    /// Interval of watch bookmarks.
    pub bookmark_interval: Duration,
    /// Largest request body accepted (the real server: 3 MiB).
    pub max_body_bytes: usize,
    /// Also append the audit log as JSON lines to this file.
    pub audit_file: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            extra_sans: Vec::new(),
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(60),
            max_body_bytes: 3 * 1024 * 1024,
            audit_file: None,
        }
    }
}

/// Start serving. Must be called within a Tokio runtime.
pub async fn start(config: SimConfig) -> Result<ApiServer, SimError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Io {
            what: format!("bind {}", config.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Io {
        what: "local address".into(),
        source,
    })?;
    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".into(),
        "::1".into(),
        "kubernetes.default.svc".into(),
    ];
    if !addr.ip().is_unspecified() {
        sans.push(addr.ip().to_string());
    }
    sans.extend(config.extra_sans.iter().cloned());
    let pki = tls::generate(&sans)?;
    let audit = match &config.audit_file {
        Some(p) => audit::AuditLog::with_file(p).map_err(|source| SimError::Io {
            what: format!("open audit log {}", p.display()),
            source,
        })?,
        None => audit::AuditLog::default(),
    };
    let state = Arc::new(State {
        store: store::Store::new(config.watch_history),
        registry: RwLock::default(),
        tokens: RwLock::default(),
        apf: apf::Apf::default(),
        audit,
        bookmark_interval: config.bookmark_interval,
        max_body_bytes: config.max_body_bytes,
        address: addr.to_string(),
        services: Default::default(),
    });
    let admin_token = new_token();
    state.add_token(
        admin_token.clone(),
        UserInfo {
            name: "kubernetes-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            ..Default::default()
        },
    );
    let server = ApiServer {
        addr,
        ca_pem: pki.ca_pem,
        ca: pki.ca,
        admin_token,
        state: state.clone(),
        stop: None,
        task: None,
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        server.load_object(
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )?;
    }
    for obj in rbac::bootstrap_objects() {
        server.load_object(obj)?;
    }
    daemon::spawn(&state);
    let (stop, stopped) = oneshot::channel();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server);
    let task = tokio::spawn(server::run(listener, acceptor, state, stopped));
    let mut server = server;
    server.stop = Some(stop);
    server.task = Some(task);
    Ok(server)
}
