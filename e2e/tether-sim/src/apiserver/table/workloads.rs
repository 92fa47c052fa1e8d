//! Deployments, ReplicaSets, StatefulSets, DaemonSets, Services, Jobs and CronJobs:
//! `printDeployment`, `printReplicaSet`, `printStatefulSet`, `printDaemonSet`,
//! `printService`, `printJob`, `printCronJob` of
//! `pkg/printers/internalversion/printers.go` (Kubernetes v1.34.1: columns `:157-212`,
//! `:347-356`; cells `:1211-1296`, `:1312-1396`, `:1543-1560`, `:2412-2435`;
//! `layoutContainerCells` `:2742-2755`).

use serde_json::{Value, json};

use super::age::{self, Now};
use super::columns::{Column, Row, count, text};
use super::config::age;
use super::docs;
use crate::apiserver::select::LabelSelector;

const CONTAINERS: &str = "Names of each container in the template.";
const IMAGES: &str = "Images referenced by each container in the template.";

/// CONTAINERS, IMAGES, SELECTOR: the wide columns of the workload printers.
fn wide_columns(selector_doc: &str) -> [Column; 3] {
    [
        Column::text("Containers", CONTAINERS).wide(),
        Column::text("Images", IMAGES).wide(),
        Column::text("Selector", selector_doc).wide(),
    ]
}

