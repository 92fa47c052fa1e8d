//! Routing of authenticated requests: APF admission, authorisation, then discovery or
//! the resource handlers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, header};
use serde_json::Value;

use super::crud::{self, Ctx, PatchKind};
use super::deletion::{self, DeleteOptions};
use super::modify::{self, Change};
use super::rbac::{self, UserInfo};
use super::request::RequestInfo;
use super::server::{Reply, attributes, header_str, read_body};
use super::state::State;
use super::status::{ApiError, ApiResult};
use super::table::TableRequest;
use super::watch::{self, WatchRequest};
use super::{collector, discovery, namespaces, openapi, pod_subresources, proto, review, scale};

/// Admit, authorise and answer one request.
pub async fn process(
    st: &Arc<State>,
    ri: &RequestInfo,
    user: &UserInfo,
    ua: &str,
    req: Request<Incoming>,
) -> ApiResult<Reply> {
    let attrs = attributes(ri);
    let _seat = st
        .apf
        .admit_request(&st.store, user, &attrs)
        .await
        .map_err(ApiError::too_many_requests)?;
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
    let pod_sub = !rt.custom && rt.id() == "/pods" && pod_subresources::SUBRESOURCES.contains(&sub);
    if !(sub.is_empty()
        || (sub == "status" && rt.status)
        || (sub == "scale" && rt.scale)
        || pod_sub)
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
    let dry_run = match ri.q("dryRun") {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid dry run value {other:?}: supported values: \"All\""
            )));
        }
    };
    let ctx = Ctx {
        st,
        user,
        manager,
        strict: ri.q("fieldValidation") == Some("Strict"),
        dry_run,
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
        let answer = match rt.plural.as_str() {
            "selfsubjectrulesreviews" => review::rules_review(st, user, obj)?,
            plural => review::review(st, user, obj, plural == "selfsubjectaccessreviews")?,
        };
        return Ok(Reply::Json(201, answer));
    }
    if pod_sub {
        let obj = match ri.verb.as_str() {
            "create" if !body.is_empty() => Some(crud::decode(body, ct, &rt.kind)?),
            _ => None,
        };
        let answer = pod_subresources::handle(&ctx, &rt, ns, &ri.name, sub, obj.as_ref(), |k| {
            ri.q(k).map(String::from)
        })?;
        if sub == "eviction" && !ctx.dry_run {
            collector::settle(st);
        }
        return Ok(match answer {
            pod_subresources::Answer::Json(code, v) => Reply::Json(code, v),
            pod_subresources::Answer::EmptyLog => Reply::Text(""),
        });
    }
    if sub == "scale" {
        let out = scale::handle(&ctx, &rt, ns, &ri.name, &ri.verb, ct, body)?;
        return Ok(Reply::Json(200, out));
    }
    let sel = || crud::selectors(&rt, ri.q("labelSelector"), ri.q("fieldSelector"));
    let table = if accept.contains("as=Table") {
        Some(TableRequest::new(st, &rt, ri.q("includeObject"))?)
    } else {
        None
    };
    let out = match ri.verb.as_str() {
        "get" => {
            let o = crud::get(st, &rt, ns, &ri.name)?;
            match table {
                Some(t) => t.of_object(&o),
                None => o,
            }
        }
        "list" => {
            let limit = ri.q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
            let l = crud::list(st, &rt, ns, &sel()?, limit, ri.q("continue"))?;
            match table {
                Some(t) => t.of_list(&l),
                None => l,
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
            let out = modify::modify(&ctx, &rt, ns, &ri.name, sub, Change::Replace(obj))?;
            settle_after(&ctx, &out);
            out
        }
        "patch" => {
            let kind = PatchKind::for_resource(ct, &rt)?;
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
            let out = modify::modify(
                &ctx,
                &rt,
                ns,
                &ri.name,
                sub,
                Change::Patch(kind, patch, ri.flag("force")),
            )?;
            settle_after(&ctx, &out);
            out
        }
        "delete" | "deletecollection" if sub.is_empty() => {
            let options = if body.is_empty() {
                Value::Null
            } else {
                crud::decode(body, ct, "DeleteOptions")?
            };
            let opts = DeleteOptions::parse(&options, |k| ri.q(k).map(String::from))?;
            // DeleteOptions carry their own dryRun (that is where client-go puts it).
            let ctx = Ctx {
                dry_run: ctx.dry_run || opts.dry_run,
                ..ctx
            };
            let (code, out) = if ri.verb == "delete" {
                namespaces::admit_delete(&rt, &ri.name)?;
                let outcome = deletion::delete(&ctx, &rt, ns, &ri.name, &opts)?;
                deletion::answer(&rt, outcome, &opts)
            } else {
                (
                    200,
                    deletion::delete_collection(&ctx, &rt, ns, &sel()?, &opts)?,
                )
            };
            if !ctx.dry_run {
                collector::settle(st);
            }
            return Ok(Reply::Json(code, out));
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    Ok(Reply::Json(200, out))
}

/// Run the controllers after an update that may have finished a deletion (a marked
/// object, possibly now gone).
fn settle_after(ctx: &Ctx, out: &Value) {
    if !ctx.dry_run && deletion::is_deleting(out) {
        collector::settle(ctx.st);
    }
}
