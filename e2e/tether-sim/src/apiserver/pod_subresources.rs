//! A pod's subresources besides `status`: `binding` and `eviction` (stored effects), and
//! `log`, `exec`, `attach`, `portforward`, which the real server proxies to the node's
//! kubelet — the double has no kubelet connection and answers as the real server does when
//! it cannot reach one (kubernetes `pkg/registry/core/pod/storage/storage.go`,
//! `pkg/registry/core/pod/storage/eviction.go`, `pkg/registry/core/pod/strategy.go`,
//! `pkg/kubelet/client/kubelet_client.go`).

use serde_json::{Value, json};

use super::crud::{self, Ctx, generation, key};
use super::deletion::{self, DeleteOptions, is_deleting};
use super::resources::ResourceType;
use super::status::{ApiError, ApiResult};
use super::store::{Key, Write};

/// The pod subresources handled here.
pub const SUBRESOURCES: [&str; 6] = [
    "binding",
    "eviction",
    "log",
    "exec",
    "attach",
    "portforward",
];

/// What a subresource request answers: JSON with a code, or a text body.
pub enum Answer {
    /// A JSON document and its HTTP code.
    Json(u16, Value),
    /// An empty `200` log (a pod with no node: `LogLocation` gives no location).
    EmptyLog,
}

/// The Status a successful create of a binding or eviction answers: the storage returns
/// `Status{Success}` and the create handler fills in 201.
fn created() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
}

/// Handle `pods/<name>/<sub>`.
pub fn handle(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    sub: &str,
    body: Option<&Value>,
    query: impl Fn(&str) -> Option<String>,
) -> ApiResult<Answer> {
    match sub {
        "binding" => bind(ctx, rt, ns, name, body.unwrap_or(&Value::Null)),
        "eviction" => evict(ctx, rt, ns, name, body.unwrap_or(&Value::Null)),
        _ => {
            let pod = crud::get(ctx.st, rt, ns, name)?;
            let container = query("container");
            if sub != "portforward" {
                check_container(&pod, name, container.as_deref())?;
            }
            let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
            if node.is_empty() {
                if sub == "log" {
                    return Ok(Answer::EmptyLog);
                }
                return Err(ApiError::bad_request(format!(
                    "pod {name} does not have a host assigned"
                )));
            }
            Err(unreachable_kubelet(
                ctx,
                node,
                ns,
                name,
                sub,
                container.as_deref(),
                &pod,
            ))
        }
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(String::from))
        .collect()
}

/// `validateContainer` (log) and `streamLocation` (exec, attach): which container.
fn check_container(pod: &Value, name: &str, container: Option<&str>) -> ApiResult<()> {
    let containers = names(&pod["spec"]["containers"]);
    let init = names(&pod["spec"]["initContainers"]);
    match container.filter(|c| !c.is_empty()) {
        Some(c) if containers.iter().chain(&init).any(|n| n == c) => Ok(()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(()),
        None if containers.is_empty() => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}"
        ))),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

/// The node's address as `GetPreferredNodeAddress` picks it with kube-apiserver's default
/// `--kubelet-preferred-address-types` (Hostname, InternalDNS, InternalIP, ExternalDNS,
/// ExternalIP), and the kubelet port (`daemonEndpoints`, default 10250); then the failed
/// dial, as the proxy reports it.
fn unreachable_kubelet(
    ctx: &Ctx,
    node: &str,
    ns: &str,
    name: &str,
    sub: &str,
    container: Option<&str>,
    pod: &Value,
) -> ApiError {
    let Some(n) = ctx.st.store.get(&Key::new("/nodes", "", node)) else {
        return ApiError::not_found("", "nodes", node);
    };
    let addresses = n["status"]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let host = [
        "Hostname",
        "InternalDNS",
        "InternalIP",
        "ExternalDNS",
        "ExternalIP",
    ]
    .iter()
    .find_map(|t| {
        addresses
            .iter()
            .find(|a| a["type"] == *t)
            .and_then(|a| a["address"].as_str())
    });
    let Some(host) = host else {
        let known: Vec<String> = addresses
            .iter()
            .map(|a| {
                format!(
                    "{{{} {}}}",
                    a["type"].as_str().unwrap_or_default(),
                    a["address"].as_str().unwrap_or_default()
                )
            })
            .collect();
        return ApiError::unknown(format!(
            "no preferred addresses found; known addresses: [{}]",
            known.join(" ")
        ));
    };
    let port = n["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .filter(|p| *p > 0)
        .unwrap_or(10250);
    let dial = format!("dial tcp {host}:{port}: connect: connection refused");
    if sub == "log" {
        let c = container
            .map(String::from)
            .unwrap_or_else(|| names(&pod["spec"]["containers"]).join(""));
        return ApiError::unknown(format!(
            "Get \"https://{host}:{port}/containerLogs/{ns}/{name}/{c}\": {dial}"
        ));
    }
    ApiError::internal(format!("error dialing backend: {dial}"))
}

/// `BindingREST.Create` / `assignPod` (`pkg/registry/core/pod/storage/storage.go`): set
/// the node once; 409 if bound already or being deleted.
fn bind(ctx: &Ctx, rt: &ResourceType, ns: &str, name: &str, binding: &Value) -> ApiResult<Answer> {
    if binding["metadata"]["name"]
        .as_str()
        .is_some_and(|n| n != name)
    {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Binding object",
        ));
    }
    let node = binding["target"]["name"].as_str().unwrap_or_default();
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            name,
            &[("target.name".into(), "Required value".into())],
        ));
    }
    let k = key(rt, ns, name);
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    ctx.st.store.write_or_preview(&k, generation(rt), ctx.dry_run, |cur| {
        let Some(cur) = cur else {
            return Err(ApiError::not_found("", "pods", name));
        };
        if is_deleting(cur) {
            return Err(ApiError::conflict("", "pods/binding", name, &format!("pod {name} is being deleted, cannot be assigned to a host")));
        }
        if let Some(bound) = cur["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(ApiError::conflict("", "pods/binding", name, &format!("pod {name} is already assigned to node {bound:?}")));
        }
        let mut pod = cur.clone();
        pod["spec"]["nodeName"] = json!(node);
        if let Some(annotations) = binding["metadata"]["annotations"].as_object() {
            for (k, v) in annotations {
                pod["metadata"]["annotations"][k] = v.clone();
            }
        }
        let mut conds: Vec<Value> = pod["status"]["conditions"].as_array().cloned().unwrap_or_default();
        conds.retain(|c| c["type"] != "PodScheduled");
        conds.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        pod["status"]["conditions"] = json!(conds);
        Ok(Write::Put(pod))
    })?;
    Ok(Answer::Json(201, created()))
}

/// `EvictionREST.Create` without PodDisruptionBudgets (`eviction.go`): the pod is deleted
/// with the eviction's `deleteOptions`.
fn evict(
    ctx: &Ctx,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    eviction: &Value,
) -> ApiResult<Answer> {
    if eviction["metadata"]["name"]
        .as_str()
        .is_some_and(|n| n != name)
    {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let options =
        DeleteOptions::parse(eviction.get("deleteOptions").unwrap_or(&json!({})), |_| {
            None
        })?;
    deletion::delete(ctx, rt, ns, name, &options)?;
    Ok(Answer::Json(201, created()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_container_is_chosen_as_stream_location_does() {
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert!(check_container(&one, "p", None).is_ok());
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(
            check_container(&two, "p", None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(
            check_container(&two, "p", Some("z")).unwrap_err().message,
            "container z is not valid for pod p"
        );
    }
}
