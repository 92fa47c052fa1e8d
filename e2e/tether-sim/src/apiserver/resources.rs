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
    /// Whether the `scale` subresource (an `autoscaling/v1` Scale over `spec.replicas`) is served.
    pub scale: bool,
    /// Short names for discovery.
    pub short_names: Vec<String>,
    /// Categories for discovery (`all` is what `kubectl get all` lists).
    pub categories: Vec<String>,
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
    let strings = |v: &Value| -> Vec<String> {
        let items = v.as_array().into_iter().flatten();
        items.filter_map(|x| x.as_str().map(String::from)).collect()
    };
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
            scale: false,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
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
            builtin: super::builtins::builtins(),
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
