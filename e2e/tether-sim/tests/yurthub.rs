//! The yurthub double between kube 5 clients and the API double, on loopback: what a client
//! on an edge node sees while the cloud is healthy, in the window before yurthub notices a
//! cut, and while it is cut (yurthub v1.7.0's local proxy table), across a restart, and how
//! the health verdict moves.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use http_body_util::BodyExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use tether_sim::apiserver::ApiServer;
use tether_sim::link::Link;
use tether_sim::yurthub::{self, ServingCert, Upstream, Yurthub, YurthubConfig};

const NODE: &str = "edge-1";
const AGENT_UA: &str = "tether-agent/0.1.0";
const OTHER_UA: &str = "kubectl/v1.34.0 (linux/amd64) kubernetes/abcdef";

/// The API double behind a link the test can cut, with the CRD, two profiles, the node,
/// a pod on it, a ConfigMap, an agent ServiceAccount that may do anything, and the
/// `yurt-hub-cfg` ConfigMap naming `tether-agent` a cache agent.
struct Cloud {
    api: ApiServer,
    link: Link,
    agent_token: String,
}

async fn cloud() -> Cloud {
    let api = server().await;
    api.load_yaml(CRD).unwrap();
    api.load_yaml(PROFILES).unwrap();
    for obj in [
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tether-system"}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1", "namespace": "default"},
               "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"},
               "data": {"a": "1"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "tether-agent-admin"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": "tether-agent", "namespace": "tether-system"}]}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "yurt-hub-cfg", "namespace": "kube-system",
                            "labels": {"openyurt.io/configmap-name": "yurt-hub-cfg"}},
               "data": {"cache_agents": "tether-agent"}}),
    ] {
        api.load_object(obj).unwrap();
    }
    let link = Link::start(api.addr()).await.unwrap();
    let agent_token = api.mint_service_account_token("tether-system", "tether-agent");
    Cloud {
        api,
        link,
        agent_token,
    }
}

impl Cloud {
    /// A yurthub double on loopback whose upstream goes through the link.
    async fn hub(&self, cache: &TempDir, interval: Duration) -> Yurthub {
        let upstream = self.api.kubeconfig_for(
            &format!("https://{}", self.link.addr()),
            self.api.admin_token(),
        );
        let (cert_pem, key_pem) = self
            .api
            .issue_serving_cert(&["127.0.0.1", "localhost"])
            .unwrap();
        let mut config = YurthubConfig::new(
            NODE,
            Upstream::from_kubeconfig(&upstream).await.unwrap(),
            ServingCert { cert_pem, key_pem },
            cache.path("cache"),
        );
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.http_listen = Some("127.0.0.1:0".parse().unwrap());
        config.probe.interval = interval;
        yurthub::start(config).await.unwrap()
    }

    /// A kube client going through `hub`, trusting the cluster CA, with `token` and `ua`.
    async fn client(&self, hub: &Yurthub, token: &str, ua: &'static str) -> kube::Client {
        let kc = Kubeconfig::from_yaml(&self.api.kubeconfig_for(&hub.url(), token)).unwrap();
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        cfg.default_retry = false;
        cfg.headers
            .push((http::header::USER_AGENT, http::HeaderValue::from_static(ua)));
        kube::Client::try_from(cfg).unwrap()
    }

    /// The agent's client (a cache agent) and another component's (not one).
    async fn clients(&self, hub: &Yurthub) -> (kube::Client, kube::Client) {
        (
            self.client(hub, &self.agent_token, AGENT_UA).await,
            self.client(hub, &self.agent_token, OTHER_UA).await,
        )
    }
}

fn profiles(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("tether.dev", "v1alpha1", "NetworkProfile");
    Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk))
}

fn names(list: &[DynamicObject]) -> Vec<String> {
    let mut n: Vec<String> = list
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .collect();
    n.sort();
    n
}

