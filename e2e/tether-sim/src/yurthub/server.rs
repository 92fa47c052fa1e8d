//! Serving: HTTPS with HTTP/2 disabled, as yurthub's secure proxy serves
//! (`cmd/yurthub/app/config/config.go:456`), and optionally plain HTTP; then the dispatch
//! of one request (`pkg/yurthub/proxy/proxy.go:149-226`, `proxy/nonresourcerequest/nonresource.go`):
//!
//! 1. `GET /version` (and the discovery.k8s.io and raven group documents): from the cloud
//!    with yurthub's identity and saved while healthy, from the saved copy otherwise;
//! 2. not ready (cache agents not synced) → 503, except for yurthub's own requests;
//! 3. kubelet's lease requests → always the local proxy (yurthub renews the lease itself);
//! 4. kubelet's SubjectAccessReviews → the cloud, or a plain 502 when it is unhealthy;
//! 5. everything else → the cloud while healthy (`remote.rs`), else the local proxy (`local.rs`).

use std::convert::Infallible;
use std::io::BufReader;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::apiserver::ApiError;

use super::hub::Hub;
use super::reply::{self, Body};
use super::{YurthubConfig, YurthubError, local, remote, request};

/// Largest request body read (the API server's own limit is 3 MiB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Non-resource paths served from a saved copy offline (`nonresource.go:38-44`).
const CLUSTER_INFO: &[&str] = &[
    "/version",
    "/apis/discovery.k8s.io/v1",
    "/apis/discovery.k8s.io/v1beta1",
    "/apis/raven.openyurt.io/v1alpha1",
    "/apis/raven.openyurt.io/v1beta1",
];

/// The bound listeners: HTTPS, then optional plain HTTP.
pub struct Listeners {
    /// HTTPS.
    pub tls: TcpListener,
    /// Plain HTTP.
    pub http: Option<TcpListener>,
}

/// Bind both listeners.
pub async fn bind(config: &YurthubConfig) -> Result<Listeners, YurthubError> {
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| YurthubError::Io {
                what: format!("listening on {addr}"),
                source,
            })
    };
    Ok(Listeners {
        tls: bind(config.listen).await?,
        http: match config.http_listen {
            Some(a) => Some(bind(a).await?),
            None => None,
        },
    })
}

/// rustls serving the given certificate, ALPN `http/1.1` only.
pub fn tls_acceptor(cert: &super::ServingCert) -> Result<TlsAcceptor, YurthubError> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_reader_iter(&mut BufReader::new(cert.cert_pem.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|e| YurthubError::Tls(format!("reading the certificate PEM: {e}")))?;
    if chain.is_empty() {
        return Err(YurthubError::Tls(
            "no certificate in the certificate PEM".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_reader(&mut BufReader::new(cert.key_pem.as_bytes()))
        .map_err(|e| YurthubError::Tls(format!("reading the key PEM: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| YurthubError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| YurthubError::Tls(format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accept connections (through TLS when `tls` is set) until `stop` fires.
pub async fn run(
    hub: Arc<Hub>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                let (hub, tls) = (hub.clone(), tls.clone());
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let hub = hub.clone();
                        async move { Ok::<_, Infallible>(handle(hub, req, peer).await) }
                    });
                    let http = http1::Builder::new();
                    // A client hanging up mid-request is its business.
                    match tls {
                        Some(tls) => {
                            let Ok(stream) = tls.accept(tcp).await else { return };
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// Dispatch one request.
async fn handle(hub: Arc<Hub>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if parts.method == Method::GET && CLUSTER_INFO.contains(&path.as_str()) {
        return cluster_info(&hub, &path).await;
    }
    let hub_req = request::parse(
        parts.method.as_str(),
        &path,
        parts.uri.query().unwrap_or_default(),
        &parts.headers,
    );
    if !hub_req
        .user_agent
        .starts_with(super::cache_agents::HUB_COMPONENT)
        && let Err(why) = hub.agents.ready()
    {
        return reply::unavailable(&why);
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply::error(&ApiError::too_large(MAX_BODY)),
    };
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or(path);
    let component = hub_req.component().unwrap_or_default();
    let info = &hub_req.info;
    if component == "kubelet" && info.resource == "leases" {
        hub.health.kubelet_renewed();
        return local::serve(&hub, &hub_req, &uri, &parts.headers, body);
    }
    let kubelet_review = info.resource_request
        && component == "kubelet"
        && info.resource == "subjectaccessreviews"
        && matches!(info.verb.as_str(), "create" | "get");
    if hub.health.is_healthy() {
        return remote::serve(
            &hub,
            hub_req,
            &parts.method,
            &uri,
            &parts.headers,
            body,
            Some(peer),
        )
        .await;
    }
    if kubelet_review {
        let mut r = Response::new(reply::full("no healthy backends available.\n"));
        *r.status_mut() = StatusCode::BAD_GATEWAY;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return r;
    }
    local::serve(&hub, &hub_req, &uri, &parts.headers, body)
}

/// The key of a saved non-resource answer (`storage/key.go:41-50`).
fn cluster_info_key(path: &str) -> String {
    if path == "/version" {
        "version".into()
    } else {
        path.replace('/', "_")
    }
}

/// `localCacheHandler` and `nonResourceHandler` (`nonresource.go:63-118`).
async fn cluster_info(hub: &Hub, path: &str) -> Response<Body> {
    let key = cluster_info_key(path);
    let raw = |code: u16, body: Bytes| {
        let mut r = Response::new(reply::full(body));
        *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        r
    };
    let unknown = |code: u16, message: String| {
        // A plain error becomes Status "Unknown", code 500 in the body (ErrorToAPIStatus).
        let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": message, "reason": "Unknown", "code": 500});
        raw(code, Bytes::from(body.to_string()))
    };
    if hub.health.is_healthy() {
        let request = Request::get(path).body(kube::client::Body::empty());
        let Ok(request) = request else {
            return reply::bare(StatusCode::BAD_GATEWAY);
        };
        let sent = tokio::time::timeout(hub.probe.timeout, async {
            let answer = hub.clients.direct.send(request).await.ok()?;
            let code = answer.status().as_u16();
            let body = answer.into_body().collect().await.ok()?.to_bytes();
            Some((code, body))
        })
        .await;
        return match sent {
            Ok(Some((code, body))) if (200..300).contains(&code) => {
                let _ = hub.cache.save_cluster_info(&key, &body);
                raw(code, body)
            }
            Ok(Some((code, body))) => raw(code, body),
            _ => reply::bare(StatusCode::BAD_GATEWAY),
        };
    }
    match hub.cache.cluster_info(&key) {
        Ok(Some(body)) => raw(200, Bytes::from(body)),
        Ok(None) => unknown(404, "specified key is not found".into()),
        Err(e) => unknown(500, e.to_string()),
    }
}
