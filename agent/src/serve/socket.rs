//! Wire protocol v1 on the agent's Unix socket.
//!
//! One request per connection (the plugin sends `Connection: close`), only from peers with the
//! required uid (SO_PEERCRED), a bounded body, a deadline per connection and a bounded number
//! of connections open at once, where a newcomer takes the place of the oldest connection
//! still reading its request (`admission.rs`): stalled callers cannot lock the plugin out.
//! Malformed requests get a 4xx JSON error, hyper's own parse errors too (`parser_answers.rs`),
//! and change nothing.

use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cni::protocol::{ADD_PATH, AddRequest, AddResponse, ErrorBody, HEALTHZ_PATH, Source};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

use crate::metrics::Metrics;
use crate::state::outbox::Outbox;
use crate::state::store::Store;

mod admission;
mod parser_answers;

use admission::{Admission, Admitted, Slot, Ticket};
use parser_answers::ParserAnswers;

/// Largest request body accepted; an AddRequest is a few hundred bytes.
pub const MAX_BODY: usize = 16 * 1024;

/// Limits of the socket server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// How long an ADD waits for a pod the store does not know yet.
    pub pod_wait: Duration,
    /// Deadline for a whole connection: reading the request and writing the answer.
    pub connection_timeout: Duration,
    /// Connections open at once. At the limit, a new connection takes the place of the oldest
    /// one still reading its request (closed unanswered); when all are being answered, it
    /// waits for the first to finish.
    pub max_connections: usize,
    /// The only peer uid served (SO_PEERCRED); others are dropped unanswered. The agent passes
    /// root's, 0: tether-cni runs as root, exec'd by the container runtime.
    pub required_uid: u32,
}

/// Binds `path` with mode 0600: the socket is made under a temporary name, restricted, then
/// renamed into place, so it is never reachable with a wider mode. A stale socket is replaced.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)?;
    Ok(listener)
}

