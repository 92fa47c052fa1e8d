"""Shared helpers for the scripts that judge tether-sim with the official Python client.

Each script lists checks (functions taking a `kubernetes.client.ApiClient`); `run` calls every
one, prints `ok` or the deviation from what a real kube-apiserver v1.34 answers, and exits
non-zero if any check deviated. The server and its admin kubeconfig ($KUBECONFIG) come from the
Rust test that starts the script.
"""

import json
import sys
import time
import traceback
import uuid

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

# Every request gives up after this long: a hang is a deviation, not a stuck test.
REQUEST_TIMEOUT = 15


class Deviation(Exception):
    """The double answered otherwise than a real kube-apiserver v1.34 does."""


def check(condition, what):
    """Raise a Deviation saying `what` unless `condition` holds."""
    if not condition:
        raise Deviation(what)


def expect_eq(got, want, what):
    """Raise a Deviation unless `got == want`, showing both."""
    if got != want:
        raise Deviation(f"{what}: got {got!r}, a real server gives {want!r}")


def unique(prefix):
    """A fresh DNS-label name, so that checks never meet each other's objects."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def eventually(what, probe, timeout=10.0):
    """Poll `probe` until it returns something truthy; a Deviation after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Deviation(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def status_of(error):
    """The Status body of an ApiException, parsed as a client would parse it."""
    try:
        body = json.loads(error.body)
    except (TypeError, ValueError) as cause:
        raise Deviation(f"HTTP {error.status} body is not a JSON Status: {error.body!r}") from cause
    expect_eq(body.get("kind"), "Status", f"kind of the HTTP {error.status} body")
    expect_eq(body.get("apiVersion"), "v1", f"apiVersion of the HTTP {error.status} body")
    expect_eq(body.get("status"), "Failure", f"status of the HTTP {error.status} body")
    expect_eq(body.get("code"), error.status, "Status.code against the HTTP status")
    return body


def expect_api_error(code, reason, call, *args, **kwargs):
    """Call the generated API and require it to raise ApiException `code` with Status `reason`.

    Returns the parsed Status for further checks on message and details.
    """
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    try:
        answer = call(*args, **kwargs)
    except ApiException as error:
        body = status_of(error)
        expect_eq(error.status, code, f"HTTP status of {call.__name__}")
        expect_eq(body.get("reason"), reason, f"Status.reason of {call.__name__}")
        return body
    raise Deviation(f"{call.__name__} succeeded ({answer!r:.200}); a real server answers {code} {reason}")


def namespace(api_client, prefix):
    """Create a fresh namespace; returns its name. `drop_namespace` removes it."""
    name = unique(prefix)
    client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name)),
        _request_timeout=REQUEST_TIMEOUT,
    )
    return name


def drop_namespace(api_client, name):
    """Delete a namespace made by `namespace`, tolerating that it is already gone."""
    try:
        client.CoreV1Api(api_client).delete_namespace(name, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as error:
        if error.status != 404:
            raise


def wait_for_crd(api_client, name):
    """Wait until a CRD is Established, as any client must before using its kind."""
    api = client.ApiextensionsV1Api(api_client)

    def established():
        crd = api.read_custom_resource_definition(name, _request_timeout=REQUEST_TIMEOUT)
        conditions = (crd.status and crd.status.conditions) or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    eventually(f"CRD {name} to be Established", established)


def run(checks):
    """Run every check against $KUBECONFIG's server; exit 1 if any deviated."""
    config.load_kube_config()
    failed = []
    for one in checks:
        api_client = client.ApiClient()
        try:
            one(api_client)
            print(f"ok   {one.__name__}")
        except Deviation as deviation:
            failed.append(one.__name__)
            print(f"FAIL {one.__name__}: {deviation}")
        except Exception:  # noqa: BLE001 - an unexpected client error is a deviation too
            failed.append(one.__name__)
            print(f"FAIL {one.__name__}: unexpected error\n{traceback.format_exc()}")
        finally:
            api_client.close()
    if failed:
        print(f"{len(failed)} of {len(checks)} checks deviate from kube-apiserver v1.34: {', '.join(failed)}")
        sys.exit(1)
    print(f"all {len(checks)} checks behave as against kube-apiserver v1.34")
