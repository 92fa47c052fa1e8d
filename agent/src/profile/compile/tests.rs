//! The agent's validation: the design's example compiles to wire units; out-of-range and
//! unknown settings are refused with the reason.

use std::collections::BTreeMap;

use cni::protocol::{AddResponse, Bandwidth, ProfileRef, Source};

use super::*;

fn spec_from_yaml(yaml: &str) -> NetworkProfileSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

#[test]
fn design_example_compiles_to_wire_units() {
    let spec = spec_from_yaml(
        "priority: 10\npodSelector: {matchLabels: {app: camera}}\nnodeSelector: {matchLabels: {apps.openyurt.io/nodepool: hangzhou}}\nbandwidth: {ingressRate: 10M, ingressBurst: 1M, egressRate: 5M, egressBurst: 512k}\nmtu: 1400\nsysctls: {net.ipv4.tcp_keepalive_time: \"60\"}\n",
    );
    let p = compile("camera", 4, &spec).unwrap();
    let bw = Bandwidth {
        ingress_rate: Some(10_000_000),
        ingress_burst: Some(1_000_000),
        egress_rate: Some(5_000_000),
        egress_burst: Some(512_000),
    };
    assert_eq!(p.settings.bandwidth, Some(bw));
    assert_eq!(p.settings.mtu, Some(1400));
    let answer = AddResponse {
        profile: Some(ProfileRef {
            name: p.name.clone(),
            generation: p.generation,
        }),
        bandwidth: p.settings.bandwidth,
        mtu: p.settings.mtu,
        sysctls: p.settings.sysctls.clone(),
        source: Source::Live,
    };
    assert_eq!(answer.validate(), Ok(()));
}

#[test]
fn rejects_out_of_range_and_unknown_settings() {
    let base = NetworkProfileSpec::default();
    let mtu = NetworkProfileSpec {
        mtu: Some(9001),
        ..base.clone()
    };
    assert_eq!(compile("x", 1, &mtu), Err(ProfileError::Mtu(9001)));
    let prio = NetworkProfileSpec {
        priority: 2_000_000,
        ..base.clone()
    };
    assert_eq!(
        compile("x", 1, &prio),
        Err(ProfileError::Priority(2_000_000))
    );
    let sysctl = NetworkProfileSpec {
        sysctls: BTreeMap::from([("net.ipv4.ip_forward".into(), "1".into())]),
        ..base.clone()
    };
    assert_eq!(
        compile("x", 1, &sysctl),
        Err(ProfileError::Sysctl("net.ipv4.ip_forward".into()))
    );
    let value = NetworkProfileSpec {
        sysctls: BTreeMap::from([("net.core.somaxconn".into(), "1; reboot".into())]),
        ..base.clone()
    };
    assert!(matches!(
        compile("x", 1, &value),
        Err(ProfileError::SysctlValue { .. })
    ));
    let half = NetworkProfileSpec {
        bandwidth: Some(BandwidthSpec {
            ingress_rate: Some("1M".into()),
            ..Default::default()
        }),
        ..base.clone()
    };
    assert_eq!(
        compile("x", 1, &half),
        Err(ProfileError::HalfDirection("ingress"))
    );
    let junk = NetworkProfileSpec {
        bandwidth: Some(BandwidthSpec {
            egress_rate: Some("fast".into()),
            egress_burst: Some("1k".into()),
            ..Default::default()
        }),
        ..base
    };
    assert!(matches!(
        compile("x", 1, &junk),
        Err(ProfileError::Quantity {
            field: "egressRate",
            ..
        })
    ));
}

#[test]
fn tcp_buffer_sysctls_take_three_numbers() {
    let spec = NetworkProfileSpec {
        sysctls: BTreeMap::from([("net.ipv4.tcp_rmem".into(), "4096 87380 6291456".into())]),
        ..Default::default()
    };
    assert!(compile("x", 1, &spec).is_ok());
}

#[test]
fn empty_bandwidth_means_no_shaping() {
    let spec = NetworkProfileSpec {
        bandwidth: Some(BandwidthSpec::default()),
        ..Default::default()
    };
    assert_eq!(compile("x", 1, &spec).unwrap().settings.bandwidth, None);
}
