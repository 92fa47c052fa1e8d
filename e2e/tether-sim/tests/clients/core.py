"""Core kinds through CoreV1Api: CRUD, selectors, pagination, errors and the patches the client picks.

Everything here passes on the double today; checks it fails go to pending.py.
"""

from kubernetes import client, dynamic

from harness import (
    REQUEST_TIMEOUT,
    Deviation,
    check,
    drop_namespace,
    eventually,
    expect_api_error,
    expect_eq,
    namespace,
    run,
    status_of,
    unique,
)

T = {"_request_timeout": REQUEST_TIMEOUT}


def config_map(name, labels=None, data=None):
    """A ConfigMap model as a user of the client writes one."""
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def pod(name, labels=None, node=None):
    """A Pod with two containers (so that a strategic merge by name is observable)."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            node_name=node,
            containers=[
                client.V1Container(name="app", image="busybox:1.36"),
                client.V1Container(name="side", image="busybox:1.36"),
            ],
        ),
    )


def namespaces_are_created_read_listed_and_deleted(api_client):
    """Namespace create/get/list by label; a new namespace is Active and gets its `default` SA."""
    core = client.CoreV1Api(api_client)
    name = unique("py-ns")
    created = core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"judge": name})), **T
    )
    check(isinstance(created, client.V1Namespace), f"create_namespace gave {type(created)}")
    expect_eq(created.status.phase, "Active", "a new namespace's phase")
    expect_eq(created.spec.finalizers, ["kubernetes"], "a new namespace's spec.finalizers")
    expect_eq(
        created.metadata.labels.get("kubernetes.io/metadata.name"),
        name,
        "the namespace name label the NamespaceDefaultLabelName admission adds",
    )
    expect_eq(core.read_namespace(name, **T).metadata.uid, created.metadata.uid, "uid on read")
    listed = core.list_namespace(label_selector=f"judge={name}", **T)
    expect_eq([n.metadata.name for n in listed.items], [name], "namespaces selected by label")
    eventually(
        "the `default` ServiceAccount in a new namespace",
        lambda: any(
            sa.metadata.name == "default" for sa in core.list_namespaced_service_account(name, **T).items
        ),
    )
    drop_namespace(api_client, name)
    eventually(
        "the deleted namespace to be gone",
        lambda: expect_api_error(404, "NotFound", core.read_namespace, name),
    )


def config_maps_round_trip_with_conflicts(api_client):
    """ConfigMap create/get/replace; stale resourceVersion and duplicates are 409 with details."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-cm")
    try:
        created = core.create_namespaced_config_map(ns, config_map("settings", data={"a": "1"}), **T)
        check(isinstance(created, client.V1ConfigMap), f"create gave {type(created)}")
        meta = created.metadata
        check(meta.uid and meta.resource_version and meta.creation_timestamp, f"server-set metadata: {meta}")
        expect_eq(meta.namespace, ns, "namespace of the created ConfigMap")
        got = core.read_namespaced_config_map("settings", ns, **T)
        expect_eq(got.data, {"a": "1"}, "data read back")

        got.data["b"] = "2"
        replaced = core.replace_namespaced_config_map("settings", ns, got, **T)
        expect_eq(replaced.data, {"a": "1", "b": "2"}, "data after replace")
        check(
            int(replaced.metadata.resource_version) > int(meta.resource_version),
            "resourceVersion grows on update",
        )

        stale = expect_api_error(409, "Conflict", core.replace_namespaced_config_map, "settings", ns, got)
        expect_eq(
            stale.get("message"),
            'Operation cannot be fulfilled on configmaps "settings": the object has been '
            "modified; please apply your changes to the latest version and try again",
            "message of a stale update",
        )
        expect_eq(stale.get("details"), {"name": "settings", "kind": "configmaps"}, "details of 409 Conflict")

        again = expect_api_error(
            409, "AlreadyExists", core.create_namespaced_config_map, ns, config_map("settings")
        )
        expect_eq(
            again.get("message"), 'configmaps "settings" already exists', "message of 409 AlreadyExists"
        )
        expect_eq(
            again.get("details"), {"name": "settings", "kind": "configmaps"}, "details of 409 AlreadyExists"
        )

        missing = expect_api_error(404, "NotFound", core.read_namespaced_config_map, "nope", ns)
        expect_eq(missing.get("message"), 'configmaps "nope" not found', "message of 404")
        expect_eq(missing.get("details"), {"name": "nope", "kind": "configmaps"}, "details of 404")
    finally:
        drop_namespace(api_client, ns)