/// `layoutContainerCells`: names and images, comma-separated.
fn containers(spec: &Value) -> [Value; 2] {
    let list = spec["containers"].as_array().cloned().unwrap_or_default();
    let join = |f: &str| {
        list.iter()
            .map(|c| text(&c[f]).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    [json!(join("name")), json!(join("image"))]
}

/// `metav1.FormatLabelSelector`: the selector's text, `<none>` when it selects nothing.
fn format_selector(sel: &Value) -> String {
    let s = LabelSelector::from_object(sel).to_string();
    if s.is_empty() { "<none>".into() } else { s }
}

/// `labels.FormatLabels`: `k=v` sorted by key, `<none>` when empty.
fn format_labels(m: &Value) -> String {
    let mut pairs: Vec<String> = m
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// NAME READY UP-TO-DATE AVAILABLE AGE | CONTAINERS IMAGES SELECTOR.
pub fn deployment_columns() -> Vec<Column> {
    let mut c = vec![
        Column::name(),
        Column::text("Ready", "Number of the pod with ready state"),
        Column::text("Up-to-date", docs::DEPLOYMENT_UPDATED),
        Column::text("Available", docs::DEPLOYMENT_AVAILABLE),
        Column::age(),
    ];
    c.extend(wide_columns(docs::DEPLOYMENT_SELECTOR));
    c
}

/// A Deployment: ready/desired, updated and available replicas.
pub fn deployment_row(o: &Value, now: Now) -> Row {
    let (spec, status) = (&o["spec"], &o["status"]);
    let [names, images] = containers(&spec["template"]["spec"]);
    vec![
        o["metadata"]["name"].clone(),
        json!(format!(
            "{}/{}",
            int(&status["readyReplicas"]),
            int(&spec["replicas"])
        )),
        json!(int(&status["updatedReplicas"])),
        json!(int(&status["availableReplicas"])),
        age(o, now),
        names,
        images,
        json!(LabelSelector::from_object(&spec["selector"]).to_string()),
    ]
    .into()
}

/// NAME DESIRED CURRENT READY AGE | CONTAINERS IMAGES SELECTOR (`:144-153`).
pub fn replica_set_columns() -> Vec<Column> {
    let mut c = vec![
        Column::name(),
        Column::new("Desired", "integer", docs::RS_DESIRED),
        Column::new("Current", "integer", docs::RS_CURRENT),
        Column::new("Ready", "integer", docs::RS_READY),
        Column::age(),
    ];
    c.extend(wide_columns(docs::RS_SELECTOR));
    c
}

/// A ReplicaSet: desired, current and ready replicas (`printReplicaSet`, `:1182-1197`).
pub fn replica_set_row(o: &Value, now: Now) -> Row {
    let (spec, status) = (&o["spec"], &o["status"]);
    let [names, images] = containers(&spec["template"]["spec"]);
    vec![
        o["metadata"]["name"].clone(),
        json!(int(&spec["replicas"])),
        json!(int(&status["replicas"])),
        json!(int(&status["readyReplicas"])),
        age(o, now),
        names,
        images,
        json!(format_selector(&spec["selector"])),
    ]
    .into()
}

/// NAME READY AGE | CONTAINERS IMAGES (`:234-240`).
pub fn stateful_set_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("Ready", "Number of the pod with ready state"),
        Column::age(),
        Column::text("Containers", CONTAINERS).wide(),
        Column::text("Images", IMAGES).wide(),
    ]
}

/// A StatefulSet: ready/desired (`printStatefulSet`, `:1516-1529`).
pub fn stateful_set_row(o: &Value, now: Now) -> Row {
    let (spec, status) = (&o["spec"], &o["status"]);
    let [names, images] = containers(&spec["template"]["spec"]);
    vec![
        o["metadata"]["name"].clone(),
        json!(format!(
            "{}/{}",
            int(&status["readyReplicas"]),
            int(&spec["replicas"])
        )),
        age(o, now),
        names,
        images,
    ]
    .into()
}

/// NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE | CONTAINERS IMAGES
/// SELECTOR.
pub fn daemon_set_columns() -> Vec<Column> {
    let mut c = vec![
        Column::name(),
        Column::new("Desired", "integer", docs::DS_DESIRED),
        Column::new("Current", "integer", docs::DS_CURRENT),
        Column::new("Ready", "integer", docs::DS_READY),
        Column::new("Up-to-date", "integer", docs::DS_UPDATED),
        Column::new("Available", "integer", docs::DS_AVAILABLE),
        Column::text("Node Selector", docs::POD_NODE_SELECTOR),
        Column::age(),
    ];
    c.extend(wide_columns(docs::DS_SELECTOR));
    c
}

/// A DaemonSet: its status counters and the template's node selector.
pub fn daemon_set_row(o: &Value, now: Now) -> Row {
    let (spec, status) = (&o["spec"], &o["status"]);
    let [names, images] = containers(&spec["template"]["spec"]);
    let mut cells = vec![o["metadata"]["name"].clone()];
    for f in [
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
    ] {
        cells.push(json!(int(&status[f])));
    }
    cells.extend([
        json!(format_labels(&spec["template"]["spec"]["nodeSelector"])),
        age(o, now),
        names,
        images,
        json!(format_selector(&spec["selector"])),
    ]);
    cells.into()
}

/// NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE | SELECTOR.
pub fn service_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::text("Type", docs::SERVICE_TYPE),
        Column::text("Cluster-IP", docs::SERVICE_CLUSTER_IP),
        Column::text("External-IP", docs::SERVICE_EXTERNAL_IPS),
        Column::text("Port(s)", docs::SERVICE_PORTS),
        Column::age(),
        Column::text("Selector", docs::SERVICE_SELECTOR).wide(),
    ]
}

/// `getServiceExternalIP` (wide: the server always answers wide cells, so load-balancer
/// addresses are not shortened).
fn external_ip(spec: &Value, status: &Value) -> String {
    let external: Vec<String> = spec["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| text(v).to_string())
        .collect();
    match text(&spec["type"]) {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let mut lb: Vec<String> = status["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    [&i["ip"], &i["hostname"]]
                        .into_iter()
                        .map(text)
                        .find(|s| !s.is_empty())
                        .map(String::from)
                })
                .collect();
            lb.sort();
            lb.dedup();
            lb.extend(external);
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => text(&spec["externalName"]).to_string(),
        _ => "<unknown>".into(),
    }
}

