//! Who may do what, and how fast: RoleBindings, ClusterRoleBindings,
//! ValidatingAdmissionPolicies and their bindings, FlowSchemas and
//! PriorityLevelConfigurations, as `pkg/printers/internalversion/printers.go`
//! (Kubernetes v1.34) prints them. Roles and ClusterRoles have no printer (default table).

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::age::{self, Now};
use super::columns::{Column, Row, count, text};
use super::docs;

fn name_and_age(o: &Value, now: Now) -> (Value, Value) {
    (
        o["metadata"]["name"].clone(),
        json!(age::since(&o["metadata"]["creationTimestamp"], now)),
    )
}

/// NAME ROLE AGE | wide: USERS GROUPS SERVICEACCOUNTS. `cluster` picks the descriptions
/// of ClusterRoleBindings.
pub fn binding_columns(cluster: bool) -> Vec<Column> {
    let (role_ref, what) = if cluster {
        (docs::CLUSTER_ROLE_BINDING_ROLE_REF, "clusterRoleBinding")
    } else {
        (docs::ROLE_BINDING_ROLE_REF, "roleBinding")
    };
    vec![
        Column::name(),
        Column::text("Role", role_ref),
        Column::age(),
        Column::text("Users", &format!("Users in the {what}")).wide(),
        Column::text("Groups", &format!("Groups in the {what}")).wide(),
        Column::text("ServiceAccounts", &format!("ServiceAccounts in the {what}")).wide(),
    ]
}

/// A (Cluster)RoleBinding: `Kind/name` of its role, then its subjects by kind
/// (`rbac.SubjectsStrings`).
pub fn binding_row(o: &Value, now: Now) -> Row {
    let (name, age) = name_and_age(o, now);
    let role = format!(
        "{}/{}",
        text(&o["roleRef"]["kind"]),
        text(&o["roleRef"]["name"])
    );
    let subjects: Vec<&Value> = o["subjects"].as_array().into_iter().flatten().collect();
    let of_kind = |kind: &str| {
        let names = subjects.iter().filter(|s| s["kind"] == kind);
        let names: Vec<String> = if kind == "ServiceAccount" {
            names
                .map(|s| format!("{}/{}", text(&s["namespace"]), text(&s["name"])))
                .collect()
        } else {
            names.map(|s| text(&s["name"]).to_string()).collect()
        };
        json!(names.join(", "))
    };
    vec![
        name,
        json!(role),
        age,
        of_kind("User"),
        of_kind("Group"),
        of_kind("ServiceAccount"),
    ]
    .into()
}

/// NAME VALIDATIONS PARAMKIND AGE.
pub fn policy_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::new(
            "Validations",
            "integer",
            "Validations indicates the number of validation rules defined in this configuration",
        ),
        Column::text(
            "ParamKind",
            "ParamKind specifies the kind of resources used to parameterize this policy",
        ),
        Column::age(),
    ]
}

/// A ValidatingAdmissionPolicy: its number of validations and `apiVersion/kind` of params.
pub fn policy_row(o: &Value, now: Now) -> Row {
    let (name, age) = name_and_age(o, now);
    let param = &o["spec"]["paramKind"];
    let param_kind = if param.is_object() {
        format!("{}/{}", text(&param["apiVersion"]), text(&param["kind"]))
    } else {
        "<unset>".into()
    };
    vec![
        name,
        json!(count(&o["spec"]["validations"])),
        json!(param_kind),
        age,
    ]
    .into()
}

/// NAME POLICYNAME PARAMREF AGE.
pub fn policy_binding_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text(
            "PolicyName",
            "PolicyName indicates the policy definition which the policy binding binded to",
        ),
        Column::text(
            "ParamRef",
            "ParamRef indicates the param resource which sets the configration param",
        ),
        Column::age(),
    ]
}

