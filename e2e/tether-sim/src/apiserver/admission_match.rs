//! Which requests a ValidatingAdmissionPolicy (or its binding) matches:
//! `matchConstraints` / `matchResources` with resource rules, exclusions, scope,
//! resourceNames and namespace and object selectors.

use serde_json::Value;

use super::resources::ResourceType;
use super::select::LabelSelector;

/// The request attributes rules are matched against.
pub struct Target<'a> {
    /// Served type.
    pub rt: &'a ResourceType,
    /// `CREATE`, `UPDATE` or `DELETE`.
    pub operation: &'a str,
    /// Subresource (`status`) or empty.
    pub subresource: &'a str,
    /// Object name.
    pub name: &'a str,
    /// The new object (null for DELETE).
    pub object: &'a Value,
    /// The stored object (null for CREATE).
    pub old_object: &'a Value,
    /// The Namespace object of a namespaced request (null otherwise or when missing).
    pub namespace_object: &'a Value,
}

fn strs(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn listed(v: &Value, want: &str) -> bool {
    strs(v).any(|s| s == "*" || s == want)
}

/// Admission resource patterns: `*` is every resource but no subresource, `*/*`
/// everything, `pods/*` every subresource of pods, `*/status` every status.
fn resource_listed(v: &Value, plural: &str, sub: &str) -> bool {
    strs(v).any(|r| {
        let (res, rsub) = r.split_once('/').unwrap_or((r, ""));
        let res_ok = res == "*" || res == plural;
        let sub_ok = if rsub.is_empty() {
            sub.is_empty()
        } else {
            rsub == "*" || rsub == sub
        };
        res_ok && sub_ok
    })
}

/// One `NamedRuleWithOperations`. `exact` is `matchPolicy: Exact`; with `Equivalent`
/// (the default) another served version of the same group and resource matches too.
fn rule_matches(rule: &Value, t: &Target, exact: bool) -> bool {
    let rt = t.rt;
    let version_ok = listed(&rule["apiVersions"], &rt.version) || !exact;
    let scope_ok = match rule["scope"].as_str().unwrap_or("*") {
        "Cluster" => !rt.namespaced,
        "Namespaced" => rt.namespaced,
        _ => true,
    };
    let names: Vec<&str> = strs(&rule["resourceNames"]).collect();
    listed(&rule["operations"], t.operation)
        && listed(&rule["apiGroups"], &rt.group)
        && version_ok
        && resource_listed(&rule["resources"], &rt.plural, t.subresource)
        && scope_ok
        && (names.is_empty() || names.contains(&t.name))
}

fn selector_matches(sel: &Value, obj: &Value) -> bool {
    LabelSelector::from_object(sel).matches(obj)
}

/// Whether a `MatchResources` (policy `matchConstraints` or binding `matchResources`)
/// selects the request.
pub fn matches(mr: &Value, t: &Target) -> bool {
    let exact = mr["matchPolicy"].as_str() == Some("Exact");
    if !strs_objects(&mr["resourceRules"]).any(|r| rule_matches(r, t, exact)) {
        return false;
    }
    if strs_objects(&mr["excludeResourceRules"]).any(|r| rule_matches(r, t, exact)) {
        return false;
    }
    let ns_sel = &mr["namespaceSelector"];
    let ns_ok = if t.rt.id() == "/namespaces" {
        [t.object, t.old_object]
            .iter()
            .any(|o| !o.is_null() && selector_matches(ns_sel, o))
    } else if t.rt.namespaced {
        selector_matches(ns_sel, t.namespace_object)
    } else {
        // Cluster-scoped resources are never excluded by a namespaceSelector.
        true
    };
    let obj_sel = &mr["objectSelector"];
    let present: Vec<&Value> = [t.object, t.old_object]
        .into_iter()
        .filter(|o| !o.is_null())
        .collect();
    let obj_ok = present.iter().any(|o| selector_matches(obj_sel, o));
    ns_ok && obj_ok
}

fn strs_objects(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rt(namespaced: bool, status: bool) -> ResourceType {
        let mut rt = super::super::builtins::builtins()
            .into_iter()
            .find(|r| r.plural == "pods")
            .unwrap_or_else(|| unreachable!());
        rt.group = "tether.dev".into();
        rt.version = "v1alpha1".into();
        rt.plural = "networkprofiles".into();
        rt.namespaced = namespaced;
        rt.status = status;
        rt
    }

    fn target<'a>(rt: &'a ResourceType, op: &'a str, sub: &'a str, obj: &'a Value) -> Target<'a> {
        Target {
            rt,
            operation: op,
            subresource: sub,
            name: "camera",
            object: obj,
            old_object: obj,
            namespace_object: &Value::Null,
        }
    }

    #[test]
    fn resource_patterns_follow_admission_rules() {
        let rt = rt(false, true);
        let obj = json!({"metadata": {"name": "camera", "labels": {"a": "b"}}});
        let rules = |resources: Value| {
            json!({"resourceRules": [{"apiGroups": ["tether.dev"], "apiVersions": ["*"],
                "operations": ["UPDATE"], "resources": resources}]})
        };
        let status = target(&rt, "UPDATE", "status", &obj);
        let main = target(&rt, "UPDATE", "", &obj);
        assert!(matches(&rules(json!(["networkprofiles/status"])), &status));
        assert!(!matches(&rules(json!(["networkprofiles/status"])), &main));
        assert!(
            !matches(&rules(json!(["*"])), &status),
            "* excludes subresources"
        );
        assert!(matches(&rules(json!(["*"])), &main));
        assert!(matches(&rules(json!(["*/*"])), &status));
        assert!(matches(&rules(json!(["*/status"])), &status));
        assert!(matches(&rules(json!(["networkprofiles/*"])), &status));
        assert!(!matches(&rules(json!(["pods"])), &main));
        assert!(!matches(
            &rules(json!(["*"])),
            &target(&rt, "CREATE", "", &obj)
        ));
        let mut with_sel = rules(json!(["*"]));
        with_sel["objectSelector"] = json!({"matchLabels": {"a": "c"}});
        assert!(!matches(&with_sel, &main));
        with_sel["objectSelector"] = json!({"matchLabels": {"a": "b"}});
        assert!(matches(&with_sel, &main));
        let mut excluded = rules(json!(["*"]));
        excluded["excludeResourceRules"] = json!([{"apiGroups": ["*"], "apiVersions": ["*"],
            "operations": ["*"], "resources": ["*"], "resourceNames": ["camera"]}]);
        assert!(!matches(&excluded, &main));
        let mut exact = rules(json!(["*"]));
        exact["matchPolicy"] = json!("Exact");
        exact["resourceRules"][0]["apiVersions"] = json!(["v1"]);
        assert!(!matches(&exact, &main));
    }

    #[test]
    fn namespace_selector_applies_to_namespaced_resources_only() {
        let obj = json!({"metadata": {"name": "camera"}});
        let ns = json!({"metadata": {"name": "edge", "labels": {"tier": "edge"}}});
        let mr = json!({"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"],
            "operations": ["*"], "resources": ["*"]}],
            "namespaceSelector": {"matchLabels": {"tier": "cloud"}}});
        let namespaced = rt(true, false);
        let mut t = target(&namespaced, "CREATE", "", &obj);
        t.namespace_object = &ns;
        assert!(!matches(&mr, &t));
        let cluster = rt(false, false);
        assert!(matches(&mr, &target(&cluster, "CREATE", "", &obj)));
    }
}
