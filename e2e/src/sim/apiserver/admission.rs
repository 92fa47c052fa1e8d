//! Validating admission by ValidatingAdmissionPolicies and their bindings
//! (admissionregistration.k8s.io/v1), evaluated with CEL after the object passed its
//! own validation, as the real server does.

use serde_json::{Value, json};

use super::admission_match::{Target, matches};
use super::cel_eval::{Activation, compile};
use super::rbac::UserInfo;
use super::resources::ResourceType;
use super::state::State;
use super::status::{ApiError, ApiResult, qualified};
use super::store::Key;

/// Storage id of ValidatingAdmissionPolicies.
pub const POLICIES: &str = "admissionregistration.k8s.io/validatingadmissionpolicies";
/// Storage id of ValidatingAdmissionPolicyBindings.
pub const BINDINGS: &str = "admissionregistration.k8s.io/validatingadmissionpolicybindings";

/// The policies in force for one request, read before the store is locked for the write.
pub struct Admission {
    pairs: Vec<(Value, Value)>,
    namespace_object: Value,
}

/// One write to admit.
pub struct Attempt<'a> {
    /// Served type.
    pub rt: &'a ResourceType,
    /// `CREATE`, `UPDATE` or `DELETE` (patches and applies are UPDATEs, or CREATEs when
    /// an apply creates the object).
    pub operation: &'a str,
    /// Subresource or empty.
    pub subresource: &'a str,
    /// Namespace of the request.
    pub namespace: &'a str,
    /// Name of the object.
    pub name: &'a str,
    /// Object after the write (`None` for DELETE).
    pub object: Option<&'a Value>,
    /// Object before the write (`None` for CREATE).
    pub old_object: Option<&'a Value>,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// The requester.
    pub user: &'a UserInfo,
}

/// What one policy decided.
enum Decision {
    Admit,
    Deny { message: String, reason: String },
}

impl Admission {
    /// Read every binding with its policy, and the request's Namespace object.
    pub fn load(st: &State, rt: &ResourceType, namespace: &str) -> Self {
        let (mut bindings, _) = st.store.list(BINDINGS, None);
        bindings.sort_by(|a, b| {
            a["metadata"]["name"]
                .as_str()
                .cmp(&b["metadata"]["name"].as_str())
        });
        let pairs = bindings
            .into_iter()
            .filter_map(|b| {
                let policy = b["spec"]["policyName"].as_str().unwrap_or_default();
                // A binding of a policy that does not exist (yet) does nothing.
                st.store
                    .get(&Key::new(POLICIES, "", policy))
                    .map(|p| (p, b))
            })
            .collect();
        let namespace_object = if rt.namespaced && !namespace.is_empty() {
            st.store
                .get(&Key::new("/namespaces", "", namespace))
                .unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        Self {
            pairs,
            namespace_object,
        }
    }

    /// Admit or deny a write; the first denying policy answers, worded as the real
    /// server's `Status`.
    pub fn validate(&self, a: &Attempt) -> ApiResult<()> {
        if self.pairs.is_empty() {
            return Ok(());
        }
        let null = Value::Null;
        let object = a.object.unwrap_or(&null);
        let old_object = a.old_object.unwrap_or(&null);
        let target = Target {
            rt: a.rt,
            operation: a.operation,
            subresource: a.subresource,
            name: a.name,
            object,
            old_object,
            namespace_object: &self.namespace_object,
        };
        let request = request_object(a);
        for (policy, binding) in &self.pairs {
            if !matches(&policy["spec"]["matchConstraints"], &target) {
                continue;
            }
            let mr = &binding["spec"]["matchResources"];
            if mr.is_object() && !matches(mr, &target) {
                continue;
            }
            let deny = binding["spec"]["validationActions"]
                .as_array()
                .is_some_and(|acts| acts.iter().any(|x| x == "Deny"));
            // Warn and Audit actions are not emulated: they never change the answer.
            if !deny {
                continue;
            }
            let mut act = Activation::new(object, old_object, &request, &self.namespace_object);
            if let Decision::Deny { message, reason } = evaluate(&policy["spec"], &mut act) {
                return Err(denial(
                    a,
                    &object_name(a),
                    policy,
                    binding,
                    &message,
                    &reason,
                ));
            }
        }
        Ok(())
    }
}

fn object_name(a: &Attempt) -> String {
    if !a.name.is_empty() {
        return a.name.to_string();
    }
    a.object
        .or(a.old_object)
        .and_then(|o| o["metadata"]["name"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The CEL `request` variable: an AdmissionRequest as JSON, empty fields omitted.
fn request_object(a: &Attempt) -> Value {
    let rt = a.rt;
    let kind = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let resource = json!({"group": rt.group, "version": rt.version, "resource": rt.plural});
    let mut user = json!({"username": a.user.name});
    if !a.user.groups.is_empty() {
        user["groups"] = json!(a.user.groups);
    }
    if !a.user.extra.is_empty() {
        user["extra"] = json!(a.user.extra);
    }
    let mut r = json!({
        "uid": uuid::Uuid::new_v4().to_string(),
        "kind": kind, "resource": resource, "requestKind": kind, "requestResource": resource,
        "operation": a.operation, "userInfo": user,
    });
    let mut set = |k: &str, v: &str| {
        if !v.is_empty() {
            r[k] = json!(v);
        }
    };
    set("subResource", a.subresource);
    set("requestSubResource", a.subresource);
    set("name", &object_name(a));
    set("namespace", a.namespace);
    if a.dry_run {
        r["dryRun"] = json!(true);
    }
    r
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
fn evaluate(spec: &Value, act: &mut Activation) -> Decision {
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

/// The Status of a denial: admission's Forbidden wording with the policy's reason and
/// the matching HTTP code.
fn denial(
    a: &Attempt,
    name: &str,
    policy: &Value,
    binding: &Value,
    message: &str,
    reason: &str,
) -> ApiError {
    let inner = format!(
        "ValidatingAdmissionPolicy '{}' with binding '{}' denied request: {message}",
        policy["metadata"]["name"].as_str().unwrap_or_default(),
        binding["metadata"]["name"].as_str().unwrap_or_default(),
    );
    let q = qualified(&a.rt.group, &a.rt.plural);
    let full = if name.is_empty() {
        format!("{q} is forbidden: {inner}")
    } else {
        format!("{q} \"{name}\" is forbidden: {inner}")
    };
    let (code, reason) = match reason {
        "Forbidden" => (403, "Forbidden"),
        "Unauthorized" => (401, "Unauthorized"),
        "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
        _ => (422, "Invalid"),
    };
    let mut details = json!({"kind": a.rt.plural, "causes": [{"message": inner}]});
    if !name.is_empty() {
        details["name"] = json!(name);
    }
    if !a.rt.group.is_empty() {
        details["group"] = json!(a.rt.group);
    }
    ApiError {
        code,
        reason,
        message: full,
        details: Some(details),
    }
}
