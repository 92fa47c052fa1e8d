"""NetworkProfiles (deploy/crd.yaml) through CustomObjectsApi, and server-side apply through
`kubernetes.dynamic`: create/get/list, merge patch, the 415 for strategic merge, `status`, 422.

Every check here holds on the double and on kube-apiserver v1.34 (sources in each docstring).
"""

from kubernetes import client, dynamic

from harness import (
    REQUEST_TIMEOUT,
    Deviation,
    check,
    expect_api_error,
    expect_eq,
    run,
    status_of,
    unique,
    wait_for_crd,
)

T = {"_request_timeout": REQUEST_TIMEOUT}
GVP = ("tether.dev", "v1alpha1", "networkprofiles")
MERGE = "application/merge-patch+json"


def profile(name, labels=None, **spec):
    """A NetworkProfile as a dict, the only shape CustomObjectsApi takes."""
    return {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "NetworkProfile",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }


def custom(api_client):
    """The CustomObjectsApi, once the CRD is Established."""
    wait_for_crd(api_client, "networkprofiles.tether.dev")
    return client.CustomObjectsApi(api_client)


def drop(api, name):
    """Delete a NetworkProfile and require it gone."""
    api.delete_cluster_custom_object(*GVP, name, **T)
    expect_api_error(404, "NotFound", api.get_cluster_custom_object, *GVP, name)


def profiles_are_created_got_and_listed(api_client):
    """Create (unknown fields dropped), get, list by label and by metadata.name."""
    api = custom(api_client)
    tag = unique("py")
    a, b = f"{tag}-a", f"{tag}-b"
    created = api.create_cluster_custom_object(
        *GVP, profile(a, {"judge": tag, "app": "a"}, priority=3, bogus=1), **T
    )
    check(isinstance(created, dict), f"create_cluster_custom_object gave {type(created)}")
    expect_eq(created["metadata"].get("generation"), 1, "generation of a new custom object")
    check("bogus" not in created["spec"], f"an unknown field survived pruning: {created['spec']}")
    check("namespace" not in created["metadata"], "a cluster-scoped object has no namespace")
    api.create_cluster_custom_object(*GVP, profile(b, {"judge": tag, "app": "b"}, priority=4), **T)
    try:
        got = api.get_cluster_custom_object(*GVP, a, **T)
        expect_eq(got["spec"], {"priority": 3}, "spec read back")
        expect_eq(got["metadata"]["uid"], created["metadata"]["uid"], "uid read back")
        listed = api.list_cluster_custom_object(*GVP, label_selector=f"judge={tag}", **T)
        expect_eq(
            (listed["kind"], listed["apiVersion"]), ("NetworkProfileList", "tether.dev/v1alpha1"), "list kind"
        )
        expect_eq([i["metadata"]["name"] for i in listed["items"]], [a, b], "profiles by label")
        by_name = api.list_cluster_custom_object(*GVP, field_selector=f"metadata.name={b}", **T)
        expect_eq([i["metadata"]["name"] for i in by_name["items"]], [b], "profiles by metadata.name")
        expect_api_error(409, "AlreadyExists", api.create_cluster_custom_object, *GVP, profile(a, priority=1))
        missing = expect_api_error(404, "NotFound", api.get_cluster_custom_object, *GVP, f"{tag}-none")
        expect_eq(
            missing.get("details"),
            {"name": f"{tag}-none", "group": "tether.dev", "kind": "networkprofiles"},
            "details of a custom object's 404",
        )
    finally:
        drop(api, a)
        drop(api, b)


def patches_merge_and_refuse_strategic_merge(api_client):
    """CustomObjectsApi's default patch type is merge; strategic merge, asked for, is 415."""
    api = custom(api_client)
    name = unique("py-patch")
    api.create_cluster_custom_object(*GVP, profile(name, priority=1), **T)
    try:
        # No content type given: the client picks merge patch for custom objects.
        out = api.patch_cluster_custom_object(*GVP, name, {"spec": {"mtu": 1500}}, **T)
        expect_eq(out["spec"], {"priority": 1, "mtu": 1500}, "spec after a merge patch")
        expect_eq(out["metadata"]["generation"], 2, "generation after a spec change")
        out = api.patch_cluster_custom_object(
            *GVP,
            name,
            [{"op": "replace", "path": "/spec/priority", "value": 7}],
            _content_type="application/json-patch+json",
            **T,
        )
        expect_eq(out["spec"]["priority"], 7, "priority after a JSON patch")
        refused = expect_api_error(
            415,
            "UnsupportedMediaType",
            api.patch_cluster_custom_object,
            *GVP,
            name,
            {"spec": {"mtu": 1400}},
            _content_type="application/strategic-merge-patch+json",
        )
        expect_eq(
            refused.get("message"),
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            "message of a strategic merge patch on a custom resource",
        )
        expect_eq(api.get_cluster_custom_object(*GVP, name, **T)["spec"]["mtu"], 1500, "mtu after the 415")
    finally:
        drop(api, name)