/// A Service: type, first cluster IP, external IPs, `port[:nodePort]/protocol`.
pub fn service_row(o: &Value, now: Now) -> Row {
    let spec = &o["spec"];
    let ports: Vec<String> = spec["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| match int(&p["nodePort"]) {
            0 => format!("{}/{}", int(&p["port"]), text(&p["protocol"])),
            n => format!("{}:{n}/{}", int(&p["port"]), text(&p["protocol"])),
        })
        .collect();
    let cluster_ip = spec["clusterIPs"][0].as_str().unwrap_or("<none>");
    vec![
        o["metadata"]["name"].clone(),
        spec["type"].clone(),
        json!(cluster_ip),
        json!(external_ip(spec, &o["status"])),
        json!(if ports.is_empty() {
            "<none>".into()
        } else {
            ports.join(",")
        }),
        age(o, now),
        json!(format_labels(&spec["selector"])),
    ]
    .into()
}

/// NAME STATUS COMPLETIONS DURATION AGE | CONTAINERS IMAGES SELECTOR.
pub fn job_columns() -> Vec<Column> {
    let mut c = vec![
        Column::name(),
        Column::text("Status", "Status of the job."),
        Column::text("Completions", docs::JOB_SUCCEEDED),
        Column::text("Duration", "Time required to complete the job."),
        Column::age(),
    ];
    c.extend(wide_columns(docs::JOB_SELECTOR));
    c
}

