#!/usr/bin/env python3
"""Writes the seed inputs of every target into fuzz/corpus/<target>/seed-*, from the inputs
the crates' own tests use (cni/src/config.rs, invocation.rs and spec.rs tests,
cni/tests/bad_input.rs, agent/src/serve/socket/tests.rs, agent/src/state/*/tests.rs,
e2e/tether-sim/tests/). Run from anywhere: python3 fuzz/seeds/make.py"""
import hashlib
import json
import pathlib

corpus = pathlib.Path(__file__).resolve().parent.parent / "corpus"


def put(target, name, data):
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


def j(v):
    return json.dumps(v, separators=(",", ":"))


# plugin_config: stdin NUL CNI_COMMAND NUL CNI_CONTAINERID NUL CNI_NETNS NUL CNI_IFNAME NUL CNI_ARGS NUL CNI_PATH
prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}],
        "ips": [{"address": "10.0.0.2/24", "interface": 0}]}
confs = {
    "minimal": {"cniVersion": "0.3.1", "name": "kindnet", "type": "tether"},
    "every-key": {"cniVersion": "1.1.0", "name": "n", "type": "tether", "agentSocket": "/tmp/a.sock",
                  "agentTimeoutMs": 150, "failurePolicy": "fail", "stateDir": "/tmp/st",
                  "prevResult": {"cniVersion": "1.1.0"}, "runtimeConfig": {"x": 1},
                  "cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]},
    "chained": {"cniVersion": "1.0.0", "name": "n", "type": "tether", "agentSocket": "/run/tether/agent.sock",
                "prevResult": prev},
    "bad-prev": {"cniVersion": "1.0.0", "name": "n", "prevResult": {"ips": [{"address": "not an address"}]}},
    "bad-timeout": {"cniVersion": "1.0.0", "name": "n", "agentTimeoutMs": "soon"},
    "old-version": {"cniVersion": "0.2.0", "name": "n"},
    "relative-socket": {"cniVersion": "1.0.0", "name": "n", "agentSocket": "rel.sock"},
}
envs = {
    "add": ["ADD", "abc123", "/var/run/netns/p1", "eth0",
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=u-1",
            "/opt/cni/bin:/usr/lib/cni"],
    "del": ["DEL", "abc123", "", "eth0", "K8S_POD_NAME", "/opt/cni/bin"],
    "check": ["CHECK", "-abc", "netns/p1", "eth/0", "=x", "/opt/cni/bin"],
    "gc": ["GC"],
    "status": ["STATUS"],
    "version": ["VERSION"],
}
for (cname, conf), (ename, env) in zip(confs.items(), list(envs.items()) * 2):
    put("plugin_config", f"{cname}-{ename}", "\0".join([j(conf)] + env))
put("plugin_config", "not-json-add", "\0".join(["not json"] + envs["add"]))

# result_conversion: from-version byte, to-version byte, JSON (versions: 0.3.0 0.3.1 0.4.0 1.0.0 1.1.0)
bridge = {"cniVersion": "0.3.1",
          "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:01"},
                         {"name": "veth1", "mac": "aa:bb:cc:dd:ee:02"},
                         {"name": "eth0", "mac": "aa:bb:cc:dd:ee:03", "sandbox": "/var/run/netns/p"}],
          "ips": [{"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 2},
                  {"version": "6", "address": "fd00::5/64", "interface": 2}],
          "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
          "dns": {"nameservers": ["10.96.0.10"]}}
new = {"cniVersion": "1.1.0",
       "interfaces": [{"name": "eth0", "sandbox": "/n", "mtu": 1400, "socketPath": "/s", "pciID": "0000:01:00.0"}],
       "ips": [{"address": "fd00::5/64", "interface": 0}],
       "routes": [{"dst": "::/0", "gw": "fd00::1", "mtu": 1300, "table": 100, "scope": 0}]}
