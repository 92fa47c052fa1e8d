//! HTTPS serving (HTTP/1.1 and HTTP/2): authentication, APF, authorisation, routing,
//! auditing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

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
use super::crud::{self, Change, Ctx, PatchKind};
use super::rbac::{self, Attributes, UserInfo};
use super::request::{self, RequestInfo};
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::watch::{self, WatchRequest};
use super::{discovery, openapi, proto, review, table};

/// Response body type.
pub type Body = BoxBody<Bytes, Infallible>;

/// What a handler answers.
enum Reply {
    Json(u16, Value),
    Text(&'static str),
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
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())).boxed());
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

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> String {
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
        Some(user) => match process(&st, &ri, user, &user_agent, req).await {
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
        },
    };
    out.groups.extend(groups);
    Ok(out)
}

fn attributes(ri: &RequestInfo) -> Attributes {
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

async fn read_body(st: &State, req: Request<Incoming>) -> ApiResult<(String, Bytes)> {
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

async fn process(
    st: &Arc<State>,
    ri: &RequestInfo,
    user: &UserInfo,
    ua: &str,
    req: Request<Incoming>,
) -> ApiResult<Reply> {
    let _seat = st
        .apf
        .admit(&user.name)
        .map_err(ApiError::too_many_requests)?;
    let attrs = attributes(ri);
    if !rbac::authorize(&st.store, user, &attrs) {
        return Err(ApiError::forbidden(
            rbac::forbidden_message(user, &attrs),
            &ri.name,
            &ri.group,
            &ri.resource,
        ));
    }
    if !ri.resource_request {
        return non_resource(st, ri);
    }
    let accept = header_str(&req, header::ACCEPT);
    let (ct, body) = read_body(st, req).await?;
    resource(st, ri, user, ua, &accept, &ct, &body)
}

fn non_resource(st: &State, ri: &RequestInfo) -> ApiResult<Reply> {
    let reg = st.registry();
    let segs: Vec<&str> = ri.path.trim_matches('/').split('/').collect();
    let doc = match segs.as_slice() {
        ["version"] => Some(discovery::version()),
        ["healthz"] | ["livez"] | ["readyz"] => return Ok(Reply::Text("ok")),
        ["api"] => Some(discovery::core_versions(&st.address)),
        ["api", v] => discovery::resource_list(&reg, "", v),
        ["apis"] => Some(discovery::group_list(&reg)),
        ["apis", g] => discovery::group(&reg, g),
        ["apis", g, v] => discovery::resource_list(&reg, g, v),
        ["openapi", "v3"] => Some(openapi::root(&reg)),
        ["openapi", "v3", "api", v] => openapi::group_version(&reg, "", v),
        ["openapi", "v3", "apis", g, v] => openapi::group_version(&reg, g, v),
        _ => None,
    };
    doc.map(|d| Reply::Json(200, d))
        .ok_or_else(ApiError::path_not_found)
}

fn resource(
    st: &Arc<State>,
    ri: &RequestInfo,
    user: &UserInfo,
    ua: &str,
    accept: &str,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Reply> {
    let rt = st
        .find(&ri.group, &ri.version, &ri.resource)
        .ok_or_else(ApiError::path_not_found)?;
    let sub = ri.subresource.as_str();
    if !(sub.is_empty() || (sub == "status" && rt.status))
        || (!rt.namespaced && rt.id() != "/namespaces" && !ri.namespace.is_empty())
    {
        return Err(ApiError::path_not_found());
    }
    let ns = if rt.namespaced {
        ri.namespace.as_str()
    } else {
        ""
    };
    let manager = ri.q("fieldManager").map(String::from).unwrap_or_else(|| {
        ua.split('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    });
    let ctx = Ctx {
        st,
        user,
        manager,
        strict: ri.q("fieldValidation") == Some("Strict"),
    };
    if !rt.stored {
        if ri.verb != "create" {
            return Err(ApiError::method_not_allowed());
        }
        let obj = if ct.starts_with(proto::MEDIA_TYPE) {
            proto::decode_review(body, &rt.kind)?
        } else {
            crud::decode(body, ct, &rt.kind)?
        };
        return Ok(Reply::Json(
            201,
            review::review(st, user, obj, rt.plural == "selfsubjectaccessreviews")?,
        ));
    }
    let sel = || crud::selectors(&rt, ri.q("labelSelector"), ri.q("fieldSelector"));
    let table = accept.contains("as=Table");
    let out = match ri.verb.as_str() {
        "get" => {
            let o = crud::get(st, &rt, ns, &ri.name)?;
            if table {
                table::of_object(&o, ri.q("includeObject"))
            } else {
                o
            }
        }
        "list" => {
            let limit = ri.q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
            let l = crud::list(st, &rt, ns, &sel()?, limit, ri.q("continue"))?;
            if table {
                table::of_list(&l, ri.q("includeObject"))
            } else {
                l
            }
        }
        "watch" => {
            let timeout = ri
                .q("timeoutSeconds")
                .and_then(|t| t.parse().ok())
                .unwrap_or(1800);
            let selectors = sel()?;
            let req = WatchRequest {
                rt,
                namespace: ns.to_string(),
                selectors,
                resource_version: ri.q("resourceVersion").map(String::from),
                bookmarks: ri.flag("allowWatchBookmarks"),
                send_initial_events: ri.flag("sendInitialEvents"),
                timeout: Duration::from_secs(timeout),
                table,
            };
            return Ok(Reply::Stream(watch::start(Arc::clone(st), req)?));
        }
        "create" if ri.name.is_empty() || !sub.is_empty() => {
            if !sub.is_empty() {
                return Err(ApiError::method_not_allowed());
            }
            let obj = crud::decode(body, ct, &rt.kind)?;
            return Ok(Reply::Json(201, crud::create(&ctx, &rt, ns, obj)?));
        }
        "update" => {
            let obj = crud::decode(body, ct, &rt.kind)?;
            crud::modify(&ctx, &rt, ns, &ri.name, sub, Change::Replace(obj))?
        }
        "patch" => {
            let kind = PatchKind::from_content_type(ct)?;
            let patch = if kind == PatchKind::Apply {
                if ri.q("fieldManager").is_none_or(str::is_empty) {
                    return Err(ApiError::bad_request(
                        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                    ));
                }
                crud::decode(body, "application/yaml", &rt.kind)?
            } else {
                serde_json::from_slice(body)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?
            };
            crud::modify(
                &ctx,
                &rt,
                ns,
                &ri.name,
                sub,
                Change::Patch(kind, patch, ri.flag("force")),
            )?
        }
        "delete" if sub.is_empty() => {
            let options = if body.is_empty() {
                Value::Null
            } else {
                crud::decode(body, ct, "DeleteOptions")?
            };
            crud::delete(&ctx, &rt, ns, &ri.name, &options)?
        }
        "deletecollection" => crud::delete_collection(&ctx, &rt, ns, &sel()?)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    Ok(Reply::Json(200, out))
}
