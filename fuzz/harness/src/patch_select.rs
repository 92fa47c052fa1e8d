//! `patch_select`: the API server double's patch bodies (JSON merge patch, JSON patch,
//! strategic merge patch, server-side apply) and its label and field selectors, sent over
//! HTTPS to a real `tether_sim::apiserver` (its patch, field-set and selector modules are
//! private: this is their only way in).
//!
//! The server runs once per process with a Namespace, three Pods, a Node and a ConfigMap.
//! Input: byte 0's bit 7 picks selectors (1) or a patch (0).
//! - Patch: bits 0-1 the patch type, bits 2-3 the object (Pod, Node, ConfigMap, the Pod's
//!   `status`), bit 4 `force` for apply; the rest is the body. Every patch is a dry run, so
//!   runs do not depend on each other.
//! - Selectors: bit 0 the resource (Pods of `default`, Nodes); the rest is the label selector
//!   and the field selector, separated by a NUL byte.
//!
//! Invariants: no 5xx but the 500 upstream answers for some strategic merge patches; every answer is JSON, a `Status` with the same code for a 4xx; a dry
//! run changes nothing stored; a patched object is the object patched (same kind, name,
//! namespace) and is itself accepted by a dry-run PUT; a list with both selectors holds exactly
//! the items both lists with one selector hold, and is refused when either alone is refused.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};
use tether_sim::apiserver::{self, ApiServer, SimConfig};

use crate::input::{Fields, mode};
use crate::runtime;

struct Sim {
    server: ApiServer,
    client: kube::Client,
}

const PATCH_TYPES: [&str; 4] = [
    "application/merge-patch+json",
    "application/json-patch+json",
    STRATEGIC,
    "application/apply-patch+yaml",
];

fn pod(name: &str, app: &str, node: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": app, "tier": "edge"}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "main", "image": "busybox", "env": [{"name": "A", "value": "1"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}]
        },
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

fn objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        pod("p0", "web", "edge-1", "Running"),
        pod("p1", "db", "edge-1", "Pending"),
        pod("p2", "web", "edge-2", "Running"),
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "edge-1", "labels": {"openyurt.io/is-edge-worker": "true"}},
            "spec": {"unschedulable": false},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "cm0", "namespace": "default", "labels": {"app": "web"}},
            "data": {"a": "1", "b": "2"}
        }),
    ]
}

fn sim() -> &'static Sim {
    static SIM: OnceLock<Sim> = OnceLock::new();
    SIM.get_or_init(|| {
        runtime::get().block_on(async {
            let server = apiserver::start(SimConfig::default())
                .await
                .expect("starting the API server double");
            for obj in objects() {
                server.load_object(obj).expect("loading a fixture object");
            }
            let kubeconfig =
                Kubeconfig::from_yaml(&server.admin_kubeconfig()).expect("the double's kubeconfig");
            let mut config =
                kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                    .await
                    .expect("a client configuration");
            config.default_retry = false;
            let client = kube::Client::try_from(config).expect("a kube client");
            Sim { server, client }
        })
    })
}

/// Runs one input; panics on a broken invariant.
pub fn patch_select(data: &[u8]) {
    let Some((selector, rest)) = mode(data) else {
        return;
    };
    let sim = sim();
    runtime::get().block_on(async {
        if selector & 0x80 == 0 {
            patch(sim, selector, rest).await;
        } else {
            select(sim, selector, rest).await;
        }
    });
}

/// `%XX` for every byte but unreserved ones.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Upstream answers the errors of its strategic merge patch library that are not Statuses as
/// 500 (reason unknown), and so does the double (`tether-sim/src/apiserver/strategic.rs`).
const STRATEGIC: &str = "application/strategic-merge-patch+json";

async fn send(
    sim: &Sim,
    method: Method,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::ACCEPT, "application/json")
        .body(kube::client::Body::from(body))
        .expect("a request");
    let response = sim
        .client
        .send(request)
        .await
        .unwrap_or_else(|e| panic!("{uri}: no answer: {e}"));
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{uri}: reading the answer: {e}"))
        .to_bytes();
    let upstream_500 = status == StatusCode::INTERNAL_SERVER_ERROR && content_type == STRATEGIC;
    assert!(
        !status.is_server_error() || upstream_500,
        "{uri}: {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    let json: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{uri}: {status} answer is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    if !status.is_success() {
        assert_eq!(json["kind"], "Status", "{uri}: {status}: {json}");
        assert_eq!(json["code"], status.as_u16(), "{uri}: {json}");
    }
    (status, json)
}

