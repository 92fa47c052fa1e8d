"""Core kinds through CoreV1Api (and Deployments through AppsV1Api): CRUD, selectors, pagination,
errors, the patches the client picks, delete answers and finalizers, pod defaulting, admission and
validation, generation, and what the Go round trip leaves out.

Every check here holds on the double and on kube-apiserver v1.34 (sources in each docstring).
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


def busybox_pod(name, image="busybox:1.36", node=None):
    """A one-container Pod, as little as a user writes."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(node_name=node, containers=[client.V1Container(name="app", image=image)]),
    )


def deleting_a_config_map_answers_a_status(api_client):
    """No ReturnDeletedObject for ConfigMaps: Status Success with name, kind = resource, uid
    (apiserver pkg/registry/generic/registry/store.go:1386-1410)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-delcm")
    try:
        cm = core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="gone")), **T
        )
        answer = core.delete_namespaced_config_map("gone", ns, **T)
        check(isinstance(answer, dict), f"delete_namespaced_config_map gave {type(answer)}")
        expect_eq(
            answer,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {"name": "gone", "kind": "configmaps", "uid": cm.metadata.uid},
            },
            "the answer to deleting a ConfigMap",
        )
    finally:
        drop_namespace(api_client, ns)


def deleting_a_namespace_makes_it_terminating(api_client):
    """A namespace with the `kubernetes` finalizer is answered Terminating, then goes once the
    namespace controller has emptied it (pkg/registry/core/namespace/storage/storage.go)."""
    core = client.CoreV1Api(api_client)
    name = namespace(api_client, "py-delns")
    answer = core.delete_namespace(name, **T)
    expect_eq(answer.get("kind"), "Namespace", "kind of the answer to deleting a namespace")
    expect_eq((answer.get("status") or {}).get("phase"), "Terminating", "phase in the answer")
    check((answer.get("metadata") or {}).get("deletionTimestamp"), "no deletionTimestamp in the answer")
    eventually(
        "the namespace to be gone", lambda: expect_api_error(404, "NotFound", core.read_namespace, name)
    )


def a_finalizer_holds_a_deleted_object(api_client):
    """A finalizer keeps a deleted object readable with a deletionTimestamp (and the delete
    answers the object, not a Status) until the finalizer is removed (store.go Delete)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-fin")
    try:
        meta = client.V1ObjectMeta(name="held", finalizers=["example.com/hold"])
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta), **T)
        answer = core.delete_namespaced_config_map("held", ns, **T)
        expect_eq(answer.get("kind"), "ConfigMap", "kind of the answer to deleting a held object")
        held = core.read_namespaced_config_map("held", ns, **T)
        check(held.metadata.deletion_timestamp, "a held object has no deletionTimestamp")
        core.patch_namespaced_config_map("held", ns, {"metadata": {"finalizers": None}}, **T)
        eventually(
            "the released object to be gone",
            lambda: expect_api_error(404, "NotFound", core.read_namespaced_config_map, "held", ns),
        )
    finally:
        drop_namespace(api_client, ns)


def pods_are_defaulted(api_client):
    """SetDefaults_PodSpec / _Container and the pod strategy (pkg/apis/core/v1/defaults.go)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-poddef")
    try:
        pod = core.create_namespaced_pod(ns, busybox_pod("d"), **T)
        spec = pod.spec
        expect_eq(
            (
                spec.restart_policy,
                spec.dns_policy,
                spec.scheduler_name,
                spec.termination_grace_period_seconds,
                spec.enable_service_links,
            ),
            ("Always", "ClusterFirst", "default-scheduler", 30, True),
            "pod spec defaults",
        )
        check(spec.security_context is not None, "spec.securityContext is not defaulted to {}")
        c = spec.containers[0]
        expect_eq(
            (c.termination_message_path, c.termination_message_policy, c.image_pull_policy),
            ("/dev/termination-log", "File", "IfNotPresent"),
            "container defaults of a tagged image",
        )
        latest = core.create_namespaced_pod(ns, busybox_pod("l", image="busybox"), **T)
        expect_eq(
            latest.spec.containers[0].image_pull_policy, "Always", "imagePullPolicy of an untagged image"
        )
        expect_eq(pod.status.qos_class, "BestEffort", "status.qosClass")
    finally:
        drop_namespace(api_client, ns)


def pods_pass_the_default_admission_plugins(api_client):
    """ServiceAccount (account and token volume), Priority and DefaultTolerationSeconds admission."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-podadm")
    try:
        eventually(
            "the default ServiceAccount",
            lambda: any(
                s.metadata.name == "default" for s in core.list_namespaced_service_account(ns, **T).items
            ),
        )
        spec = core.create_namespaced_pod(ns, busybox_pod("a"), **T).spec
        expect_eq(
            (spec.service_account_name, spec.priority, spec.preemption_policy),
            ("default", 0, "PreemptLowerPriority"),
            "admitted defaults",
        )
        expect_eq(
            sorted((t.key, t.effect, t.operator, t.toleration_seconds) for t in spec.tolerations or []),
            [
                ("node.kubernetes.io/not-ready", "NoExecute", "Exists", 300),
                ("node.kubernetes.io/unreachable", "NoExecute", "Exists", 300),
            ],
            "DefaultTolerationSeconds tolerations",
        )
        check(
            any((v.name or "").startswith("kube-api-access-") and v.projected for v in spec.volumes or []),
            "no projected kube-api-access-* token volume",
        )
    finally:
        drop_namespace(api_client, ns)


