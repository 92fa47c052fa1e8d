//! SelfSubjectAccessReview and SubjectAccessReview (what `kubectl auth can-i` uses).

use serde_json::{Value, json};

use super::rbac::{self, Attributes, UserInfo};
use super::state::State;
use super::status::{ApiError, ApiResult};

fn attributes(spec: &Value) -> ApiResult<Attributes> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(r) = spec.get("resourceAttributes").filter(|r| r.is_object()) {
        return Ok(Attributes {
            verb: s(&r["verb"]),
            api_group: s(&r["group"]),
            resource: s(&r["resource"]),
            subresource: s(&r["subresource"]),
            namespace: s(&r["namespace"]),
            name: s(&r["name"]),
            path: String::new(),
            resource_request: true,
        });
    }
    if let Some(n) = spec.get("nonResourceAttributes").filter(|r| r.is_object()) {
        return Ok(Attributes {
            verb: s(&n["verb"]),
            path: s(&n["path"]),
            ..Default::default()
        });
    }
    Err(ApiError::invalid(
        "authorization.k8s.io",
        "SelfSubjectAccessReview",
        "",
        &[("spec.resourceAttributes".into(), "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into())],
    ))
}

/// Answer a review. `self_review` evaluates the requester; otherwise `spec.user`/`groups`.
pub fn review(
    st: &State,
    requester: &UserInfo,
    mut body: Value,
    self_review: bool,
) -> ApiResult<Value> {
    let spec = body["spec"].clone();
    let attrs = attributes(&spec)?;
    let subject = if self_review {
        requester.clone()
    } else {
        let user = spec["user"].as_str().unwrap_or_default().to_string();
        let groups: Vec<String> = spec["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(String::from))
            .collect();
        if user.is_empty() && groups.is_empty() {
            return Err(ApiError::invalid(
                "authorization.k8s.io",
                "SubjectAccessReview",
                "",
                &[(
                    "spec.user".into(),
                    "Invalid value: \"\": at least one of user or group must be specified".into(),
                )],
            ));
        }
        let extra = spec["extra"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                let vals = v.as_array().into_iter().flatten();
                (
                    k.clone(),
                    vals.filter_map(|x| x.as_str().map(String::from)).collect(),
                )
            })
            .collect();
        UserInfo {
            name: user,
            groups,
            extra,
        }
    };
    let allowed = rbac::authorize(&st.store, &subject, &attrs);
    body["metadata"] = json!({"creationTimestamp": null});
    body["status"] = if allowed {
        json!({"allowed": true, "reason": "RBAC: allowed"})
    } else {
        json!({"allowed": false})
    };
    Ok(body)
}

/// Answer a SelfSubjectRulesReview: the rules RBAC grants the requester in a namespace.
pub fn rules_review(st: &State, requester: &UserInfo, mut body: Value) -> ApiResult<Value> {
    let ns = body["spec"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (mut resource_rules, mut non_resource_rules) = (Vec::new(), Vec::new());
    for r in rbac::rules_for(&st.store, requester, &ns) {
        if r.get("nonResourceURLs")
            .is_some_and(|u| u.as_array().is_some_and(|a| !a.is_empty()))
        {
            non_resource_rules
                .push(json!({"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]}));
        } else {
            let mut rule = json!({"verbs": r["verbs"], "apiGroups": r["apiGroups"], "resources": r["resources"]});
            if let Some(names) = r.get("resourceNames") {
                rule["resourceNames"] = names.clone();
            }
            resource_rules.push(rule);
        }
    }
    body["metadata"] = json!({"creationTimestamp": null});
    body["status"] = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false});
    Ok(body)
}
