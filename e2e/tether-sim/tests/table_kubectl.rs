//! `kubectl get` against the double prints what it prints against a real v1.34 server:
//! the built-in printers' columns and cells, and a CRD's `additionalPrinterColumns`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a failure is the test failing.

mod common;

use common::*;
use serde_json::Value;
use tether_sim::apiserver::{ApiServer, SimConfig};

/// This test's own NetworkProfile CRD (columns of every type; a version without any).
const TABLE_CRD: &str = include_str!("fixtures/table-crd.yaml");

fn start() -> (tokio::runtime::Runtime, ApiServer) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(server_with(SimConfig::default()));
    (rt, server)
}

/// The printed lines, each split on whitespace.
fn lines(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}

/// The header line, words joined by single spaces.
fn header(out: &str) -> String {
    out.lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The row whose first word is `name`.
fn row(out: &str, name: &str) -> Vec<String> {
    lines(out)
        .into_iter()
        .find(|l| l.first().is_some_and(|n| n == name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{out}"))
}

/// The cells of row `name` cut at the header's word offsets (blank cells kept); for
/// headers of one-word column names.
fn cells_under_header(out: &str, name: &str) -> Vec<String> {
    let head = out.lines().next().unwrap_or_default();
    let starts: Vec<usize> = head
        .match_indices(|c: char| !c.is_whitespace())
        .filter(|(i, _)| *i == 0 || head[..*i].ends_with(' '))
        .map(|(i, _)| i)
        .collect();
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{out}"));
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let end = starts
                .get(n + 1)
                .copied()
                .unwrap_or(line.len())
                .min(line.len());
            line.get(s.min(end)..end)
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect()
}

/// A fresh age: seconds, or minutes and seconds on a slow machine.
fn is_young(age: &str) -> bool {
    age.ends_with('s')
        && age
            .trim_end_matches('s')
            .split('m')
            .all(|p| p.parse::<u32>().is_ok())
}

/// An RFC 3339 time `minutes` ago.
fn ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::TimeDelta::minutes(minutes))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn apply(k: &Kubectl, name: &str, yaml: &str) {
    let f = k.file(name, yaml);
    k.ok(&["apply", "-f", f.to_str().unwrap()]);
}

fn patch_status(k: &Kubectl, what: &[&str], status: &Value) {
    let patch = serde_json::json!({ "status": status }).to_string();
    let mut args = vec!["patch"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["--subresource=status", "--type=merge", "-p", &patch]);
    k.ok(&args);
}

#[test]
fn pods_print_ready_status_restarts_ip_and_node() {
    let (_rt, server) = start();
    let k = Kubectl::new(&server, server.admin_token());
    apply(
        &k,
        "pods.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default}\nspec:\n  nodeName: edge-1\n  containers: [{name: app, image: nginx}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: default}\nspec:\n  nodeName: edge-2\n  containers: [{name: app, image: postgres}, {name: proxy, image: envoy}]\n",
    );
    patch_status(
        &k,
        &["pod", "web"],
        &serde_json::json!({"phase": "Running", "podIP": "10.244.1.5", "podIPs": [{"ip": "10.244.1.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 2, "image": "nginx", "imageID": "",
                "state": {"running": {"startedAt": ago(1)}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(20)}}}]}),
    );
    patch_status(
        &k,
        &["pod", "db"],
        &serde_json::json!({"phase": "Pending", "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 0, "image": "postgres", "imageID": "",
             "state": {"waiting": {"reason": "ContainerCreating"}}},
            {"name": "proxy", "ready": true, "restartCount": 0, "image": "envoy", "imageID": "",
             "state": {"running": {}}}]}),
    );

    let wide = k.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(
        header(&wide),
        "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
    );
    let web = row(&wide, "web");
    assert_eq!(web[1..4], ["1/1", "Running", "2"], "{wide}");
    assert_eq!(web[4..6], ["(20m", "ago)"], "{wide}");
    assert!(is_young(&web[6]), "{wide}");
    assert_eq!(
        web[7..],
        ["10.244.1.5", "edge-1", "<none>", "<none>"],
        "{wide}"
    );
    let db = row(&wide, "db");
    assert_eq!(db[1..4], ["1/2", "ContainerCreating", "0"], "{wide}");
    assert_eq!(db[5..], ["<none>", "edge-2", "<none>", "<none>"], "{wide}");

    let narrow = k.ok(&["get", "pods"]);
    assert_eq!(header(&narrow), "NAME READY STATUS RESTARTS AGE");

    // `kubectl get -w` gets Tables in the watch stream too: one header, then rows.
    let watch = k.run(&["get", "pods", "-w", "--request-timeout=2s"]);
    assert_eq!(watch.stdout.matches("READY").count(), 1, "{}", watch.stdout);
    assert_eq!(row(&watch.stdout, "web")[1..3], ["1/1", "Running"]);
}

