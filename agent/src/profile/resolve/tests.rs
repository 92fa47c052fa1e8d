//! The resolution rule: priority, then name byte-wise; both selectors; invalid profiles never win.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::*;
use crate::profile::compile::compile;
use crate::profile::crd::NetworkProfileSpec;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn match_labels(pairs: &[(&str, &str)]) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: Some(labels(pairs)),
        match_expressions: None,
    })
}

fn profile(
    name: &str,
    priority: i32,
    pods: Option<LabelSelector>,
    nodes: Option<LabelSelector>,
) -> Result<CompiledProfile, Rejected> {
    let spec = NetworkProfileSpec {
        priority,
        pod_selector: pods,
        node_selector: nodes,
        mtu: Some(1400),
        ..Default::default()
    };
    compile(name, 1, &spec).map_err(|error| Rejected {
        name: name.into(),
        generation: 1,
        error,
    })
}

fn winner(set: &ProfileSet, pod: &[(&str, &str)], node: &[(&str, &str)]) -> Option<String> {
    set.resolve(&labels(pod), &labels(node))
        .map(|p| p.name.clone())
}

#[test]
fn no_profiles_resolve_to_none() {
    let (set, rejected) = ProfileSet::build(vec![]);
    assert!(set.is_empty() && rejected.is_empty());
    assert_eq!(winner(&set, &[("app", "x")], &[]), None);
}

#[test]
fn highest_priority_wins() {
    let (set, _) = ProfileSet::build(vec![
        profile("low", 1, None, None),
        profile("high", 10, match_labels(&[("app", "cam")]), None),
        profile("mid", 5, None, None),
    ]);
    assert_eq!(
        winner(&set, &[("app", "cam")], &[]).as_deref(),
        Some("high")
    );
    assert_eq!(winner(&set, &[("app", "web")], &[]).as_deref(), Some("mid"));
}

#[test]
fn ties_go_to_the_name_sorting_first_whatever_the_input_order() {
    let names = ["beta", "alpha", "gamma"];
    for rotation in 0..names.len() {
        let mut order = names.to_vec();
        order.rotate_left(rotation);
        let (set, _) = ProfileSet::build(order.iter().map(|n| profile(n, 3, None, None)));
        assert_eq!(winner(&set, &[], &[]).as_deref(), Some("alpha"));
    }
}

#[test]
fn names_compare_bytewise_not_by_locale() {
    let (set, _) = ProfileSet::build(vec![
        profile("b", 0, None, None),
        profile("B", 0, None, None),
        profile("a", 0, None, None),
    ]);
    assert_eq!(winner(&set, &[], &[]).as_deref(), Some("B"));
}

#[test]
fn negative_priorities_lose_to_zero() {
    let (set, _) = ProfileSet::build(vec![
        profile("a-neg", -5, None, None),
        profile("z-zero", 0, None, None),
    ]);
    assert_eq!(winner(&set, &[], &[]).as_deref(), Some("z-zero"));
}

#[test]
fn both_selectors_must_match() {
    let (set, _) = ProfileSet::build(vec![
        profile(
            "hz-cam",
            10,
            match_labels(&[("app", "cam")]),
            match_labels(&[("pool", "hangzhou")]),
        ),
        profile("fallback", 0, None, None),
    ]);
    assert_eq!(
        winner(&set, &[("app", "cam")], &[("pool", "hangzhou")]).as_deref(),
        Some("hz-cam")
    );
    assert_eq!(
        winner(&set, &[("app", "cam")], &[("pool", "beijing")]).as_deref(),
        Some("fallback")
    );
    assert_eq!(
        winner(&set, &[("app", "web")], &[("pool", "hangzhou")]).as_deref(),
        Some("fallback")
    );
    assert_eq!(
        winner(&set, &[("app", "cam")], &[]).as_deref(),
        Some("fallback")
    );
}

#[test]
fn set_based_selectors_take_part() {
    let exprs = |v: Vec<LabelSelectorRequirement>| {
        Some(LabelSelector {
            match_labels: None,
            match_expressions: Some(v),
        })
    };
    let req = |k: &str, op: &str, vs: &[&str]| LabelSelectorRequirement {
        key: k.into(),
        operator: op.into(),
        values: (!vs.is_empty()).then(|| vs.iter().map(|s| s.to_string()).collect()),
    };
    let (set, _) = ProfileSet::build(vec![
        profile(
            "not-canary",
            7,
            exprs(vec![req("track", "NotIn", &["canary"])]),
            None,
        ),
        profile("gpu-nodes", 9, None, exprs(vec![req("gpu", "Exists", &[])])),
        profile(
            "stable-env",
            8,
            exprs(vec![req("env", "In", &["prod", "stage"])]),
            None,
        ),
    ]);
    assert_eq!(
        winner(&set, &[("env", "prod")], &[("gpu", "a100")]).as_deref(),
        Some("gpu-nodes")
    );
    assert_eq!(
        winner(&set, &[("env", "prod")], &[]).as_deref(),
        Some("stable-env")
    );
    assert_eq!(
        winner(&set, &[("env", "dev")], &[]).as_deref(),
        Some("not-canary")
    );
    assert_eq!(winner(&set, &[("track", "canary")], &[]), None);
}

#[test]
fn invalid_profiles_are_rejected_and_never_win() {
    let bad = NetworkProfileSpec {
        priority: 100,
        mtu: Some(100),
        ..Default::default()
    };
    let (set, rejected) = ProfileSet::build(vec![
        compile("bad", 2, &bad).map_err(|error| Rejected {
            name: "bad".into(),
            generation: 2,
            error,
        }),
        profile("good", 1, None, None),
    ]);
    assert_eq!(set.len(), 1);
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].name, "bad");
    assert_eq!(winner(&set, &[], &[]).as_deref(), Some("good"));
}
