//! The CRD generated from the Rust types carries the API server's own checks.

use kube::CustomResourceExt;

use super::*;

#[test]
fn crd_schema_carries_ranges_list_map_and_cel() {
    let crd = serde_json::to_value(NetworkProfile::crd()).unwrap();
    assert_eq!(crd["metadata"]["name"], "networkprofiles.tether.dev");
    assert_eq!(crd["spec"]["scope"], "Cluster");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let props = &version["schema"]["openAPIV3Schema"]["properties"];
    let spec = &props["spec"]["properties"];
    assert_eq!(spec["mtu"]["minimum"].as_f64(), Some(576.0));
    assert_eq!(spec["mtu"]["maximum"].as_f64(), Some(9000.0));
    assert!(
        spec["sysctls"]["x-kubernetes-validations"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("net.ipv4.tcp_keepalive_time")
    );
    assert!(
        spec["bandwidth"]["x-kubernetes-validations"]
            .as_array()
            .unwrap()
            .len()
            == 2
    );
    let nodes = &props["status"]["properties"]["nodes"];
    assert_eq!(nodes["x-kubernetes-list-type"], "map");
    assert_eq!(nodes["x-kubernetes-list-map-keys"][0], "nodeName");
    for summary in ["matchedPods", "nodesReporting"] {
        let field = &props["status"]["properties"][summary];
        assert_eq!(field["type"], "integer", "{summary}");
        assert_eq!(field["minimum"].as_f64(), Some(0.0), "{summary}");
    }
}

/// `kubectl get networkprofiles`: the API server prints the first result of each JSONPath, so
/// the totals are the summary fields, never `.status.nodes[*]`.
#[test]
fn printer_columns_are_priority_mtu_pods_nodes_age() {
    let crd = serde_json::to_value(NetworkProfile::crd()).unwrap();
    let columns: Vec<(&str, &str, &str)> = crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["jsonPath"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("Priority", ".spec.priority", "integer"),
            ("MTU", ".spec.mtu", "integer"),
            ("Pods", ".status.matchedPods", "integer"),
            ("Nodes", ".status.nodesReporting", "integer"),
            ("Age", ".metadata.creationTimestamp", "date"),
        ]
    );
}