def invalid_objects_are_422_with_causes(api_client):
    """Validation failures are 422 Invalid with the Kind in details and one cause per field."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-invalid")
    try:
        body = expect_api_error(422, "Invalid", core.create_namespaced_config_map, ns, config_map("Bad_Name"))
        details = body.get("details") or {}
        expect_eq((details.get("name"), details.get("kind")), ("Bad_Name", "ConfigMap"), "422 details")
        causes = details.get("causes") or []
        check(causes, f"422 details.causes is empty: {body}")
        expect_eq(
            (causes[0].get("reason"), causes[0].get("field")),
            ("FieldValueInvalid", "metadata.name"),
            "the cause of an invalid name",
        )
        check(
            body.get("message", "").startswith(
                'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": '
                "a lowercase RFC 1123 subdomain"
            ),
            f"message of an invalid name: {body.get('message')!r}",
        )
    finally:
        drop_namespace(api_client, ns)


def lists_select_by_label_and_field_and_paginate(api_client):
    """Label and field selectors, an unsupported field label (400), limit/continue pages."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-list")
    try:
        for i, tier in enumerate(["web", "web", "db", "cache", "web"]):
            core.create_namespaced_config_map(
                ns, config_map(f"cm-{i}", labels={"tier": tier, "judge": "yes"}), **T
            )
        names = lambda items: [i.metadata.name for i in items]  # noqa: E731
        expect_eq(
            names(core.list_namespaced_config_map(ns, label_selector="tier=web", **T).items),
            ["cm-0", "cm-1", "cm-4"],
            "equality label selector (items in name order)",
        )
        expect_eq(
            names(core.list_namespaced_config_map(ns, label_selector="tier in (db,cache)", **T).items),
            ["cm-2", "cm-3"],
            "set-based label selector",
        )
        expect_eq(
            names(core.list_namespaced_config_map(ns, label_selector="tier!=web,judge", **T).items),
            ["cm-2", "cm-3"],
            "inequality and existence label selector",
        )
        expect_eq(
            names(core.list_namespaced_config_map(ns, field_selector="metadata.name=cm-3", **T).items),
            ["cm-3"],
            "field selector on metadata.name",
        )
        bad = expect_api_error(
            400, "BadRequest", core.list_namespaced_config_map, ns, field_selector="data.x=1"
        )
        check(
            "field label not supported: data.x" in bad.get("message", ""),
            f"message of a bad field label: {bad}",
        )

        pages, token = [], None
        while True:
            page = core.list_namespaced_config_map(
                ns, label_selector="judge=yes", limit=2, _continue=token, **T
            )
            check(len(page.items) <= 2, f"a page of limit 2 held {len(page.items)}")
            pages.append(names(page.items))
            token = page.metadata._continue
            if not token:
                break
        expect_eq(pages, [["cm-0", "cm-1"], ["cm-2", "cm-3"], ["cm-4"]], "pages of limit 2")

        for i in range(3):
            core.create_namespaced_pod(ns, pod(f"p-{i}", node="edge-1" if i == 1 else None), **T)
        first = core.list_namespaced_pod(ns, limit=2, **T)
        expect_eq(first.metadata.remaining_item_count, 1, "remainingItemCount of an unselective list")
        rest = core.list_namespaced_pod(ns, limit=2, _continue=first.metadata._continue, **T)
        expect_eq(names(first.items) + names(rest.items), ["p-0", "p-1", "p-2"], "pod pages")
        expect_eq(rest.metadata._continue, None, "continue of the last page")
        expect_eq(
            names(core.list_namespaced_pod(ns, field_selector="spec.nodeName=edge-1", **T).items),
            ["p-1"],
            "pods by spec.nodeName",
        )
        expect_eq(
            names(
                core.list_namespaced_pod(
                    ns, field_selector="status.phase=Pending,metadata.name!=p-0", **T
                ).items
            ),
            ["p-1", "p-2"],
            "pods by status.phase and metadata.name!=",
        )
    finally:
        drop_namespace(api_client, ns)


