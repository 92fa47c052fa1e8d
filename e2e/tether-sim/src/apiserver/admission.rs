//! Validating admission by ValidatingAdmissionPolicies and their bindings
//! (admissionregistration.k8s.io/v1), evaluated with CEL after the object passed its
//! own validation, as the real server does.

use serde_json::{Value, json};

use super::admission_eval::{Decision, evaluate};
use super::admission_match::{Target, matches};
use super::cel_eval::Activation;
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
