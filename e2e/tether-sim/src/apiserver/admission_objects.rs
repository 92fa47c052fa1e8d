//! What the real server checks when a ValidatingAdmissionPolicy or binding is written:
//! required fields, allowed enum values, and that every CEL expression compiles.

use serde_json::Value;

use super::cel_eval::compile_checked;

type Causes = Vec<(String, String)>;

fn required(causes: &mut Causes, field: &str) {
    causes.push((field.to_string(), "Required value".into()));
}

fn unsupported(causes: &mut Causes, field: &str, got: &str, allowed: &[&str]) {
    let allowed: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    causes.push((
        field.to_string(),
        format!(
            "Unsupported value: {got:?}: supported values: {}",
            allowed.join(", ")
        ),
    ));
}

fn check_expression(causes: &mut Causes, field: &str, v: &Value) {
    match v.as_str().filter(|s| !s.trim().is_empty()) {
        None => required(causes, field),
        Some(e) => {
            if let Err(why) = compile_checked(e) {
                causes.push((
                    field.to_string(),
                    format!("Invalid value: {e:?}: compilation failed: {why}"),
                ));
            }
        }
    }
}

fn each(v: &Value) -> impl Iterator<Item = (usize, &Value)> {
    v.as_array().into_iter().flatten().enumerate()
}

/// Problems of a ValidatingAdmissionPolicy, as `(field, message)`.
pub fn policy_problems(obj: &Value) -> Causes {
    let spec = &obj["spec"];
    let mut causes = Causes::new();
    let rules = &spec["matchConstraints"]["resourceRules"];
    if rules.as_array().is_none_or(Vec::is_empty) {
        required(&mut causes, "spec.matchConstraints.resourceRules");
    }
    if let Some(f) = spec["failurePolicy"].as_str()
        && !matches!(f, "Fail" | "Ignore")
    {
        unsupported(&mut causes, "spec.failurePolicy", f, &["Fail", "Ignore"]);
    }
    if let Some(m) = spec["matchConstraints"]["matchPolicy"].as_str()
        && !matches!(m, "Exact" | "Equivalent")
    {
        let field = "spec.matchConstraints.matchPolicy";
        unsupported(&mut causes, field, m, &["Equivalent", "Exact"]);
    }
    let validations = spec["validations"].as_array().map_or(0, Vec::len);
    let audits = spec["auditAnnotations"].as_array().map_or(0, Vec::len);
    if validations + audits == 0 {
        causes.push((
            "spec.validations".into(),
            "Required value: validations or auditAnnotations must contain at least one item".into(),
        ));
    }
    for (i, v) in each(&spec["validations"]) {
        let at = format!("spec.validations[{i}]");
        check_expression(&mut causes, &format!("{at}.expression"), &v["expression"]);
        if v.get("messageExpression").is_some() {
            let field = format!("{at}.messageExpression");
            check_expression(&mut causes, &field, &v["messageExpression"]);
        }
        if let Some(r) = v["reason"].as_str() {
            let allowed = [
                "Unauthorized",
                "Forbidden",
                "Invalid",
                "RequestEntityTooLarge",
            ];
            if !allowed.contains(&r) {
                unsupported(&mut causes, &format!("{at}.reason"), r, &allowed);
            }
        }
    }
    for (list, expr) in [
        ("matchConditions", "expression"),
        ("variables", "expression"),
        ("auditAnnotations", "valueExpression"),
    ] {
        for (i, c) in each(&spec[list]) {
            let field = format!("spec.{list}[{i}].{expr}");
            check_expression(&mut causes, &field, &c[expr]);
        }
    }
    causes
}

/// Problems of a ValidatingAdmissionPolicyBinding, as `(field, message)`.
pub fn binding_problems(obj: &Value) -> Causes {
    let spec = &obj["spec"];
    let mut causes = Causes::new();
    if spec["policyName"].as_str().is_none_or(str::is_empty) {
        required(&mut causes, "spec.policyName");
    }
    let actions: Vec<&str> = spec["validationActions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if actions.is_empty() {
        required(&mut causes, "spec.validationActions");
    }
    for (i, a) in actions.iter().enumerate() {
        if !matches!(*a, "Deny" | "Warn" | "Audit") {
            let field = format!("spec.validationActions[{i}]");
            unsupported(&mut causes, &field, a, &["Audit", "Deny", "Warn"]);
        }
    }
    if actions.contains(&"Deny") && actions.contains(&"Warn") {
        causes.push((
            "spec.validationActions".into(),
            "Invalid value: [\"Deny\",\"Warn\"]: must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)".into(),
        ));
    }
    causes
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_policy_needs_rules_and_compiling_expressions() {
        let good = json!({"spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["*"]}]},
            "validations": [{"expression": "true", "reason": "Forbidden"}]}});
        assert!(policy_problems(&good).is_empty());
        let bad = json!({"spec": {"failurePolicy": "Maybe",
            "validations": [{"expression": "object.(", "reason": "Teapot"}]}});
        let fields: Vec<String> = policy_problems(&bad).into_iter().map(|c| c.0).collect();
        assert_eq!(
            fields,
            [
                "spec.matchConstraints.resourceRules",
                "spec.failurePolicy",
                "spec.validations[0].expression",
                "spec.validations[0].reason"
            ]
        );
    }

    #[test]
    fn a_binding_needs_a_policy_and_actions() {
        assert!(
            binding_problems(&json!({"spec": {"policyName": "p", "validationActions": ["Deny"]}}))
                .is_empty()
        );
        let fields: Vec<String> =
            binding_problems(&json!({"spec": {"validationActions": ["Deny", "Warn"]}}))
                .into_iter()
                .map(|c| c.0)
                .collect();
        assert_eq!(fields, ["spec.policyName", "spec.validationActions"]);
    }
}
