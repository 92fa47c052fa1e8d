//! How to run the double, with yurthub v1.7.0's defaults
//! (`cmd/yurthub/app/options/options.go:93-130`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::Upstream;

/// Where pods reach yurthub: the `hub-dummy0` address and the secure proxy port
/// (`options.go:40`, `pkg/yurthub/util/util.go:86`).
pub const DEFAULT_LISTEN: &str = "169.254.2.1:10268";

/// The address of yurthub's `hub-dummy0` interface (`options.go:40`).
pub const DEFAULT_LISTEN_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 2, 1));

/// yurthub's plain-HTTP proxy port on the same address (`util.go:84`, `config.go:422-432`).
pub const DEFAULT_HTTP_LISTEN: &str = "169.254.2.1:10261";

/// The serving certificate: real yurthub gets one from the cluster CA through a CSR
/// (`pkg/yurthub/certificate/server/server.go`), so pods trusting the cluster CA trust it.
#[derive(Clone)]
pub struct ServingCert {
    /// PEM certificate chain (leaf first).
    pub cert_pem: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
}

impl ServingCert {
    /// A fresh self-signed CA and a serving certificate it signed for `sans` (DNS names or
    /// IP addresses): `(CA PEM, certificate)`, for when no cluster CA signs one. Clients
    /// then trust the returned CA.
    pub fn self_signed(sans: &[String]) -> Result<(String, Self), rcgen::Error> {
        let (ca_cert, ca) = crate::apiserver::tls::new_ca("tether-sim-yurthub-ca")?;
        let (cert_pem, key_pem) = crate::apiserver::tls::issue(sans, &ca)?;
        Ok((ca_cert.pem(), Self { cert_pem, key_pem }))
    }
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert").finish_non_exhaustive()
    }
}

/// The health probe's timings (`options.go:105-108,120`).
#[derive(Debug, Clone, Copy)]
pub struct ProbeConfig {
    /// How often the lease is renewed (`--heartbeat-interval-seconds`, 10 s).
    pub interval: Duration,
    /// Timeout of each request of a probe (`--heartbeat-timeout-seconds`, 2 s).
    pub timeout: Duration,
    /// Attempts at updating the lease per probe (`--heartbeat-failed-retry`, 3).
    pub failed_retry: u32,
    /// Consecutive successes that make an unhealthy cloud healthy again
    /// (`--heartbeat-healthy-threshold`, 2).
    pub healthy_threshold: u32,
    /// The lease's duration; also how long kubelet may stay silent before the cloud is
    /// considered unhealthy (`--kubelet-health-grace-period`, 40 s).
    pub kubelet_grace_period: Duration,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            failed_retry: 3,
            healthy_threshold: 2,
            kubelet_grace_period: Duration::from_secs(40),
        }
    }
}

/// How to run the double.
#[derive(Debug, Clone)]
pub struct YurthubConfig {
    /// The node it runs on: it renews Lease `kube-node-lease/<node_name>`.
    pub node_name: String,
    /// The cloud: the API server and the identity yurthub itself uses.
    pub upstream: Upstream,
    /// TLS for the secure listener.
    pub serving: ServingCert,
    /// HTTPS (HTTP/1.1 only) listener; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Optional plain-HTTP listener (yurthub's :10261).
    pub http_listen: Option<SocketAddr>,
    /// The on-disk cache (yurthub: `/etc/kubernetes/cache/`, `storage/disk/storage.go:41`).
    pub cache_dir: PathBuf,
    /// Components cached besides the built-ins and the `yurt-hub-cfg` ConfigMap's.
    pub cache_agents: Vec<String>,
    /// The health probe.
    pub probe: ProbeConfig,
    /// A local watch without `timeoutSeconds` ends after this times a random factor in
    /// [1, 2) (`--min-request-timeout`, 1800 s; `proxy/local/local.go:185-191`).
    pub min_request_timeout: Duration,
}

impl YurthubConfig {
    /// v1.7.0's defaults around what has none: node, upstream, certificate, cache dir.
    /// The listen address is [`DEFAULT_LISTEN`]; in-process tests set `127.0.0.1:0`.
    pub fn new(
        node_name: impl Into<String>,
        upstream: Upstream,
        serving: ServingCert,
        cache_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            node_name: node_name.into(),
            upstream,
            serving,
            listen: SocketAddr::new(DEFAULT_LISTEN_IP, 10268),
            http_listen: None,
            cache_dir: cache_dir.into(),
            cache_agents: Vec::new(),
            probe: ProbeConfig::default(),
            min_request_timeout: Duration::from_secs(1800),
        }
    }
}
