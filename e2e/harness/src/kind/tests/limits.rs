//! Dry-run tests of `limit`: the squeeze is a recorded merge patch that the API server would
//! accept and that gives the agent's level exactly the seats asked for, checked in its metrics.

use serde_json::{Value, json};

use super::{DryRun, up_and_install};
use crate::kind::apf;
use crate::kind::config::{BOOTSTRAP_SHARES, SERVER_CONCURRENCY};
use crate::kind::files::paths;

/// JSON merge patch (RFC 7386), as `kubectl patch --type=merge` sends and the API server
/// applies it: objects merge key by key, `null` removes a key, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(target) = target.as_object_mut() {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

/// The rule of the API server's validation of a limited level's `limitResponse`: `queuing`
/// present exactly when the type is `Queue` (k8s.io/api v0.34.3 `flowcontrol/v1/types.go:572`).
fn limit_response_is_valid(limited: &Value) -> bool {
    let response = &limited["limitResponse"];
    let queuing = response.get("queuing").is_some_and(|q| !q.is_null());
    match response["type"].as_str() {
        Some("Queue") => queuing,
        Some("Reject") => !queuing,
        _ => false,
    }
}

fn deploy_priority_level() -> Value {
    testkit::repo::deploy_documents()
        .unwrap()
        .into_iter()
        .find(|d| {
            d["kind"] == "PriorityLevelConfiguration" && d["metadata"]["name"] == "tether-agent"
        })
        .expect("deploy/flowcontrol.yaml has the agent's level")
}

#[test]
fn the_squeeze_patched_onto_deploys_level_is_valid_and_bounded() {
    let mut run = DryRun::new();
    let token = run.backend.limit(2).unwrap();
    assert_eq!(token, "${LOAD_TOKEN}");
    let patch: Value = serde_json::from_str(
        &std::fs::read_to_string(run.work().join(paths::LIMIT_PATCH)).unwrap(),
    )
    .unwrap();
    let mut level = deploy_priority_level();
    assert!(
        limit_response_is_valid(&level["spec"]["limited"]),
        "deploy/ as it is"
    );
    // what the earlier patch did: Reject with deploy's queuing left in place → 422
    let mut old = level.clone();
    merge(
        &mut old,
        &json!({"spec": {"limited": {"nominalConcurrencyShares": 1, "lendablePercent": 0, "limitResponse": {"type": "Reject"}}}}),
    );
    assert!(
        !limit_response_is_valid(&old["spec"]["limited"]),
        "issue 15 item 3"
    );
    merge(&mut level, &patch);
    let limited = &level["spec"]["limited"];
    assert!(limit_response_is_valid(limited), "{level}");
    assert_eq!(limited["limitResponse"], json!({"type": "Reject"}));
    assert_eq!(
        limited["borrowingLimitPercent"], 0,
        "no borrowing of idle seats"
    );
    assert_eq!(limited["lendablePercent"], 0);
    let shares = u32::try_from(limited["nominalConcurrencyShares"].as_u64().unwrap()).unwrap();
    assert_eq!(
        apf::nominal_seats(SERVER_CONCURRENCY, shares, BOOTSTRAP_SHARES),
        2,
        "exactly the seats asked for"
    );
}

#[test]
fn the_squeeze_is_in_the_transcript_and_awaited_in_the_api_servers_metrics() {
    let mut run = DryRun::new();
    run.backend.limit(3).unwrap();
    let transcript = run.transcript();
    let kubectl = format!(
        "kubectl --kubeconfig {}",
        run.work().join("kubeconfig").display()
    );
    let steps = [
        format!(
            "{kubectl} get prioritylevelconfigurations.flowcontrol.apiserver.k8s.io --output=json"
        ),
        format!("# wrote {}", run.work().join(paths::LIMIT_PATCH).display()),
        format!(
            "{kubectl} patch prioritylevelconfigurations.flowcontrol.apiserver.k8s.io tether-agent --type=merge --patch-file={}",
            run.work().join(paths::LIMIT_PATCH).display()
        ),
        format!(
            "tether_poll 60 line 'apiserver_flowcontrol_nominal_limit_seats{{priority_level=\"tether-agent\"}} 3' -- {kubectl} get --raw /metrics"
        ),
        format!(
            "tether_poll 60 line 'apiserver_flowcontrol_lower_limit_seats{{priority_level=\"tether-agent\"}} 3' -- {kubectl} get --raw /metrics"
        ),
        format!(
            "tether_poll 60 line 'apiserver_flowcontrol_upper_limit_seats{{priority_level=\"tether-agent\"}} 3' -- {kubectl} get --raw /metrics"
        ),
        format!(
            "{kubectl} apply -f {}",
            run.work().join(paths::CONTENTION).display()
        ),
        format!(
            "LOAD_TOKEN=$({kubectl} create token tether-e2e-load --namespace tether-system --duration=3600s)"
        ),
    ];
    let mut last = 0;
    for step in &steps {
        let at = transcript
            .lines()
            .position(|l| l == step)
            .unwrap_or_else(|| panic!("no {step:?} in:\n{transcript}"));
        assert!(at >= last, "{step} out of order");
        last = at;
    }
}

#[test]
fn the_contention_load_shares_the_agents_level_under_its_own_name() {
    let mut run = DryRun::new();
    run.backend.limit(2).unwrap();
    let docs = run.yaml_docs(paths::CONTENTION);
    let schema = docs.iter().find(|d| d["kind"] == "FlowSchema").unwrap();
    assert_eq!(
        schema["spec"]["priorityLevelConfiguration"]["name"],
        "tether-agent"
    );
    let agents = deploy_priority_level();
    assert_eq!(agents["metadata"]["name"], "tether-agent");
    let deploy_schema = testkit::repo::deploy_documents()
        .unwrap()
        .into_iter()
        .find(|d| d["kind"] == "FlowSchema")
        .unwrap();
    assert!(
        schema["spec"]["matchingPrecedence"].as_u64()
            < deploy_schema["spec"]["matchingPrecedence"].as_u64(),
        "matched before the agent's schema, never instead of it"
    );
    let subject = &schema["spec"]["rules"][0]["subjects"][0]["serviceAccount"];
    assert_eq!(subject["name"], apf::LOAD_ACCOUNT);
    assert_ne!(
        subject["name"], "tether-agent",
        "its 429s are not the agent's"
    );
    for doc in &docs {
        assert_eq!(
            doc["metadata"]["labels"]["tether.dev/e2e"], "contention",
            "{doc}"
        );
    }
}

#[test]
fn the_api_servers_concurrency_is_set_so_the_seats_are_known() {
    let run = up_and_install();
    let cfg = run.yaml(paths::KIND_CONFIG);
    let patch: Value =
        serde_saphyr::from_str(cfg["nodes"][0]["kubeadmConfigPatches"][0].as_str().unwrap())
            .unwrap();
    let args = &patch["apiServer"]["extraArgs"];
    let total: u32 = ["max-requests-inflight", "max-mutating-requests-inflight"]
        .iter()
        .map(|flag| args[*flag].as_str().unwrap().parse::<u32>().unwrap())
        .sum();
    assert_eq!(total, SERVER_CONCURRENCY);
}