#[test]
fn nodes_print_status_roles_version_and_addresses() {
    let (_rt, server) = start();
    let k = Kubectl::new(&server, server.admin_token());
    apply(
        &k,
        "node.yaml",
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-1\n  labels: {node-role.kubernetes.io/edge: \"\", kubernetes.io/role: worker}\nspec: {unschedulable: true}\n",
    );
    patch_status(
        &k,
        &["node", "edge-1"],
        &serde_json::json!({"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}, {"type": "Hostname", "address": "edge-1"}],
            "nodeInfo": {"kubeletVersion": "v1.34.1", "osImage": "Flatcar", "kernelVersion": "6.6.1",
                "containerRuntimeVersion": "containerd://2.0.0", "machineID": "", "systemUUID": "", "bootID": "",
                "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}),
    );
    let out = k.ok(&["get", "nodes"]);
    assert_eq!(header(&out), "NAME STATUS ROLES AGE VERSION");
    let n = row(&out, "edge-1");
    assert_eq!(
        n[1..3],
        ["Ready,SchedulingDisabled", "edge,worker"],
        "{out}"
    );
    assert!(is_young(&n[3]) && n[4] == "v1.34.1", "{out}");
    let wide = k.ok(&["get", "nodes", "-o", "wide"]);
    assert_eq!(
        header(&wide),
        "NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME"
    );
    assert_eq!(
        row(&wide, "edge-1")[5..],
        [
            "10.0.0.7",
            "<none>",
            "Flatcar",
            "6.6.1",
            "containerd://2.0.0"
        ]
    );
}

#[test]
fn events_print_the_same_through_both_apis() {
    let (_rt, server) = start();
    let k = Kubectl::new(&server, server.admin_token());
    apply(
        &k,
        "events.yaml",
        &format!(
            "apiVersion: v1\nkind: Event\nmetadata: {{name: web.1, namespace: default}}\ntype: Warning\nreason: BackOff\n\
             message: Back-off restarting\ninvolvedObject: {{kind: Pod, name: web, namespace: default, fieldPath: \"spec.containers{{app}}\"}}\n\
             source: {{component: kubelet, host: edge-1}}\nfirstTimestamp: \"{}\"\nlastTimestamp: \"{}\"\ncount: 4\n\
             ---\napiVersion: events.k8s.io/v1\nkind: Event\nmetadata: {{name: camera.1, namespace: default}}\ntype: Normal\n\
             reason: Attached\nnote: Profile attached\naction: Attach\nregarding: {{kind: NetworkProfile, name: camera}}\n\
             reportingController: tether.dev/agent\nreportingInstance: edge-2\neventTime: \"{}\"\n",
            ago(30),
            ago(12),
            ago(15)
        ),
    );
    for resource in ["events", "events.v1.events.k8s.io"] {
        let out = k.ok(&["get", resource]);
        assert_eq!(
            header(&out),
            "LAST SEEN TYPE REASON OBJECT MESSAGE",
            "{resource}"
        );
        let old = lines(&out)
            .into_iter()
            .find(|l| l.contains(&"BackOff".into()))
            .expect("core event");
        assert_eq!(
            old,
            [
                "12m",
                "Warning",
                "BackOff",
                "pod/web",
                "Back-off",
                "restarting"
            ],
            "{resource}"
        );
        let new = lines(&out)
            .into_iter()
            .find(|l| l.contains(&"Attached".into()))
            .expect("new event");
        assert_eq!(
            new,
            [
                "15m",
                "Normal",
                "Attached",
                "networkprofile/camera",
                "Profile",
                "attached"
            ],
            "{resource}"
        );

        let wide = k.ok(&["get", resource, "-o", "wide"]);
        assert_eq!(
            header(&wide),
            "LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME",
            "{resource}"
        );
        assert!(
            wide.lines().any(|l| l.contains("spec.containers{app}")
                && l.contains("kubelet, edge-1")
                && l.contains("30m")
                && l.contains("web.1")),
            "{wide}"
        );
        assert!(
            wide.lines()
                .any(|l| l.contains("tether.dev/agent, edge-2") && l.contains("camera.1")),
            "{wide}"
        );
    }
}

#[test]
fn custom_resources_print_their_printer_columns() {
    let (_rt, server) = start();
    let k = Kubectl::new(&server, server.admin_token());
    apply(&k, "crd.yaml", TABLE_CRD);
    k.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/networkprofiles.tether.dev",
        "--timeout=10s",
    ]);
    apply(
        &k,
        "profiles.yaml",
        "apiVersion: tether.dev/v1alpha1\nkind: NetworkProfile\nmetadata: {name: camera}\nspec:\n  priority: 10\n  mtu: 1400\n  shaped: true\n  nodeSelector: {matchLabels: {zone: a}}\n---\napiVersion: tether.dev/v1alpha1\nkind: NetworkProfile\nmetadata: {name: radar}\nspec: {priority: 5}\n",
    );
    patch_status(
        &k,
        &["netprof", "camera"],
        &serde_json::json!({"matchedPods": 3, "nodesReporting": 2}),
    );

    let out = k.ok(&["get", "networkprofiles"]);
    assert_eq!(header(&out), "NAME PRIORITY MTU PODS SHAPED AGE");
    let camera = row(&out, "camera");
    assert_eq!(camera[1..5], ["10", "1400", "3", "true"], "{out}");
    assert!(is_young(&camera[5]), "{out}");
    // Missing fields are null cells, which kubectl prints blank.
    assert_eq!(
        cells_under_header(&out, "radar")[1..5],
        ["5", "", "", ""],
        "{out}"
    );

    let wide = k.ok(&["get", "networkprofiles", "-o", "wide"]);
    assert_eq!(
        header(&wide),
        "NAME PRIORITY MTU PODS NODES SELECTOR SHAPED AGE"
    );
    assert_eq!(
        row(&wide, "camera")[4..6],
        ["2", r#"{"matchLabels":{"zone":"a"}}"#],
        "{wide}"
    );

    // A version without columns gets the Age column.
    let beta = k.ok(&["get", "networkprofiles.v1beta1.tether.dev"]);
    assert_eq!(header(&beta), "NAME AGE");
    assert!(is_young(&row(&beta, "radar")[1]), "{beta}");
}

/// The header deploy/crd.yaml's columns make kubectl print, read from the file itself.
fn declared_header(crd: &str, wide: bool) -> String {
    let crd: Value = serde_saphyr::from_str(crd).unwrap();
    let version = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["storage"] == true)
        .expect("deploy/crd.yaml has a storage version");
    let mut words = vec!["NAME".to_string()];
    let columns = version["additionalPrinterColumns"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for c in &columns {
        if wide || c["priority"].as_i64().unwrap_or(0) == 0 {
            words.push(c["name"].as_str().unwrap().to_uppercase());
        }
    }
    if columns.is_empty() {
        words.push("AGE".into());
    }
    words.join(" ")
}

#[test]
fn deploy_crd_columns_are_what_kubectl_prints() {
    let (_rt, server) = start();
    let k = Kubectl::new(&server, server.admin_token());
    apply(&k, "crd.yaml", CRD);
    k.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd/networkprofiles.tether.dev",
        "--timeout=10s",
    ]);
    apply(&k, "profiles.yaml", PROFILES);
    for wide in [false, true] {
        let args: &[&str] = if wide {
            &["get", "networkprofiles", "-o", "wide"]
        } else {
            &["get", "networkprofiles"]
        };
        let out = k.ok(args);
        assert_eq!(header(&out), declared_header(CRD, wide), "{out}");
        assert!(row(&out, "camera").len() > 1, "{out}");
    }
}
