//! The merge rules and directives, case by case, against what
//! apimachinery v0.34.1 `pkg/util/strategicpatch/patch.go` computes for them.

use serde_json::{Value, json};

use super::{Failure, Schema, apply};

fn pod() -> Schema {
    Schema::of_kind("", "Pod").unwrap()
}

fn patched(schema: Schema, mut live: Value, patch: Value) -> Value {
    apply(&mut live, &patch, schema).unwrap();
    live
}

fn failure(schema: Schema, mut live: Value, patch: Value) -> Failure {
    apply(&mut live, &patch, schema).unwrap_err()
}

#[test]
fn finalizers_merge_as_a_set_new_values_first() {
    let out = patched(
        pod(),
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["c", "a"]}}),
    );
    // mergeSortedSlice takes a patch item first whenever the live order cannot place it.
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
}

#[test]
fn delete_from_primitive_list_removes_values() {
    let out = patched(
        pod(),
        json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}),
    );
    assert_eq!(out["metadata"], json!({"finalizers": ["a", "c"]}));
}

#[test]
fn owner_references_merge_by_uid_and_a_delete_item_deletes() {
    let live = json!({"metadata": {"ownerReferences": [
        {"uid": "1", "kind": "ReplicaSet", "name": "rs"},
        {"uid": "2", "kind": "Node", "name": "n"},
    ]}});
    let out = patched(
        pod(),
        live.clone(),
        json!({"metadata": {"ownerReferences": [{"uid": "2", "name": "n2"}, {"uid": "3", "name": "m"}]}}),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([
            {"uid": "1", "kind": "ReplicaSet", "name": "rs"},
            {"uid": "2", "kind": "Node", "name": "n2"},
            {"uid": "3", "name": "m"},
        ])
    );
    let out = patched(
        pod(),
        live,
        json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "1"}]}}),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "2", "kind": "Node", "name": "n"}])
    );
}

#[test]
fn service_account_secrets_merge_by_name() {
    let sa = Schema::of_kind("", "ServiceAccount").unwrap();
    let out = patched(
        sa,
        json!({"secrets": [{"name": "a"}]}),
        json!({"secrets": [{"name": "b"}]}),
    );
    assert_eq!(out["secrets"], json!([{"name": "b"}, {"name": "a"}]));
    // imagePullSecrets carries no strategy on a ServiceAccount: replaced.
    let out = patched(
        sa,
        json!({"imagePullSecrets": [{"name": "a"}]}),
        json!({"imagePullSecrets": [{"name": "b"}]}),
    );
    assert_eq!(out["imagePullSecrets"], json!([{"name": "b"}]));
}

#[test]
fn container_env_merges_by_name_and_containers_by_name() {
    let live = json!({"spec": {"containers": [
        {"name": "main", "image": "a", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "side", "image": "s"},
    ]}});
    let out = patched(
        pod(),
        live,
        json!({"spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([
            {"name": "main", "image": "a", "env": [
                {"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"},
            ]},
            {"name": "side", "image": "s"},
        ])
    );
}

