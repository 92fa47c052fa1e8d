//! The agent's API server in these tests: `tether-sim` (`e2e/tether-sim`), the workspace's
//! Kubernetes API double (TLS, tokens, RBAC, watches, server-side apply, admission, an audit
//! log), with every document of `deploy/` applied as `kubectl apply -k deploy/` would (but the
//! DaemonSet: the test plays its pod) and a small cluster in it. The agent reaches it as its
//! DaemonSet pod would: a ServiceAccount token of `tether-system/tether-agent` bound to node
//! `edge-1`, the double's CA, and what the RBAC and admission policy of `deploy/` allow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use tether_sim::apiserver::{self, ApiServer, AuditEvent, SimConfig};

/// The node every agent of these tests serves.
pub const NODE: &str = "edge-1";
/// Who the agent is to the API server: its ServiceAccount.
pub const AGENT_USER: &str = "system:serviceaccount:tether-system:tether-agent";
/// The User-Agent every request of the agent carries.
pub const USER_AGENT: &str = concat!("tether-agent/", env!("CARGO_PKG_VERSION"));
/// The field manager of this node's status entries.
pub const FIELD_MANAGER: &str = "tether-agent/edge-1";

/// The objects of `deploy/`, in the order of `kustomization.yaml`'s `resources`.
pub fn deploy_documents() -> Vec<Value> {
    testkit::repo::deploy_documents().unwrap_or_else(|e| panic!("{e}"))
}

/// `(apiGroup, resource or resource/subresource, verb)` of every rule of the agent's
/// ClusterRole in `deploy/rbac.yaml`.
pub fn permissions_granted() -> BTreeSet<(String, String, String)> {
    let role = deploy_documents()
        .into_iter()
        .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "tether-agent")
        .expect("deploy/ has the tether-agent ClusterRole");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out
}

/// `(apiGroup, resource or resource/subresource, verb)` of one audited request, as RBAC
/// evaluated it.
pub fn permission_used(e: &AuditEvent) -> (String, String, String) {
    let resource = if e.subresource.is_empty() {
        e.resource.clone()
    } else {
        format!("{}/{}", e.resource, e.subresource)
    };
    (e.api_group.clone(), resource, e.verb.clone())
}

/// Whether the API server took the request: answered below 400, or an Event create answered
/// 409, which is how the agent's resend of an Event already created (its name is stable) ends.
pub fn accepted(e: &AuditEvent) -> bool {
    e.code < 400 || (e.resource == "events" && e.verb == "create" && e.code == 409)
}

/// The path of a request URI and its query parameters, decoded.
pub fn split_uri(uri: &str) -> (&str, BTreeMap<String, String>) {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (path, params)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The double, serving on 127.0.0.1 from a runtime of its own (so tests stay synchronous),
/// with `deploy/` applied and this cluster in it:
///
/// - nodes `edge-1` (NodePool `hangzhou`) and `edge-2` (NodePool `shanghai`);
/// - pods `default/cam-1` and `default/cam-2` on `edge-1`, `default/elsewhere` on `edge-2`,
///   all labelled `app: camera`;
/// - NetworkProfile `camera` (pods `app: camera` on NodePool `hangzhou`: 10M/1M in, 5M/512k
///   out, MTU 1400), edited once after its creation, so at generation 2.
pub struct Cluster {
    /// The running double (declared first: it stops before its runtime goes).
    pub server: ApiServer,
    /// uid the double gave each pod, by name.
    pub uids: BTreeMap<String, String>,
    runtime: tokio::runtime::Runtime,
}

impl Cluster {
    /// Starts the double and loads `deploy/` and the cluster into it.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(apiserver::start(SimConfig::default()))
            .unwrap();
        for doc in deploy_documents() {
            // The test plays the DaemonSet's pod: the double's controller would create one that
            // nothing here runs (no kubelet double in these tests).
            if doc["kind"] == "DaemonSet" {
                continue;
            }
            let what = format!("{}/{}", doc["kind"], doc["metadata"]["name"]);
            server
                .load_object(doc)
                .unwrap_or_else(|e| panic!("applying {what} from deploy/: {e}"));
        }
        for (node, pool) in [("edge-1", "hangzhou"), ("edge-2", "shanghai")] {
            server
                .load_object(json!({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": node, "labels": {"apps.openyurt.io/nodepool": pool}}}))
                .unwrap();
        }
        let mut uids = BTreeMap::new();
        for (name, node) in [
            ("cam-1", "edge-1"),
            ("cam-2", "edge-1"),
            ("elsewhere", "edge-2"),
        ] {
            let pod = server
                .load_object(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"namespace": "default", "name": name, "labels": {"app": "camera"}},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}))
                .unwrap();
            uids.insert(
                name.to_owned(),
                pod["metadata"]["uid"].as_str().unwrap().to_owned(),
            );
        }
        for mtu in [1500, 1400] {
            server
                .load_object(json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
                    "metadata": {"name": "camera"},
                    "spec": {"priority": 10, "podSelector": {"matchLabels": {"app": "camera"}},
                             "nodeSelector": {"matchLabels": {"apps.openyurt.io/nodepool": "hangzhou"}},
                             "bandwidth": {"ingressRate": "10M", "ingressBurst": "1M", "egressRate": "5M", "egressBurst": "512k"},
                             "mtu": mtu}}))
                .unwrap();
        }
        let cluster = Self {
            server,
            uids,
            runtime,
        };
        assert_eq!(cluster.profile()["metadata"]["generation"], 2);
        cluster
    }

    /// Writes a kubeconfig for the agent of `edge-1`: the double's URL and CA, and a freshly
    /// minted token of ServiceAccount `tether-system/tether-agent` bound to node `edge-1` (as
    /// the DaemonSet pod's projected token is since Kubernetes 1.32, which
    /// `deploy/admission.yaml` relies on).
    pub fn agent_kubeconfig(&self, dir: &Path) -> PathBuf {
        let token =
            self.server
                .mint_service_account_token_on_node("tether-system", "tether-agent", NODE);
        let path = dir.join("kubeconfig-sim");
        std::fs::write(
            &path,
            self.server.kubeconfig_for(&self.server.url(), &token),
        )
        .unwrap();
        path
    }

    /// The ADD request `tether-cni` sends for pod `default/<name>` (with its uid).
    pub fn add_request(&self, name: &str) -> String {
        json!({"containerId": format!("c-{name}"), "ifname": "eth0", "netns": "/var/run/netns/x",
               "podNamespace": "default", "podName": name, "podUid": self.uids[name]})
        .to_string()
    }

    /// Every request the agent's ServiceAccount made, in order.
    pub fn agent_requests(&self) -> Vec<AuditEvent> {
        self.server
            .audit_events()
            .into_iter()
            .filter(|e| e.user == AGENT_USER)
            .collect()
    }

    /// NetworkProfile `camera` as stored.
    pub fn profile(&self) -> Value {
        self.server
            .object("tether.dev/networkprofiles", "", "camera")
            .unwrap()
    }

    /// `events.k8s.io/v1` Events of namespace `default`, read as the admin through the API.
    pub fn events(&self) -> Vec<Event> {
        self.runtime.block_on(async {
            let kubeconfig =
                kube::config::Kubeconfig::from_yaml(&self.server.admin_kubeconfig()).unwrap();
            let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .unwrap();
            let client = kube::Client::try_from(config).unwrap();
            Api::<Event>::namespaced(client, "default")
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
        })
    }
}