def pods_and_service_accounts_round_trip(api_client):
    """Pods and ServiceAccounts: create, get, list; delete answers the object (V1Pod, V1ServiceAccount)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-pod")
    try:
        created = core.create_namespaced_pod(ns, pod("web", labels={"app": "web"}), **T)
        check(isinstance(created, client.V1Pod), f"create_namespaced_pod gave {type(created)}")
        expect_eq(created.status.phase, "Pending", "phase of a new pod")
        expect_eq(
            [c.name for c in core.read_namespaced_pod("web", ns, **T).spec.containers],
            ["app", "side"],
            "containers read back",
        )
        gone = core.delete_namespaced_pod("web", ns, **T)
        check(isinstance(gone, client.V1Pod), f"delete_namespaced_pod gave {type(gone)}, not V1Pod")
        expect_eq(gone.metadata.name, "web", "name of the pod a delete answers")
        eventually(
            "the unscheduled pod to be gone",
            lambda: expect_api_error(404, "NotFound", core.read_namespaced_pod, "web", ns),
        )

        sa = core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="robot")), **T
        )
        check(isinstance(sa, client.V1ServiceAccount), f"create SA gave {type(sa)}")
        listed = [s.metadata.name for s in core.list_namespaced_service_account(ns, **T).items]
        check("robot" in listed and "default" in listed, f"service accounts listed: {listed}")
        gone = core.delete_namespaced_service_account("robot", ns, **T)
        check(
            isinstance(gone, client.V1ServiceAccount) and gone.metadata.name == "robot",
            f"delete_namespaced_service_account gave {gone!r:.200}",
        )
        expect_api_error(404, "NotFound", core.read_namespaced_service_account, "robot", ns)
    finally:
        drop_namespace(api_client, ns)


def patches_take_the_type_the_client_picks(api_client):
    """A dict body goes as strategic merge, a list as JSON patch; both applied as a real server does."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-patch")
    try:
        core.create_namespaced_config_map(ns, config_map("cfg", data={"a": "1", "b": "2"}), **T)
        # `$patch: replace` means something only to a strategic merge patch.
        out = core.patch_namespaced_config_map("cfg", ns, {"data": {"$patch": "replace", "c": "3"}}, **T)
        expect_eq(out.data, {"c": "3"}, "data after a strategic `$patch: replace`")
        out = core.patch_namespaced_config_map(
            "cfg", ns, [{"op": "add", "path": "/data/d", "value": "4"}], **T
        )
        expect_eq(out.data, {"c": "3", "d": "4"}, "data after a JSON patch add")
        failed = expect_api_error(
            422,
            "Invalid",
            core.patch_namespaced_config_map,
            "cfg",
            ns,
            [{"op": "test", "path": "/data/d", "value": "5"}],
        )
        expect_eq(
            failed.get("message"),
            "the server rejected our request due to an error in our request",
            "message of a failed JSON patch",
        )
        expect_eq(failed.get("details"), {}, "details of a failed JSON patch (the cause is not kept)")
        out = core.patch_namespaced_config_map(
            "cfg", ns, {"data": {"c": None}}, _content_type="application/merge-patch+json", **T
        )
        expect_eq(out.data, {"d": "4"}, "data after a merge patch removing a key")

        core.create_namespaced_pod(ns, pod("two"), **T)
        out = core.patch_namespaced_pod(
            "two", ns, {"spec": {"containers": [{"name": "side", "image": "busybox:1.37"}]}}, **T
        )
        expect_eq(
            [(c.name, c.image) for c in out.spec.containers],
            [("app", "busybox:1.36"), ("side", "busybox:1.37")],
            "containers after a strategic merge by name",
        )
    finally:
        drop_namespace(api_client, ns)


def config_maps_are_applied_through_the_dynamic_client(api_client):
    """Server-side apply of a built-in kind: create, ownership per manager, removal of a field
    the manager stops applying, conflict with another manager's field."""
    ns = namespace(api_client, "py-apply")
    try:
        maps = dynamic.DynamicClient(api_client).resources.get(api_version="v1", kind="ConfigMap")

        def apply(manager, data, **kwargs):
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": data}
            return maps.server_side_apply(
                body=body, name="applied", namespace=ns, field_manager=manager, **kwargs
            )

        created = apply("py-a", {"a": "1", "b": "2"})
        expect_eq(created.data.to_dict(), {"a": "1", "b": "2"}, "data after the first apply")
        apply("py-c", {"c": "3"})
        again = apply("py-a", {"a": "1"})
        expect_eq(again.data.to_dict(), {"a": "1", "c": "3"}, "data after py-a stopped applying b")
        expect_eq(
            sorted((m.manager, m.operation) for m in again.metadata.managedFields),
            [("py-a", "Apply"), ("py-c", "Apply")],
            "managers after two appliers",
        )
        try:
            apply("py-c", {"a": "9", "c": "3"})
        except dynamic.exceptions.ConflictError as error:
            expect_eq(
                status_of(error).get("message"),
                'Apply failed with 1 conflict: conflict with "py-a": .data.a',
                "message of an apply conflict on a ConfigMap",
            )
        else:
            raise Deviation("applying another manager's field succeeded; a real server answers 409")
    finally:
        drop_namespace(api_client, ns)


if __name__ == "__main__":
    run(
        [
            namespaces_are_created_read_listed_and_deleted,
            config_maps_round_trip_with_conflicts,
            invalid_objects_are_422_with_causes,
            lists_select_by_label_and_field_and_paginate,
            pods_and_service_accounts_round_trip,
            patches_take_the_type_the_client_picks,
            config_maps_are_applied_through_the_dynamic_client,
        ]
    )
