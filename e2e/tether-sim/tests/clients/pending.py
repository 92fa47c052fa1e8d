"""Real kube-apiserver v1.34 behaviours the double did not have when this was written: each
check fails on the double of that day. Some are being added on other branches (delete answers
per kind, pod defaults, finalizers); the others are differences this client found.
Sources are at kubernetes v1.34 / the staging repositories at v0.34.0.
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
    wait_for_crd,
)

T = {"_request_timeout": REQUEST_TIMEOUT}
GVP = ("tether.dev", "v1alpha1", "networkprofiles")


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
            deleting_a_config_map_answers_a_status,
            deleting_a_custom_object_answers_a_status,
            deleting_a_namespace_makes_it_terminating,
            a_finalizer_holds_a_deleted_object,
            pods_are_defaulted,
            pods_pass_the_default_admission_plugins,
            pods_are_validated,
            a_scheduled_pod_is_deleted_gracefully,
            only_some_kinds_have_a_generation,
            custom_objects_are_defaulted,
            remaining_item_count_only_without_selectors,
            apply_conflict_causes_carry_a_reason,
            emptied_maps_are_left_out,
            deployments_are_served_defaulted_and_deleted_with_a_status,
        ]
    )
