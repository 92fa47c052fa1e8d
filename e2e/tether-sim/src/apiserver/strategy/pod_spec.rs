//! Defaults of a pod spec, for pods and for every pod template (kubernetes v1.34.1
//! `pkg/apis/core/v1/defaults.go`: `SetDefaults_PodSpec` `:214-235`, `SetDefaults_Container`
//! `:82-100`, `SetDefaults_Probe`, `SetDefaults_HTTPGetAction`, the volume sources'
//! `defaultMode`, `SetDefaults_ObjectFieldSelector`; declarative defaults in
//! `zz_generated.defaults.go`: port protocol TCP), and the v1 conversion's mirror of
//! `serviceAccountName` into the deprecated `serviceAccount` (`conversion.go`).

use serde_json::{Value, json};

/// Set `obj[key]` to `v` when absent (or null).
pub(super) fn or_default(obj: &mut Value, key: &str, v: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj[key] = v;
    }
}

/// The items of the list at `obj[key]`, if there is one (indexing mutably would insert a
/// null).
pub(super) fn items_mut<'a>(obj: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    obj.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// Set `obj[key]` to `v` when absent, null or `""` (Go's `== ""`).
fn or_default_str(obj: &mut Value, key: &str, v: &str) {
    if obj[key].as_str().is_none_or(str::is_empty) {
        obj[key] = json!(v);
    }
}

/// The tag `parsers.ParseImageName` finds: `latest` when neither tag nor digest is given.
fn image_tag(image: &str) -> &str {
    if image.contains('@') {
        return "";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag,
        None => "latest",
    }
}

fn probe(p: &mut Value) {
    if !p.is_object() {
        return;
    }
    for (k, v) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        or_default(p, k, json!(v));
    }
    if let Some(h) = p.get_mut("httpGet").filter(|h| h.is_object()) {
        or_default_str(h, "path", "/");
        or_default_str(h, "scheme", "HTTP");
    }
}

fn container(c: &mut Value) {
    let pull = if image_tag(c["image"].as_str().unwrap_or_default()) == "latest" {
        "Always"
    } else {
        "IfNotPresent"
    };
    or_default_str(c, "imagePullPolicy", pull);
    or_default_str(c, "terminationMessagePath", "/dev/termination-log");
    or_default_str(c, "terminationMessagePolicy", "File");
    for port in items_mut(c, "ports") {
        or_default_str(port, "protocol", "TCP");
    }
    for env in items_mut(c, "env") {
        if let Some(field_ref) = env
            .get_mut("valueFrom")
            .and_then(|v| v.get_mut("fieldRef"))
            .filter(|f| f.is_object())
        {
            or_default_str(field_ref, "apiVersion", "v1");
        }
    }
    for p in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(x) = c.get_mut(p) {
            probe(x);
        }
    }
}

fn volume(v: &mut Value) {
    for source in ["configMap", "secret", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).filter(|s| s.is_object()) {
            or_default(s, "defaultMode", json!(420));
        }
    }
}

/// `SetDefaults_PodSpec` and what it reaches: pods and pod templates alike.
pub fn default(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    or_default_str(spec, "dnsPolicy", "ClusterFirst");
    or_default_str(spec, "restartPolicy", "Always");
    or_default(spec, "securityContext", json!({}));
    or_default(spec, "terminationGracePeriodSeconds", json!(30));
    or_default_str(spec, "schedulerName", "default-scheduler");
    for list in ["containers", "initContainers"] {
        for c in items_mut(spec, list) {
            container(c);
        }
    }
    for v in items_mut(spec, "volumes") {
        volume(v);
    }
    // The v1 form carries both names (`Convert_core_PodSpec_To_v1_PodSpec`).
    match (
        spec["serviceAccountName"]
            .as_str()
            .filter(|s| !s.is_empty()),
        spec["serviceAccount"].as_str().filter(|s| !s.is_empty()),
    ) {
        (Some(name), _) => spec["serviceAccount"] = json!(name),
        (None, Some(name)) => spec["serviceAccountName"] = json!(name),
        (None, None) => {}
    }
}

/// `SetDefaults_Pod` (`defaults.go:167-212`): requests from limits, service links, and
/// host ports under host networking — pods only, not templates.
pub fn default_pod(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for list in ["containers", "initContainers"] {
        for c in items_mut(spec, list) {
            let limits = c["resources"]["limits"].clone();
            if let Some(limits) = limits.as_object() {
                for (k, v) in limits {
                    or_default(&mut c["resources"]["requests"], k, v.clone());
                }
            }
        }
    }
    or_default(spec, "enableServiceLinks", json!(true));
    if spec["hostNetwork"].as_bool() == Some(true) {
        for list in ["containers", "initContainers"] {
            for c in items_mut(spec, list) {
                for port in items_mut(c, "ports") {
                    if port["hostPort"].as_i64().unwrap_or(0) == 0 {
                        port["hostPort"] = port["containerPort"].clone();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_spec_gets_the_v1_defaults() {
        let mut spec = json!({"serviceAccountName": "agent", "containers": [
            {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
             "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
             "readinessProbe": {"httpGet": {"port": 80}}},
            {"name": "b", "image": "registry:5000/x/y:1.2"},
            {"name": "c", "image": "y@sha256:abc"}]});
        default(&mut spec);
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["serviceAccount"], "agent");
        let c = &spec["containers"];
        assert_eq!(c[0]["imagePullPolicy"], "Always");
        assert_eq!(c[1]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[2]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[0]["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c[0]["terminationMessagePolicy"], "File");
        assert_eq!(c[0]["ports"][0]["protocol"], "TCP");
        assert_eq!(c[0]["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(
            c[0]["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert!(spec.get("enableServiceLinks").is_none(), "pods only");
        assert!(spec.get("initContainers").is_none() && c[1].get("ports").is_none());
    }

    #[test]
    fn pods_also_get_requests_links_and_host_ports() {
        let mut spec = json!({"hostNetwork": true, "containers": [{"name": "a", "image": "x:1",
            "ports": [{"containerPort": 9464}],
            "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "10m"}}}]});
        default_pod(&mut spec);
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(
            spec["containers"][0]["resources"]["requests"],
            json!({"cpu": "10m", "memory": "64Mi"})
        );
        assert_eq!(spec["containers"][0]["ports"][0]["hostPort"], 9464);
    }
}