def status_is_its_own_subresource(api_client):
    """`status` written through /status only, without touching spec or generation."""
    api = custom(api_client)
    name = unique("py-status")
    api.create_cluster_custom_object(*GVP, {**profile(name, priority=1), "status": {"matchedPods": 9}}, **T)
    try:
        got = api.get_cluster_custom_object_status(*GVP, name, **T)
        check("status" not in got, f"status set through the main resource: {got.get('status')}")
        out = api.patch_cluster_custom_object_status(
            *GVP,
            name,
            {
                "spec": {"priority": 50},
                "status": {
                    "matchedPods": 3,
                    "nodes": [{"nodeName": "e1", "matchedPods": 3, "observedGeneration": 1}],
                },
            },
            _content_type=MERGE,
            **T,
        )
        expect_eq(out["status"]["matchedPods"], 3, "status after a /status merge patch")
        expect_eq(out["spec"]["priority"], 1, "spec after a /status patch that tried to change it")
        expect_eq(out["metadata"]["generation"], 1, "generation after a status-only change")
        out["status"]["nodesReporting"] = 1
        replaced = api.replace_cluster_custom_object_status(*GVP, name, out, **T)
        expect_eq(replaced["status"]["nodesReporting"], 1, "status after replace_..._status")
        out = api.patch_cluster_custom_object(
            *GVP, name, {"status": {"matchedPods": 0}}, _content_type=MERGE, **T
        )
        expect_eq(
            out["status"]["matchedPods"], 3, "status after a main-resource patch that tried to change it"
        )
        old = dict(out, metadata=dict(out["metadata"], resourceVersion=got["metadata"]["resourceVersion"]))
        stale = expect_api_error(409, "Conflict", api.replace_cluster_custom_object_status, *GVP, name, old)
        check(name in stale.get("message", ""), f"message of a stale status update: {stale}")
    finally:
        drop(api, name)


def schema_violations_are_422_with_causes(api_client):
    """An OpenAPI schema violation is 422 Invalid naming the Kind.group and the field."""
    api = custom(api_client)
    name = unique("py-bad")
    body = expect_api_error(422, "Invalid", api.create_cluster_custom_object, *GVP, profile(name, mtu=100))
    expect_eq(
        body.get("message"),
        f'NetworkProfile.tether.dev "{name}" is invalid: spec.mtu: Invalid value: 100: '
        "spec.mtu in body should be greater than or equal to 576",
        "message of a schema violation",
    )
    details = body.get("details") or {}
    expect_eq(
        (details.get("name"), details.get("group"), details.get("kind")),
        (name, "tether.dev", "NetworkProfile"),
        "details of a schema violation",
    )
    expect_eq(
        [(c.get("reason"), c.get("field")) for c in details.get("causes") or []],
        [("FieldValueInvalid", "spec.mtu")],
        "causes of a schema violation",
    )


def server_side_apply_through_the_dynamic_client(api_client):
    """SSA by two managers: spec conflicts are 409 with causes; status list-map entries coexist."""
    custom(api_client)
    resources = dynamic.DynamicClient(api_client).resources
    profiles = resources.get(api_version="tether.dev/v1alpha1", kind="NetworkProfile")
    name = unique("py-ssa")
    applied = profiles.server_side_apply(body=profile(name, priority=5), name=name, field_manager="py-a")
    expect_eq(applied.spec.priority, 5, "priority after apply")
    managers = [(m.manager, m.operation) for m in applied.metadata.managedFields]
    expect_eq(managers, [("py-a", "Apply")], "managedFields after the first apply")
    try:
        profiles.server_side_apply(body=profile(name, priority=6), name=name, field_manager="py-b")
    except dynamic.exceptions.ConflictError as error:
        body = status_of(error)
        expect_eq(body.get("reason"), "Conflict", "reason of an apply conflict")
        expect_eq(
            body.get("message"),
            'Apply failed with 1 conflict: conflict with "py-a": .spec.priority',
            "message of an apply conflict",
        )
        # The causes' `reason`: apply_conflict_causes_carry_a_reason.
        expect_eq(
            [(c.get("message"), c.get("field")) for c in (body.get("details") or {}).get("causes") or []],
            [('conflict with "py-a"', ".spec.priority")],
            "causes of an apply conflict",
        )
    else:
        raise Deviation("a conflicting apply by another manager succeeded; a real server answers 409")
    forced = profiles.server_side_apply(
        body=profile(name, priority=6), name=name, field_manager="py-b", force_conflicts=True
    )
    expect_eq(forced.spec.priority, 6, "priority after a forced apply")

    status = profiles.subresources["status"]
    for node, pods in (("e1", 2), ("e2", 4)):
        entry = {"nodeName": node, "matchedPods": pods, "observedGeneration": 1}
        status.server_side_apply(
            body={
                "apiVersion": "tether.dev/v1alpha1",
                "kind": "NetworkProfile",
                "metadata": {"name": name},
                "status": {"nodes": [entry]},
            },
            name=name,
            field_manager=f"agent-{node}",
        )
    got = profiles.get(name=name)
    expect_eq([n.nodeName for n in got.status.nodes], ["e1", "e2"], "status entries of two appliers")
    profiles.delete(name=name)