#[test]
fn lists_without_a_strategy_are_replaced() {
    let out = patched(
        pod(),
        json!({"spec": {"tolerations": [{"key": "a"}], "containers": [{"name": "c", "args": ["x", "y"]}]}}),
        json!({"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "c", "args": ["z"]}]}}),
    );
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
    assert_eq!(out["spec"]["containers"][0]["args"], json!(["z"]));
}

#[test]
fn patch_replace_and_delete_on_maps_and_lists() {
    let live = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["f"]},
                      "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
    let out = patched(
        pod(),
        live.clone(),
        json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
    let out = patched(
        pod(),
        live.clone(),
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({}));
    let out = patched(
        pod(),
        live,
        json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c"}]}}),
    );
    assert_eq!(out["spec"]["containers"], json!([{"name": "c"}]));
}

#[test]
fn nulls_delete_and_directives_never_become_data() {
    let out = patched(
        pod(),
        json!({"metadata": {"labels": {"a": "1"}}}),
        json!({"metadata": {"labels": {"a": null, "b": {"$patch": "delete"}}, "annotations": {"x": null, "y": "1"}}}),
    );
    assert_eq!(
        out["metadata"],
        json!({"labels": {}, "annotations": {"y": "1"}})
    );
    // A directive in a replaced list is an unknown field: decoding drops it.
    let out = patched(
        pod(),
        json!({"spec": {"tolerations": [{"key": "a"}]}}),
        json!({"spec": {"tolerations": [{"$patch": "delete", "key": "b"}]}}),
    );
    assert_eq!(out["spec"]["tolerations"], json!([{"key": "b"}]));
}

#[test]
fn set_element_order_orders_the_merged_list() {
    let out = patched(
        pod(),
        json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}}),
        json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
            "containers": [{"name": "a", "image": "new"}],
        }}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "c"}, {"name": "a", "image": "new"}, {"name": "b"}])
    );
    let out = patched(
        pod(),
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b", "c", "a"]));
}

#[test]
fn retain_keys_clears_the_other_fields_of_a_volume() {
    let out = patched(
        pod(),
        json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
        json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}),
    );
    assert_eq!(
        out["spec"]["volumes"],
        json!([{"name": "v", "hostPath": {"path": "/x"}}])
    );
    let bad = failure(
        pod(),
        json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
        json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name"], "hostPath": {"path": "/x"}}]}}),
    );
    assert_eq!(
        bad,
        Failure::BadRequest("invalid patch format of retainKeys".into())
    );
}

#[test]
fn malformed_directives_answer_as_upstream() {
    let live = json!({"metadata": {"finalizers": ["a"], "ownerReferences": [{"uid": "1"}]}});
    assert_eq!(
        failure(
            pod(),
            live.clone(),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}})
        ),
        Failure::BadRequest("invalid patch format of primitive list".into())
    );
    assert_eq!(
        failure(
            pod(),
            live.clone(),
            json!({"metadata": {"$setElementOrder": ["a"]}})
        ),
        Failure::BadRequest("invalid patch format of setElementOrder list".into())
    );
    assert_eq!(
        failure(
            pod(),
            live.clone(),
            json!({"metadata": {"ownerReferences": [{"$patch": "bogus", "uid": "1"}]}})
        ),
        Failure::Internal("unknown patch type: bogus in map: map[$patch:bogus uid:1]".into())
    );
    assert_eq!(
        failure(
            pod(),
            live.clone(),
            json!({"metadata": {"ownerReferences": [{"name": "x"}]}})
        ),
        Failure::Internal("map: map[name:x] does not contain declared merge key: uid".into())
    );
    assert_eq!(
        failure(
            pod(),
            live.clone(),
            json!({"metadata": {"finalizers": [["a"]]}})
        ),
        Failure::Internal("list element types are not identical: [[a] [[a]]]".into())
    );
    assert_eq!(
        failure(
            pod(),
            json!({"metadata": {"finalizers": []}}),
            json!({"metadata": {"finalizers": [["a"]]}})
        ),
        Failure::Invalid
    );
    assert_eq!(
        failure(
            pod(),
            live,
            json!({"metadata": {"ownerReferences": [{"$patch": "merge"}]}})
        ),
        Failure::Internal("merging lists cannot yet be specified in the patch".into())
    );
    // The patch list's order must agree with $setElementOrder's (validatePatchWithSetOrderList).
    assert_eq!(
        failure(
            pod(),
            json!({"spec": {"containers": [{"name": "main"}]}}),
            json!({"spec": {"containers": [{"name": "main"}, {"name": "side"}],
                            "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}]}}),
        ),
        Failure::Internal(
            "The order in patch list:\n[map[name:main] map[name:side]]\n doesn't match $setElementOrder list:\n[map[name:side] map[name:main]]\n".into()
        )
    );
    assert!(matches!(
        failure(pod(), json!({}), json!(["not", "a", "map"])),
        Failure::BadRequest(_)
    ));
}
