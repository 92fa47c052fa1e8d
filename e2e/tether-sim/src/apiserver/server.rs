//! HTTPS serving (HTTP/1.1 and HTTP/2): authentication, APF, authorisation, routing,
//! auditing.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::audit::AuditEvent;
use super::rbac::{self, Attributes, UserInfo};
use super::request::{self, RequestInfo};
use super::state::State;
use super::status::{ApiError, ApiResult};

/// Response body type.
pub type Body = BoxBody<Bytes, Infallible>;

/// What a handler answers.
pub enum Reply {
    /// A JSON document with a status code.
    Json(u16, Value),
    /// Plain text (health checks).
    Text(&'static str),
    /// A watch stream of JSON lines.
    Stream(mpsc::Receiver<Bytes>),
}

/// Accept TLS connections until `shutdown` fires; then drop every connection.
pub async fn run(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    st: Arc<State>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let (acceptor, st) = (acceptor.clone(), st.clone());
                conns.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let svc = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(handle(st, req).await) }
                    });
                    // A client hanging up mid-request is its business, not the server's.
                    let _ = auto::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), svc).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(super::status::encode(v))).boxed());
    *r.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if e.code == 429 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    r
}

pub fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let uri = req.uri().clone();
    let ri = request::parse(
        req.method().as_str(),
        uri.path(),
        uri.query().unwrap_or_default(),
    );
    let user_agent = header_str(&req, header::USER_AGENT);
    let auth = header_str(&req, header::AUTHORIZATION);
    let user = if auth.is_empty() {
        Some(UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            ..Default::default()
        })
    } else {
        auth.strip_prefix("Bearer ")
            .and_then(|t| st.user_of(t.trim()))
    };
    let user = match user.map(|u| impersonate(&st, u, &req)) {
        None => None,
        Some(Ok(u)) => Some(u),
        Some(Err(e)) => return error_response(&e),
    };
    let response = match &user {
        None => error_response(&ApiError::unauthorized()),
        Some(user) => match super::route::process(&st, &ri, user, &user_agent, req).await {
            Ok(Reply::Json(code, v)) => json_response(code, &v),
            Ok(Reply::Text(t)) => {
                Response::new(Full::new(Bytes::from_static(t.as_bytes())).boxed())
            }
            Ok(Reply::Stream(rx)) => {
                let stream = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv()
                        .await
                        .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
                });
                let mut r = Response::new(StreamBody::new(stream).boxed());
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                r
            }
            Err(e) => error_response(&e),
        },
    };
    let (name, groups) = user.map(|u| (u.name, u.groups)).unwrap_or_default();
    st.audit.record(AuditEvent {
        time,
        user: name,
        groups,
        verb: ri.verb.clone(),
        api_group: ri.group.clone(),
        resource: ri.resource.clone(),
        subresource: ri.subresource.clone(),
        namespace: ri.namespace.clone(),
        name: ri.name.clone(),
        uri: uri.to_string(),
        code: response.status().as_u16(),
        user_agent,
    });
    response
}

/// `Impersonate-User` / `Impersonate-Group` (what `kubectl --as` sends), allowed to
/// those RBAC lets `impersonate` users, ServiceAccounts and groups.
fn impersonate(st: &State, user: UserInfo, req: &Request<Incoming>) -> ApiResult<UserInfo> {
    let target = header_str(req, header::HeaderName::from_static("impersonate-user"));
    let groups: Vec<String> = req
        .headers()
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    if target.is_empty() && groups.is_empty() {
        return Ok(user);
    }
    let mut checks: Vec<Attributes> = groups
        .iter()
        .map(|g| Attributes {
            verb: "impersonate".into(),
            resource: "groups".into(),
            name: g.clone(),
            resource_request: true,
            ..Default::default()
        })
        .collect();
    let sa = target
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'));
    checks.push(match sa {
        Some((ns, name)) => Attributes {
            verb: "impersonate".into(),
            resource: "serviceaccounts".into(),
            namespace: ns.into(),
            name: name.into(),
            resource_request: true,
            ..Default::default()
        },
        None => Attributes {
            verb: "impersonate".into(),
            resource: "users".into(),
            name: target.clone(),
            resource_request: true,
            ..Default::default()
        },
    });
    for a in &checks {
        if !rbac::authorize(&st.store, &user, a) {
            return Err(ApiError::forbidden(
                rbac::forbidden_message(&user, a),
                &a.name,
                "",
                &a.resource,
            ));
        }
    }
    let mut out = match sa {
        Some((ns, name)) => UserInfo::service_account(ns, name),
        None => UserInfo {
            name: target,
            groups: vec!["system:authenticated".into()],
            ..Default::default()
        },
    };
    out.groups.extend(groups);
    Ok(out)
}

pub fn attributes(ri: &RequestInfo) -> Attributes {
    let mut name = ri.name.clone();
    if name.is_empty() && matches!(ri.verb.as_str(), "list" | "watch") {
        // The real server authorises a list pinned to one name as a request for that name.
        name = ri
            .q("fieldSelector")
            .and_then(|f| {
                f.split(',')
                    .find_map(|t| t.trim().strip_prefix("metadata.name=").map(String::from))
            })
            .unwrap_or_default();
    }
    Attributes {
        verb: ri.verb.clone(),
        api_group: ri.group.clone(),
        resource: ri.resource.clone(),
        subresource: ri.subresource.clone(),
        namespace: ri.namespace.clone(),
        name,
        path: ri.path.clone(),
        resource_request: ri.resource_request,
    }
}

pub async fn read_body(st: &State, req: Request<Incoming>) -> ApiResult<(String, Bytes)> {
    let ct = header_str(&req, header::CONTENT_TYPE);
    let declared: usize = header_str(&req, header::CONTENT_LENGTH)
        .parse()
        .unwrap_or(0);
    if declared > st.max_body_bytes {
        return Err(ApiError::too_large(st.max_body_bytes));
    }
    let body = Limited::new(req.into_body(), st.max_body_bytes)
        .collect()
        .await
        .map_err(|_| ApiError::too_large(st.max_body_bytes))?
        .to_bytes();
    Ok((ct, body))
}