def deleting_a_custom_object_answers_a_status(api_client):
    """Custom resources are stored without ReturnDeletedObject (apiextensions-apiserver
    pkg/registry/customresource/etcd.go:46): Status with group and plural."""
    wait_for_crd(api_client, "networkprofiles.tether.dev")
    api = client.CustomObjectsApi(api_client)
    name = unique("py-delnp")
    body = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "NetworkProfile",
        "metadata": {"name": name},
        "spec": {},
    }
    uid = api.create_cluster_custom_object(*GVP, body, **T)["metadata"]["uid"]
    answer = api.delete_cluster_custom_object(*GVP, name, **T)
    expect_eq(answer.get("kind"), "Status", "kind of the answer to deleting a custom object")
    expect_eq(
        answer.get("details"),
        {"name": name, "group": "tether.dev", "kind": "networkprofiles", "uid": uid},
        "details of the answer to deleting a custom object",
    )


def custom_objects_are_defaulted(api_client):
    """Structural-schema `default`s are applied to request bodies (apiextensions-apiserver
    pkg/apiserver/customresource_handler.go:1178-1186, schema/defaulting/algorithm.go:34)."""
    wait_for_crd(api_client, "networkprofiles.tether.dev")
    api = client.CustomObjectsApi(api_client)
    name = unique("py-defnp")
    body = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "NetworkProfile",
        "metadata": {"name": name},
        "spec": {},
    }
    try:
        created = api.create_cluster_custom_object(*GVP, body, **T)
        expect_eq(created["spec"], {"priority": 0}, "spec.priority defaulted to 0")
        out = api.patch_cluster_custom_object_status(*GVP, name, {"status": {"matchedPods": 1}}, **T)
        expect_eq(out["status"], {"matchedPods": 1, "nodes": []}, "status.nodes defaulted to []")
    finally:
        api.delete_cluster_custom_object(*GVP, name, **T)


def apply_conflict_causes_carry_a_reason(api_client):
    """StatusCause.Type is serialised as `reason` (apimachinery pkg/apis/meta/v1/types.go:1010;
    pkg/util/managedfields/internal/conflict.go:36-40)."""
    wait_for_crd(api_client, "networkprofiles.tether.dev")
    profiles = dynamic.DynamicClient(api_client).resources.get(
        api_version="tether.dev/v1alpha1", kind="NetworkProfile"
    )
    name = unique("py-ssac")
    body = {
        "apiVersion": "tether.dev/v1alpha1",
        "kind": "NetworkProfile",
        "metadata": {"name": name},
        "spec": {"priority": 1},
    }
    profiles.server_side_apply(body=body, name=name, field_manager="py-a")
    try:
        body["spec"]["priority"] = 2
        profiles.server_side_apply(body=body, name=name, field_manager="py-b")
    except dynamic.exceptions.ConflictError as error:
        causes = (status_of(error).get("details") or {}).get("causes") or []
        expect_eq(
            [c.get("reason") for c in causes],
            ["FieldManagerConflict"],
            "reason of the apply conflict's cause",
        )
        check(all("type" not in c for c in causes), f"a cause carries a `type` key: {causes}")
    else:
        raise Deviation("a conflicting apply succeeded; a real server answers 409")
    finally:
        profiles.delete(name=name)


if __name__ == "__main__":
    run(
        [
            profiles_are_created_got_and_listed,
            patches_merge_and_refuse_strategic_merge,
            status_is_its_own_subresource,
            schema_violations_are_422_with_causes,
            server_side_apply_through_the_dynamic_client,
            deleting_a_custom_object_answers_a_status,
            custom_objects_are_defaulted,
            apply_conflict_causes_carry_a_reason,
        ]
    )
