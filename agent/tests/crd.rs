//! `deploy/crd.yaml` must be exactly what `tether-agent crd` prints.

use std::process::Command;

#[test]
fn deploy_crd_yaml_is_what_the_binary_prints() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/crd.yaml"))
            .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tether-agent"))
        .arg("crd")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed, agent::crd_yaml().unwrap());
    assert!(
        committed == printed,
        "deploy/crd.yaml is stale: run `cargo run -p agent -- crd > deploy/crd.yaml`"
    );
}

#[test]
fn the_printed_crd_parses_back_into_the_apiextensions_type() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let yaml = agent::crd_yaml().unwrap();
    let crd: CustomResourceDefinition = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("networkprofiles.tether.dev")
    );
    assert!(
        crd.spec.versions[0]
            .subresources
            .as_ref()
            .unwrap()
            .status
            .is_some()
    );
}