fn status_of(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

/// A raw request through `client`: (status, body).
async fn raw(client: &kube::Client, method: &str, path: &str, body: &str) -> (u16, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let res = client.send(req).await.unwrap();
    let code = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&bytes).into_owned())
}

async fn wait_health(hub: &Yurthub, healthy: bool) {
    eventually(
        20,
        if healthy { "healthy" } else { "unhealthy" },
        || async { (hub.is_healthy() == healthy).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn offline_answers_follow_yurthubs_local_proxy() {
    let cloud = cloud().await;
    let dir = TempDir::new("yurthub-offline");
    let hub = cloud.hub(&dir, Duration::from_millis(100)).await;
    assert!(hub.is_healthy() && hub.ready().is_ok());
    assert!(hub.cache_agents().contains(&"tether-agent".to_string()));
    let (agent, other) = cloud.clients(&hub).await;

    // Online: everything is forwarded, and the agent's answers are cached.
    let np = profiles(&agent);
    let camera_only = np
        .list(&ListParams::default().labels("app=camera"))
        .await
        .unwrap();
    assert_eq!(names(&camera_only.items), ["camera"]);
    np.get("radar").await.unwrap();
    // Another selector is forwarded (the cloud applies it) but not cached.
    let radar_only = np
        .list(&ListParams::default().labels("app=radar"))
        .await
        .unwrap();
    assert_eq!(names(&radar_only.items), ["radar"]);
    let applied = np
        .patch_status(
            "camera",
            &PatchParams::apply("tether-agent-edge-1"),
            &Patch::Apply(json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
                "status": {"nodes": [{"nodeName": NODE, "matchedPods": 1, "observedGeneration": 1}]}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data["status"]["nodes"][0]["matchedPods"], 1);
    let pods: Api<Pod> = Api::namespaced(agent.clone(), "default");
    pods.list(&ListParams::default().fields(&format!("spec.nodeName={NODE}")))
        .await
        .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(agent.clone(), "default");
    cms.get("cfg").await.unwrap();
    assert_eq!(raw(&agent, "GET", "/version", "").await.0, 200);

    cloud.link.cut();
    wait_health(&hub, false).await;

    // get: the cached object, with what the last online write left in it.
    let camera = np.get("camera").await.unwrap();
    assert_eq!(camera.data["status"]["nodes"][0]["matchedPods"], 1);
    // list: everything cached for the key, selectors ignored (radar came from a get).
    let listed = np
        .list(&ListParams::default().labels("app=camera"))
        .await
        .unwrap();
    assert_eq!(names(&listed.items), ["camera", "radar"]);
    // A selector other than the recorded one → 400, no selector at all too.
    for params in [
        ListParams::default().labels("app=radar"),
        ListParams::default(),
    ] {
        let e = status_of(np.list(&params).await.unwrap_err());
        assert_eq!(
            (e.code, e.reason.as_str()),
            (400, "BadRequest"),
            "{}",
            e.message
        );
        assert!(
            e.message
                .starts_with("can not cache for tether-agent/0.1.0 list networkprofiles"),
            "{}",
            e.message
        );
    }
    // Never seen: an unknown custom resource, a built-in never listed, an uncached object.
    assert_eq!(
        raw(&agent, "GET", "/apis/example.com/v1/widgets", "")
            .await
            .0,
        404
    );
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(agent.clone(), "default");
    assert_eq!(
        status_of(sas.list(&ListParams::default()).await.unwrap_err()).code,
        404
    );
    let missing = status_of(cms.get("nope").await.unwrap_err());
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "configmaps \"nope\" not found")
    );
    // The pods list, from the cache.
    let cached_pods = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={NODE}")))
        .await
        .unwrap();
    assert_eq!(cached_pods.items.len(), 1);

    // watch: 200, no events, ends at timeoutSeconds.
    let started = Instant::now();
    let events: Vec<_> = np
        .watch(&WatchParams::default().timeout(2), "0")
        .await
        .unwrap()
        .collect()
        .await;
    let took = started.elapsed();
    assert!(events.is_empty(), "{events:?}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
        "{took:?}"
    );

    // create: 201 echoing the request; the API server never hears of it.
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "made-offline", "namespace": "default"}, "data": {"b": "2"}}),
    )
    .unwrap();
    let echoed = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert_eq!(echoed.data, cm.data);
    assert!(echoed.metadata.resource_version.is_none() && echoed.metadata.uid.is_none());
    assert!(
        cloud
            .api
            .object("/configmaps", "default", "made-offline")
            .is_none()
    );
    // Any component gets the same, cache agent or not.
    let (code, body) = raw(
        &other,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (
            201,
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#
        )
    );

    // update, patch, status apply: 200 with the stale cached object; nothing applied.
    let stale = np
        .patch_status(
            "camera",
            &PatchParams::apply("tether-agent-edge-1"),
            &Patch::Apply(json!({"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
                "status": {"nodes": [{"nodeName": NODE, "matchedPods": 5, "observedGeneration": 1}]}})),
        )
        .await
        .unwrap();
    assert_eq!(stale.data["status"]["nodes"][0]["matchedPods"], 1);
    let merged = cms
        .patch(
            "cfg",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"a": "changed"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.unwrap()["a"], "1");
    let in_cloud = cloud
        .api
        .object("tether.dev/networkprofiles", "", "camera")
        .unwrap();
    assert_eq!(in_cloud["status"]["nodes"][0]["matchedPods"], 1);
    assert_eq!(
        cloud.api.object("/configmaps", "default", "cfg").unwrap()["data"]["a"],
        "1"
    );

    // delete: 403 Status, the namespace in details.group.
    let refused = status_of(
        cms.delete("cfg", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        refused.message,
        "delete request is not supported in local cache"
    );
    let details = refused.details.unwrap();
    assert_eq!(
        (
            details.group.as_str(),
            details.name.as_str(),
            details.kind.as_str()
        ),
        ("default", "cfg", "configmaps")
    );
    assert_eq!(
        status_of(
            cms.delete_collection(&DeleteParams::default(), &ListParams::default())
                .await
                .unwrap_err()
        )
        .code,
        403
    );

    // discovery: 400; /version from the saved copy.
    for path in ["/api", "/apis", "/api/v1", "/apis/tether.dev/v1alpha1"] {
        let (code, body) = raw(&agent, "GET", path, "").await;
        assert_eq!(code, 400, "{path}");
        assert!(
            body.contains("local proxy does not support request"),
            "{body}"
        );
    }
    let (code, version) = raw(&agent, "GET", "/version", "").await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&version).unwrap()["minor"],
        "34"
    );

    // Not a cache agent → 400, even for what is cached.
    let e = status_of(profiles(&other).get("camera").await.unwrap_err());
    assert_eq!(e.code, 400);
    assert!(
        e.message.starts_with("can not cache for kubectl/v1.34.0"),
        "{}",
        e.message
    );

    // Back online: nothing acknowledged offline is replayed.
    cloud.link.restore();
    wait_health(&hub, true).await;
    assert!(
        cloud
            .api
            .object("/configmaps", "default", "made-offline")
            .is_none()
    );
    assert_eq!(
        np.get("camera").await.unwrap().data["status"]["nodes"][0]["matchedPods"],
        1
    );
    hub.shutdown().await;
}

