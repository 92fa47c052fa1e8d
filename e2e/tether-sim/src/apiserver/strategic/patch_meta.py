#!/usr/bin/env python3
"""Writes the strategic-merge-patch metadata of the built-in kinds the API double serves.

kube-apiserver patches built-in kinds with strategicpatch.NewPatchMetaFromStruct: the
`patchStrategy` / `patchMergeKey` struct tags of the Go types, found by reflection (the same
tags openapi-gen turns into `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`).
This reads those tags from the Go sources of k8s.io/api, k8s.io/apimachinery,
k8s.io/apiextensions-apiserver and k8s.io/kube-aggregator v0.34.1 and writes, per struct type
reachable from a served kind, every field whose JSON value is an object or an array: its type,
whether it is a list, its strategies and its merge key.

usage: patch_meta.py <root holding k8s.io/...> > patch_meta.json
"""

import json
import os
import re
import sys

ROOT = sys.argv[1]

PACKAGES = [
    "k8s.io/api/core/v1",
    "k8s.io/api/rbac/v1",
    "k8s.io/api/coordination/v1",
    "k8s.io/api/flowcontrol/v1",
    "k8s.io/api/admissionregistration/v1",
    "k8s.io/api/events/v1",
    "k8s.io/api/apps/v1",
    "k8s.io/api/batch/v1",
    "k8s.io/api/discovery/v1",
    "k8s.io/api/autoscaling/v1",
    "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1",
    "k8s.io/apimachinery/pkg/apis/meta/v1",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1",
    "k8s.io/apimachinery/pkg/api/resource",
    "k8s.io/apimachinery/pkg/util/intstr",
    "k8s.io/apimachinery/pkg/runtime",
]

