//! API Priority and Fairness arithmetic for [`crate::backend::Backend::limit`] on kind: which
//! `nominalConcurrencyShares` give the agent's priority level exactly the seats asked for, and
//! the merge patch and contention load that make the level reject.
//!
//! The API server divides its concurrency limit (ServerCL) among the priority levels by their
//! shares: NominalCL(i) = ceil(ServerCL · NCS(i) / ΣNCS) (k8s.io/apiserver v0.34.3
//! `pkg/util/flowcontrol/apf_controller.go:863`; k8s.io/api v0.34.3 `flowcontrol/v1/types.go:474`).
//! With `lendablePercent: 0` and `borrowingLimitPercent: 0` the level's lower and upper limits
//! are that nominal limit itself (apf_controller.go:864-876; types.go:497, 511); with
//! `borrowingLimitPercent` unset the level may borrow up to ServerCL more (types.go:516). APF
//! limits concurrency: it has no rate limit.

use serde_json::{Value, json};

use super::config::{TETHER_AGENT, TETHER_NAMESPACE};
use super::error::KindError;

/// The ServiceAccount whose requests load the agent's priority level (see [`contention`]).
pub const LOAD_ACCOUNT: &str = "tether-e2e-load";
/// Label of the contention objects.
pub const CONTENTION_LABEL: (&str, &str) = ("tether.dev/e2e", "contention");
/// Of every second, how long the contention load keeps the level's seats busy.
pub const BURST_MILLIS: u64 = 100;

/// The nominal seats of a level with `shares` when the other levels hold `others` shares and
/// the server `server` seats.
pub fn nominal_seats(server: u32, shares: u32, others: u32) -> u32 {
    let (server, shares, sum) = (
        u64::from(server),
        u64::from(shares),
        u64::from(others) + u64::from(shares),
    );
    match sum {
        0 => 0,
        // ceil(server·shares / sum), in integers
        _ => u32::try_from((server * shares).div_ceil(sum)).unwrap_or(u32::MAX),
    }
}

/// The fewest shares that give exactly `seats` nominal seats, or an error saying why none do.
pub fn shares_for(seats: u32, others: u32, server: u32) -> Result<u32, KindError> {
    if seats == 0 || seats > server {
        return Err(KindError::InvalidConfig(format!(
            "a priority level can hold 1..={server} seats on this API server, not {seats}"
        )));
    }
    // nominal_seats grows with shares and stays below `server`: search until it passes `seats`
    let mut shares = 1;
    loop {
        let got = nominal_seats(server, shares, others);
        if got == seats {
            return Ok(shares);
        }
        if got > seats || shares == u32::MAX {
            return Err(KindError::InvalidConfig(format!(
                "no nominalConcurrencyShares gives exactly {seats} seats with ServerCL {server} and \
                 {others} shares on the other levels ({} shares give {}, {shares} give {got}); \
                 lower --max-requests-inflight/--max-mutating-requests-inflight in the kind config",
                shares - 1,
                nominal_seats(server, shares - 1, others)
            )));
        }
        shares += 1;
    }
}

/// The shares of every priority level but the agent's, from `kubectl get
/// prioritylevelconfigurations --output=json`: a Limited level's
/// `limited.nominalConcurrencyShares` (30 when unset, types.go:480), an Exempt level's
/// `exempt.nominalConcurrencyShares` (0 when unset; apf_controller.go:1152-1162).
pub fn other_shares(levels_json: &str) -> Result<u32, KindError> {
    let list: Value = serde_json::from_str(levels_json).map_err(|e| KindError::Unexpected {
        command: "kubectl get prioritylevelconfigurations".into(),
        why: format!("not a JSON list: {e}"),
    })?;
    let items = list["items"]
        .as_array()
        .ok_or_else(|| KindError::Unexpected {
            command: "kubectl get prioritylevelconfigurations".into(),
            why: "no items".into(),
        })?;
    let shares = items
        .iter()
        .filter(|pl| pl["metadata"]["name"] != TETHER_AGENT)
        .map(|pl| {
            let spec = &pl["spec"];
            match spec["type"].as_str() {
                Some("Exempt") => spec["exempt"]["nominalConcurrencyShares"]
                    .as_u64()
                    .unwrap_or(0),
                _ => spec["limited"]["nominalConcurrencyShares"]
                    .as_u64()
                    .unwrap_or(30),
            }
        })
        .sum::<u64>();
    u32::try_from(shares).map_err(|_| KindError::Unexpected {
        command: "kubectl get prioritylevelconfigurations".into(),
        why: format!("{shares} shares"),
    })
}