/// A ValidatingAdmissionPolicyBinding: its policy and `namespace/name` (or `*/name`, or
/// the selector) of its params.
pub fn policy_binding_row(o: &Value, now: Now) -> Row {
    let (name, age) = name_and_age(o, now);
    let r = &o["spec"]["paramRef"];
    let param = match (text(&r["name"]), text(&r["namespace"])) {
        _ if !r.is_object() => "<unset>".to_string(),
        ("", _) if r["selector"].is_object() => selector_string(&r["selector"]),
        ("", _) => "<unset>".to_string(),
        (n, "") => format!("*/{n}"),
        (n, ns) => format!("{ns}/{n}"),
    };
    vec![
        name,
        json!(text(&o["spec"]["policyName"])),
        json!(param),
        age,
    ]
    .into()
}

/// The Go `String()` of a `metav1.LabelSelector` (gogo-generated, `generated.pb.go`).
fn selector_string(sel: &Value) -> String {
    let labels: String = sel["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}: {},", text(v)))
        .collect();
    let expressions: String = sel["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}},",
                text(&e["key"]),
                text(&e["operator"]),
                values.join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{labels}}},MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}"
    )
}

/// NAME PRIORITYLEVEL MATCHINGPRECEDENCE DISTINGUISHERMETHOD AGE MISSINGPL.
pub fn flow_schema_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("PriorityLevel", docs::FLOW_SCHEMA_PRIORITY_LEVEL),
        Column::text("MatchingPrecedence", docs::FLOW_SCHEMA_MATCHING_PRECEDENCE),
        Column::text("DistinguisherMethod", docs::FLOW_SCHEMA_DISTINGUISHER),
        Column::age(),
        Column::text(
            "MissingPL",
            "references a broken or non-existent PriorityLevelConfiguration",
        ),
    ]
}

/// `matchingPrecedence`, 1000 when unset (what the real server defaults it to on write).
fn precedence(o: &Value) -> i64 {
    o["spec"]["matchingPrecedence"].as_i64().unwrap_or(1000)
}

/// A FlowSchema: its level, precedence, distinguisher and the Dangling condition.
pub fn flow_schema_row(o: &Value, now: Now) -> Row {
    let (name, age) = name_and_age(o, now);
    let distinguisher = match text(&o["spec"]["distinguisherMethod"]["type"]) {
        "" => "<none>",
        t => t,
    };
    let dangling = o["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Dangling")
        .map_or("?", |c| text(&c["status"]));
    vec![
        name,
        json!(text(&o["spec"]["priorityLevelConfiguration"]["name"])),
        json!(precedence(o)),
        json!(distinguisher),
        age,
        json!(dangling),
    ]
    .into()
}

/// The order of a FlowSchema list (`FlowSchemaSequence`): precedence, then name.
pub fn flow_schema_order(a: &Value, b: &Value) -> Ordering {
    precedence(a)
        .cmp(&precedence(b))
        .then_with(|| text(&a["metadata"]["name"]).cmp(text(&b["metadata"]["name"])))
}

/// NAME TYPE NOMINALCONCURRENCYSHARES QUEUES HANDSIZE QUEUELENGTHLIMIT AGE.
pub fn priority_level_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("Type", docs::PRIORITY_LEVEL_TYPE),
        Column::text("NominalConcurrencyShares", docs::PRIORITY_LEVEL_SHARES),
        Column::text("Queues", docs::QUEUING_QUEUES),
        Column::text("HandSize", docs::QUEUING_HAND_SIZE),
        Column::text("QueueLengthLimit", docs::QUEUING_QUEUE_LENGTH_LIMIT),
        Column::age(),
    ]
}

