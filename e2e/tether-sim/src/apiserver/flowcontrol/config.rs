//! The stored FlowSchemas and PriorityLevelConfigurations read into what admission needs,
//! and the matching of a request to a FlowSchema (kube-apiserver v1.34
//! `staging/src/k8s.io/apiserver/pkg/util/flowcontrol/apf_controller.go` `digestConfigObjects`
//! / `Match`, and `rule.go` for the rules).

use std::collections::BTreeMap;

use serde_json::Value;

use super::queueset::{LimitResponse, Shape};
use crate::apiserver::rbac::{Attributes, UserInfo};

/// `--max-requests-inflight` 400 + `--max-mutating-requests-inflight` 200, the defaults.
pub const SERVER_CONCURRENCY_LIMIT: u64 = 600;

/// The Limited levels a real v1.34 server always has (mandatory `catch-all`, suggested
/// others; `staging/src/k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap/default.go`) with
/// their `nominalConcurrencyShares`: they count in the share sum unless a stored level of
/// the same name replaces them.
pub const BOOTSTRAP_SHARES: [(&str, u64); 7] = [
    ("catch-all", 5),
    ("node-high", 40),
    ("system", 30),
    ("leader-election", 10),
    ("workload-high", 40),
    ("workload-low", 100),
    ("global-default", 20),
];

/// How a FlowSchema splits its requests into flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distinguisher {
    /// One flow per user name.
    ByUser,
    /// One flow per namespace.
    ByNamespace,
    /// One flow for the schema.
    None,
}

/// A FlowSchema whose priority level exists.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// Its name.
    pub name: String,
    precedence: i64,
    /// The priority level it sends requests to.
    pub level: String,
    /// How it makes flows.
    pub distinguisher: Distinguisher,
    rules: Vec<Value>,
}

/// A priority level: `None` for Exempt, the shape of a Limited one otherwise.
pub type Levels = BTreeMap<String, Option<Shape>>;

/// The digested configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// Schemas in matching order.
    pub schemas: Vec<Schema>,
    /// Levels by name.
    pub levels: Levels,
}

fn int(v: &Value, default: u64) -> u64 {
    v.as_u64().unwrap_or(default)
}

fn shape(limited: &Value, share_sum: u64) -> Shape {
    let shares = int(&limited["nominalConcurrencyShares"], 30);
    let seats = (SERVER_CONCURRENCY_LIMIT * shares).div_ceil(share_sum.max(1));
    let lr = &limited["limitResponse"];
    let response = if lr["type"] == "Reject" {
        LimitResponse::Reject
    } else {
        let q = &lr["queuing"];
        LimitResponse::Queue {
            queues: int(&q["queues"], 64) as usize,
            hand_size: int(&q["handSize"], 8) as usize,
            queue_length_limit: int(&q["queueLengthLimit"], 50) as usize,
        }
    };
    Shape {
        seats: seats as usize,
        response,
    }
}