#[tokio::test]
async fn a_failed_round_trip_before_the_probe_notices_is_a_502() {
    let cloud = cloud().await;
    let dir = TempDir::new("yurthub-window");
    // A probe interval long enough that the window lasts the whole test.
    let hub = cloud.hub(&dir, Duration::from_secs(3600)).await;
    let (agent, other) = cloud.clients(&hub).await;
    profiles(&agent).get("camera").await.unwrap();

    cloud.link.cut();
    assert!(hub.is_healthy(), "no probe ran since the cut");
    // A round trip that fails: 502 with an empty body …
    let (code, body) = raw(
        &other,
        "GET",
        "/apis/tether.dev/v1alpha1/networkprofiles/camera",
        "",
    )
    .await;
    assert_eq!((code, body.as_str()), (502, ""));
    let (code, body) = raw(
        &agent,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"y"}}"#,
    )
    .await;
    assert_eq!((code, body.as_str()), (502, ""));
    let (code, body) = raw(
        &agent,
        "GET",
        "/apis/tether.dev/v1alpha1/networkprofiles/radar",
        "",
    )
    .await;
    assert_eq!((code, body.as_str()), (502, ""), "a cache agent's miss");
    // … except a cache agent's get or list the cache can answer (loadbalancer.go:332-350).
    let camera = profiles(&agent).get("camera").await.unwrap();
    assert_eq!(camera.metadata.name.as_deref(), Some("camera"));

    cloud.link.restore();
    let (code, _) = raw(
        &other,
        "GET",
        "/apis/tether.dev/v1alpha1/networkprofiles/camera",
        "",
    )
    .await;
    assert_eq!(code, 200);
    hub.shutdown().await;
}