/// A PriorityLevelConfiguration: its limits, `<none>` where it has none. Unset numbers
/// read as the defaults the real server writes (30 shares, 64 queues, hand 8, 50 long).
pub fn priority_level_row(o: &Value, now: Now) -> Row {
    let (name, age) = name_and_age(o, now);
    let limited = &o["spec"]["limited"];
    let queuing = &limited["limitResponse"]["queuing"];
    let number = |v: &Value, default: i64| json!(v.as_i64().unwrap_or(default));
    let none = json!("<none>");
    let (shares, queues, hand, length) = match (limited.is_object(), queuing.is_object()) {
        (false, _) => (none.clone(), none.clone(), none.clone(), none),
        (true, false) => (
            number(&limited["nominalConcurrencyShares"], 30),
            none.clone(),
            none.clone(),
            none,
        ),
        (true, true) => (
            number(&limited["nominalConcurrencyShares"], 30),
            number(&queuing["queues"], 64),
            number(&queuing["handSize"], 8),
            number(&queuing["queueLengthLimit"], 50),
        ),
    };
    vec![
        name,
        json!(text(&o["spec"]["type"])),
        shares,
        queues,
        hand,
        length,
        age,
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        age::parse(&json!("2025-01-01T00:01:00Z")).unwrap()
    }

    #[test]
    fn bindings_list_subjects_by_kind() {
        let b = json!({"metadata": {"name": "b", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "ops"},
                         {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"}, {"kind": "User", "name": "bob"}]});
        assert_eq!(
            binding_row(&b, now()).cells,
            vec![
                json!("b"),
                json!("ClusterRole/view"),
                json!("60s"),
                json!("alice, bob"),
                json!("ops"),
                json!("ns/sa")
            ]
        );
    }

    #[test]
    fn policies_and_bindings() {
        let p = json!({"metadata": {"name": "p"}, "spec": {"validations": [{}, {}],
            "paramKind": {"apiVersion": "v1", "kind": "ConfigMap"}}});
        assert_eq!(
            policy_row(&p, now()).cells[1..3],
            [json!(2), json!("v1/ConfigMap")]
        );
        let param = |r: Value| {
            policy_binding_row(&json!({"spec": {"policyName": "p", "paramRef": r}}), now()).cells[2]
                .clone()
        };
        assert_eq!(
            param(json!({"name": "c", "namespace": "ns"})),
            json!("ns/c")
        );
        assert_eq!(param(json!({"name": "c"})), json!("*/c"));
        assert_eq!(param(Value::Null), json!("<unset>"));
        assert_eq!(
            param(json!({"selector": {"matchLabels": {"b": "2", "a": "1"},
                "matchExpressions": [{"key": "k", "operator": "In", "values": ["x", "y"]}]}})),
            json!(
                "&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:k,Operator:In,Values:[x y],},},}"
            )
        );
    }

    #[test]
    fn flow_control_objects() {
        let fs = |name: &str, p: i64| {
            json!({"metadata": {"name": name}, "spec": {"matchingPrecedence": p,
            "priorityLevelConfiguration": {"name": "workload-low"}, "distinguisherMethod": {"type": "ByUser"}},
            "status": {"conditions": [{"type": "Dangling", "status": "False"}]}})
        };
        let c = flow_schema_row(&fs("a", 500), now()).cells;
        assert_eq!(
            (&c[1], &c[2], &c[3], &c[5]),
            (
                &json!("workload-low"),
                &json!(500),
                &json!("ByUser"),
                &json!("False")
            )
        );
        assert_eq!(
            flow_schema_order(&fs("b", 10), &fs("a", 500)),
            Ordering::Less
        );
        assert_eq!(
            flow_schema_order(&fs("b", 10), &fs("a", 10)),
            Ordering::Greater
        );
        let exempt = json!({"spec": {"type": "Exempt"}});
        assert_eq!(priority_level_row(&exempt, now()).cells[2], json!("<none>"));
        let limited = json!({"spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 5,
            "limitResponse": {"type": "Queue", "queuing": {"queues": 16}}}}});
        assert_eq!(
            priority_level_row(&limited, now()).cells[1..6],
            [json!("Limited"), json!(5), json!(16), json!(8), json!(50)]
        );
    }
}
