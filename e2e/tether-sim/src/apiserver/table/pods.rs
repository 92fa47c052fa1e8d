//! Pods: `printPod` of `pkg/printers/internalversion/printers.go` (Kubernetes v1.34).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::age::{self, Now};
use super::columns::{Column, Row, count, text};
use super::docs;

/// NAME READY STATUS RESTARTS AGE | wide: IP NODE NOMINATED NODE READINESS GATES.
pub fn columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text(
            "Ready",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        Column::text(
            "Status",
            "The aggregate status of the containers in this pod.",
        ),
        Column::text(
            "Restarts",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        Column::age(),
        Column::text("IP", docs::POD_IP).wide(),
        Column::text("Node", docs::POD_NODE_NAME).wide(),
        Column::text("Nominated Node", docs::POD_NOMINATED_NODE).wide(),
        Column::text("Readiness Gates", docs::POD_READINESS_GATES).wide(),
    ]
}

/// Restarts counted so far and when a container last terminated.
#[derive(Default)]
struct Restarts {
    count: i64,
    last: Option<DateTime<Utc>>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += status["restartCount"].as_i64().unwrap_or(0);
        if let Some(t) = age::parse(&status["lastState"]["terminated"]["finishedAt"])
            && self.last.is_none_or(|l| l < t)
        {
            self.last = Some(t);
        }
    }
}

/// A sidecar: an init container with `restartPolicy: Always`.
fn restartable(pod: &Value, name: &Value) -> bool {
    pod["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == *name)
        .is_some_and(|c| c["restartPolicy"] == "Always")
}

fn has_condition(pod: &Value, kind: &str) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .is_some_and(|c| c["status"] == "True")
}

