//! The Event note: every setting in plain units, absent ones left out, sysctl(s) pluralised, and
//! rates that are not round numbers.

use std::collections::BTreeMap;

use cni::protocol::{Bandwidth, Source};

use super::*;

fn camera() -> ProfileRef {
    ProfileRef {
        name: "camera".into(),
        generation: 4,
    }
}

fn sysctls(n: usize) -> BTreeMap<String, String> {
    (0..n).map(|i| (format!("net.k{i}"), "1".into())).collect()
}

#[test]
fn the_design_example_reads_in_plain_units() {
    let answer = AddResponse {
        profile: Some(camera()),
        bandwidth: Some(Bandwidth {
            ingress_rate: Some(10_000_000),
            ingress_burst: Some(1_000_000),
            egress_rate: Some(5_000_000),
            egress_burst: Some(512_000),
        }),
        mtu: Some(1400),
        sysctls: sysctls(1),
        source: Source::Live,
    };
    assert_eq!(
        describe(&camera(), &answer),
        "profile camera (generation 4): 10 Mbit/s in, 5 Mbit/s out, MTU 1400, 1 sysctl"
    );
}

#[test]
fn absent_settings_are_left_out() {
    let egress_only = AddResponse {
        bandwidth: Some(Bandwidth {
            egress_rate: Some(1_500_000),
            egress_burst: Some(100_000),
            ..Bandwidth::default()
        }),
        sysctls: sysctls(2),
        ..AddResponse::default()
    };
    assert_eq!(
        describe(&camera(), &egress_only),
        "profile camera (generation 4): 1.5 Mbit/s out, 2 sysctls"
    );
    let mtu_only = AddResponse {
        mtu: Some(9000),
        ..AddResponse::default()
    };
    assert_eq!(
        describe(&camera(), &mtu_only),
        "profile camera (generation 4): MTU 9000"
    );
    assert_eq!(
        describe(&camera(), &AddResponse::default()),
        "profile camera (generation 4): no settings"
    );
}

#[test]
fn rates_take_the_largest_prefix_and_stay_exact() {
    for (bits, text) in [
        (0, "0 bit/s"),
        (999, "999 bit/s"),
        (1_000, "1 kbit/s"),
        (512_000, "512 kbit/s"),
        (1_500_000, "1.5 Mbit/s"),
        (1_048_576, "1.048576 Mbit/s"),
        (10_000_000, "10 Mbit/s"),
        (1_000_000_000, "1 Gbit/s"),
        (2_050_000_000, "2.05 Gbit/s"),
        (2_000_000_000_000, "2 Tbit/s"),
        (20_000_000_000_000_001, "20000.000000000001 Tbit/s"),
    ] {
        assert_eq!(rate(bits), text, "{bits}");
    }
}
