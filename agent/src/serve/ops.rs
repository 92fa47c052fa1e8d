//! The operations endpoint on TCP: `/metrics` for Prometheus, `/healthz` (the process is up) and
//! `/readyz` (the agent can answer: socket bound, cache loaded) for the kubelet's probes.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::state::store::Store;

/// What the endpoint reports on.
pub struct Ops {
    /// The metrics rendered on `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The store, for `/readyz` details.
    pub store: Arc<Store>,
    /// Set once the socket is bound and the cache loaded: the agent can answer.
    pub ready: AtomicBool,
}

/// Serves the endpoint until `shutdown` turns true.
pub async fn serve(listener: TcpListener, ops: Arc<Ops>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, most likely: give in-flight connections time to close.
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let ops = ops.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let ops = ops.clone();
                async move { Ok::<_, Infallible>(route(req.uri().path(), &ops)) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), conn).await;
        });
    }
}

fn route(path: &str, ops: &Ops) -> Response<Full<Bytes>> {
    match path {
        "/metrics" => text(
            StatusCode::OK,
            ops.metrics.render(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        "/healthz" => text(StatusCode::OK, "ok\n".into(), "text/plain"),
        "/readyz" => {
            let (pods, profiles, rejected) = ops.store.counts();
            let body = format!(
                "live={} pods={pods} profiles={profiles} rejected={rejected}\n",
                ops.store.is_live()
            );
            let status = if ops.ready.load(Ordering::Relaxed) {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, body, "text/plain")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n".into(), "text/plain"),
    }
}

fn text(status: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

#[cfg(test)]
mod tests;