/// `Init:Signal:9`, `Init:ExitCode:1`, `Signal:9`, `ExitCode:1` for a reasonless termination.
fn terminated_reason(prefix: &str, t: &Value) -> String {
    match (text(&t["reason"]), t["signal"].as_i64().unwrap_or(0)) {
        ("", 0) => format!("{prefix}ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
        ("", signal) => format!("{prefix}Signal:{signal}"),
        (reason, _) => format!("{prefix}{reason}"),
    }
}

/// The row of one pod, computed at `now`.
pub fn row(pod: &Value, now: Now) -> Row {
    let spec = &pod["spec"];
    let status = &pod["status"];
    let phase = text(&status["phase"]);
    let mut reason = match text(&status["reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let conditions_list = status["conditions"].as_array().into_iter().flatten();
    for c in conditions_list {
        if c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated" {
            reason = "SchedulingGated".into();
        }
    }
    let init_specs = spec["initContainers"].as_array().into_iter().flatten();
    let sidecars = init_specs
        .filter(|c| c["restartPolicy"] == "Always")
        .count();
    let total = count(&spec["containers"]) + i64::try_from(sidecars).unwrap_or(0);
    let mut ready = 0;
    let mut all = Restarts::default();
    let mut of_sidecars = Restarts::default();

    let init_statuses: Vec<&Value> = status["initContainerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        all.add(c);
        let sidecar = restartable(pod, &c["name"]);
        if sidecar {
            of_sidecars.add(c);
        }
        let state = &c["state"];
        let terminated = state["terminated"]
            .is_object()
            .then_some(&state["terminated"]);
        let waiting = text(&state["waiting"]["reason"]);
        if terminated.is_some_and(|t| t["exitCode"].as_i64().unwrap_or(0) == 0) {
            continue;
        }
        if sidecar && c["started"] == true {
            if c["ready"] == true {
                ready += 1;
            }
            continue;
        }
        reason = match terminated {
            Some(t) => terminated_reason("Init:", t),
            None if !waiting.is_empty() && waiting != "PodInitializing" => {
                format!("Init:{waiting}")
            }
            None => format!("Init:{i}/{}", count(&spec["initContainers"])),
        };
        initializing = true;
        break;
    }

    let mut restarts = all;
    if !initializing || has_condition(pod, "Initialized") {
        restarts = of_sidecars;
        let mut running = false;
        let statuses = status["containerStatuses"].as_array().into_iter().flatten();
        // The real printer walks the containers from last to first: the first one's reason wins.
        for c in statuses.rev() {
            restarts.add(c);
            let state = &c["state"];
            let waiting = text(&state["waiting"]["reason"]);
            let terminated = &state["terminated"];
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if terminated.is_object() {
                reason = terminated_reason("", terminated);
            } else if c["ready"] == true && state["running"].is_object() {
                running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && running {
            reason = if has_condition(pod, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let deleting = !pod["metadata"]["deletionTimestamp"].is_null();
    if deleting && status["reason"] == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts_cell = match restarts.last {
        Some(last) if restarts.count != 0 => {
            format!(
                "{} ({} ago)",
                restarts.count,
                age::human_duration(now - last)
            )
        }
        _ => restarts.count.to_string(),
    };
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    // v1 → internal conversion: podIP wins over podIPs[0] (core/v1/conversion.go).
    let ip = match text(&status["podIP"]) {
        "" => text(&status["podIPs"][0]["ip"]),
        ip => ip,
    };
    let cells = vec![
        pod["metadata"]["name"].clone(),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        json!(age::since(&pod["metadata"]["creationTimestamp"], now)),
        json!(or_none(ip)),
        json!(or_none(text(&spec["nodeName"]))),
        json!(or_none(text(&status["nominatedNodeName"]))),
        json!(readiness_gates(pod)),
    ];
    let completed = |r: &str, message: &str| {
        vec![json!({"type": "Completed", "status": "True", "reason": r, "message": message})]
    };
    let conditions = match phase {
        "Succeeded" => completed("Succeeded", "The pod has completed successfully."),
        "Failed" => completed("Failed", "The pod failed."),
        _ => Vec::new(),
    };
    Row { cells, conditions }
}

/// `1/2`: readiness gates whose condition is True, or `<none>`.
fn readiness_gates(pod: &Value) -> String {
    let Some(gates) = pod["spec"]["readinessGates"]
        .as_array()
        .filter(|g| !g.is_empty())
    else {
        return "<none>".into();
    };
    let conditions: Vec<&Value> = pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let true_ones = gates
        .iter()
        .filter(|g| {
            conditions
                .iter()
                .find(|c| c["type"] == g["conditionType"])
                .is_some_and(|c| c["status"] == "True")
        })
        .count();
    format!("{true_ones}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        age::parse(&json!("2025-01-01T12:00:00Z")).unwrap()
    }

    fn pod(spec: Value, status: Value) -> Value {
        json!({"metadata": {"name": "p", "creationTimestamp": "2025-01-01T11:00:00Z"},
               "spec": spec, "status": status})
    }

    fn cells(p: &Value) -> Vec<Value> {
        row(p, now()).cells
    }

    fn running(name: &str) -> Value {
        json!({"name": name, "ready": true, "restartCount": 0, "state": {"running": {}}})
    }

    #[test]
    fn a_running_pod_with_ip_and_node() {
        let p = pod(
            json!({"containers": [{"name": "app"}], "nodeName": "edge-1"}),
            json!({"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [running("app")]}),
        );
        assert_eq!(
            cells(&p),
            vec![
                json!("p"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("60m"),
                json!("10.0.0.5"),
                json!("edge-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let p = pod(
            json!({"containers": []}),
            json!({"podIPs": [{"ip": "fd00::1"}]}),
        );
        assert_eq!(cells(&p)[5], json!("fd00::1"));
    }

    #[test]
    fn status_comes_from_the_first_waiting_or_terminated_container() {
        let p = pod(
            json!({"containers": [{"name": "a"}, {"name": "b"}]}),
            json!({"phase": "Pending", "containerStatuses": [
                {"name": "a", "state": {"waiting": {"reason": "ContainerCreating"}}},
                {"name": "b", "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
        );
        assert_eq!(cells(&p)[1..3], [json!("0/2"), json!("ContainerCreating")]);
        let p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Running", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "signal": 9}}}]}),
        );
        assert_eq!(cells(&p)[2], json!("Signal:9"));
        let p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Pending"}),
        );
        assert_eq!(cells(&p)[1..3], [json!("0/1"), json!("Pending")]);
        let p = pod(
            json!({"containers": []}),
            json!({"phase": "Failed", "reason": "Evicted"}),
        );
        assert_eq!(cells(&p)[2], json!("Evicted"));
        assert_eq!(row(&p, now()).conditions[0]["reason"], "Failed");
    }

    #[test]
    fn init_containers_and_sidecars() {
        let spec = json!({"initContainers": [{"name": "init"}, {"name": "side", "restartPolicy": "Always"}],
                          "containers": [{"name": "app"}]});
        let p = pod(
            spec.clone(),
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "init", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
        );
        assert_eq!(
            cells(&p)[1..4],
            [json!("0/2"), json!("Init:CrashLoopBackOff"), json!("2")]
        );
        let p = pod(
            spec.clone(),
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "init", "state": {"running": {}}}]}),
        );
        assert_eq!(cells(&p)[2], json!("Init:0/2"));
        let p = pod(
            spec,
            json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                   "initContainerStatuses": [
                       {"name": "init", "restartCount": 4, "state": {"terminated": {"exitCode": 0}}},
                       {"name": "side", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
                   "containerStatuses": [running("app")]}),
        );
        // Only the sidecar's restarts count once initialised.
        assert_eq!(
            cells(&p)[1..4],
            [json!("2/2"), json!("Running"), json!("1")]
        );
    }

    #[test]
    fn restarts_say_when_the_last_one_was() {
        let p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Running", "containerStatuses": [{"name": "a", "ready": true, "restartCount": 3,
                "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-01-01T11:55:00Z"}}}]}),
        );
        assert_eq!(cells(&p)[3], json!("3 (5m ago)"));
    }

    #[test]
    fn deletion_makes_terminating_or_unknown() {
        let mut p = pod(
            json!({"containers": [{"name": "a"}]}),
            json!({"phase": "Running", "containerStatuses": [running("a")]}),
        );
        p["metadata"]["deletionTimestamp"] = json!("2025-01-01T11:59:00Z");
        assert_eq!(cells(&p)[2], json!("Terminating"));
        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(cells(&p)[2], json!("Unknown"));
        p["status"] = json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]});
        assert_eq!(cells(&p)[2], json!("Completed"));
    }

    #[test]
    fn completed_with_a_running_container_is_running_or_not_ready() {
        let mut p = pod(
            json!({"containers": [{"name": "a"}, {"name": "b"}]}),
            json!({"phase": "Running", "containerStatuses": [
                {"name": "a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                running("b")]}),
        );
        assert_eq!(cells(&p)[2], json!("NotReady"));
        p["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
        assert_eq!(cells(&p)[2], json!("Running"));
    }

    #[test]
    fn readiness_gates_and_scheduling_gates() {
        let p = pod(
            json!({"containers": [], "readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}]}),
            json!({"phase": "Pending", "conditions": [{"type": "a", "status": "True"},
                {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
        );
        let c = cells(&p);
        assert_eq!((&c[2], &c[8]), (&json!("SchedulingGated"), &json!("1/2")));
    }
}