/// Digest stored objects: levels with nominal seats from the share sum (stored Limited
/// levels plus the bootstrap ones not stored), schemas naming a missing level dropped,
/// the rest ordered by `matchingPrecedence` then name.
pub fn digest(flow_schemas: &[Value], priority_levels: &[Value]) -> Config {
    let name = |o: &Value| {
        o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let limited = |o: &Value| o["spec"]["type"] == "Limited";
    let stored_sum: u64 = priority_levels
        .iter()
        .filter(|o| limited(o))
        .map(|o| int(&o["spec"]["limited"]["nominalConcurrencyShares"], 30))
        .sum();
    let bootstrap_sum: u64 = BOOTSTRAP_SHARES
        .iter()
        .filter(|(n, _)| !priority_levels.iter().any(|o| name(o) == *n))
        .map(|(_, s)| s)
        .sum();
    let share_sum = stored_sum + bootstrap_sum;
    let levels: Levels = priority_levels
        .iter()
        .map(|o| {
            let level = limited(o).then(|| shape(&o["spec"]["limited"], share_sum));
            (name(o), level)
        })
        .collect();
    let mut schemas: Vec<Schema> = flow_schemas
        .iter()
        .filter_map(|o| {
            let spec = &o["spec"];
            let level = spec["priorityLevelConfiguration"]["name"].as_str()?;
            levels.contains_key(level).then(|| Schema {
                name: name(o),
                precedence: spec["matchingPrecedence"].as_i64().unwrap_or(1000),
                level: level.to_string(),
                distinguisher: match spec["distinguisherMethod"]["type"].as_str() {
                    Some("ByUser") => Distinguisher::ByUser,
                    Some("ByNamespace") => Distinguisher::ByNamespace,
                    _ => Distinguisher::None,
                },
                rules: spec["rules"].as_array().cloned().unwrap_or_default(),
            })
        })
        .collect();
    schemas.sort_by(|a, b| (a.precedence, &a.name).cmp(&(b.precedence, &b.name)));
    Config { schemas, levels }
}

impl Config {
    /// The first schema matching the request.
    pub fn matching(&self, user: &UserInfo, a: &Attributes) -> Option<&Schema> {
        self.schemas
            .iter()
            .find(|s| s.rules.iter().any(|r| rule_matches(r, user, a)))
    }
}

impl Schema {
    /// The flow distinguisher of a request.
    pub fn flow_of(&self, user: &UserInfo, a: &Attributes) -> String {
        match self.distinguisher {
            Distinguisher::ByUser => user.name.clone(),
            Distinguisher::ByNamespace => a.namespace.clone(),
            Distinguisher::None => String::new(),
        }
    }
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn has(v: &Value, want: &str) -> bool {
    strings(v).any(|s| s == "*" || s == want)
}

fn rule_matches(rule: &Value, user: &UserInfo, a: &Attributes) -> bool {
    let list = |k: &str| rule[k].as_array().into_iter().flatten();
    list("subjects").any(|s| subject_matches(s, user))
        && if a.resource_request {
            list("resourceRules").any(|r| resource_rule_matches(r, a))
        } else {
            list("nonResourceRules").any(|r| non_resource_rule_matches(r, a))
        }
}

fn subject_matches(s: &Value, user: &UserInfo) -> bool {
    let wild_or = |name: &Value, want: &str| name == "*" || name == want;
    match s["kind"].as_str() {
        Some("User") => wild_or(&s["user"]["name"], &user.name),
        Some("Group") => user.groups.iter().any(|g| wild_or(&s["group"]["name"], g)),
        Some("ServiceAccount") => {
            let sa = &s["serviceAccount"];
            let ns = sa["namespace"].as_str().unwrap_or_default();
            let prefix = format!("system:serviceaccount:{ns}:");
            user.name
                .strip_prefix(&prefix)
                .is_some_and(|name| wild_or(&sa["name"], name))
        }
        _ => false,
    }
}

fn resource_rule_matches(r: &Value, a: &Attributes) -> bool {
    let resource = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let namespace_ok = if a.namespace.is_empty() {
        r["clusterScope"] == true
    } else {
        has(&r["namespaces"], &a.namespace)
    };
    has(&r["verbs"], &a.verb)
        && has(&r["apiGroups"], &a.api_group)
        && has(&r["resources"], &resource)
        && namespace_ok
}

fn non_resource_rule_matches(r: &Value, a: &Attributes) -> bool {
    has(&r["verbs"], &a.verb)
        && strings(&r["nonResourceURLs"]).any(|u| {
            u == "*"
                || u == a.path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| a.path.starts_with(prefix))
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn level(name: &str, shares: u64, response: Value) -> Value {
        json!({"metadata": {"name": name}, "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": shares, "limitResponse": response}}})
    }

    fn schema(name: &str, precedence: i64, level: &str, rules: Value) -> Value {
        json!({"metadata": {"name": name}, "spec": {
            "priorityLevelConfiguration": {"name": level}, "matchingPrecedence": precedence,
            "distinguisherMethod": {"type": "ByNamespace"}, "rules": rules}})
    }

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str, ns: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            resource_request: true,
            ..Default::default()
        }
    }

    #[test]
    fn nominal_seats_share_the_server_limit_with_bootstrap_levels() {
        let c = digest(
            &[],
            &[
                level("tiny", 1, json!({"type": "Reject"})),
                level("workload-low", 100, json!({"type": "Reject"})),
                json!({"metadata": {"name": "free"}, "spec": {"type": "Exempt"}}),
            ],
        );
        // 245 bootstrap shares, workload-low replaced by the stored one: 245 + 1 = 246.
        assert_eq!(c.levels["tiny"].unwrap().seats, 3, "ceil(600 × 1 / 246)");
        assert_eq!(c.levels["workload-low"].unwrap().seats, 244);
        assert_eq!(c.levels["free"], None);
        let queued = digest(
            &[],
            &[level(
                "q",
                10,
                json!({"type": "Queue", "queuing": {"queues": 16, "handSize": 4, "queueLengthLimit": 50}}),
            )],
        );
        assert_eq!(
            queued.levels["q"],
            Some(Shape {
                seats: 24,
                response: LimitResponse::Queue {
                    queues: 16,
                    hand_size: 4,
                    queue_length_limit: 50
                }
            }),
            "ceil(600 × 10 / 255)"
        );
    }

    #[test]
    fn schemas_match_in_precedence_order_and_need_their_level() {
        let all = json!([{"subjects": [{"kind": "Group", "group": {"name": "*"}}],
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                "clusterScope": true, "namespaces": ["*"]}]}]);
        let c = digest(
            &[
                schema("b", 500, "l", all.clone()),
                schema("a", 500, "l", all.clone()),
                schema("first", 100, "missing", all.clone()),
            ],
            &[level("l", 5, json!({"type": "Reject"}))],
        );
        let user = UserInfo::service_account("x", "y");
        let a = attrs("get", "", "pods", "", "ns1");
        let s = c.matching(&user, &a).unwrap();
        assert_eq!(
            s.name, "a",
            "same precedence: by name; missing level skipped"
        );
        assert_eq!(s.flow_of(&user, &a), "ns1");
    }

    #[test]
    fn rules_match_subjects_resources_and_scope() {
        let rules = json!([{
            "subjects": [{"kind": "ServiceAccount",
                "serviceAccount": {"namespace": "tether-system", "name": "*"}}],
            "resourceRules": [{"verbs": ["list", "patch"], "apiGroups": ["", "tether.dev"],
                "resources": ["pods", "networkprofiles/status"], "namespaces": ["edge"]}],
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}]
        }]);
        let c = digest(
            &[schema("s", 1, "l", rules)],
            &[level("l", 5, json!({"type": "Reject"}))],
        );
        let sa = UserInfo::service_account("tether-system", "agent");
        let other = UserInfo::service_account("default", "agent");
        let hit = |u: &UserInfo, a: Attributes| c.matching(u, &a).is_some();
        assert!(hit(&sa, attrs("list", "", "pods", "", "edge")));
        assert!(hit(
            &sa,
            attrs("patch", "tether.dev", "networkprofiles", "status", "edge")
        ));
        assert!(!hit(&other, attrs("list", "", "pods", "", "edge")));
        assert!(!hit(&sa, attrs("get", "", "pods", "", "edge")), "verb");
        assert!(
            !hit(&sa, attrs("list", "", "pods", "", "other")),
            "namespace"
        );
        assert!(
            !hit(&sa, attrs("list", "", "pods", "", "")),
            "not clusterScope"
        );
        assert!(!hit(
            &sa,
            attrs("list", "tether.dev", "networkprofiles", "", "edge")
        ));
        let path = |p: &str| Attributes {
            verb: "get".into(),
            path: p.into(),
            ..Default::default()
        };
        assert!(hit(&sa, path("/healthz")));
        assert!(hit(&sa, path("/apis/apps/v1")));
        assert!(!hit(&sa, path("/version")));
    }
}