#[tokio::test]
async fn the_cache_survives_a_restart_the_recorded_selectors_do_not() {
    let cloud = cloud().await;
    let dir = TempDir::new("yurthub-restart");
    let hub = cloud.hub(&dir, Duration::from_millis(100)).await;
    let (agent, _) = cloud.clients(&hub).await;
    profiles(&agent)
        .list(&ListParams::default().labels("app=camera"))
        .await
        .unwrap();
    profiles(&agent).get("radar").await.unwrap();
    hub.shutdown().await;

    cloud.link.cut();
    let hub = cloud.hub(&dir, Duration::from_millis(100)).await;
    assert!(!hub.is_healthy(), "the first probe failed");
    assert!(
        hub.ready().is_ok(),
        "the cache agents came from the cache: {:?}",
        hub.ready()
    );
    let (agent, _) = cloud.clients(&hub).await;
    let np = profiles(&agent);
    // A selector never recorded in this process is the first one now: served from disk.
    let listed = np
        .list(&ListParams::default().labels("app=radar"))
        .await
        .unwrap();
    assert_eq!(names(&listed.items), ["camera", "radar"]);
    // And the one recorded before the restart is now the second.
    let e = status_of(
        np.list(&ListParams::default().labels("app=camera"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    assert_eq!(
        np.get("radar").await.unwrap().metadata.name.as_deref(),
        Some("radar")
    );
    hub.shutdown().await;
}

/// Successful lease updates by yurthub's identity recorded after `from` audit entries.
fn lease_renewals(api: &ApiServer, from: usize) -> usize {
    api.audit_events()
        .iter()
        .skip(from)
        .filter(|e| e.resource == "leases" && e.verb == "update" && e.code == 200)
        .count()
}

#[tokio::test]
async fn health_flips_after_one_failed_probe_and_back_after_two_successes() {
    let cloud = cloud().await;
    let dir = TempDir::new("yurthub-health");
    let interval = Duration::from_millis(700);
    let hub = cloud.hub(&dir, interval).await;
    assert!(hub.is_healthy());

    // The lease in the cloud is yurthub's, renewed every interval, owned by the node.
    let leases: Api<Lease> = Api::namespaced(
        client(&cloud.api, cloud.api.admin_token()).await,
        "kube-node-lease",
    );
    let first = leases.get(NODE).await.unwrap();
    let spec = first.spec.clone().unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(NODE));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    assert_eq!(first.metadata.owner_references.unwrap()[0].kind, "Node");
    let renewed = eventually(10, "a renewal", || {
        let leases = leases.clone();
        let before = spec.renew_time.clone();
        async move {
            let now = leases.get(NODE).await.ok()?.spec?.renew_time;
            (now > before).then_some(now)
        }
    })
    .await;
    assert!(renewed.is_some());

    cloud.link.cut();
    wait_health(&hub, false).await;
    assert!(hub.last_probe_failure().is_some());

    let from = cloud.api.audit_events().len();
    cloud.link.restore();
    // Healthy again only once two renewals went through: whenever the verdict reads healthy,
    // the cloud has already recorded at least two (read in that order, this cannot race).
    eventually(20, "healthy again", || async {
        let healthy = hub.is_healthy();
        let renewals = lease_renewals(&cloud.api, from);
        if healthy {
            assert!(renewals >= 2, "healthy after {renewals} renewal(s)");
        }
        healthy.then_some(())
    })
    .await;
    assert_eq!(hub.last_probe_failure(), None);
    hub.shutdown().await;
}

#[tokio::test]
async fn requests_go_upstream_with_the_clients_own_token_over_http1() {
    let cloud = cloud().await;
    let dir = TempDir::new("yurthub-token");
    let hub = cloud.hub(&dir, Duration::from_secs(3600)).await;
    let (agent, _) = cloud.clients(&hub).await;
    profiles(&agent).get("camera").await.unwrap();
    let audited = cloud.api.audit_events();
    let get = audited
        .iter()
        .rev()
        .find(|e| e.resource == "networkprofiles" && e.verb == "get")
        .unwrap();
    assert_eq!(get.user, "system:serviceaccount:tether-system:tether-agent");
    assert_eq!(get.user_agent, AGENT_UA);
    // A request without a token goes with yurthub's own identity (remote.go:127-137).
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps/cfg",
        hub.http_url().unwrap()
    );
    let anonymous = tokio::task::spawn_blocking(move || http_get(&url))
        .await
        .unwrap();
    assert!(anonymous.contains("\"a\":\"1\""), "{anonymous}");
    let audited = cloud.api.audit_events();
    let last = audited
        .iter()
        .rev()
        .find(|e| e.resource == "configmaps")
        .unwrap();
    assert_eq!(last.user, "kubernetes-admin");

    // HTTP/2 is disabled on the TLS port; the certificate is the cluster CA's.
    let ca = dir.path("ca.crt");
    std::fs::write(&ca, cloud.api.ca_pem()).unwrap();
    let url = hub.url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-s", "--http2", "--cacert"])
            .arg(&ca)
            .args([
                "-o",
                "/dev/null",
                "-w",
                "%{http_version}",
                &format!("{url}/version"),
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.1", "{out:?}");
    hub.shutdown().await;
}

/// A plain-HTTP GET on loopback (the :10261 listener); blocking.
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/8\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn cache_agents_come_from_the_labelled_configmap() {
    let cloud = cloud().await;
    let dir = TempDir::new("yurthub-agents");
    let hub = cloud.hub(&dir, Duration::from_secs(3600)).await;
    assert_eq!(
        hub.cache_agents(),
        [
            "coredns",
            "flanneld",
            "kube-proxy",
            "kubelet",
            "multiplexer-proxy-edge-1",
            "raven-agent-ds",
            "tether-agent",
            "yurthub",
            "yurttunnel-agent"
        ]
    );
    cloud
        .api
        .load_object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "yurt-hub-cfg", "namespace": "kube-system",
                         "labels": {"openyurt.io/configmap-name": "yurt-hub-cfg"}},
            "data": {"cache_agents": "tether-agent, other-agent"}}))
        .unwrap();
    eventually(10, "other-agent", || async {
        hub.cache_agents()
            .contains(&"other-agent".to_string())
            .then_some(())
    })
    .await;
    // Without the label the informer does not see it: the agents fall back to the built-ins.
    cloud
        .api
        .load_object(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "yurt-hub-cfg", "namespace": "kube-system", "labels": {}},
            "data": {"cache_agents": "tether-agent"}}))
        .unwrap();
    eventually(10, "the built-ins only", || async {
        (!hub.cache_agents().contains(&"tether-agent".to_string())).then_some(())
    })
    .await;
    hub.shutdown().await;
}

