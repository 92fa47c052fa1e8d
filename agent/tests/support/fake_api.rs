//! A minimal plain-HTTP API server double: lists one pod, the node and one NetworkProfile,
//! keeps watches open without events, accepts status applies and Events, and records every
//! request it saw.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;

/// One request the double received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub user_agent: String,
}

/// The running double.
pub struct FakeApi {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn list(kind: &str, api_version: &str, items: serde_json::Value) -> serde_json::Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "5"}, "items": items})
}

fn respond(req: &Request<Incoming>) -> Response<BoxBody<Bytes, Infallible>> {
    let uri = req.uri();
    let query = uri.query().unwrap_or_default();
    if query.contains("watch=true") {
        let never = futures::stream::pending::<Result<Frame<Bytes>, Infallible>>();
        return Response::new(StreamBody::new(never).boxed());
    }
    let (status, body) = match (req.method().as_str(), uri.path()) {
        ("GET", "/api/v1/pods") => (
            200,
            list(
                "PodList",
                "v1",
                json!([
                    {"metadata": {"namespace": "default", "name": "cam-1", "uid": "uid-1", "labels": {"app": "camera"}}, "spec": {"nodeName": "edge-1", "containers": []}},
                    {"metadata": {"namespace": "default", "name": "elsewhere", "uid": "uid-2", "labels": {"app": "camera"}}, "spec": {"nodeName": "edge-2", "containers": []}}
                ]),
            ),
        ),
        ("GET", "/api/v1/nodes") => (
            200,
            list(
                "NodeList",
                "v1",
                json!([{"metadata": {"name": "edge-1", "labels": {"apps.openyurt.io/nodepool": "hangzhou"}}}]),
            ),
        ),
        ("GET", "/apis/tether.dev/v1alpha1/networkprofiles") => (
            200,
            list(
                "NetworkProfileList",
                "tether.dev/v1alpha1",
                json!([
                    {"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "camera", "generation": 4},
                     "spec": {"priority": 10, "podSelector": {"matchLabels": {"app": "camera"}}, "nodeSelector": {"matchLabels": {"apps.openyurt.io/nodepool": "hangzhou"}},
                              "bandwidth": {"ingressRate": "10M", "ingressBurst": "1M", "egressRate": "5M", "egressBurst": "512k"}, "mtu": 1400}}
                ]),
            ),
        ),
        ("PATCH", p) if p.ends_with("/status") => (
            200,
            json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile", "metadata": {"name": "camera"}, "spec": {}}),
        ),
        ("POST", p) if p.ends_with("/events") => (
            201,
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "x", "namespace": "default"}, "eventTime": "2026-01-01T00:00:00.000000Z"}),
        ),
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": "no"}),
        ),
    };
    let mut r = Response::new(
        Full::new(Bytes::from(serde_json::to_vec(&body).unwrap_or_default())).boxed(),
    );
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Starts the double on 127.0.0.1.
pub async fn start() -> FakeApi {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let ua = req
                        .headers()
                        .get("user-agent")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    log.lock().unwrap().push(Seen {
                        method: req.method().to_string(),
                        uri: req.uri().to_string(),
                        user_agent: ua,
                    });
                    let resp = respond(&req);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    FakeApi { addr, seen, task }
}
