#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

fn ctx<'a>(st: &'a State, user: &'a UserInfo) -> Ctx<'a> {
    Ctx {
        st,
        user,
        manager: "m".into(),
        strict: false,
        dry_run: false,
    }
}

fn create_in(ctx: &Ctx, plural: &str, ns: &str, body: Value) -> Value {
    let rt = ctx.st.find("", "v1", plural).unwrap();
    create(ctx, &rt, ns, body).unwrap()
}

#[test]
fn only_kinds_whose_strategy_tracks_it_have_a_generation() {
    let (st, user) = (State::for_tests(), UserInfo::default());
    let c = ctx(&st, &user);
    let ns = create_in(&c, "namespaces", "", json!({"metadata": {"name": "g"}}));
    assert!(ns["metadata"].get("generation").is_none(), "{ns}");
    let cm = create_in(
        &c,
        "configmaps",
        "g",
        json!({"metadata": {"name": "c", "generation": 7}}),
    );
    assert_eq!(cm["metadata"]["generation"], 7, "a client's value is kept");
    let plain = create_in(&c, "configmaps", "g", json!({"metadata": {"name": "d"}}));
    assert!(plain["metadata"].get("generation").is_none(), "{plain}");
    let pod = create_in(
        &c,
        "pods",
        "g",
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}}),
    );
    assert_eq!(pod["metadata"]["generation"], 1);
    let cms = st.find("", "v1", "configmaps").unwrap();
    let k = key(&cms, "g", "c");
    let (updated, _) = st
        .store
        .write(&k, generation(&cms), |cur| {
            let mut o = cur.unwrap().clone();
            o["data"] = json!({"k": "v"});
            Ok(Write::Put(o))
        })
        .unwrap();
    assert_eq!(updated["metadata"]["generation"], 7, "an update keeps it");
    let pod = create_in(
        &c,
        "pods",
        "g",
        json!({"metadata": {"name": "q", "generation": 9},
               "spec": {"containers": [{"name": "a", "image": "x:1"}]}}),
    );
    assert_eq!(pod["metadata"]["generation"], 1, "the pod strategy sets 1");
}

#[test]
fn remaining_item_count_only_without_selectors() {
    let (st, user) = (State::for_tests(), UserInfo::default());
    let c = ctx(&st, &user);
    create_in(&c, "namespaces", "", json!({"metadata": {"name": "r"}}));
    for i in 0..3 {
        create_in(
            &c,
            "configmaps",
            "r",
            json!({"metadata": {"name": format!("c{i}"), "labels": {"r": "y"}}}),
        );
    }
    let cms = st.find("", "v1", "configmaps").unwrap();
    let all = list(
        &st,
        &cms,
        "r",
        &selectors(&cms, None, None).unwrap(),
        1,
        None,
    )
    .unwrap();
    assert_eq!(all["metadata"]["remainingItemCount"], 2);
    let sel = selectors(&cms, Some("r=y"), None).unwrap();
    let some = list(&st, &cms, "r", &sel, 1, None).unwrap();
    assert!(some["metadata"]["continue"].is_string());
    assert!(some["metadata"].get("remainingItemCount").is_none());
    let sel = selectors(&cms, None, Some("metadata.name!=x")).unwrap();
    let some = list(&st, &cms, "r", &sel, 1, None).unwrap();
    assert!(some["metadata"].get("remainingItemCount").is_none());
}