/// Serves until `shutdown` turns true, then stops accepting and lets in-flight answers finish.
pub async fn serve(
    listener: UnixListener,
    store: Arc<Store>,
    config: ServerConfig,
    metrics: Arc<Metrics>,
    events: Option<Arc<Outbox>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let admission = Admission::new(config.max_connections);
    let config = Arc::new(config);
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, most likely: give in-flight connections time to close.
                tracing::warn!(error = %e, "socket accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Accepting first, then finding a place: a full table never keeps a newcomer out
        // while a stalled connection holds a place.
        let ticket = tokio::select! {
            admitted = admission.admit() => match admitted {
                Admitted::Free(ticket) => ticket,
                Admitted::Shed(ticket) => {
                    tracing::debug!("socket connections at the limit: closed the oldest one still reading its request");
                    ticket
                }
            },
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let ctx = Ctx {
            store: store.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            events: events.clone(),
        };
        tasks.spawn(handle_connection(stream, Arc::new(ctx), ticket));
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// What a connection needs.
struct Ctx {
    store: Arc<Store>,
    config: Arc<ServerConfig>,
    metrics: Arc<Metrics>,
    events: Option<Arc<Outbox>>,
}

/// Serves one connection; its place in the table is freed when `ticket` drops, on every way
/// out (answer, deadline, shedding, error, panic).
async fn handle_connection(stream: UnixStream, ctx: Arc<Ctx>, ticket: Ticket) {
    let (config, metrics) = (&ctx.config, &ctx.metrics);
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == config.required_uid => {}
        Ok(cred) => {
            metrics.socket_rejected_peers.inc();
            tracing::warn!(uid = cred.uid(), pid = ?cred.pid(), "socket peer refused: wrong uid");
            return;
        }
        Err(e) => {
            metrics.socket_rejected_peers.inc();
            tracing::warn!(error = %e, "socket peer refused: no credentials");
            return;
        }
    }
    let slot = ticket.slot().clone();
    let service = {
        let (ctx, slot) = (ctx.clone(), slot.clone());
        service_fn(move |req| {
            let (ctx, slot) = (ctx.clone(), slot.clone());
            async move { Ok::<_, Infallible>(route(req, &ctx, &slot).await) }
        })
    };
    let io = ParserAnswers::new(stream, slot.clone(), metrics.clone());
    let conn = http1::Builder::new()
        .keep_alive(false)
        .serve_connection(TokioIo::new(io), service);
    tokio::select! {
        served = timeout(config.connection_timeout, conn) => match served {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "socket connection ended with an error"),
            Err(_) => {
                metrics.socket_timeouts.inc();
                tracing::debug!("socket connection dropped at its deadline");
            }
        },
        () = slot.shed() => tracing::debug!("socket connection closed unanswered for a newer one: its request was still incomplete"),
    }
    drop(ticket);
}

/// Counts an ADD in `tether_agent_socket_in_flight` for as long as it lives: every way out of
/// a request (answer, error, deadline, disconnect, shedding, panic) drops it.
struct InFlight(Gauge);

impl InFlight {
    fn start(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Counts an answer in `tether_agent_socket_responses` under its status code.
fn count_response(metrics: &Metrics, status: StatusCode) {
    let code = match status.as_u16() {
        200 => "200",
        400 => "400",
        404 => "404",
        405 => "405",
        413 => "413",
        414 => "414",
        431 => "431",
        _ => "other",
    };
    metrics
        .socket_responses
        .get_or_create(&[("code", code)])
        .inc();
}

async fn route(req: Request<Incoming>, ctx: &Ctx, slot: &Slot) -> Response<Full<Bytes>> {
    slot.routed();
    if (req.method(), req.uri().path()) != (&Method::POST, ADD_PATH) {
        // Only an ADD reads a body; every other request is read whole once routed.
        slot.answering();
    }
    let response = match (req.method(), req.uri().path()) {
        (&Method::POST, ADD_PATH) => {
            let start = std::time::Instant::now();
            let in_flight = InFlight::start(&ctx.metrics.socket_in_flight);
            let response = add(req, ctx, slot).await;
            drop(in_flight);
            ctx.metrics
                .socket_answer_seconds
                .observe(start.elapsed().as_secs_f64());
            response
        }
        (&Method::GET, HEALTHZ_PATH) => json(
            StatusCode::OK,
            &Health {
                base: cni::protocol::HealthResponse {
                    ok: true,
                    live: ctx.store.is_live(),
                },
                upstream: ctx.store.upstream().as_str(),
                unconfirmed_writes: ctx.events.as_ref().map_or(0, |o| o.len()),
            },
        ),
        (_, ADD_PATH | HEALTHZ_PATH) => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        (_, path) => error(StatusCode::NOT_FOUND, &format!("no such path {path:?}")),
    };
    count_response(&ctx.metrics, response.status());
    response
}

async fn add(req: Request<Incoming>, ctx: &Ctx, slot: &Slot) -> Response<Full<Bytes>> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body larger than {MAX_BODY} bytes"),
        );
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("body larger than {MAX_BODY} bytes"),
            );
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("reading body: {e}")),
    };
    // Read whole: from here on the connection keeps its place whatever arrives.
    slot.answering();
    let request: AddRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid AddRequest: {e}")),
    };
    if request.pod_namespace.is_empty() || request.pod_name.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "podNamespace and podName are required",
        );
    }
    let answer = answer_waiting(&ctx.store, &request, ctx.config.pod_wait).await;
    if let Err(e) = answer.validate() {
        tracing::error!(pod = %format!("{}/{}", request.pod_namespace, request.pod_name), error = %e, "refusing to send an invalid answer");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("agent computed an invalid answer: {e}"),
        );
    }
    let source = match answer.source {
        Source::Live => "live",
        Source::Cache => "cache",
        Source::Default => "default",
    };
    ctx.metrics
        .socket_answers
        .get_or_create(&[("source", source)])
        .inc();
    if let (Some(events), Some(write)) =
        (&ctx.events, crate::api::report::applied(&request, &answer))
    {
        // Journaled before the answer leaves: an answered pod's Event survives SIGKILL.
        events.push(write);
    }
    json(StatusCode::OK, &answer)
}

/// The answer for a pod, waiting up to `wait` for the store to learn about it. Nothing is
/// answered from a half-loaded store: until pods, profiles and the node are all loaded (from
/// disk or from the API), the request waits for them too, and if they do not come in time it
/// gets the answer for a pod the agent does not know (`source: default`), never a "no profile"
/// computed without the profiles. The wait is driven by store change notifications and ends
/// early when the watches that could help are down.
pub async fn answer_waiting(store: &Store, req: &AddRequest, wait: Duration) -> AddResponse {
    let deadline = Instant::now() + wait;
    let mut changes = store.subscribe();
    loop {
        if store.loaded() {
            if let Some(answer) = store.answer(&req.pod_namespace, &req.pod_name, &req.pod_uid) {
                return answer;
            }
            if !store.pods_may_arrive() {
                break;
            }
        } else if !store.may_finish_loading() {
            break;
        }
        match timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => continue,
            _ => break,
        }
    }
    if !store.loaded() {
        tracing::warn!(pod = %format!("{}/{}", req.pod_namespace, req.pod_name), "answered `default` before pods, profiles and the node were all loaded");
    }
    AddResponse::default()
}

/// `GET /v1/healthz`: the wire protocol's fields, and what the agent adds for operators
/// (`tether-cni` ignores unknown fields).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok` and `live` of the wire protocol.
    #[serde(flatten)]
    pub base: cni::protocol::HealthResponse,
    /// What answers the agent's API requests: `api-server`, `yurthub-cache`, `unreachable` or
    /// `unknown` (see `agent/README.md`).
    pub upstream: &'static str,
    /// Writes (Events, status entries) queued and not yet confirmed by the API server.
    pub unconfirmed_writes: usize,
}

fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(
        status,
        &ErrorBody {
            error: message.to_owned(),
        },
    )
}

#[cfg(test)]
mod tests;