def pods_are_validated(api_client):
    """A pod without containers is 422 (pkg/apis/core/validation/validation.go ValidatePodSpec)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-podval")
    try:
        empty = client.V1Pod(metadata=client.V1ObjectMeta(name="empty"), spec=client.V1PodSpec(containers=[]))
        body = expect_api_error(422, "Invalid", core.create_namespaced_pod, ns, empty)
        causes = (body.get("details") or {}).get("causes") or []
        check(
            any(
                c.get("reason") == "FieldValueRequired" and c.get("field") == "spec.containers"
                for c in causes
            ),
            f"no FieldValueRequired cause on spec.containers: {causes}",
        )
    finally:
        drop_namespace(api_client, ns)


def a_scheduled_pod_is_deleted_gracefully(api_client):
    """A pod bound to a node gets deletionTimestamp and a 30 s grace period and stays readable
    (pod strategy CheckGracefulDelete, pkg/registry/core/pod/strategy.go)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-grace")
    try:
        core.create_namespaced_pod(ns, busybox_pod("bound", node="edge-1"), **T)
        answer = core.delete_namespaced_pod("bound", ns, **T)
        check(answer.metadata.deletion_timestamp, "the answer has no deletionTimestamp")
        expect_eq(answer.metadata.deletion_grace_period_seconds, 30, "deletionGracePeriodSeconds")
        check(
            core.read_namespaced_pod("bound", ns, **T).metadata.deletion_timestamp,
            "the pod is not Terminating",
        )
        core.delete_namespaced_pod("bound", ns, grace_period_seconds=0, **T)
        eventually(
            "the force-deleted pod to be gone",
            lambda: expect_api_error(404, "NotFound", core.read_namespaced_pod, "bound", ns),
        )
    finally:
        drop_namespace(api_client, ns)


def only_some_kinds_have_a_generation(api_client):
    """The generic store never sets metadata.generation; only strategies that track it do
    (ConfigMap, ServiceAccount, Namespace do not: pkg/registry/core/*/strategy.go;
    apiserver pkg/registry/rest/update.go:127 keeps the old value, 0)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-gen")
    try:
        expect_eq(core.read_namespace(ns, **T).metadata.generation, None, "a Namespace's generation")
        cm = core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="g")), **T
        )
        expect_eq(cm.metadata.generation, None, "a ConfigMap's generation")
        sa = core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="g")), **T
        )
        expect_eq(sa.metadata.generation, None, "a ServiceAccount's generation")
    finally:
        drop_namespace(api_client, ns)


def remaining_item_count_only_without_selectors(api_client):
    """remainingItemCount is left out under a label or field selector (apiserver
    pkg/storage/continue.go:111-117)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-rem")
    try:
        for i in range(3):
            core.create_namespaced_config_map(
                ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"r{i}", labels={"r": "y"})), **T
            )
        page = core.list_namespaced_config_map(ns, label_selector="r=y", limit=1, **T)
        check(page.metadata._continue, "no continue token")
        expect_eq(page.metadata.remaining_item_count, None, "remainingItemCount under a label selector")
    finally:
        drop_namespace(api_client, ns)


def emptied_maps_are_left_out(api_client):
    """A patch removing the last label leaves no `labels` key: the object is decoded into its
    Go type and re-encoded with omitempty."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-empty")
    try:
        meta = client.V1ObjectMeta(name="e", labels={"only": "one"})
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta), **T)
        out = core.patch_namespaced_config_map("e", ns, {"metadata": {"labels": {"only": None}}}, **T)
        expect_eq(out.metadata.labels, None, "labels after removing the last one")
    finally:
        drop_namespace(api_client, ns)


def deployments_are_served_defaulted_and_deleted_with_a_status(api_client):
    """apps/v1 Deployments: SetDefaults_Deployment (pkg/apis/apps/v1/defaults.go), pod template
    defaults, and a Status on delete (no ReturnDeletedObject in
    pkg/registry/apps/deployment/storage/storage.go)."""
    apps = client.AppsV1Api(api_client)
    ns = namespace(api_client, "py-deploy")
    try:
        labels = {"app": "web"}
        body = client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="busybox:1.36")]),
                ),
            ),
        )
        made = apps.create_namespaced_deployment(ns, body, **T)
        spec = made.spec
        expect_eq(
            (spec.replicas, spec.revision_history_limit, spec.progress_deadline_seconds),
            (1, 10, 600),
            "Deployment spec defaults",
        )
        rolling = spec.strategy.rolling_update if spec.strategy else None
        expect_eq(
            (
                spec.strategy and spec.strategy.type,
                rolling and rolling.max_surge,
                rolling and rolling.max_unavailable,
            ),
            ("RollingUpdate", "25%", "25%"),
            "Deployment strategy defaults",
        )
        expect_eq(spec.template.spec.restart_policy, "Always", "pod template restartPolicy default")
        expect_eq(made.metadata.generation, 1, "a new Deployment's generation")
        names = [d.metadata.name for d in apps.list_namespaced_deployment(ns, **T).items]
        expect_eq(names, ["web"], "deployments listed")
        answer = apps.delete_namespaced_deployment("web", ns, **T)
        expect_eq(answer.get("kind"), "Status", "kind of the answer to deleting a Deployment")
        expect_eq(
            answer.get("details"),
            {"name": "web", "group": "apps", "kind": "deployments", "uid": made.metadata.uid},
            "details of the answer to deleting a Deployment",
        )
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
            deleting_a_config_map_answers_a_status,
            deleting_a_namespace_makes_it_terminating,
            a_finalizer_holds_a_deleted_object,
            pods_are_defaulted,
            pods_pass_the_default_admission_plugins,
            pods_are_validated,
            a_scheduled_pod_is_deleted_gracefully,
            only_some_kinds_have_a_generation,
            remaining_item_count_only_without_selectors,
            emptied_maps_are_left_out,
            deployments_are_served_defaulted_and_deleted_with_a_status,
        ]
    )
