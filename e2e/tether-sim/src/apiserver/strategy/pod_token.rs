//! The ServiceAccount admission's API access volume (kubernetes v1.34
//! `plugin/pkg/admission/serviceaccount/admission.go` `mountServiceAccountToken` and
//! `TokenVolumeSource`): a projected `kube-api-access-<5 chars>` volume with a bound token
//! (`expirationSeconds` 3607, `WarnOnlyBoundTokenExpirationSeconds`), the namespace's
//! `kube-root-ca.crt` and the namespace from the downward API, mounted read-only at
//! `/var/run/secrets/kubernetes.io/serviceaccount` in every container and init container
//! that has no mount there yet.

use serde_json::{Value, json};

use crate::apiserver::names::random_suffix;

/// Where the token is mounted (`DefaultAPITokenMountPath`).
const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The prefix of the volume's name (`ServiceAccountVolumeName`).
const VOLUME_PREFIX: &str = "kube-api-access-";
/// Mirror pods are left alone (`kubetypes.ConfigMirrorAnnotationKey`).
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// The projected volume `name` (`TokenVolumeSource`, default mode 0644).
fn token_volume(name: &str) -> Value {
    json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace",
            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}})
}

/// Mount the API access volume into `pod`, unless the pod opts out
/// (`automountServiceAccountToken: false`) or is a mirror pod.
pub fn mount(pod: &mut Value) {
    if pod["metadata"]["annotations"][MIRROR_ANNOTATION].is_string()
        || pod["spec"]["automountServiceAccountToken"].as_bool() == Some(false)
    {
        return;
    }
    let spec = &mut pod["spec"];
    let existing = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .find(|n| n.starts_with(VOLUME_PREFIX))
        .map(String::from);
    let name = existing
        .clone()
        .unwrap_or_else(|| format!("{VOLUME_PREFIX}{}", random_suffix()));
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let mounted = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"] == MOUNT_PATH);
            if mounted || !c.is_object() {
                continue;
            }
            let mount = json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH});
            match c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                Some(mounts) => mounts.push(mount),
                None => c["volumeMounts"] = json!([mount]),
            }
            needed = true;
        }
    }
    if needed && existing.is_none() {
        match spec.get_mut("volumes").and_then(Value::as_array_mut) {
            Some(volumes) => volumes.push(token_volume(&name)),
            None => spec["volumes"] = json!([token_volume(&name)]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_container_mounts_one_projected_token_volume() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "image": "x"},
            {"name": "b", "image": "x", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}],
            "initContainers": [{"name": "i", "image": "x"}]}});
        mount(&mut pod);
        let volumes = pod["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 1);
        let name = volumes[0]["name"].as_str().unwrap();
        let suffix = name.strip_prefix(VOLUME_PREFIX).unwrap();
        assert_eq!(suffix.len(), 5);
        assert!(
            suffix
                .chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
        assert_eq!(volumes[0], token_volume(name));
        let want = json!([{"name": name, "readOnly": true, "mountPath": MOUNT_PATH}]);
        assert_eq!(pod["spec"]["containers"][0]["volumeMounts"], want);
        assert_eq!(pod["spec"]["initContainers"][0]["volumeMounts"], want);
        assert_eq!(
            pod["spec"]["containers"][1]["volumeMounts"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "a mount at the path already is kept alone"
        );
    }

    #[test]
    fn opted_out_mirror_and_fully_mounted_pods_get_no_volume() {
        let container = json!({"name": "a", "image": "x"});
        let mut opted_out =
            json!({"spec": {"automountServiceAccountToken": false, "containers": [container]}});
        let mut mirror = json!({"metadata": {"annotations": {MIRROR_ANNOTATION: "x"}},
            "spec": {"containers": [container]}});
        let mut mounted = json!({"spec": {"containers": [
            {"name": "a", "image": "x", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}]}});
        for pod in [&mut opted_out, &mut mirror, &mut mounted] {
            let before = pod.clone();
            mount(pod);
            assert_eq!(*pod, before);
        }
    }
}
