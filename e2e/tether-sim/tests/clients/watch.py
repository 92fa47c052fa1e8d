"""Watches through `kubernetes.watch.Watch`: events from a resourceVersion, selections, custom
objects, and 410 Gone for a resourceVersion older than the kept history.

The Rust test starts this double with a history of 20 events (a real server's watch cache
keeps more, but expires the same way). Everything here passes on the double today.
"""

import json
import queue
import threading
import time

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from harness import (
    REQUEST_TIMEOUT,
    Deviation,
    check,
    drop_namespace,
    expect_eq,
    namespace,
    run,
    unique,
    wait_for_crd,
)

T = {"_request_timeout": REQUEST_TIMEOUT}
# The server ends each watch after this long, so that a watch thread always finishes.
WATCH_SECONDS = 10


class Watcher:
    """A Watch.stream run on a thread, its events (type, name, model) queued as they arrive."""

    def __init__(self, func, *args, **kwargs):
        self.watch = watch.Watch()
        self.events = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(func, args, kwargs), daemon=True)
        self.thread.start()

    def _pump(self, func, args, kwargs):
        try:
            for event in self.watch.stream(func, *args, timeout_seconds=WATCH_SECONDS, **kwargs):
                obj = event["object"]
                name = obj["metadata"]["name"] if isinstance(obj, dict) else obj.metadata.name
                self.events.put((event["type"], name, obj))
        except Exception as error:  # noqa: BLE001 - handed to the checking thread
            self.events.put(("EXCEPTION", repr(error), error))

    def take(self, count, what):
        """The next `count` events, failing if they do not all arrive within the watch's life."""
        deadline = time.monotonic() + WATCH_SECONDS
        got = []
        while len(got) < count:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise Deviation(
                    f"{what}: only {[e[:2] for e in got]} arrived within {WATCH_SECONDS}s"
                ) from None
            if event[0] == "EXCEPTION":
                raise Deviation(f"{what}: the watch failed: {event[1]}")
            got.append(event)
        return got

    def close(self):
        """Stop the stream and wait for the thread (the server ends it at the latest)."""
        self.watch.stop()
        self.thread.join(WATCH_SECONDS + REQUEST_TIMEOUT)


def events_arrive_from_a_resource_version(api_client):
    """ADDED, MODIFIED, DELETED after a list's resourceVersion, objects typed as V1ConfigMap."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-watch")
    try:
        rv = core.list_namespaced_config_map(ns, **T).metadata.resource_version
        watcher = Watcher(core.list_namespaced_config_map, ns, resource_version=rv)
        try:
            core.create_namespaced_config_map(
                ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w"), data={"a": "1"}), **T
            )
            core.patch_namespaced_config_map("w", ns, {"data": {"a": "2"}}, **T)
            core.delete_namespaced_config_map("w", ns, **T)
            events = watcher.take(3, "events of one ConfigMap")
        finally:
            watcher.close()
        expect_eq([e[:2] for e in events], [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")], "events")
        check(all(isinstance(e[2], client.V1ConfigMap) for e in events), "events carry V1ConfigMap models")
        expect_eq(events[1][2].data, {"a": "2"}, "data of the MODIFIED event")
        versions = [int(e[2].metadata.resource_version) for e in events]
        check(
            versions == sorted(versions) and versions[0] > int(rv),
            f"event resourceVersions {versions} after {rv}",
        )
    finally:
        drop_namespace(api_client, ns)


def objects_entering_and_leaving_a_selection(api_client):
    """Under a label selector an object labelled in is ADDED and labelled out is DELETED."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-sel")
    try:
        rv = core.list_namespaced_config_map(ns, label_selector="watched=yes", **T).metadata.resource_version
        watcher = Watcher(
            core.list_namespaced_config_map, ns, resource_version=rv, label_selector="watched=yes"
        )
        try:
            meta = client.V1ObjectMeta
            core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=meta(name="quiet")), **T)
            core.patch_namespaced_config_map("quiet", ns, {"metadata": {"labels": {"watched": "yes"}}}, **T)
            core.patch_namespaced_config_map("quiet", ns, {"metadata": {"labels": {"watched": None}}}, **T)
            core.delete_namespaced_config_map("quiet", ns, **T)
            core.create_namespaced_config_map(
                ns, client.V1ConfigMap(metadata=meta(name="end", labels={"watched": "yes"})), **T
            )
            events = watcher.take(3, "events of a selection")
        finally:
            watcher.close()
        expect_eq(
            [e[:2] for e in events],
            [("ADDED", "quiet"), ("DELETED", "quiet"), ("ADDED", "end")],
            "events under a label selector",
        )
        # The new state, label gone (that `labels` is then left out: core.py emptied_maps_are_left_out).
        check(
            "watched" not in (events[1][2].metadata.labels or {}),
            f"a DELETED-by-selection event carries the old state: {events[1][2].metadata.labels}",
        )
    finally:
        drop_namespace(api_client, ns)


