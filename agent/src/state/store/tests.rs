//! The store: answers and their source, pod identity by uid, change notifications, invalid
//! profiles and status drift.

use cni::protocol::Source;

use super::*;
use crate::test_support::{node, pod, profile, with_status};

#[test]
fn unknown_pod_has_no_answer() {
    let store = Store::new("edge-1");
    assert_eq!(store.answer("ns", "p", ""), None);
}

#[test]
fn answers_are_cache_until_every_resource_is_live() {
    let store = Store::new("edge-1");
    store.set_upstream(Upstream::ApiServer);
    store.replace_profiles(vec![profile("cam", 3, 1, "camera", 1400)], Origin::Disk);
    store.replace_pods(
        vec![pod("ns", "p", "u1", &[("app", "camera")])],
        Origin::Api,
    );
    store.set_node(Some(node(&[])), Origin::Api);
    let a = store.answer("ns", "p", "u1").unwrap();
    assert_eq!(
        (a.source, a.mtu, a.profile.as_ref().map(|p| p.generation)),
        (Source::Cache, Some(1400), Some(3))
    );
    store.replace_profiles(vec![profile("cam", 4, 1, "camera", 1300)], Origin::Api);
    let a = store.answer("ns", "p", "u1").unwrap();
    assert_eq!((a.source, a.mtu), (Source::Live, Some(1300)));
    assert_eq!(a.validate(), Ok(()));
}

#[test]
fn a_pod_without_a_matching_profile_gets_an_empty_answer() {
    let store = Store::new("edge-1");
    store.replace_profiles(vec![profile("cam", 1, 1, "camera", 1400)], Origin::Api);
    store.upsert_pod(pod("ns", "web", "u", &[("app", "web")]));
    let a = store.answer("ns", "web", "").unwrap();
    assert_eq!(a.profile, None);
    assert!(!a.has_settings());
}

#[test]
fn a_different_uid_is_a_different_pod() {
    let store = Store::new("edge-1");
    store.upsert_pod(pod("ns", "p", "old", &[]));
    assert!(store.answer("ns", "p", "new").is_none());
    assert!(store.answer("ns", "p", "old").is_some());
    store.remove_pod("ns", "p");
    assert!(store.answer("ns", "p", "").is_none());
}

#[test]
fn every_change_wakes_subscribers() {
    let store = Store::new("edge-1");
    let mut rx = store.subscribe();
    assert!(!rx.has_changed().unwrap());
    store.upsert_pod(pod("ns", "p", "u", &[]));
    assert!(rx.has_changed().unwrap());
    rx.mark_unchanged();
    store.set_feed(Kind::Pods, Feed::Down);
    assert!(rx.has_changed().unwrap());
    assert!(!store.pods_may_arrive());
}

#[test]
fn invalid_profiles_are_kept_aside() {
    let store = Store::new("edge-1");
    store.replace_profiles(
        vec![
            profile("bad", 1, 9, "camera", 42),
            profile("good", 1, 1, "camera", 1400),
        ],
        Origin::Api,
    );
    store.upsert_pod(pod("ns", "p", "u", &[("app", "camera")]));
    assert_eq!(store.rejected().len(), 1);
    assert_eq!(
        store.answer("ns", "p", "").unwrap().profile.unwrap().name,
        "good"
    );
}

#[test]
fn status_drift_lists_profiles_to_report() {
    let store = Store::new("edge-1");
    store.replace_profiles(
        vec![
            profile("cam", 2, 1, "camera", 1400),
            with_status(profile("gone", 5, 1, "gone", 1400), "edge-1", 2, 4),
            profile("unused", 1, 1, "nothing", 1400),
            with_status(profile("synced", 1, 1, "db", 1400), "edge-1", 1, 1),
        ],
        Origin::Api,
    );
    store.replace_pods(
        vec![
            pod("ns", "a", "1", &[("app", "camera")]),
            pod("ns", "b", "2", &[("app", "camera")]),
            pod("ns", "c", "3", &[("app", "db")]),
        ],
        Origin::Api,
    );
    let drift = store.node_status_drift();
    let names: Vec<&str> = drift.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["cam", "gone", "synced"]);
    assert_eq!(
        (
            drift[0].1.matched_pods,
            drift[0].1.observed_generation,
            drift[0].2.is_none()
        ),
        (2, 2, true)
    );
    assert_eq!(
        (drift[1].1.matched_pods, drift[1].1.observed_generation),
        (0, 5)
    );
    assert_eq!(Some(&drift[2].1), drift[2].2.as_ref());
}

#[test]
fn answers_are_not_live_while_yurthub_s_cache_or_nothing_answers() {
    let store = Store::new("edge-1");
    store.replace_profiles(vec![profile("cam", 3, 1, "camera", 1400)], Origin::Api);
    store.replace_pods(vec![pod("ns", "p", "u", &[("app", "camera")])], Origin::Api);
    store.set_node(Some(node(&[])), Origin::Api);
    let source = |s: &Store| s.answer("ns", "p", "u").unwrap().source;
    assert_eq!(store.upstream(), Upstream::Unknown);
    assert_eq!(
        source(&store),
        Source::Cache,
        "listed, but yurthub's cache lists too: nothing proves the API server answered yet"
    );
    for (upstream, want) in [
        (Upstream::YurthubCache, Source::Cache),
        (Upstream::Unreachable, Source::Cache),
        (Upstream::ApiServer, Source::Live),
    ] {
        let rx = store.subscribe();
        store.set_upstream(upstream);
        assert!(rx.has_changed().unwrap(), "a change wakes waiters");
        assert_eq!(
            (source(&store), store.is_live()),
            (want, want == Source::Live)
        );
    }
    let rx = store.subscribe();
    assert_eq!(store.set_upstream(Upstream::ApiServer), Upstream::ApiServer);
    assert!(!rx.has_changed().unwrap(), "no change, no wake-up");
}

#[test]
fn loaded_means_pods_profiles_and_node_each_from_disk_or_api() {
    let store = Store::new("edge-1");
    assert!(!store.loaded());
    assert!(store.may_finish_loading(), "every watch is connecting");
    store.replace_pods(vec![], Origin::Api);
    store.set_node(None, Origin::Disk);
    assert!(!store.loaded());
    store.set_feed(Kind::Pods, Feed::Down);
    assert!(
        store.may_finish_loading(),
        "pods are loaded: their feed does not matter"
    );
    store.set_feed(Kind::Profiles, Feed::Down);
    assert!(!store.may_finish_loading(), "profiles can no longer come");
    store.replace_profiles(vec![], Origin::Disk);
    assert!(store.loaded());
}
