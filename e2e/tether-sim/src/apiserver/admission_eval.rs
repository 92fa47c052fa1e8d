//! Evaluating one ValidatingAdmissionPolicy: matchConditions, variables, validations,
//! failurePolicy and the failure message, as the real server's validator does.

use serde_json::Value;

use super::cel_eval::{Activation, compile};

/// What one policy decided.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Admitted (or not matched, or an error ignored).
    Admit,
    /// Denied with a message and a Status reason.
    Deny {
        /// Why, as the policy words it.
        message: String,
        /// `Forbidden`, `Invalid`, `Unauthorized` or `RequestEntityTooLarge`.
        reason: String,
    },
}

fn fails_closed(spec: &Value) -> bool {
    spec["failurePolicy"].as_str() != Some("Ignore")
}

/// An expression that could not be evaluated: denied under `failurePolicy: Fail`
/// (the default), ignored under `Ignore`.
fn on_error(spec: &Value, message: String) -> Decision {
    if fails_closed(spec) {
        Decision::Deny {
            message,
            reason: "Invalid".into(),
        }
    } else {
        Decision::Admit
    }
}

fn eval_expr(act: &Activation, expression: &str) -> Result<cel::Value, String> {
    let program = compile(expression)
        .map_err(|e| format!("compilation failed for expression '{expression}': {e}"))?;
    act.eval(&program)
        .map_err(|e| format!("expression '{expression}' resulted in error: {e}"))
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// Evaluate one policy: matchConditions, then variables, then validations in order.
pub fn evaluate(spec: &Value, act: &mut Activation) -> Decision {
    if spec.get("paramKind").is_some_and(|p| !p.is_null()) {
        return on_error(
            spec,
            "tether-sim does not support policy parameters (paramKind/paramRef)".into(),
        );
    }
    let mut condition_error = None;
    for c in items(&spec["matchConditions"]) {
        let name = c["name"].as_str().unwrap_or_default();
        match eval_expr(act, c["expression"].as_str().unwrap_or_default()) {
            Ok(cel::Value::Bool(true)) => {}
            // One false condition skips the policy, even if another errs.
            Ok(cel::Value::Bool(false)) => return Decision::Admit,
            Ok(other) => {
                condition_error.get_or_insert(format!(
                    "matchCondition '{name}' did not evaluate to a bool: {other:?}"
                ));
            }
            Err(e) => {
                condition_error.get_or_insert(format!("matchCondition '{name}': {e}"));
            }
        }
    }
    if let Some(e) = condition_error {
        return on_error(spec, e);
    }
    for v in items(&spec["variables"]) {
        // A variable that errs stays unset: whatever uses it then errs, as the lazily
        // evaluated variables of the real server do.
        if let Ok(value) = eval_expr(act, v["expression"].as_str().unwrap_or_default()) {
            act.set_variable(v["name"].as_str().unwrap_or_default(), value);
        }
    }
    for v in items(&spec["validations"]) {
        let expression = v["expression"].as_str().unwrap_or_default();
        match eval_expr(act, expression) {
            Ok(cel::Value::Bool(true)) => {}
            Ok(_) => {
                return Decision::Deny {
                    message: failure_message(act, v, expression),
                    reason: v["reason"].as_str().unwrap_or("Invalid").to_string(),
                };
            }
            Err(e) => {
                if let d @ Decision::Deny { .. } = on_error(spec, e) {
                    return d;
                }
            }
        }
    }
    Decision::Admit
}

/// messageExpression (a non-blank single-line string), else message, else the expression.
fn failure_message(act: &Activation, v: &Value, expression: &str) -> String {
    if let Some(me) = v["messageExpression"].as_str()
        && let Ok(cel::Value::String(s)) = eval_expr(act, me)
    {
        let s = s.trim();
        if !s.is_empty() && !s.contains('\n') && s.len() <= 5 * 1024 {
            return s.to_string();
        }
    }
    match v["message"]
        .as_str()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        Some(m) => m.to_string(),
        None => format!("failed expression: {}", expression.trim()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(spec: Value, object: Value) -> Decision {
        let request = json!({"operation": "CREATE", "userInfo": {"username": "u"}});
        let mut act = Activation::new(&object, &Value::Null, &request, &Value::Null);
        evaluate(&spec, &mut act)
    }

    fn deny(message: &str, reason: &str) -> Decision {
        Decision::Deny {
            message: message.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn validations_deny_with_their_reason_and_message() {
        let spec = |v: Value| json!({"validations": [v]});
        let obj = json!({"spec": {"replicas": 5}});
        assert_eq!(
            run(
                spec(json!({"expression": "object.spec.replicas < 10"})),
                obj.clone()
            ),
            Decision::Admit
        );
        assert_eq!(
            run(
                spec(json!({"expression": " object.spec.replicas < 3 "})),
                obj.clone()
            ),
            deny("failed expression: object.spec.replicas < 3", "Invalid")
        );
        assert_eq!(
            run(
                spec(
                    json!({"expression": "false", "message": " too many ", "reason": "Forbidden"})
                ),
                obj.clone()
            ),
            deny("too many", "Forbidden")
        );
        let me = |m: &str| {
            spec(json!({"expression": "false", "message": "fallback", "messageExpression": m}))
        };
        assert_eq!(
            run(me("'has ' + string(object.spec.replicas)"), obj.clone()),
            deny("has 5", "Invalid")
        );
        // A messageExpression that errs, is not a string, is blank or spans lines: message.
        for bad in ["object.nothing", "1", "'  '", "'a\\nb'"] {
            assert_eq!(
                run(me(bad), obj.clone()),
                deny("fallback", "Invalid"),
                "{bad}"
            );
        }
    }

    #[test]
    fn match_conditions_variables_and_failure_policy() {
        let obj = json!({"spec": {"replicas": 5}});
        let spec = json!({
            "matchConditions": [{"name": "big", "expression": "object.spec.replicas > 3"}],
            "variables": [{"name": "r", "expression": "object.spec.replicas"},
                          {"name": "broken", "expression": "object.nothing"},
                          {"name": "twice", "expression": "variables.r * 2"}],
            "validations": [{"expression": "variables.twice == 10"}, {"expression": "variables.r < 5"}]});
        assert_eq!(
            run(spec.clone(), obj.clone()),
            deny("failed expression: variables.r < 5", "Invalid")
        );
        // A false condition skips the policy.
        assert_eq!(
            run(spec.clone(), json!({"spec": {"replicas": 1}})),
            Decision::Admit
        );
        // An unused variable that errs does no harm; a used one errs the validation.
        let mut uses_broken = spec.clone();
        uses_broken["validations"] = json!([{"expression": "variables.broken == 1"}]);
        let Decision::Deny { message, reason } = run(uses_broken.clone(), obj.clone()) else {
            panic!("an erring validation must deny under failurePolicy Fail")
        };
        assert!(
            message.starts_with("expression 'variables.broken == 1' resulted in error"),
            "{message}"
        );
        assert_eq!(reason, "Invalid");
        uses_broken["failurePolicy"] = json!("Ignore");
        assert_eq!(run(uses_broken, obj.clone()), Decision::Admit);
        // A condition that errs: the failure policy decides.
        let erring = json!({"matchConditions": [{"name": "c", "expression": "object.nothing"}],
                            "validations": [{"expression": "false"}]});
        assert!(matches!(run(erring, obj.clone()), Decision::Deny { .. }));
        // Parameters are not emulated: refused under Fail.
        let params = json!({"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}, "validations": [{"expression": "true"}]});
        assert!(matches!(run(params, obj), Decision::Deny { .. }));
    }
}