async fn patch(sim: &Sim, selector: u8, body: &[u8]) {
    let content_type = PATCH_TYPES[usize::from(selector & 0x03)];
    let (path, resource, namespace, name, kind) = match (selector >> 2) & 0x03 {
        0 => (
            "/api/v1/namespaces/default/pods/p0",
            "/pods",
            "default",
            "p0",
            "Pod",
        ),
        1 => ("/api/v1/nodes/edge-1", "/nodes", "", "edge-1", "Node"),
        2 => (
            "/api/v1/namespaces/default/configmaps/cm0",
            "/configmaps",
            "default",
            "cm0",
            "ConfigMap",
        ),
        _ => (
            "/api/v1/namespaces/default/pods/p0/status",
            "/pods",
            "default",
            "p0",
            "Pod",
        ),
    };
    let force = if selector & 0x10 != 0 {
        "&force=true"
    } else {
        ""
    };
    let uri = format!("{path}?dryRun=All&fieldManager=fuzz{force}");
    let stored = sim.server.object(resource, namespace, name);
    let (status, object) = send(sim, Method::PATCH, &uri, content_type, body.to_vec()).await;
    assert_eq!(
        sim.server.object(resource, namespace, name),
        stored,
        "a dry-run {content_type} changed {path}"
    );
    if !status.is_success() {
        return;
    }
    assert_eq!(object["kind"], kind, "{content_type} {path}: {object}");
    assert_eq!(
        object["metadata"]["name"], name,
        "{content_type} {path}: {object}"
    );
    if !namespace.is_empty() {
        assert_eq!(object["metadata"]["namespace"], namespace, "{object}");
    }
    let put = path.trim_end_matches("/status");
    let (again, answer) = send(
        sim,
        Method::PUT,
        &format!("{put}?dryRun=All&fieldManager=fuzz"),
        "application/json",
        serde_json::to_vec(&object).expect("an object as JSON"),
    )
    .await;
    assert!(
        again.is_success(),
        "{content_type} {path} produced an object PUT refuses: {object} -> {answer}"
    );
}

/// Names of the listed items, or `None` when the list was refused.
async fn names(sim: &Sim, path: &str, label: &str, field: &str) -> Option<BTreeSet<String>> {
    let uri = format!(
        "{path}?labelSelector={}&fieldSelector={}",
        encode(label),
        encode(field)
    );
    let (status, list) = send(sim, Method::GET, &uri, "application/json", Vec::new()).await;
    if !status.is_success() {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {list}");
        return None;
    }
    let items = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{uri}: a list without items: {list}"));
    Some(
        items
            .iter()
            .map(|i| {
                i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect(),
    )
}

async fn select(sim: &Sim, selector: u8, rest: &[u8]) {
    let path = if selector & 0x01 == 0 {
        "/api/v1/namespaces/default/pods"
    } else {
        "/api/v1/nodes"
    };
    let mut fields = Fields::new(rest);
    let label = fields.text().unwrap_or_default();
    let field = fields.text().unwrap_or_default();
    let all = names(sim, path, "", "").await.expect("an unfiltered list");
    let by_label = names(sim, path, &label, "").await;
    let by_field = names(sim, path, "", &field).await;
    let both = names(sim, path, &label, &field).await;
    for set in [&by_label, &by_field, &both].into_iter().flatten() {
        assert!(set.is_subset(&all), "{path}: {set:?} is not within {all:?}");
    }
    match (by_label, by_field) {
        (Some(l), Some(f)) => {
            let expected: BTreeSet<String> = l.intersection(&f).cloned().collect();
            assert_eq!(both, Some(expected), "{path}: {label:?} and {field:?}");
        }
        _ => assert_eq!(
            both, None,
            "{path}: {label:?} and {field:?} accepted together"
        ),
    }
}