/// A child process killed when the test ends, however it ends.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawn `tether-sim <args>` and read its first line of output.
fn spawn_sim(
    args: &[&str],
) -> (
    ChildGuard,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    String,
) {
    use std::io::BufRead;
    let mut child = ChildGuard(
        std::process::Command::new(env!("CARGO_BIN_EXE_tether-sim"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    (child, lines, first)
}

fn interrupt(child: &mut ChildGuard) {
    let pid = child.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn the_binary_fronts_tether_sim_serve_with_a_client_kubeconfig() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_tether-sim"))
        .args(["yurthub", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for offline in [
        "201 echoing",
        "stale cached object",
        "403",
        "no events",
        "--client-kubeconfig",
    ] {
        assert!(help.contains(offline), "--help lacks {offline:?}: {help}");
    }

    let dir = TempDir::new("yurthub-bin");
    let admin = dir.path("admin.kubeconfig");
    let admin_arg = admin.to_str().unwrap().to_string();
    let (mut api, mut api_lines, first) = spawn_sim(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--kubeconfig",
        &admin_arg,
    ]);
    assert!(first.starts_with("tether-sim listening on"), "{first}");

    let client_kc = dir.path("node/client.kubeconfig");
    let cache = dir.path("cache");
    let (mut hub, mut hub_lines, first) = spawn_sim(&[
        "yurthub",
        "--kubeconfig",
        &admin_arg,
        "--node",
        NODE,
        "--listen",
        "127.0.0.1:0",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--client-kubeconfig",
        client_kc.to_str().unwrap(),
        "--probe-interval",
        "1s",
        "--cache-agents",
        "kubectl",
    ]);
    assert!(
        first.starts_with("yurthub double listening on https://127.0.0.1:"),
        "{first}"
    );
    assert!(first.ends_with("(cloud healthy)"), "{first}");
    assert!(
        dir.path("node/yurthub-ca.crt").exists(),
        "the self-signed CA beside the kubeconfig"
    );

    // kubectl through the double, as a cache agent named on the command line.
    let kubectl = |args: &[&str]| {
        std::process::Command::new("kubectl")
            .env("KUBECONFIG", &client_kc)
            .env("HOME", &dir.0)
            .args(args)
            .output()
            .unwrap()
    };
    let ns = kubectl(&["get", "ns", "-o", "name"]);
    assert!(
        String::from_utf8_lossy(&ns.stdout).contains("namespace/kube-system"),
        "{ns:?}"
    );
    let raw = kubectl(&["get", "--raw", "/api/v1/namespaces/kube-system"]);
    assert!(raw.status.success(), "{raw:?}");
    assert!(
        cache
            .join("kubectl/namespaces.v1.core/kube-system")
            .is_file(),
        "kubectl's answer is cached"
    );

    // kube 5 with the same kubeconfig.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let name = rt.block_on(async {
        let kc = Kubeconfig::read_from(&client_kc).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> =
            Api::all(kube::Client::try_from(cfg).unwrap());
        namespaces.get("default").await.unwrap().metadata.name
    });
    assert_eq!(name.as_deref(), Some("default"));

    // The lease the double renews is in the API server.
    let lease = std::process::Command::new("kubectl")
        .env("KUBECONFIG", &admin)
        .env("HOME", &dir.0)
        .args([
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            NODE,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&lease.stdout), NODE, "{lease:?}");

    interrupt(&mut hub);
    assert_eq!(hub_lines.next().unwrap().unwrap(), "yurthub double stopped");
    interrupt(&mut api);
    assert_eq!(api_lines.next().unwrap().unwrap(), "tether-sim stopped");
}
