//! The handle of a running double: where it listens, whether it considers the cloud
//! healthy, its cache agents, shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::health::Health;
use super::hub::Hub;
use super::server::{self, Listeners};

/// A running yurthub double. Dropping it stops it.
pub struct Yurthub {
    addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    hub: Arc<Hub>,
    stops: Vec<oneshot::Sender<()>>,
    servers: Vec<JoinHandle<()>>,
}

fn url(scheme: &str, addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("{scheme}://127.0.0.1:{}", addr.port())
    } else {
        format!("{scheme}://{addr}")
    }
}

impl Yurthub {
    /// Start serving on bound listeners and probing every `interval`.
    pub(super) fn run(
        hub: Arc<Hub>,
        listeners: Listeners,
        tls: TlsAcceptor,
        interval: Duration,
    ) -> Self {
        let addr = listeners
            .tls
            .local_addr()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
        let http_addr = listeners.http.as_ref().and_then(|l| l.local_addr().ok());
        let mut stops = Vec::new();
        let mut servers = Vec::new();
        for (listener, tls) in [(Some(listeners.tls), Some(tls)), (listeners.http, None)] {
            let Some(listener) = listener else { continue };
            let (stop, stopped) = oneshot::channel();
            stops.push(stop);
            servers.push(tokio::spawn(server::run(
                hub.clone(),
                listener,
                tls,
                stopped,
            )));
        }
        hub.spawn(Health::run(hub.clone(), interval));
        Self {
            addr,
            http_addr,
            hub,
            stops,
            servers,
        }
    }

    /// The HTTPS address (may be unspecified, e.g. `0.0.0.0:port`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<addr>`: what a pod's in-cluster config points at.
    pub fn url(&self) -> String {
        url("https", self.addr)
    }

    /// `http://<addr>` of the plain-HTTP listener, if there is one.
    pub fn http_url(&self) -> Option<String> {
        self.http_addr.map(|a| url("http", a))
    }

    /// Whether the double considers the cloud healthy (forwards) or not (answers locally).
    pub fn is_healthy(&self) -> bool {
        self.hub.health.is_healthy()
    }

    /// Why the last lease probe failed, if the last one did.
    pub fn last_probe_failure(&self) -> Option<String> {
        self.hub.health.last_failure()
    }

    /// `Ok` once the cache agents are known (from the cloud or the cache); before that
    /// every client gets 503 and this says why.
    pub fn ready(&self) -> Result<(), String> {
        self.hub.agents.ready()
    }

    /// The cache agents now in force, sorted.
    pub fn cache_agents(&self) -> Vec<String> {
        self.hub.agents.list()
    }

    /// The node it runs on.
    pub fn node_name(&self) -> &str {
        &self.hub.node
    }

    fn stop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        self.hub.abort_tasks();
    }

    /// Stop serving and probing, and wait until every connection is closed. The cache
    /// stays on disk for the next start.
    pub async fn shutdown(mut self) {
        self.stop();
        for s in self.servers.drain(..) {
            let _ = s.await;
        }
    }
}

impl Drop for Yurthub {
    fn drop(&mut self) {
        self.stop();
    }
}
