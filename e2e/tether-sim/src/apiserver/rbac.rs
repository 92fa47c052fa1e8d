//! RBAC authorisation evaluated from the Roles, ClusterRoles and bindings in the store.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::select::LabelSelector;
use super::store::{Key, Store};

const RBAC: &str = "rbac.authorization.k8s.io";

/// An authenticated (or anonymous) identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name, `system:serviceaccount:<ns>:<name>` for ServiceAccounts.
    pub name: String,
    /// Groups.
    pub groups: Vec<String>,
    /// What the authenticator adds, e.g. `authentication.kubernetes.io/node-name` for a
    /// ServiceAccount token bound to a pod on a node.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The identity of a ServiceAccount token.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            extra: BTreeMap::new(),
        }
    }

    /// The identity of a ServiceAccount token bound to a pod on `node`: Kubernetes ≥ 1.32
    /// (ServiceAccountTokenPodNodeInfo) puts the node's name into the user's extra.
    pub fn service_account_on_node(namespace: &str, name: &str, node: &str) -> Self {
        let mut user = Self::service_account(namespace, name);
        user.extra
            .insert(NODE_NAME_EXTRA.into(), vec![node.to_string()]);
        user
    }
}

/// The user-extra key carrying the node of a pod-bound ServiceAccount token.
pub const NODE_NAME_EXTRA: &str = "authentication.kubernetes.io/node-name";

/// What a request asks to do, as the authoriser sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Verb: get, list, watch, create, update, patch, delete, deletecollection (or a
    /// lowercase HTTP method for non-resource requests).
    pub verb: String,
    /// API group.
    pub api_group: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Namespace.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// URL path (non-resource requests).
    pub path: String,
    /// Whether this is a resource request.
    pub resource_request: bool,
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strs(&rule["verbs"]);
    if !verbs.iter().any(|v| *v == "*" || *v == a.verb) {
        return false;
    }
    if !a.resource_request {
        return strs(&rule["nonResourceURLs"]).iter().any(|u| {
            *u == "*"
                || *u == a.path
                || u.strip_suffix('*')
                    .is_some_and(|pre| a.path.starts_with(pre))
        });
    }
    if !strs(&rule["apiGroups"])
        .iter()
        .any(|g| *g == "*" || *g == a.api_group)
    {
        return false;
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let res_ok = strs(&rule["resources"]).iter().any(|r| {
        *r == "*"
            || *r == combined
            || (!a.subresource.is_empty()
                && (*r == format!("*/{}", a.subresource) || *r == format!("{}/*", a.resource)))
    });
    let names = strs(&rule["resourceNames"]);
    res_ok && (names.is_empty() || (!a.name.is_empty() && names.contains(&a.name.as_str())))
}