fn has_condition(status: &Value, kind: &str) -> bool {
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// A Job: its state by condition, succeeded/completions, and how long it ran.
pub fn job_row(o: &Value, now: Now) -> Row {
    let (spec, status) = (&o["spec"], &o["status"]);
    let succeeded = int(&status["succeeded"]);
    let completions = match spec["completions"].as_i64() {
        Some(n) => format!("{succeeded}/{n}"),
        None if int(&spec["parallelism"]) > 1 => {
            format!("{succeeded}/1 of {}", int(&spec["parallelism"]))
        }
        None => format!("{succeeded}/1"),
    };
    let duration = match (
        age::parse(&status["startTime"]),
        age::parse(&status["completionTime"]),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => age::human_duration(now - start),
        (Some(start), Some(end)) => age::human_duration(end - start),
    };
    let state = if has_condition(status, "Complete") {
        "Complete"
    } else if has_condition(status, "Failed") {
        "Failed"
    } else if !o["metadata"]["deletionTimestamp"].is_null() {
        "Terminating"
    } else if has_condition(status, "Suspended") {
        "Suspended"
    } else if has_condition(status, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(status, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let [names, images] = containers(&spec["template"]["spec"]);
    vec![
        o["metadata"]["name"].clone(),
        json!(state),
        json!(completions),
        json!(duration),
        age(o, now),
        names,
        images,
        json!(format_selector(&spec["selector"])),
    ]
    .into()
}

/// NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE | CONTAINERS IMAGES SELECTOR
/// (`:186-197`; the schedule, time zone, suspend, active and last-schedule descriptions
/// are batch/v1beta1's).
pub fn cron_job_columns() -> Vec<Column> {
    let mut c = vec![
        Column::name(),
        Column::text(
            "Schedule",
            "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.",
        ),
        Column::text(
            "Timezone",
            "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
        ),
        Column::new(
            "Suspend",
            "boolean",
            "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.",
        ),
        Column::new(
            "Active",
            "integer",
            "A list of pointers to currently running jobs.",
        ),
        Column::text(
            "Last Schedule",
            "Information when was the last time the job was successfully scheduled.",
        ),
        Column::age(),
    ];
    c.extend(wide_columns(docs::JOB_SELECTOR));
    c
}

/// A CronJob: schedule, time zone, suspended, active jobs, last schedule.
pub fn cron_job_row(o: &Value, now: Now) -> Row {
    let (spec, status) = (&o["spec"], &o["status"]);
    let last = match age::parse(&status["lastScheduleTime"]) {
        Some(_) => age::since(&status["lastScheduleTime"], now),
        None => "<none>".into(),
    };
    let template = &spec["jobTemplate"]["spec"];
    let [names, images] = containers(&template["template"]["spec"]);
    vec![
        o["metadata"]["name"].clone(),
        spec["schedule"].clone(),
        json!(spec["timeZone"].as_str().unwrap_or("<none>")),
        json!(spec["suspend"].as_bool().unwrap_or(false)),
        json!(count(&status["active"])),
        json!(last),
        age(o, now),
        names,
        images,
        json!(format_selector(&template["selector"])),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        chrono::DateTime::parse_from_rfc3339("2025-01-01T01:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    #[test]
    fn a_daemon_set_row_counts_and_selects() {
        let ds = json!({"metadata": {"name": "agent", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"selector": {"matchLabels": {"app": "a"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}, {"name": "d", "image": "j"}]}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 1,
                       "updatedNumberScheduled": 2}});
        assert_eq!(
            daemon_set_row(&ds, now()).cells,
            vec![
                json!("agent"),
                json!(3),
                json!(3),
                json!(1),
                json!(2),
                json!(0),
                json!("<none>"),
                json!("60m"),
                json!("c,d"),
                json!("i:1,j"),
                json!("app=a")
            ]
        );
        assert_eq!(daemon_set_columns().len(), 11);
    }

    #[test]
    fn replica_and_stateful_set_rows() {
        let rs = json!({"metadata": {"name": "r"}, "spec": {"replicas": 3, "selector": {"matchLabels": {"a": "b"}}},
                        "status": {"replicas": 2, "readyReplicas": 1}});
        let cells = replica_set_row(&rs, now()).cells;
        assert_eq!(cells[1..4], [json!(3), json!(2), json!(1)]);
        assert_eq!(cells[7], json!("a=b"));
        let sts = json!({"metadata": {"name": "s"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 2}});
        assert_eq!(stateful_set_row(&sts, now()).cells[1], json!("2/2"));
        assert_eq!(
            stateful_set_columns().len(),
            stateful_set_row(&sts, now()).cells.len()
        );
    }

    #[test]
    fn a_deployment_row_shows_ready_of_desired() {
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3},
                       "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let cells = deployment_row(&d, now()).cells;
        assert_eq!(cells[1..4], [json!("2/3"), json!(3), json!(2)]);
        assert_eq!(
            cells[7],
            json!(""),
            "no selector: Go's Nothing() prints empty"
        );
    }

    #[test]
    fn service_rows_show_ports_and_external_addresses() {
        let s = json!({"metadata": {"name": "svc"}, "spec": {"type": "NodePort", "clusterIPs": ["10.96.0.9"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"b": "2", "a": "1"}}});
        let cells = service_row(&s, now()).cells;
        assert_eq!(
            cells[1..5],
            [
                json!("NodePort"),
                json!("10.96.0.9"),
                json!("<none>"),
                json!("80:30080/TCP,53/UDP")
            ]
        );
        assert_eq!(cells[6], json!("a=1,b=2"));
        let lb = json!({"spec": {"type": "LoadBalancer"}, "status": {}});
        assert_eq!(service_row(&lb, now()).cells[3], json!("<pending>"));
        assert_eq!(service_row(&lb, now()).cells[2], json!("<none>"));
    }

    #[test]
    fn job_rows_follow_conditions() {
        let j = json!({"metadata": {"name": "once"}, "spec": {"completions": 1},
            "status": {"succeeded": 1, "startTime": "2025-01-01T00:00:00Z", "completionTime": "2025-01-01T00:00:42Z",
                       "conditions": [{"type": "Complete", "status": "True"}]}});
        let cells = job_row(&j, now()).cells;
        assert_eq!(cells[1..4], [json!("Complete"), json!("1/1"), json!("42s")]);
        let running = json!({"spec": {"parallelism": 3}, "status": {}});
        assert_eq!(
            job_row(&running, now()).cells[1..4],
            [json!("Running"), json!("0/1 of 3"), json!("")]
        );
    }
}
