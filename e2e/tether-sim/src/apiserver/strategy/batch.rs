//! Jobs and CronJobs: defaults (kubernetes v1.34.1 `pkg/apis/batch/v1/defaults.go:34-89`)
//! and a Job's generated selector (v1.34.2 `pkg/registry/batch/job/strategy.go:217-256`,
//! `generateSelector`, run by `Validate`, `:169`, once the uid exists): unless `manualSelector`, the selector is the Job's uid under
//! `batch.kubernetes.io/controller-uid`, and the template carries that label, the
//! `batch.kubernetes.io/job-name` label and their legacy unprefixed forms.

use serde_json::{Value, json};

use super::pod_spec::{self, or_default};

fn job_spec(spec: &mut Value) {
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec["completions"] = json!(1);
    }
    or_default(spec, "parallelism", json!(1));
    let backoff = if spec
        .get("backoffLimitPerIndex")
        .is_some_and(|b| !b.is_null())
    {
        i64::from(i32::MAX)
    } else {
        6
    };
    or_default(spec, "backoffLimit", json!(backoff));
    or_default(spec, "completionMode", json!("NonIndexed"));
    or_default(spec, "suspend", json!(false));
    let replacement = if spec.get("podFailurePolicy").is_some_and(|p| !p.is_null()) {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    or_default(spec, "podReplacementPolicy", json!(replacement));
    or_default(spec, "manualSelector", json!(false));
    if let Some(t) = spec.pointer_mut("/template/spec") {
        pod_spec::default(t);
    }
}

/// Default a Job; on create (`old` none) also generate its selector from `uid`.
pub fn default_job(old: Option<&Value>, obj: &mut Value, uid: &str) {
    job_spec(&mut obj["spec"]);
    let template_labels = obj["spec"]["template"]["metadata"]["labels"].clone();
    if template_labels.is_object()
        && obj["metadata"]["labels"]
            .as_object()
            .is_none_or(|l| l.is_empty())
    {
        obj["metadata"]["labels"] = template_labels;
    }
    if old.is_some() || obj["spec"]["manualSelector"] == true {
        return;
    }
    // Labels and the selector key are added only where missing (`:226-256`).
    let name = obj["metadata"]["name"].clone();
    or_default(
        &mut obj["spec"]["selector"]["matchLabels"],
        "batch.kubernetes.io/controller-uid",
        json!(uid),
    );
    let labels = &mut obj["spec"]["template"]["metadata"]["labels"];
    for key in ["batch.kubernetes.io/controller-uid", "controller-uid"] {
        or_default(labels, key, json!(uid));
    }
    for key in ["batch.kubernetes.io/job-name", "job-name"] {
        or_default(labels, key, name.clone());
    }
}

/// Default a CronJob and the Job template in it.
pub fn default_cron_job(obj: &mut Value) {
    let spec = &mut obj["spec"];
    or_default(spec, "concurrencyPolicy", json!("Allow"));
    or_default(spec, "suspend", json!(false));
    or_default(spec, "successfulJobsHistoryLimit", json!(3));
    or_default(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(js) = spec.pointer_mut("/jobTemplate/spec") {
        job_spec(js);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_gets_counts_limits_and_a_generated_selector() {
        let mut job = json!({"metadata": {"name": "once"}, "spec": {"template": {"spec": {"containers": []}}}});
        default_job(None, &mut job, "u-1");
        let spec = &job["spec"];
        assert_eq!(
            (spec["parallelism"].clone(), spec["completions"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(
            spec["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
        );
        assert_eq!(
            spec["template"]["metadata"]["labels"],
            json!({"batch.kubernetes.io/controller-uid": "u-1", "controller-uid": "u-1",
                   "batch.kubernetes.io/job-name": "once", "job-name": "once"})
        );
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
        let mut parallel = json!({"spec": {"parallelism": 3}});
        default_job(None, &mut parallel, "u");
        assert!(parallel["spec"]["completions"].is_null());
    }

    #[test]
    fn a_cron_job_gets_its_policy_and_history_limits() {
        let mut cj = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {}}}});
        default_cron_job(&mut cj);
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["spec"]["suspend"], false);
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
        assert_eq!(cj["spec"]["jobTemplate"]["spec"]["backoffLimit"], 6);
    }
}
