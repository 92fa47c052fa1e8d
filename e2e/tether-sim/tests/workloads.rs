//! The workload kinds through kube 5: `/scale`, Service allocation and its 422s, the pod
//! update rules, and the DaemonSet controller following nodes and its template.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

fn error_message(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("not a Status: {other}"),
    }
}

#[tokio::test]
async fn deployments_scale_through_the_scale_subresource() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let api: Api<Deployment> = Api::namespaced(client, "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let scale = api.get_scale("web").await.unwrap();
    assert_eq!(
        scale.spec.unwrap().replicas,
        Some(1),
        "replicas default to 1"
    );
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let scaled = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(3));
    assert_eq!(
        api.get("web").await.unwrap().spec.unwrap().replicas,
        Some(3)
    );
    let (code, message) = error_message(
        api.patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": -1}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
    // A selector that does not match the template: 422 as the real server words it.
    let mut bad = d.clone();
    bad.metadata.name = Some("bad".into());
    bad.spec.as_mut().unwrap().selector.match_labels =
        Some([("app".into(), "other".into())].into());
    let (code, message) =
        error_message(api.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "Deployment.apps \"bad\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn services_get_addresses_and_node_ports_once() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let svc = |name: &str, node_port: Option<i64>| -> Service {
        let mut port = json!({"port": 80});
        if let Some(n) = node_port {
            port["nodePort"] = json!(n);
        }
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [port]}}))
        .unwrap()
    };
    let a = api
        .create(&PostParams::default(), &svc("a", Some(30080)))
        .await
        .unwrap();
    let spec = a.spec.unwrap();
    let ip: std::net::Ipv4Addr = spec.cluster_ip.unwrap().parse().unwrap();
    assert_eq!(ip.octets()[0], 10);
    assert!((96..112).contains(&ip.octets()[1]), "{ip} in 10.96.0.0/12");
    assert_eq!(spec.ip_families.unwrap(), ["IPv4"]);
    let port = &spec.ports.unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
    let (code, message) = error_message(
        api.create(&PostParams::default(), &svc("b", Some(30080)))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (code, message.as_str()),
        (
            422,
            "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        )
    );
    let (_, message) = error_message(
        api.create(&PostParams::default(), &svc("c", Some(80)))
            .await
            .unwrap_err(),
    );
    assert!(
        message.ends_with(
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        ),
        "{message}"
    );
    let auto = api
        .create(&PostParams::default(), &svc("d", None))
        .await
        .unwrap();
    let n = auto.spec.unwrap().ports.unwrap()[0].node_port.unwrap();
    assert!((30000..=32767).contains(&n) && n != 30080);
    let (code, message) = error_message(
        api.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"clusterIP": "10.96.0.3", "clusterIPs": ["10.96.0.3"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.contains("spec.clusterIP: Invalid value: \"10.96.0.3\": field is immutable"),
        "{message}"
    );
    // Deleting a Service frees its node port.
    api.delete("a", &DeleteParams::default()).await.unwrap();
    api.create(&PostParams::default(), &svc("b", Some(30080)))
        .await
        .unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn pods_are_defaulted_and_only_their_images_may_change() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let api: Api<Pod> = Api::namespaced(client, "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36",
                                 "resources": {"limits": {"cpu": "1", "memory": "64Mi"}}}]}}))
    .unwrap();
    let created =
        serde_json::to_value(api.create(&PostParams::default(), &pod).await.unwrap()).unwrap();
    let spec = &created["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["priority"], 0);
    assert_eq!(spec["enableServiceLinks"], true);
    assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
    assert_eq!(created["status"]["qosClass"], "Guaranteed");

    let image = json!({"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}});
    api.patch("p", &PatchParams::default(), &Patch::Strategic(image))
        .await
        .unwrap();
    let (code, message) = error_message(
        api.patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"dnsPolicy": "Default"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(code, 422);
    assert!(
        message.starts_with("Pod \"p\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"),
        "{message}"
    );
    server.shutdown().await;
}

/// The pods' (node, template generation) pairs, after finishing the deletions a kubelet
/// would: a bound pod deleted gracefully stays (Terminating) until its kubelet deletes it
/// with grace 0, and these nodes have none.
async fn pods_by_node(api: &Api<Pod>) -> Vec<(String, String)> {
    let listed = api.list(&Default::default()).await.unwrap().items;
    let (terminating, running): (Vec<Pod>, Vec<Pod>) = listed
        .into_iter()
        .partition(|p| p.metadata.deletion_timestamp.is_some());
    for pod in terminating {
        let name = pod.metadata.name.unwrap_or_default();
        let _ = api
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await;
    }
    let mut out: Vec<(String, String)> = running
        .into_iter()
        .map(|p| {
            let labels = p.metadata.labels.unwrap_or_default();
            (
                p.spec.unwrap().node_name.unwrap_or_default(),
                labels
                    .get("pod-template-generation")
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_daemon_set_controller_follows_node_labels_and_its_template() {
    let server = server().await;
    let client = client(&server, server.admin_token()).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    for (name, edge) in [("n1", "true"), ("n2", "false")] {
        let n: Node =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"edge": edge}}}))
                .unwrap();
        nodes.create(&PostParams::default(), &n).await.unwrap();
    }
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"nodeSelector": {"edge": "true"},
                                       "containers": [{"name": "c", "image": "agent:1"}]}}}}))
    .unwrap();
    sets.create(&PostParams::default(), &ds).await.unwrap();
    let want = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let on = |expected: Vec<(String, String)>| {
        let pods = pods.clone();
        async move {
            eventually(10, "daemon pods", || async {
                (pods_by_node(&pods).await == expected).then_some(())
            })
            .await
        }
    };
    on(want(&[("n1", "1")])).await;

    let label = |edge: &str| Patch::Merge(json!({"metadata": {"labels": {"edge": edge}}}));
    nodes
        .patch("n2", &PatchParams::default(), &label("true"))
        .await
        .unwrap();
    on(want(&[("n1", "1"), ("n2", "1")])).await;
    nodes
        .patch("n1", &PatchParams::default(), &label("false"))
        .await
        .unwrap();
    on(want(&[("n2", "1")])).await;
    let status: Value = eventually(10, "status", || async {
        let s = serde_json::to_value(sets.get("agent").await.unwrap().status).unwrap();
        (s["desiredNumberScheduled"] == 1 && s["currentNumberScheduled"] == 1).then_some(s)
    })
    .await;
    assert_eq!(status["numberMisscheduled"], 0);
    assert_eq!(status["numberReady"], 0);
    assert_eq!(status["numberUnavailable"], 1);

    // A template change rolls the (never ready, so unavailable) pod at once.
    sets.patch(
        "agent",
        &PatchParams::default(),
        &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "agent:2"}]}}}})),
    )
    .await
    .unwrap();
    on(want(&[("n2", "2")])).await;

    // Deleting the DaemonSet leaves its pods to the garbage collector, not to the
    // controller; another DaemonSet gets its own pod there.
    sets.delete("agent", &DeleteParams::default())
        .await
        .unwrap();
    let mut other = ds.clone();
    other.metadata.name = Some("other".into());
    sets.create(&PostParams::default(), &other).await.unwrap();
    on(want(&[("n2", "1")])).await;
    server.shutdown().await;
}
