//! CEL as admission policies use it: compiling an expression, and evaluating it over
//! `object`, `oldObject`, `request`, `namespaceObject` and `variables`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::{Context, Env, Program, Value as Cel};
use serde_json::Value;

/// The environment every expression runs in: the CEL standard library plus the strings
/// and lists extensions Kubernetes also enables.
fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // Declaring the stock extensions into a fresh environment cannot conflict.
        let _ = env.add_extension(cel::extensions::strings);
        let _ = env.add_extension(cel::extensions::lists);
        Arc::new(env)
    })
    .clone()
}

/// Compile one expression; the error is the parser's message.
pub fn compile(expression: &str) -> Result<Program, String> {
    env().compile(expression).map_err(|e| e.to_string())
}

/// The variables an admission policy expression may read.
pub const DECLARED: &[&str] = &[
    "object",
    "oldObject",
    "request",
    "namespaceObject",
    "params",
    "variables",
];

/// Compile as the real server does when a policy is written: the syntax, and no
/// identifier but the declared variables (comprehension variables aside). Types are not
/// checked: every variable is dynamic here.
pub fn compile_checked(expression: &str) -> Result<Program, String> {
    let program = compile(expression)?;
    let mut free = BTreeSet::new();
    free_idents(program.expression(), &mut Vec::new(), &mut free);
    match free.into_iter().find(|i| !DECLARED.contains(&i.as_str())) {
        Some(unknown) => Err(format!("undeclared reference to '{unknown}'")),
        None => Ok(program),
    }
}

fn free_idents(e: &IdedExpr, bound: &mut Vec<String>, out: &mut BTreeSet<String>) {
    match &e.expr {
        Expr::Ident(name) => {
            if !bound.contains(name) {
                out.insert(name.clone());
            }
        }
        Expr::Select(s) => free_idents(&s.operand, bound, out),
        Expr::Call(c) => {
            for t in c.target.iter() {
                free_idents(t, bound, out);
            }
            for a in &c.args {
                free_idents(a, bound, out);
            }
        }
        Expr::Comprehension(c) => {
            free_idents(&c.iter_range, bound, out);
            free_idents(&c.accu_init, bound, out);
            let depth = bound.len();
            bound.push(c.iter_var.clone());
            bound.extend(c.iter_var2.iter().cloned());
            bound.push(c.accu_var.clone());
            for inner in [&c.loop_cond, &c.loop_step, &c.result] {
                free_idents(inner, bound, out);
            }
            bound.truncate(depth);
        }
        Expr::List(l) => {
            for x in &l.elements {
                free_idents(x, bound, out);
            }
        }
        Expr::Map(m) => {
            for entry in &m.entries {
                if let EntryExpr::MapEntry(me) = &entry.expr {
                    free_idents(&me.key, bound, out);
                    free_idents(&me.value, bound, out);
                }
            }
        }
        Expr::Struct(st) => {
            for entry in &st.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    free_idents(&f.value, bound, out);
                }
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// A JSON value as CEL sees it: integers as `int` (not `uint`), as Kubernetes does for
/// schema integers.
pub fn to_cel(v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Cel::Int(i),
            None => match n.as_u64() {
                Some(u) => Cel::UInt(u),
                None => Cel::Float(n.as_f64().unwrap_or_default()),
            },
        },
        Value::String(s) => Cel::from(s.as_str()),
        Value::Array(a) => Cel::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<String, Cel> = m.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            Cel::from(map)
        }
    }
}

/// The variables of one admission request, converted once and shared by every
/// expression of a policy.
pub struct Activation {
    inputs: Vec<(&'static str, Cel)>,
    variables: HashMap<String, Cel>,
}

impl Activation {
    /// Bind the request's inputs.
    pub fn new(
        object: &Value,
        old_object: &Value,
        request: &Value,
        namespace_object: &Value,
    ) -> Self {
        Self {
            inputs: vec![
                ("object", to_cel(object)),
                ("oldObject", to_cel(old_object)),
                ("request", to_cel(request)),
                ("namespaceObject", to_cel(namespace_object)),
                ("params", Cel::Null),
            ],
            variables: HashMap::new(),
        }
    }

    /// Make `variables.<name>` available to later expressions.
    pub fn set_variable(&mut self, name: &str, value: Cel) {
        self.variables.insert(name.to_string(), value);
    }

    /// Evaluate a compiled program; the error is CEL's message.
    pub fn eval(&self, program: &Program) -> Result<Cel, String> {
        let mut ctx = Context::with_env(env());
        for (name, value) in &self.inputs {
            ctx.add_variable_from_value(*name, value.clone());
        }
        ctx.add_variable_from_value("variables", self.variables.clone());
        program.execute(&ctx).map_err(|e| format!("{e:?}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn eval(expr: &str) -> Result<Cel, String> {
        let object = json!({"metadata": {"name": "camera"}, "status": {"nodes": [
            {"nodeName": "edge-1", "matchedPods": 3}, {"nodeName": "edge-2", "matchedPods": 1}]}});
        let old = json!({"metadata": {"name": "camera"}, "status": {"nodes": [
            {"nodeName": "edge-1", "matchedPods": 2}, {"nodeName": "edge-2", "matchedPods": 1}]}});
        let request = json!({"operation": "UPDATE", "userInfo": {"username": "u",
            "extra": {"authentication.kubernetes.io/node-name": ["edge-1"]}}});
        let mut a = Activation::new(&object, &old, &request, &Value::Null);
        a.set_variable("node", Cel::from("edge-1"));
        a.eval(&compile(expr)?)
    }

    #[test]
    fn what_the_node_status_policy_needs() {
        let t = |e: &str| assert_eq!(eval(e), Ok(Cel::Bool(true)), "{e}");
        t("has(object.status.nodes) && !has(object.spec)");
        t("'authentication.kubernetes.io/node-name' in request.userInfo.extra");
        t("request.userInfo.extra['authentication.kubernetes.io/node-name'][0] == 'edge-1'");
        t(
            "object.status.nodes.filter(e, e.nodeName != variables.node) == \
           oldObject.status.nodes.filter(e, e.nodeName != variables.node)",
        );
        t("object.status.nodes.filter(e, e.nodeName != 'edge-2') != \
           oldObject.status.nodes.filter(e, e.nodeName != 'edge-2')");
        t("('a' + variables.node) == 'aedge-1'");
        t("(oldObject == null ? 1 : 2) == 2");
        t("object.status.nodes[0].matchedPods + 1 == 4");
        t("object.status.nodes.all(e, e.matchedPods > 0)");
        t("object.status.nodes.exists(e, e.nodeName.startsWith('edge'))");
        t("object.metadata.name.matches('^cam')");
        t("size(object.status.nodes.map(e, e.nodeName)) == 2");
    }

    #[test]
    fn errors_are_errors() {
        assert!(eval("object.spec.missing").is_err());
        assert!(eval("variables.undefined").is_err());
        assert!(eval("1 / 0 == 1").is_err());
        assert!(compile("object.(").is_err());
    }

    #[test]
    fn only_declared_variables_may_be_referenced() {
        assert!(
            compile_checked("object.status.nodes.filter(e, e.nodeName != variables.node) == [] && [1].all(x, x > 0)")
                .is_ok()
        );
        assert_eq!(
            compile_checked("objekt.spec == null").err().as_deref(),
            Some("undeclared reference to 'objekt'")
        );
        assert!(compile_checked("[1].all(x, x > y)").is_err());
    }
}
