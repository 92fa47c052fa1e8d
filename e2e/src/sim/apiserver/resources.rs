//! The served resource types: built-ins plus one per served version of every CRD.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Verbs of an ordinary stored resource.
pub const STORED_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One served resource (group, version, plural) and what the server knows about it.
#[derive(Clone, Debug)]
pub struct ResourceType {
    /// API group (`""` for core).
    pub group: String,
    /// API version within the group.
    pub version: String,
    /// Plural resource name used in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Object kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Whether the `status` subresource is served.
    pub status: bool,
    /// Short names for discovery.
    pub short_names: Vec<String>,
    /// False for review types that are only created, never stored.
    pub stored: bool,
    /// List fields merged as maps by server-side apply: path of field names → key fields.
    pub list_map_keys: HashMap<Vec<String>, Vec<String>>,
    /// Field selector labels the server accepts besides metadata.name/namespace.
    pub field_labels: Vec<String>,
    /// Whether this resource comes from a CRD.
    pub custom: bool,
    /// The CRD version's `openAPIV3Schema` (null for built-ins).
    pub schema: Value,
}

impl ResourceType {
    /// The storage identity: `group/plural` (versions share storage; events.k8s.io
    /// Events are stored with core Events).
    pub fn id(&self) -> String {
        if self.group == "events.k8s.io" {
            return "/events".into();
        }
        format!("{}/{}", self.group, self.plural)
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The verbs served.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.stored {
            STORED_VERBS.to_vec()
        } else {
            vec!["create"]
        }
    }
}

fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    status: bool,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        status,
        short_names: Vec::new(),
        stored: true,
        list_map_keys: HashMap::new(),
        field_labels: Vec::new(),
        custom: false,
        schema: Value::Null,
    }
}

fn keys(pairs: &[(&str, &str)]) -> HashMap<Vec<String>, Vec<String>> {
    pairs
        .iter()
        .map(|(path, key)| {
            (
                path.split('.').map(String::from).collect(),
                vec![key.to_string()],
            )
        })
        .collect()
}

fn labels(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

/// The built-in resource types.
pub fn builtins() -> Vec<ResourceType> {
    let mut ns = builtin("", "v1", "namespaces", "Namespace", false, true);
    ns.short_names = labels(&["ns"]);
    ns.field_labels = labels(&["status.phase"]);
    let mut pods = builtin("", "v1", "pods", "Pod", true, true);
    pods.short_names = labels(&["po"]);
    pods.field_labels = labels(&[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ]);
    pods.list_map_keys = keys(&[
        ("spec.containers", "name"),
        ("spec.initContainers", "name"),
        ("spec.volumes", "name"),
        ("status.conditions", "type"),
    ]);
    let mut nodes = builtin("", "v1", "nodes", "Node", false, true);
    nodes.short_names = labels(&["no"]);
    nodes.field_labels = labels(&["spec.unschedulable"]);
    nodes.list_map_keys = keys(&[("status.conditions", "type")]);
    let mut events = builtin("", "v1", "events", "Event", true, false);
    events.short_names = labels(&["ev"]);
    events.field_labels = labels(&[
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ]);
    let mut new_events = builtin("events.k8s.io", "v1", "events", "Event", true, false);
    new_events.short_names = labels(&["ev"]);
    new_events.field_labels = labels(&[
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "reason",
        "reportingController",
        "type",
    ]);
    let mut cm = builtin("", "v1", "configmaps", "ConfigMap", true, false);
    cm.short_names = labels(&["cm"]);
    let mut sa = builtin("", "v1", "serviceaccounts", "ServiceAccount", true, false);
    sa.short_names = labels(&["sa"]);
    let rbac = "rbac.authorization.k8s.io";
    let mut crd = builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        true,
    );
    crd.short_names = labels(&["crd", "crds"]);
    let fc = "flowcontrol.apiserver.k8s.io";
    let authz = "authorization.k8s.io";
    let mut ssar = builtin(
        authz,
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        false,
        false,
    );
    ssar.stored = false;
    let mut sar = builtin(
        authz,
        "v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        false,
        false,
    );
    sar.stored = false;
    vec![
        ns,
        pods,
        nodes,
        events,
        new_events,
        cm,
        sa,
        builtin(rbac, "v1", "roles", "Role", true, false),
        builtin(rbac, "v1", "clusterroles", "ClusterRole", false, false),
        builtin(rbac, "v1", "rolebindings", "RoleBinding", true, false),
        builtin(
            rbac,
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            false,
        ),
        crd,
        builtin(fc, "v1", "flowschemas", "FlowSchema", false, true),
        builtin(
            fc,
            "v1",
            "prioritylevelconfigurations",
            "PriorityLevelConfiguration",
            false,
            true,
        ),
        ssar,
        sar,
    ]
}

fn collect_list_maps(
    schema: &Value,
    path: &mut Vec<String>,
    out: &mut HashMap<Vec<String>, Vec<String>>,
) {
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
        let ks: Vec<String> = schema
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if !ks.is_empty() {
            out.insert(path.clone(), ks);
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, sub) in props {
            path.push(k.clone());
            collect_list_maps(sub, path, out);
            path.pop();
        }
    }
    if let Some(items) = schema.get("items") {
        collect_list_maps(items, path, out);
    }
}

/// The resource types one CRD object declares (one per served version).
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let names = &spec["names"];
    let mut out = Vec::new();
    for v in spec["versions"].as_array().into_iter().flatten() {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let mut list_map_keys = HashMap::new();
        collect_list_maps(
            &v["schema"]["openAPIV3Schema"],
            &mut Vec::new(),
            &mut list_map_keys,
        );
        let kind = s(&names["kind"]);
        out.push(ResourceType {
            group: s(&spec["group"]),
            version: s(&v["name"]),
            plural: s(&names["plural"]),
            singular: names["singular"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| kind.to_lowercase()),
            kind,
            namespaced: spec["scope"].as_str() == Some("Namespaced"),
            status: v["subresources"].get("status").is_some(),
            short_names: names["shortNames"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            stored: true,
            list_map_keys,
            field_labels: Vec::new(),
            custom: true,
            schema: v["schema"]["openAPIV3Schema"].clone(),
        });
    }
    out
}

/// All served resource types; CRD-backed ones are replaced as CRDs change.
#[derive(Debug)]
pub struct Registry {
    builtin: Vec<ResourceType>,
    crds: BTreeMap<String, Vec<ResourceType>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            builtin: builtins(),
            crds: BTreeMap::new(),
        }
    }
}

impl Registry {
    /// Every served type.
    pub fn all(&self) -> impl Iterator<Item = &ResourceType> {
        self.builtin.iter().chain(self.crds.values().flatten())
    }

    /// The type served at group/version/plural.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.all()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    }

    /// The type of an object by apiVersion and kind.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        self.all()
            .find(|r| r.api_version() == api_version && r.kind == kind)
            .cloned()
    }

    /// Register or replace the types of one CRD.
    pub fn set_crd(&mut self, crd_name: &str, types: Vec<ResourceType>) {
        self.crds.insert(crd_name.to_string(), types);
    }

    /// Forget the types of one CRD.
    pub fn remove_crd(&mut self, crd_name: &str) {
        self.crds.remove(crd_name);
    }

    /// Groups (non-core) with their versions, in a stable order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.all().filter(|r| !r.group.is_empty()) {
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, vs)) if !vs.contains(&r.version) => vs.push(r.version.clone()),
                Some(_) => {}
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out
    }
}