def custom_objects_are_watched_as_dicts(api_client):
    """A NetworkProfile watch through CustomObjectsApi: events with plain dict objects."""
    wait_for_crd(api_client, "networkprofiles.tether.dev")
    api = client.CustomObjectsApi(api_client)
    gvp = ("tether.dev", "v1alpha1", "networkprofiles")
    name = unique("py-wnp")
    rv = api.list_cluster_custom_object(*gvp, **T)["metadata"]["resourceVersion"]
    watcher = Watcher(api.list_cluster_custom_object, *gvp, resource_version=rv)
    try:
        body = {
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "NetworkProfile",
            "metadata": {"name": name},
            "spec": {"priority": 1},
        }
        api.create_cluster_custom_object(*gvp, body, **T)
        api.patch_cluster_custom_object_status(*gvp, name, {"status": {"matchedPods": 2}}, **T)
        api.delete_cluster_custom_object(*gvp, name, **T)
        events = watcher.take(3, "events of a NetworkProfile")
    finally:
        watcher.close()
    expect_eq([e[:2] for e in events], [("ADDED", name), ("MODIFIED", name), ("DELETED", name)], "events")
    check(all(isinstance(e[2], dict) for e in events), "custom object events carry dicts")
    # deploy/crd.yaml defaults status.nodes to [] (apiextensions-apiserver
    # pkg/apiserver/schema/defaulting/algorithm.go).
    expect_eq(events[1][2].get("status"), {"matchedPods": 2, "nodes": []}, "status in the MODIFIED event")


def an_expired_resource_version_is_410_gone(api_client):
    """Beyond the kept history: HTTP 200 then an ERROR event with a 410 Expired Status, which
    Watch.stream raises as ApiException(410) (with a timeout it does not retry)."""
    core = client.CoreV1Api(api_client)
    ns = namespace(api_client, "py-gone")
    try:
        old = core.list_namespaced_config_map(ns, **T).metadata.resource_version
        for i in range(30):
            core.create_namespaced_config_map(
                ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{i}")), **T
            )

        raw = core.list_namespaced_config_map(
            ns, watch=True, resource_version=old, timeout_seconds=WATCH_SECONDS, _preload_content=False, **T
        )
        try:
            expect_eq(raw.status, 200, "HTTP status of a watch from an expired resourceVersion")
            line = next(line for line in raw.read().splitlines() if line.strip())
        finally:
            raw.release_conn()
        event = json.loads(line)
        expect_eq(event.get("type"), "ERROR", "type of the first event")
        status = event.get("object") or {}
        expect_eq(
            (status.get("kind"), status.get("status"), status.get("reason"), status.get("code")),
            ("Status", "Failure", "Expired", 410),
            "the ERROR event's Status",
        )
        check(
            status.get("message", "").startswith(f"too old resource version: {old} ("),
            f"message of the 410: {status.get('message')!r}",
        )

        try:
            for _ in watch.Watch().stream(
                core.list_namespaced_config_map, ns, resource_version=old, timeout_seconds=WATCH_SECONDS
            ):
                raise Deviation("an event arrived from an expired resourceVersion")
        except ApiException as error:
            expect_eq(error.status, 410, "status of the ApiException Watch.stream raises")
            check("Expired" in str(error.reason), f"reason of the ApiException: {error.reason!r}")
        else:
            raise Deviation("Watch.stream from an expired resourceVersion ended without 410")
    finally:
        drop_namespace(api_client, ns)


if __name__ == "__main__":
    run(
        [
            events_arrive_from_a_resource_version,
            objects_entering_and_leaving_a_selection,
            custom_objects_are_watched_as_dicts,
            an_expired_resource_version_is_410_gone,
        ]
    )
