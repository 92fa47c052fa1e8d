//! End to end on the binary against the API double (`tether-sim`, `support/sim.rs`), with
//! `deploy/` applied: every request the agent sends is one the README's "API usage" table
//! documents (path, exactly its selector, the User-Agent, server-side apply with the node's
//! field manager, the summary correction's merge patch) or the `/api` probe, the double's RBAC
//! evaluated from `deploy/rbac.yaml` allows each of them, and the ClusterRole grants nothing the
//! agent did not use.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use cni::protocol::{ADD_PATH, AddResponse, Source};
use serde_json::{Value, json};
use support::sim::{
    AGENT_USER, Cluster, FIELD_MANAGER, USER_AGENT, accepted, permission_used, permissions_granted,
    split_uri,
};
use support::{Agent, query, wait_until, wait_until_or};

#[allow(clippy::expect_used)]
fn add(agent: &Agent, request: &str) -> AddResponse {
    let (status, body) = query(&agent.socket, "POST", ADD_PATH, request);
    assert_eq!(status, 200, "{body}");
    let answer: AddResponse = serde_json::from_str(&body).expect("an AddResponse");
    assert_eq!(answer.validate(), Ok(()));
    answer
}

/// Runs `f` with a client of the double's admin, on a runtime of its own.
#[allow(clippy::unwrap_used)]
fn as_admin<T>(cluster: &Cluster, f: impl AsyncFnOnce(kube::Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let kubeconfig =
            kube::config::Kubeconfig::from_yaml(&cluster.server.admin_kubeconfig()).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        f(kube::Client::try_from(config).unwrap()).await
    })
}

/// Writes edge-2's status entry of profile `camera` as edge-2's agent would store it (a
/// server-side apply by `tether-agent/edge-2`), made by the admin so that the agent's
/// ServiceAccount's requests in the audit log are edge-1's agent's only.
#[allow(clippy::unwrap_used)]
fn report_for_edge_2(cluster: &Cluster, matched_pods: u32, generation: i64) {
    let api = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("tether.dev", "v1alpha1", "NetworkProfile"),
        "networkprofiles",
    );
    as_admin(cluster, async |client| {
        kube::Api::<kube::api::DynamicObject>::all_with(client, &api)
            .patch_status(
                "camera",
                &kube::api::PatchParams::apply("tether-agent/edge-2"),
                &kube::api::Patch::Apply(json!({
                    "apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
                    "metadata": {"name": "camera"},
                    "status": {"nodes": [{"nodeName": "edge-2", "matchedPods": matched_pods, "observedGeneration": generation}]},
                })),
            )
            .await
            .unwrap();
    });
}

/// The row `kubectl get networkprofiles` prints for `camera`: the cells of the API server's
/// Table (name, then one per printer column of `deploy/crd.yaml`), Age left out.
#[allow(clippy::unwrap_used)]
fn printed_row(cluster: &Cluster) -> (Vec<String>, Vec<Value>) {
    let table: Value = as_admin(cluster, async |client| {
        let request = http::Request::get("/apis/tether.dev/v1alpha1/networkprofiles")
            .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
            .body(Vec::new())
            .unwrap();
        client.request(request).await.unwrap()
    });
    let columns = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let row = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cells"][0] == "camera")
        .unwrap();
    let cells = row["cells"].as_array().unwrap();
    (columns, cells[..cells.len() - 1].to_vec())
}

