//! Label selector semantics as in `metav1.LabelSelector`, and malformed requirements.

use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.into(),
        operator: op.into(),
        values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
    }
}

fn sel(ml: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> Selector {
    let ls = LabelSelector {
        match_labels: (!ml.is_empty()).then(|| labels(ml)),
        match_expressions: (!exprs.is_empty()).then_some(exprs),
    };
    Selector::compile(Some(&ls)).unwrap()
}

#[test]
fn absent_and_empty_select_everything() {
    assert!(Selector::compile(None).unwrap().matches(&labels(&[])));
    let empty = Selector::compile(Some(&LabelSelector::default())).unwrap();
    assert!(empty.is_empty() && empty.matches(&labels(&[("a", "b")])));
}

#[test]
fn match_labels_are_anded() {
    let s = sel(&[("app", "cam"), ("tier", "edge")], vec![]);
    assert!(s.matches(&labels(&[("app", "cam"), ("tier", "edge"), ("x", "y")])));
    assert!(!s.matches(&labels(&[("app", "cam")])));
    assert!(!s.matches(&labels(&[("app", "cam"), ("tier", "cloud")])));
}

#[test]
fn set_based_operators() {
    let s = sel(
        &[],
        vec![
            expr("env", "In", &["a", "b"]),
            expr("zone", "NotIn", &["z1"]),
        ],
    );
    assert!(s.matches(&labels(&[("env", "a")])));
    assert!(s.matches(&labels(&[("env", "b"), ("zone", "z2")])));
    assert!(!s.matches(&labels(&[("env", "b"), ("zone", "z1")])));
    assert!(!s.matches(&labels(&[("env", "c")])));
    let e = sel(
        &[],
        vec![expr("gpu", "Exists", &[]), expr("old", "DoesNotExist", &[])],
    );
    assert!(e.matches(&labels(&[("gpu", "")])));
    assert!(!e.matches(&labels(&[("gpu", "1"), ("old", "1")])));
    assert!(!e.matches(&labels(&[])));
}

#[test]
fn rejects_malformed_requirements() {
    let bad = |r| {
        Selector::compile(Some(&LabelSelector {
            match_expressions: Some(vec![r]),
            ..Default::default()
        }))
    };
    assert_eq!(
        bad(expr("k", "Near", &["x"])),
        Err(SelectorError::Operator("Near".into()))
    );
    assert_eq!(
        bad(expr("k", "In", &[])),
        Err(SelectorError::MissingValues("In", "k".into()))
    );
    assert_eq!(
        bad(expr("k", "NotIn", &[])),
        Err(SelectorError::MissingValues("NotIn", "k".into()))
    );
    assert_eq!(
        bad(expr("k", "Exists", &["x"])),
        Err(SelectorError::UnexpectedValues("Exists", "k".into()))
    );
    assert_eq!(bad(expr("", "Exists", &[])), Err(SelectorError::EmptyKey));
}
