//! The disk cache across a restart: answers as `cache`, is ignored when absent, foreign or
//! damaged, and never overwrites what the API listed.

use std::fs;

use cni::protocol::Source;

use super::*;
use crate::state::records::Kind;
use crate::test_support::{node, pod, profile};

fn filled_store() -> std::sync::Arc<Store> {
    let store = Store::new("edge-1");
    store.replace_profiles(vec![profile("cam", 2, 1, "camera", 1400)], Origin::Api);
    store.replace_pods(vec![pod("ns", "p", "u", &[("app", "camera")])], Origin::Api);
    store.set_node(Some(node(&[("pool", "hz")])), Origin::Api);
    store
}

#[test]
fn a_saved_cache_answers_after_restart_as_cache() {
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path());
    save(&filled_store(), &file).unwrap();
    let fresh = Store::new("edge-1");
    assert!(matches!(load(&fresh, &file).unwrap(), Loaded::Loaded(1, 1)));
    let a = fresh.answer("ns", "p", "u").unwrap();
    assert_eq!((a.source, a.mtu), (Source::Cache, Some(1400)));
}

#[test]
fn absent_cache_and_other_nodes_cache_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path());
    let fresh = Store::new("edge-2");
    assert!(matches!(load(&fresh, &file).unwrap(), Loaded::Absent));
    save(&filled_store(), &file).unwrap();
    assert!(matches!(load(&fresh, &file).unwrap(), Loaded::OtherNode(n) if n == "edge-1"));
    assert_eq!(fresh.counts(), (0, 0, 0));
}

#[test]
fn live_data_is_not_overwritten_by_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path());
    save(&filled_store(), &file).unwrap();
    let store = Store::new("edge-1");
    store.replace_pods(vec![], Origin::Api);
    load(&store, &file).unwrap();
    assert_eq!(store.counts().0, 0);
    assert_eq!(store.origin(Kind::Profiles), Origin::Disk);
}

#[test]
fn damaged_caches_are_reported_and_leave_the_store_empty() {
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path());
    save(&filled_store(), &file).unwrap();
    let good = fs::read(&file).unwrap();
    let newer = String::from_utf8(good.clone())
        .unwrap()
        .replacen(" v1 ", " v2 ", 1);
    let mut corrupted = good.clone();
    let at = corrupted.len() / 2 + 40;
    corrupted[at] ^= 0x20;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("corrupted", corrupted),
        ("newer", newer.into_bytes()),
        ("garbage", b"\x00\xff".to_vec()),
    ];
    for (what, bytes) in cases {
        fs::write(&file, bytes).unwrap();
        let store = Store::new("edge-1");
        assert!(load(&store, &file).is_err(), "{what}");
        assert_eq!(store.counts(), (0, 0, 0), "{what}");
        assert_eq!(store.origin(Kind::Pods), Origin::Empty, "{what}");
    }
}
