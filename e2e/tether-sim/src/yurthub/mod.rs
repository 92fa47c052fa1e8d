//! A yurthub double: what a client on an OpenYurt edge node talks to instead of the API
//! server, modelled on yurthub v1.7.0 (tag commit 35ef4cd6), above all what it answers
//! when the cloud is unreachable.
//!
//! Start reading at [`start`]; a request's path through the double is:
//!
//! - `server.rs` — HTTPS (HTTP/1.1 only) and plain HTTP; the dispatch of `proxy.go`:
//!   readiness, cached non-resource paths, kubelet's lease, then the remote proxy while the
//!   cloud is healthy and the local proxy otherwise;
//! - `remote.rs` — forwarding with the client's own bearer token, caching 2xx answers of
//!   cache agents, 502 (or the cache) when the round trip fails;
//! - `local.rs` — the offline answers; `watches.rs` — watches both ways; `reply.rs` — the
//!   answers the double writes itself;
//! - `cacheable.rs` — whether an answer may be cached or served from the cache (cache agent,
//!   verb, subresource, the one list selector recorded per resource);
//! - `cache_manager.rs` — what answers leave in the cache and what it answers with;
//! - `cache.rs` — the on-disk storage; `kinds.rs` — which resources it recognises;
//! - `cache_agents.rs` — the set of components whose answers are cached;
//! - `health.rs` — the lease probe that decides "healthy";
//! - `upstream.rs` — the kubeconfig: where the cloud is, with what identity;
//! - `config.rs` — settings and v1.7.0's defaults; `handle.rs` — the running double.
//!
//! Each modelled behaviour cites the yurthub source it follows; the crate README lists
//! them in one table, with the known differences.

mod cache;
mod cache_agents;
mod cache_manager;
mod cacheable;
mod config;
mod handle;
mod health;
mod hub;
mod kinds;
mod local;
mod remote;
mod reply;
mod request;
mod server;
mod upstream;
mod watches;

use std::sync::Arc;

pub use cache_agents::built_in_cache_agents;
pub use config::{
    DEFAULT_HTTP_LISTEN, DEFAULT_LISTEN, DEFAULT_LISTEN_IP, ProbeConfig, ServingCert, YurthubConfig,
};
pub use handle::Yurthub;
pub use upstream::Upstream;

/// Errors starting the double or reading its inputs; each names the file, address or
/// setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum YurthubError {
    /// Reading, writing or binding failed.
    #[error("yurthub double: {what}: {source}")]
    Io {
        /// What was being done, naming the file or address.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The upstream kubeconfig is unusable.
    #[error("yurthub double: kubeconfig {what}: {message}")]
    Kubeconfig {
        /// Which kubeconfig (path or description).
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// The serving certificate or key is unusable.
    #[error("yurthub double: serving certificate: {0}")]
    Tls(String),
    /// A self-signed serving certificate could not be made.
    #[error("yurthub double: certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
}

/// Start the double: open the cache, probe the cloud once (as yurthub does before it
/// serves), load the cache agents, then serve. Must be called within a Tokio runtime.
pub async fn start(config: YurthubConfig) -> Result<Yurthub, YurthubError> {
    let hub = Arc::new(hub::Hub::new(&config)?);
    hub.health.probe(&hub, health::Phase::Init).await;
    cache_agents::sync_at_start(&hub, config.probe.timeout).await;
    let listeners = server::bind(&config).await?;
    let tls = server::tls_acceptor(&config.serving)?;
    Ok(Yurthub::run(hub, listeners, tls, config.probe.interval))
}
