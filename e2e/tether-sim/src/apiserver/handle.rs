//! The handle of a running server: where it is, its CA, tokens, loading objects,
//! the audit log, APF limits, kubeconfigs, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::state::State;
use super::tls::{self, Ca};
use super::{ApiError, AuditEvent, FlowLimit, SimError, UserInfo, crud, modify, store};

/// A running server. Dropping it stops it.
pub struct ApiServer {
    pub(super) addr: SocketAddr,
    pub(super) ca_pem: String,
    pub(super) ca: Arc<Ca>,
    pub(super) admin_token: String,
    pub(super) state: Arc<State>,
    pub(super) stop: Option<oneshot::Sender<()>>,
    pub(super) task: Option<JoinHandle<()>>,
}

/// A fresh random bearer token.
pub(super) fn new_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
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

    /// A serving certificate for `sans` (DNS names or IP addresses) signed by this
    /// server's CA, as `(certificate PEM, PKCS#8 key PEM)`: what a node component (kubelet,
    /// yurthub) gets from the cluster CA through a CSR, so pods trusting the cluster CA
    /// (`ca.crt` of their ServiceAccount) trust it. Fails on a SAN that is neither a DNS
    /// name nor an IP address.
    pub fn issue_serving_cert(&self, sans: &[&str]) -> Result<(String, String), SimError> {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        Ok(tls::issue(&sans, &self.ca)?)
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

    /// A bearer token authenticating as ServiceAccount `namespace/name` from a pod on
    /// `node`, as a projected token of Kubernetes ≥ 1.32 does: the user's extra carries
    /// `authentication.kubernetes.io/node-name: [node]`.
    pub fn mint_service_account_token_on_node(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
    ) -> String {
        let t = new_token();
        self.state.add_token(
            t.clone(),
            UserInfo::service_account_on_node(namespace, name, node),
        );
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
            ..Default::default()
        };
        let ctx = crud::Ctx {
            st: &self.state,
            user: &admin,
            manager: "tether-sim".into(),
            strict: true,
            dry_run: false,
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
                modify::modify(&ctx, &rt, &ns, &name, "", modify::Change::Replace(obj))
                    .map_err(refused)
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

    /// Requests of `user` rejected with 429 so far under a limit set with
    /// [`Self::set_flow_limit`].
    pub fn rejected_requests(&self, user: &str) -> u64 {
        self.state.apf.rejected(user)
    }

    /// Requests waiting now in the queues of the stored priority level `level`.
    pub fn flow_queue_length(&self, level: &str) -> usize {
        self.state.apf.waiting(level)
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