results = {"bridge-0.3.1": (1, bridge), "new-1.1.0": (4, new), "empty": (3, {"cniVersion": "1.0.0"}),
           "dangling": (3, {"interfaces": [{"name": "eth0"}], "ips": [{"address": "10.1.0.5/24", "interface": 1}]})}
for name, (v, r) in results.items():
    for to in range(5):
        put("result_conversion", f"{name}-to-{to}", bytes([v, to]) + j(r).encode())

# socket_request: raw bytes on the agent's socket
def post(body, path="/v1/cni/add"):
    return (f"POST {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}")

add = {"containerId": "c1", "ifname": "eth0", "netns": "/var/run/netns/p1",
       "podNamespace": "default", "podName": "web-0", "podUid": "u-1"}
put("socket_request", "add-known", post(j(add)))
put("socket_request", "add-unknown", post(j(dict(add, podName="other"))))
put("socket_request", "add-no-name", post(j(dict(add, podName=""))))
put("socket_request", "add-not-json", post("{nope"))
put("socket_request", "healthz", "GET /v1/healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
put("socket_request", "wrong-method", "GET /v1/cni/add HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
put("socket_request", "no-such-path", "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
body = j(add)
put("socket_request", "chunked",
    f"POST /v1/cni/add HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    f"{len(body):x}\r\n{body}\r\n0\r\n\r\n")
put("socket_request", "too-large-declared",
    "POST /v1/cni/add HTTP/1.1\r\nHost: a\r\nContent-Length: 999999\r\n\r\n{}")
put("socket_request", "half-request", "POST /v1/cni/add HTTP/1.1\r\nHost: a\r\n")

# state_files: selector byte (low 3 bits: 0 cache, 2 journal, 4 outbox journal, 6 outbox v1;
# bit 3: the harness seals the content with valid checksums), then the content
def framed(magic, version, payload):
    return f"{magic} v{version} {len(payload)} {hashlib.sha256(payload).hexdigest()}\n".encode() + payload

def line(record):
    data = j(record).encode()
    return hashlib.sha256(data).hexdigest()[:16].encode() + b" " + data + b"\n"

profile = {"apiVersion": "tether.dev/v1alpha1", "kind": "NetworkProfile",
           "metadata": {"name": "fast", "generation": 3},
           "spec": {"priority": 1, "podSelector": {"matchLabels": {"app": "web"}}, "mtu": 1400,
                    "bandwidth": {"ingressRate": "10M", "ingressBurst": "1M"}, "sysctls": {"net.ipv4.tcp_syncookies": "1"}}}
cache = {"node_name": "edge-1", "node": {"name": "edge-1", "labels": {"zone": "a"}},
         "pods": [{"namespace": "default", "name": "web-0", "uid": "u-1", "labels": {"app": "web"}}],
         "profiles": [profile]}
put("state_files", "cache-valid", b"\x00" + framed("TETHER-AGENT-CACHE", 1, j(cache).encode()))
put("state_files", "cache-sealed", b"\x08" + j(cache).encode())
put("state_files", "cache-other-node", b"\x08" + j(dict(cache, node_name="edge-2")).encode())
put("state_files", "cache-newer", b"\x00" + framed("TETHER-AGENT-CACHE", 9, b"{}"))
event = {"kind": "profileApplied", "namespace": "default", "podName": "web-0", "podUid": "u-1",
         "profile": "fast", "generation": 3, "note": "mtu 1400", "time": "2024-01-01T00:00:00Z"}
status = {"kind": "nodeStatus", "profile": "fast",
          "status": {"nodeName": "edge-1", "matchedPods": 1, "observedGeneration": 3}}
records = [{"op": "queued", "seq": 0, "write": event}, {"op": "queued", "seq": 1, "write": status},
           {"op": "settled", "seq": 0, "key": "event/default/web-0/u-1/fast/3", "confirmed": True},
           {"op": "confirmed", "key": "event/default/web-0/u-1/fast/2"}, {"op": "next", "seq": 5}]
journal = b"TETHER-AGENT-OUTBOX v2\n" + b"".join(line(r) for r in records)
put("state_files", "outbox-journal", b"\x04" + journal)
put("state_files", "outbox-journal-torn", b"\x04" + journal[:-7])
put("state_files", "outbox-sealed", b"\x0c" + b"\n".join(j(r).encode() for r in records))
put("state_files", "outbox-newer", b"\x04" + b"TETHER-AGENT-OUTBOX v9\n")
legacy = {"next": 2, "entries": {"event/default/web-0/u-1/fast/3": [0, event], "status/fast": [1, status]}}
put("state_files", "outbox-v1", b"\x06" + framed("TETHER-AGENT-OUTBOX", 1, j(legacy).encode()))
put("state_files", "outbox-v1-sealed", b"\x0e" + j(legacy).encode())
put("state_files", "journal-sealed", b"\x0a" + b'{"a":1}\n[2]\n"three"\ntorn')
put("state_files", "journal-foreign", b"\x02" + b"something else\n")

# patch_select: byte 0 (bit 7: selectors; else bits 0-1 patch type merge/json/strategic/apply,
# bits 2-3 object pod/node/configmap/pod status, bit 4 force), then the body or
# label-selector NUL field-selector
patches = {
    "merge-pod-labels": (0x00, j({"metadata": {"labels": {"app": "db", "tier": None}}})),
    "json-pod-add": (0x01, j([{"op": "add", "path": "/metadata/labels/x", "value": "y"},
                              {"op": "test", "path": "/spec/nodeName", "value": "edge-1"},
                              {"op": "remove", "path": "/spec/volumes/0"}])),
    "strategic-pod-containers": (0x02, j({"spec": {"containers": [{"name": "main", "image": "busybox:2"},
                                                                    {"name": "side", "image": "pause"}],
                                                    "$setElementOrder/containers": [{"name": "side"}, {"name": "main"}]}})),
    "strategic-delete": (0x02, j({"spec": {"volumes": [{"name": "data", "$patch": "delete"}]}})),
    "apply-pod": (0x03, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p0\n  labels:\n    owner: fuzz\nspec:\n  containers:\n  - name: main\n    image: busybox:3\n"),
    "apply-node-force": (0x17, "apiVersion: v1\nkind: Node\nmetadata:\n  name: edge-1\nspec:\n  unschedulable: true\n"),
    "merge-configmap": (0x08, j({"data": {"a": None, "c": "3"}})),
    "json-configmap-replace": (0x09, j([{"op": "replace", "path": "/data/a", "value": "9"},
                                        {"op": "move", "from": "/data/b", "path": "/data/d"}])),
    "strategic-node-conditions": (0x06, j({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})),
    "merge-pod-status": (0x0c, j({"status": {"phase": "Succeeded"}})),
    "apply-configmap": (0x0b, j({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm0"}, "data": {"a": "2"}})),
}
for name, (sel, body) in patches.items():
    put("patch_select", name, bytes([sel]) + body.encode())
selectors = {
    "pods-app": (0x80, "app=web", ""),
    "pods-set": (0x80, "app in (web,db),tier!=core,!missing", "status.phase!=Pending"),
    "pods-node": (0x80, "", "spec.nodeName=edge-1,metadata.name!=p2"),
    "pods-exists": (0x80, "tier", "metadata.namespace=default"),
    "pods-bad-field": (0x80, "", "spec.containers=main"),
    "nodes-label": (0x81, "openyurt.io/is-edge-worker=true", "spec.unschedulable=false"),
    "nodes-notin": (0x81, "zone notin (a,b)", "metadata.name=edge-1"),
}
for name, (sel, label, field) in selectors.items():
    put("patch_select", name, bytes([sel]) + f"{label}\0{field}".encode())