fn subject_matches(s: &Value, user: &UserInfo, binding_ns: &str) -> bool {
    let name = s["name"].as_str().unwrap_or_default();
    match s["kind"].as_str() {
        Some("User") => name == user.name,
        Some("Group") => user.groups.iter().any(|g| g == name),
        Some("ServiceAccount") => {
            let ns = s["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn cluster_role_rules(store: &Store, name: &str) -> Vec<Value> {
    let Some(role) = store.get(&Key::new(&format!("{RBAC}/clusterroles"), "", name)) else {
        return Vec::new();
    };
    let mut rules: Vec<Value> = role["rules"].as_array().cloned().unwrap_or_default();
    // Aggregated ClusterRoles: the real controller copies in the rules of every
    // ClusterRole its selectors match; evaluating them here gives the same answer.
    for sel in role["aggregationRule"]["clusterRoleSelectors"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let sel = LabelSelector::from_object(sel);
        let (all, _) = store.list(&format!("{RBAC}/clusterroles"), None);
        for other in all
            .iter()
            .filter(|o| sel.matches(o) && o["metadata"]["name"] != json!(name))
        {
            rules.extend(other["rules"].as_array().cloned().unwrap_or_default());
        }
    }
    rules
}

/// Every rule granted to `user`: through ClusterRoleBindings, and through the
/// RoleBindings of `namespace` (resource rules only) when it is not empty.
pub fn rules_for(store: &Store, user: &UserInfo, namespace: &str) -> Vec<Value> {
    let mut rules = Vec::new();
    let (crbs, _) = store.list(&format!("{RBAC}/clusterrolebindings"), None);
    for b in crbs
        .iter()
        .filter(|b| b["roleRef"]["kind"] == json!("ClusterRole"))
    {
        if strs_subjects(b).any(|s| subject_matches(s, user, "")) {
            rules.extend(cluster_role_rules(
                store,
                b["roleRef"]["name"].as_str().unwrap_or_default(),
            ));
        }
    }
    if namespace.is_empty() {
        return rules;
    }
    let (rbs, _) = store.list(&format!("{RBAC}/rolebindings"), Some(namespace));
    for b in rbs
        .iter()
        .filter(|b| strs_subjects(b).any(|s| subject_matches(s, user, namespace)))
    {
        let role = b["roleRef"]["name"].as_str().unwrap_or_default();
        let granted = match b["roleRef"]["kind"].as_str() {
            Some("ClusterRole") => cluster_role_rules(store, role),
            _ => store
                .get(&Key::new(&format!("{RBAC}/roles"), namespace, role))
                .and_then(|r| r["rules"].as_array().cloned())
                .unwrap_or_default(),
        };
        rules.extend(
            granted
                .into_iter()
                .filter(|r| r.get("nonResourceURLs").is_none()),
        );
    }
    rules
}

/// Whether RBAC allows `user` to do `a`. `system:masters` is always allowed.
pub fn authorize(store: &Store, user: &UserInfo, a: &Attributes) -> bool {
    if user.groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    let ns = if a.resource_request {
        a.namespace.as_str()
    } else {
        ""
    };
    rules_for(store, user, ns).iter().any(|r| rule_allows(r, a))
}

fn strs_subjects(b: &Value) -> impl Iterator<Item = &Value> {
    b["subjects"].as_array().into_iter().flatten()
}

/// The 403 message the real server gives.
pub fn forbidden_message(user: &UserInfo, a: &Attributes) -> String {
    if !a.resource_request {
        return format!(
            "forbidden: User \"{}\" cannot {} path \"{}\"",
            user.name, a.verb, a.path
        );
    }
    let q = super::status::qualified(&a.api_group, &a.resource);
    let subject = if a.name.is_empty() {
        q
    } else {
        format!("{q} \"{}\"", a.name)
    };
    let res = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let scope = if a.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", a.namespace)
    };
    format!(
        "{subject} is forbidden: User \"{}\" cannot {} resource \"{res}\" in API group \"{}\" {scope}",
        user.name, a.verb, a.api_group
    )
}

/// The default roles and bindings a real cluster bootstraps (discovery, basic-user,
/// public-info-viewer, cluster-admin).
pub fn bootstrap_objects() -> Vec<Value> {
    let labels = json!({"kubernetes.io/bootstrapping": "rbac-defaults"});
    let role = |name: &str, rules: Value| {
        json!({"apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRole",
               "metadata": {"name": name, "labels": labels}, "rules": rules})
    };
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": RBAC, "kind": "Group", "name": g}))
            .collect();
        json!({"apiVersion": format!("{RBAC}/v1"), "kind": "ClusterRoleBinding",
               "metadata": {"name": name, "labels": labels},
               "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name}, "subjects": subjects})
    };
    vec![
        role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                     {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz",
            "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        role(
            "system:basic-user",
            json!([{"apiGroups": ["authorization.k8s.io"],
            "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]}]),
        ),
        role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz",
            "/version", "/version/"], "verbs": ["get"]}]),
        ),
        binding("cluster-admin", &["system:masters"]),
        binding("system:discovery", &["system:authenticated"]),
        binding("system:basic-user", &["system:authenticated"]),
        binding(
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}