/// What the agent does with a pod its profile selects: it watches, answers, applies its
/// node's status entry, corrects the profile's summary (edge-2 reported before it) and creates
/// an Event; then its requests are compared with the README and with deploy/'s ClusterRole.
#[test]
fn every_request_is_documented_allowed_by_deploy_rbac_and_uses_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start();
    report_for_edge_2(&cluster, 3, 2);
    assert_eq!(
        cluster.profile()["status"],
        json!({"nodes": [{"nodeName": "edge-2", "matchedPods": 3, "observedGeneration": 2}]}),
        "edge-2's entry, and no summary yet"
    );
    let agent = Agent::start(dir.path(), &cluster.agent_kubeconfig(dir.path()));
    let cam_1 = cluster.add_request("cam-1");
    wait_until(Duration::from_secs(20), || {
        add(&agent, &cam_1).source == Source::Live
    });
    let answer = add(&agent, &cam_1);
    let generation = cluster.profile()["metadata"]["generation"]
        .as_i64()
        .unwrap();
    assert_eq!(
        answer
            .profile
            .as_ref()
            .map(|p| (p.name.as_str(), p.generation)),
        Some(("camera", generation))
    );
    assert_eq!(answer.mtu, Some(1400));
    // The pod on edge-2 is not this node's (the pod watch's field selector, applied by the
    // server and again by the agent): it is a pod the agent does not know.
    assert_eq!(
        add(&agent, &cluster.add_request("elsewhere")).source,
        Source::Default
    );

    // This node's status entry, by server-side apply: cam-1 and cam-2 match, elsewhere is
    // on another node. edge-2's entry is left as it was, and the summary `kubectl get` prints
    // (Pods, Nodes) is both entries added up: the agent's correction after its apply.
    let requests_and_profile = || {
        format!(
            "requests: {:#?}\nprofile: {:#}",
            cluster.agent_requests(),
            cluster.profile()
        )
    };
    wait_until_or(
        Duration::from_secs(20),
        || {
            cluster.profile()["status"]
                == json!({
                    "nodes": [
                        {"nodeName": "edge-2", "matchedPods": 3, "observedGeneration": 2},
                        {"nodeName": "edge-1", "matchedPods": 2, "observedGeneration": generation},
                    ],
                    "matchedPods": 5,
                    "nodesReporting": 2,
                })
        },
        requests_and_profile,
    );
    assert_eq!(
        printed_row(&cluster),
        (
            ["Name", "Priority", "MTU", "Pods", "Nodes", "Age"]
                .map(String::from)
                .to_vec(),
            vec![json!("camera"), json!(10), json!(1400), json!(5), json!(2)],
        ),
        "what kubectl get networkprofiles prints"
    );
    // The Event of the answer.
    let created = || {
        cluster
            .agent_requests()
            .iter()
            .any(|e| e.resource == "events" && e.verb == "create" && e.code == 201)
    };
    wait_until_or(Duration::from_secs(20), created, requests_and_profile);
    assert_eq!(agent.terminate(), 0);

    let profile = cluster.profile();
    let managed: Vec<(&Value, &Value, &Value)> = profile["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["manager"] == FIELD_MANAGER)
        .map(|m| (&m["operation"], &m["subresource"], &m["fieldsV1"]))
        .collect();
    assert_eq!(
        managed,
        [
            (
                &json!("Apply"),
                &json!("status"),
                &json!({"f:status": {"f:nodes": {"k:{\"nodeName\":\"edge-1\"}": {
                    ".": {}, "f:matchedPods": {}, "f:nodeName": {}, "f:observedGeneration": {}}}}})
            ),
            (
                &json!("Update"),
                &json!("status"),
                &json!({"f:status": {"f:matchedPods": {}, "f:nodesReporting": {}}})
            ),
        ],
        "the status entry is server-side applied; the summary, and nothing else, is written by \
         an update (the merge patch) under the same manager: {profile:#}"
    );
    let status_patches = cluster
        .agent_requests()
        .iter()
        .filter(|e| e.verb == "patch" && e.subresource == "status")
        .count();
    assert_eq!(
        status_patches,
        2,
        "one apply, one correction: {:#?}",
        cluster.agent_requests()
    );

    let events = cluster.events();
    let ours: Vec<_> = events
        .iter()
        .filter(|e| e.reporting_controller.as_deref() == Some("tether.dev/agent"))
        .collect();
    assert_eq!(ours.len(), 1, "{events:#?}");
    let event = ours[0];
    let regarding = event.regarding.as_ref().unwrap();
    assert_eq!(
        (
            regarding.kind.as_deref(),
            regarding.name.as_deref(),
            regarding.uid.as_deref()
        ),
        (
            Some("Pod"),
            Some("cam-1"),
            Some(cluster.uids["cam-1"].as_str())
        )
    );
    assert_eq!(
        event.related.as_ref().and_then(|r| r.name.as_deref()),
        Some("camera")
    );
    assert_eq!(
        (
            event.reason.as_deref(),
            event.action.as_deref(),
            event.reporting_instance.as_deref()
        ),
        (
            Some("ProfileApplied"),
            Some("ApplyProfile"),
            Some(FIELD_MANAGER)
        )
    );

    // Every request, as the double's audit log recorded it.
    let requests = cluster.agent_requests();
    assert!(
        cluster
            .server
            .audit_events()
            .iter()
            .all(|e| e.user == AGENT_USER || e.user_agent != USER_AGENT),
        "the agent authenticated as its ServiceAccount only"
    );
    for e in &requests {
        assert_eq!(e.user_agent, USER_AGENT, "{e:?}");
        assert!(accepted(e), "refused: {e:?}");
        let (path, params) = split_uri(&e.uri);
        let selector = |key: &str| params.get(key).map(String::as_str);
        match (e.api_group.as_str(), e.resource.as_str(), e.verb.as_str()) {
            ("", "pods", "list" | "watch") => {
                assert_eq!(path, "/api/v1/pods", "{e:?}");
                assert_eq!(selector("fieldSelector"), Some("spec.nodeName=edge-1"));
                assert_eq!(selector("labelSelector"), None);
            }
            ("", "nodes", "list" | "watch") => {
                assert_eq!(path, "/api/v1/nodes", "{e:?}");
                assert_eq!(selector("fieldSelector"), Some("metadata.name=edge-1"));
                assert_eq!(selector("labelSelector"), None);
            }
            ("tether.dev", "networkprofiles", "list" | "watch") if e.subresource.is_empty() => {
                assert_eq!(path, "/apis/tether.dev/v1alpha1/networkprofiles", "{e:?}");
                assert_eq!(
                    (selector("fieldSelector"), selector("labelSelector")),
                    (None, None)
                );
            }
            // Both rows: the server-side apply of the node's entry and the summary correction's
            // merge patch (told apart above, by the operation each left in managedFields).
            ("tether.dev", "networkprofiles", "patch") => {
                assert_eq!(e.subresource, "status", "{e:?}");
                assert_eq!(
                    path,
                    "/apis/tether.dev/v1alpha1/networkprofiles/camera/status"
                );
                assert_eq!(selector("fieldManager"), Some(FIELD_MANAGER));
            }
            // The upstream probe (`src/api/upstream.rs`): discovery, which every authenticated
            // user may read (bootstrap ClusterRole `system:discovery`) and which yurthub
            // refuses offline instead of answering from a saved copy as it does `/version`.
            ("", "", "get") => assert_eq!(e.uri, "/api", "{e:?}"),
            ("events.k8s.io", "events", "create") => {
                assert_eq!(path, "/apis/events.k8s.io/v1/namespaces/default/events");
            }
            _ => panic!("a request the README does not document: {e:?}"),
        }
        if e.verb == "list" || e.verb == "watch" {
            assert!(e.name.is_empty() && e.namespace.is_empty(), "{e:?}");
        }
    }
    let used: BTreeSet<_> = requests
        .iter()
        .filter(|e| !e.resource.is_empty())
        .map(permission_used)
        .collect();
    assert_eq!(
        used,
        permissions_granted(),
        "deploy/rbac.yaml's ClusterRole grants exactly what the agent used"
    );
}