# (group, kind) -> (package, Go type), as the double serves them (builtins.rs).
KINDS = [
    ("", "Namespace", "k8s.io/api/core/v1", "Namespace"),
    ("", "Pod", "k8s.io/api/core/v1", "Pod"),
    ("", "Node", "k8s.io/api/core/v1", "Node"),
    ("", "Event", "k8s.io/api/core/v1", "Event"),
    ("", "ConfigMap", "k8s.io/api/core/v1", "ConfigMap"),
    ("", "ServiceAccount", "k8s.io/api/core/v1", "ServiceAccount"),
    ("events.k8s.io", "Event", "k8s.io/api/events/v1", "Event"),
    ("rbac.authorization.k8s.io", "Role", "k8s.io/api/rbac/v1", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole", "k8s.io/api/rbac/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io", "RoleBinding", "k8s.io/api/rbac/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding", "k8s.io/api/rbac/v1", "ClusterRoleBinding"),
    ("apiextensions.k8s.io", "CustomResourceDefinition",
     "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1", "CustomResourceDefinition"),
    ("coordination.k8s.io", "Lease", "k8s.io/api/coordination/v1", "Lease"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema", "k8s.io/api/flowcontrol/v1", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration", "k8s.io/api/flowcontrol/v1",
     "PriorityLevelConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy",
     "k8s.io/api/admissionregistration/v1", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding",
     "k8s.io/api/admissionregistration/v1", "ValidatingAdmissionPolicyBinding"),
    ("", "Service", "k8s.io/api/core/v1", "Service"),
    ("", "Endpoints", "k8s.io/api/core/v1", "Endpoints"),
    ("", "ReplicationController", "k8s.io/api/core/v1", "ReplicationController"),
    ("apps", "Deployment", "k8s.io/api/apps/v1", "Deployment"),
    ("apps", "DaemonSet", "k8s.io/api/apps/v1", "DaemonSet"),
    ("apps", "ReplicaSet", "k8s.io/api/apps/v1", "ReplicaSet"),
    ("apps", "StatefulSet", "k8s.io/api/apps/v1", "StatefulSet"),
    ("apps", "ControllerRevision", "k8s.io/api/apps/v1", "ControllerRevision"),
    ("batch", "Job", "k8s.io/api/batch/v1", "Job"),
    ("batch", "CronJob", "k8s.io/api/batch/v1", "CronJob"),
    ("discovery.k8s.io", "EndpointSlice", "k8s.io/api/discovery/v1", "EndpointSlice"),
    ("autoscaling", "Scale", "k8s.io/api/autoscaling/v1", "Scale"),
    ("apiregistration.k8s.io", "APIService",
     "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1", "APIService"),
]

SHORT = {
    "k8s.io/api/core/v1": "core/v1",
    "k8s.io/api/rbac/v1": "rbac/v1",
    "k8s.io/api/coordination/v1": "coordination/v1",
    "k8s.io/api/flowcontrol/v1": "flowcontrol/v1",
    "k8s.io/api/admissionregistration/v1": "admissionregistration/v1",
    "k8s.io/api/events/v1": "events/v1",
    "k8s.io/api/apps/v1": "apps/v1",
    "k8s.io/api/batch/v1": "batch/v1",
    "k8s.io/api/discovery/v1": "discovery/v1",
    "k8s.io/api/autoscaling/v1": "autoscaling/v1",
    "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1": "apiregistration/v1",
    "k8s.io/apimachinery/pkg/apis/meta/v1": "meta/v1",
    "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1": "apiextensions/v1",
}

TYPE_DECL = re.compile(r"^type\s+(\w+)\s+(.*)$")
MARSHAL = re.compile(r"^func\s+\(\w+\s+\*?(\w+)\)\s+MarshalJSON\(")


def parse_package(pkg):
    """Struct fields, named non-struct types, custom-marshalled types, import aliases."""
    d = os.path.join(ROOT, pkg)
    structs, named, custom, imports = {}, {}, set(), {}
    for f in sorted(os.listdir(d)):
        if not f.endswith(".go") or f.endswith("_test.go") or f.startswith("zz_generated"):
            continue
        lines = open(os.path.join(d, f), encoding="utf-8").read().split("\n")
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            m = re.match(r'^(?:import\s+)?(\w+)?\s*"([\w\./-]+)"$', line)
            if m and ("/" in m.group(2)):
                alias = m.group(1) or m.group(2).rsplit("/", 1)[1]
                imports[alias] = m.group(2)
            m = MARSHAL.match(line)
            if m:
                custom.add(m.group(1))
            m = TYPE_DECL.match(line)
            if m:
                name, rest = m.group(1), m.group(2).strip()
                if rest.startswith("struct {"):
                    fields = []
                    comment = False
                    i += 1
                    while lines[i].strip() != "}":
                        fl = lines[i].strip()
                        i += 1
                        if fl.startswith("/*"):
                            comment = True
                        if comment:
                            comment = "*/" not in fl
                            continue
                        if not fl or fl.startswith("//"):
                            continue
                        fields.append(fl)
                    structs[name] = fields
                else:
                    named[name] = rest.split("//")[0].strip()
            i += 1
    return structs, named, custom, imports


PKGS = {p: parse_package(p) for p in PACKAGES}


def tag_value(tags, key):
    m = re.search(key + r':"([^"]*)"', tags or "")
    return m.group(1) if m else None


def resolve(pkg, texpr):
    """A Go type expression -> ("struct", pkg, name) | ("map",) | ("list", elem) | ("scalar",)."""
    texpr = texpr.lstrip("*")
    if texpr.startswith("[]"):
        return ("list", resolve(pkg, texpr[2:]))
    if texpr.startswith("map["):
        return ("map",)
    if "." in texpr:
        alias, name = texpr.split(".", 1)
        target = PKGS[pkg][3].get(alias)
        if target not in PKGS:
            return ("scalar",)
        return resolve(target, name)
    structs, named, custom, _ = PKGS[pkg]
    if texpr in custom:
        return ("scalar",)
    if texpr in structs:
        return ("struct", pkg, texpr)
    if texpr in named:
        return resolve(pkg, named[texpr])
    return ("scalar",)


def fields_of(pkg, name):
    """JSON name -> (type, strategies, merge key), embedded structs flattened."""
    out = {}
    for fl in PKGS[pkg][0][name]:
        code, _, tags = fl.partition("`")
        tags = "`" + tags if tags else None
        tokens = code.split()
        if len(tokens) == 1:
            fname, texpr = None, tokens[0]
        elif len(tokens) == 2:
            fname, texpr = tokens
        else:
            raise SystemExit(f"cannot parse field of {pkg}.{name}: {fl!r}")
        j = tag_value(tags, "json")
        if fname is None and (j is None or j.split(",")[0] == ""):
            t = resolve(pkg, texpr)
            if t[0] == "struct":
                for k, v in fields_of(t[1], t[2]).items():
                    out.setdefault(k, v)
            continue
        if fname is None:
            fname = texpr.lstrip("*").rsplit(".", 1)[-1]
        if j is None:
            jname = fname
        else:
            jname = j.split(",")[0]
            if jname == "-":
                continue
            if jname == "":
                jname = fname
        out[jname] = (resolve(pkg, texpr), tag_value(tags, "patchStrategy"),
                      tag_value(tags, "patchMergeKey"))
    return out


types = {}


def type_id(pkg, name):
    return f"{SHORT[pkg]}.{name}"


def visit(pkg, name):
    tid = type_id(pkg, name)
    if tid in types:
        return
    types[tid] = {}
    for jname, (t, strategy, key) in sorted(fields_of(pkg, name).items()):
        entry = {}
        elem = t
        if t[0] == "list":
            entry["list"] = True
            elem = t[1]
        if elem[0] == "struct":
            entry["type"] = type_id(elem[1], elem[2])
            visit(elem[1], elem[2])
        elif elem[0] == "map":
            entry["type"] = "map"
        elif elem[0] == "list":
            entry["type"] = "list"
        if strategy:
            entry["strategy"] = strategy
        if key:
            entry["key"] = key
        if entry:
            types[tid][jname] = entry


kinds = {}
for group, kind, pkg, name in KINDS:
    visit(pkg, name)
    kinds[f"{group}/{kind}"] = type_id(pkg, name)

json.dump({
    "source": "Go struct tags patchStrategy/patchMergeKey of kubernetes/api, kubernetes/apimachinery, "
              "kubernetes/apiextensions-apiserver and kubernetes/kube-aggregator at tag v0.34.1 (the copies openshift/openshift-apiserver "
              "56aa2d96 vendors for k8s.io/kubernetes v1.34.1 are identical); regenerate with patch_meta.py",
    "kinds": kinds,
    "types": types,
}, sys.stdout, indent=1, sort_keys=True)
print()
