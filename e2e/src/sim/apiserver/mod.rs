//! An in-process Kubernetes API server double: HTTPS with its own CA, bearer tokens,
//! RBAC, watches, server-side apply, APF-style 429s and an audit log.

mod apf;
mod audit;
mod convert;
mod crud;
mod discovery;
mod fields;
mod hooks;
mod openapi;
mod patch;
mod proto;
mod rbac;
mod request;
mod resources;
mod review;
mod select;
mod server;
mod state;
mod status;
mod store;
mod table;
mod tls;
mod validate;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use apf::FlowLimit;
pub use audit::AuditEvent;
pub use rbac::UserInfo;
pub use status::ApiError;

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

/// A running server. Dropping it stops it.
pub struct ApiServer {
    addr: SocketAddr,
    ca_pem: String,
    admin_token: String,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
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
    });
    let admin_token = new_token();
    state.add_token(
        admin_token.clone(),
        UserInfo {
            name: "kubernetes-admin".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
        },
    );
    let server = ApiServer {
        addr,
        ca_pem: pki.ca_pem,
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
    let (stop, stopped) = oneshot::channel();
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server);
    let task = tokio::spawn(server::run(listener, acceptor, state, stopped));
    let mut server = server;
    server.stop = Some(stop);
    server.task = Some(task);
    Ok(server)
}

impl ApiServer {
    /// The address it listens on (may be unspecified, e.g. `0.0.0.0:port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<addr>`.
    pub fn url(&self) -> String {
        if self.addr.ip().is_unspecified() {
            // Listening on every address: loopback reaches it from this host.
            format!("https://127.0.0.1:{}", self.addr.port())
        } else {
            format!("https://{}", self.addr)
        }
    }

    /// PEM of the CA that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Token of `kubernetes-admin` (group `system:masters`).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A bearer token authenticating as ServiceAccount `namespace/name`.
    pub fn mint_service_account_token(&self, namespace: &str, name: &str) -> String {
        let t = new_token();
        self.state
            .add_token(t.clone(), UserInfo::service_account(namespace, name));
        t
    }

    /// A bearer token authenticating as any user and groups.
    pub fn mint_user_token(&self, user: UserInfo) -> String {
        let t = new_token();
        self.state.add_token(t.clone(), user);
        t
    }

    /// Create or replace one object as the admin, with the server's own validation.
    pub fn load_object(&self, mut obj: Value) -> Result<Value, SimError> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let what = format!("{kind}/{name}");
        let refused = |error: ApiError| SimError::Refused {
            what: what.clone(),
            error,
        };
        let rt = self
            .state
            .registry()
            .by_kind(&api_version, &kind)
            .ok_or_else(|| {
                refused(ApiError::bad_request(format!(
                    "no matches for kind {kind:?} in version {api_version:?}"
                )))
            })?;
        let admin = UserInfo {
            name: "kubernetes-admin".into(),
            groups: vec!["system:masters".into()],
        };
        let ctx = crud::Ctx {
            st: &self.state,
            user: &admin,
            manager: "tether-sim".into(),
            strict: true,
        };
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        match crud::create(&ctx, &rt, &ns, obj.clone()) {
            Err(e) if e.reason == "AlreadyExists" => {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
                crud::modify(&ctx, &rt, &ns, &name, "", crud::Change::Replace(obj)).map_err(refused)
            }
            other => other.map_err(refused),
        }
    }

    /// Create or replace every object of a multi-document YAML (or JSON) text.
    pub fn load_yaml(&self, text: &str) -> Result<Vec<Value>, SimError> {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| SimError::Parse {
            index: 0,
            message: e.to_string(),
        })?;
        let mut out = Vec::new();
        for (index, doc) in docs.into_iter().enumerate().filter(|(_, d)| !d.is_null()) {
            if !doc.is_object() {
                return Err(SimError::Parse {
                    index,
                    message: "not a mapping".into(),
                });
            }
            out.push(self.load_object(doc)?);
        }
        Ok(out)
    }

    /// One stored object by `group/plural` (core: `/pods`), namespace, name.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        self.state
            .store
            .get(&store::Key::new(resource, namespace, name))
    }

    /// The store's current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.store.current_rv()
    }

    /// Every request audited so far.
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.state.audit.events()
    }

    /// Limit (or with `None` stop limiting) one user's concurrency and QPS.
    pub fn set_flow_limit(&self, user: &str, limit: Option<FlowLimit>) {
        self.state.apf.set_limit(user, limit);
    }

    /// Requests of `user` rejected with 429 so far.
    pub fn rejected_requests(&self, user: &str) -> u64 {
        self.state.apf.rejected(user)
    }

    /// A kubeconfig for `token` pointing at `server` (e.g. the URL a container reaches).
    pub fn kubeconfig_for(&self, server: &str, token: &str) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: tether-sim\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: tether-sim-user\n  user:\n    token: {token}\ncontexts:\n- name: tether-sim\n  context:\n    cluster: tether-sim\n    user: tether-sim-user\ncurrent-context: tether-sim\n"
        )
    }

    /// An admin kubeconfig for this server.
    pub fn admin_kubeconfig(&self) -> String {
        self.kubeconfig_for(&self.url(), &self.admin_token)
    }

    /// Stop serving and wait until every connection is closed.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