/// The merge patch of the agent's PriorityLevelConfiguration: `shares`, nothing lent, nothing
/// borrowed, and the requests beyond rejected. `queuing` is set to null: deploy/ has a
/// `queuing` block, a merge patch keeps what it does not mention, and validation refuses
/// `queuing` unless the type is `Queue` (types.go:572; kubernetes
/// `pkg/apis/flowcontrol/validation/validation.go` `ValidateLimitResponse`) — 422 otherwise.
pub fn limit_patch(shares: u32) -> Value {
    json!({"spec": {"type": "Limited", "limited": {
        "nominalConcurrencyShares": shares,
        "lendablePercent": 0,
        "borrowingLimitPercent": 0,
        "limitResponse": {"type": "Reject", "queuing": null},
    }}})
}

/// The Prometheus samples that show the squeeze took effect: nominal, lower and upper limits of
/// the agent's level all `seats` (k8s.io/apiserver v0.34.3
/// `pkg/util/flowcontrol/metrics/metrics.go:348,358,368,614-619`).
pub fn limit_samples(seats: u32) -> [String; 3] {
    ["nominal", "lower", "upper"].map(|which| {
        format!(
            "apiserver_flowcontrol_{which}_limit_seats{{priority_level=\"{TETHER_AGENT}\"}} {seats}"
        )
    })
}

/// The objects that let the harness load the agent's priority level on purpose: APF rejects
/// only when the level's seats are all busy, and the agent alone seldom has more than one or
/// two requests in flight. A ServiceAccount of its own (so its requests, and any 429 they get,
/// are never counted as the agent's), allowed to list pods, and a FlowSchema that puts it in
/// the agent's level, ahead of the agent's (precedence 800 < 900).
pub fn contention() -> Vec<Value> {
    let (key, value) = CONTENTION_LABEL;
    let meta = |name: &str, namespaced: bool| {
        let mut m = json!({"name": name, "labels": {key: value}});
        if namespaced {
            m["namespace"] = json!(TETHER_NAMESPACE);
        }
        m
    };
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(LOAD_ACCOUNT, true)}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": meta(LOAD_ACCOUNT, false),
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": meta(LOAD_ACCOUNT, false),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": LOAD_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": LOAD_ACCOUNT, "namespace": TETHER_NAMESPACE}],
        }),
        json!({
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
            "metadata": meta(LOAD_ACCOUNT, false),
            "spec": {
                "priorityLevelConfiguration": {"name": TETHER_AGENT},
                "matchingPrecedence": 800,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [{
                    "subjects": [{"kind": "ServiceAccount", "serviceAccount": {"name": LOAD_ACCOUNT, "namespace": TETHER_NAMESPACE}}],
                    "resourceRules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"], "clusterScope": true, "namespaces": ["*"]}],
                }],
            },
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::config::{BOOTSTRAP_SHARES, SERVER_CONCURRENCY};

    #[test]
    fn the_kind_api_server_can_give_the_agent_exactly_1_to_16_seats() {
        assert_eq!(SERVER_CONCURRENCY, 246);
        for seats in 1..=16 {
            let shares = shares_for(seats, BOOTSTRAP_SHARES, SERVER_CONCURRENCY).unwrap();
            assert_eq!(
                nominal_seats(SERVER_CONCURRENCY, shares, BOOTSTRAP_SHARES),
                seats
            );
            assert_eq!(shares, seats, "one share per seat on this server");
        }
    }

    #[test]
    fn kubernetes_default_600_seats_cannot_give_2_and_one_share_gives_3() {
        // issue 15: "1 share of the default 600 seats is about 3 seats"
        assert_eq!(nominal_seats(600, 1, BOOTSTRAP_SHARES), 3);
        let err = shares_for(2, BOOTSTRAP_SHARES, 600)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no nominalConcurrencyShares gives exactly 2"),
            "{err}"
        );
        assert!(shares_for(0, 245, 246).is_err());
    }

    #[test]
    fn other_levels_shares_are_read_with_the_apis_defaults() {
        let levels = r#"{"items": [
            {"metadata": {"name": "exempt"}, "spec": {"type": "Exempt", "exempt": {}}},
            {"metadata": {"name": "catch-all"}, "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 5}}},
            {"metadata": {"name": "unset"}, "spec": {"type": "Limited", "limited": {}}},
            {"metadata": {"name": "tether-agent"}, "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 10}}}
        ]}"#;
        assert_eq!(other_shares(levels).unwrap(), 35);
        assert!(other_shares("{}").is_err());
    }

    #[test]
    fn the_patch_drops_queuing_and_forbids_lending_and_borrowing() {
        let patch = limit_patch(2);
        let limited = &patch["spec"]["limited"];
        assert_eq!(limited["limitResponse"]["type"], "Reject");
        assert!(
            limited["limitResponse"]
                .as_object()
                .unwrap()
                .get("queuing")
                .is_some_and(Value::is_null),
            "a merge patch removes a field only when it sets it to null"
        );
        assert_eq!(
            (
                &limited["borrowingLimitPercent"],
                &limited["lendablePercent"]
            ),
            (&json!(0), &json!(0))
        );
        assert_eq!(limited["nominalConcurrencyShares"], 2);
    }
}
