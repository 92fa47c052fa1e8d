//! The cloud as yurthub sees it: a kubeconfig giving the API server's URL, its CA, and the
//! credentials yurthub uses for itself (the lease probe, the cache-agent ConfigMap, and
//! requests that carry no bearer token).
//!
//! yurthub keeps two transports (`pkg/yurthub/transport/transport.go:84-105`): one with its
//! own client certificate, and a "bearer" one without, used when the client's request
//! carries `Authorization: Bearer …` so that the API server sees the client's token
//! (`proxy/remote/remote.go:127-148`). Its direct clientset for the probe has a timeout of
//! `--heartbeat-timeout-seconds` (`transport.go:117-122`).

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};

use super::YurthubError;

/// The User-Agent of yurthub's own requests (client-go's default names the binary).
pub const USER_AGENT: &str = "yurthub/v1.7.0-tether-sim";

/// Where the cloud is and who yurthub is there.
#[derive(Clone, Debug)]
pub struct Upstream {
    what: String,
    kubeconfig: Kubeconfig,
    config: kube::Config,
}

/// The clients built from an [`Upstream`].
pub(super) struct Clients {
    /// yurthub's own identity, no timeout: forwards requests without a bearer token.
    pub identity: kube::Client,
    /// No credentials, no timeout: forwards requests carrying the client's bearer token.
    pub bearer: kube::Client,
    /// yurthub's own identity and User-Agent, connecting within the probe timeout: the lease
    /// probe (each call bounded by the timeout), `/version`, the ConfigMap.
    pub direct: kube::Client,
}

impl Upstream {
    /// From the text of a kubeconfig (its current context). Credentials may be a token, a
    /// client certificate, or anything else kube-rs understands (exec plugins too).
    pub async fn from_kubeconfig(yaml: &str) -> Result<Self, YurthubError> {
        let kubeconfig = Kubeconfig::from_yaml(yaml).map_err(|e| YurthubError::Kubeconfig {
            what: "(text)".into(),
            message: e.to_string(),
        })?;
        Self::from_parsed("(text)".into(), kubeconfig).await
    }

    /// From a kubeconfig file; relative paths inside it are relative to the file.
    pub async fn from_kubeconfig_file(path: &Path) -> Result<Self, YurthubError> {
        let what = path.display().to_string();
        let kubeconfig = Kubeconfig::read_from(path).map_err(|e| YurthubError::Kubeconfig {
            what: what.clone(),
            message: e.to_string(),
        })?;
        Self::from_parsed(what, kubeconfig).await
    }

    async fn from_parsed(what: String, kubeconfig: Kubeconfig) -> Result<Self, YurthubError> {
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &KubeConfigOptions::default())
                .await
                .map_err(|e| YurthubError::Kubeconfig {
                    what: what.clone(),
                    message: e.to_string(),
                })?;
        if config.cluster_url.scheme_str() != Some("https") {
            // parseRemoteServers: "only https scheme is supported" (config.go:280-284).
            return Err(YurthubError::Kubeconfig {
                what,
                message: format!(
                    "server {} is not https (yurthub only supports https upstreams)",
                    config.cluster_url
                ),
            });
        }
        Ok(Self {
            what,
            kubeconfig,
            config,
        })
    }

    /// The API server's URL.
    pub fn server(&self) -> String {
        self.config.cluster_url.to_string()
    }

    /// The same kubeconfig with its current cluster's server replaced by `server` (the
    /// double's URL) and, when given, its CA by `ca_pem`: what clients on the node use.
    /// Without `ca_pem` the cluster CA stays, as it does for real yurthub, whose serving
    /// certificate the cluster CA signs.
    pub fn client_kubeconfig(
        &self,
        server: &str,
        ca_pem: Option<&str>,
    ) -> Result<String, YurthubError> {
        let mut kc = self.kubeconfig.clone();
        let bad = |message: String| YurthubError::Kubeconfig {
            what: self.what.clone(),
            message,
        };
        let context_name = kc
            .current_context
            .clone()
            .ok_or_else(|| bad("no current-context".into()))?;
        let cluster_name = kc
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
            .ok_or_else(|| bad(format!("context {context_name:?} not found")))?;
        let cluster = kc
            .clusters
            .iter_mut()
            .find(|c| c.name == cluster_name)
            .and_then(|c| c.cluster.as_mut())
            .ok_or_else(|| bad(format!("cluster {cluster_name:?} not found")))?;
        cluster.server = Some(server.to_string());
        cluster.tls_server_name = None;
        cluster.proxy_url = None;
        if let Some(ca) = ca_pem {
            cluster.certificate_authority = None;
            cluster.insecure_skip_tls_verify = None;
            cluster.certificate_authority_data =
                Some(base64::engine::general_purpose::STANDARD.encode(ca));
        }
        serde_saphyr::to_string(&kc).map_err(|e| bad(format!("cannot write it back: {e}")))
    }

    /// Build the three clients; `probe_timeout` bounds every request of the direct one.
    pub(super) fn clients(&self, probe_timeout: Duration) -> Result<Clients, YurthubError> {
        let build = |mut config: kube::Config| {
            // A proxy must hand 429s and 503s to its client, not retry them itself.
            config.default_retry = false;
            kube::Client::try_from(config).map_err(|e| YurthubError::Kubeconfig {
                what: self.what.clone(),
                message: format!("cannot build a client: {e}"),
            })
        };
        let mut forward = self.config.clone();
        forward.read_timeout = None;
        forward.write_timeout = None;
        let identity = build(forward.clone())?;
        let mut bearer = forward;
        bearer.auth_info = AuthInfo::default();
        let bearer = build(bearer)?;
        let mut direct = self.config.clone();
        direct.connect_timeout = Some(probe_timeout);
        direct.read_timeout = None;
        direct.write_timeout = Some(probe_timeout);
        direct.headers.push((
            hyper::header::USER_AGENT,
            hyper::header::HeaderValue::from_static(USER_AGENT),
        ));
        let direct = build(direct)?;
        Ok(Clients {
            identity,
            bearer,
            direct,
        })
    }
}
