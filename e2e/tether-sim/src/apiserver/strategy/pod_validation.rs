//! The cheap rules of `ValidatePodSpec` (kubernetes v1.34
//! `pkg/apis/core/validation/validation.go`), for pods and every pod template: volume
//! names (`ValidateVolumes`), at least one container, and each container's name and image
//! (`validateContainers`, `validateInitContainers`, `validateContainerCommon`). Names are
//! DNS-1123 labels, unique per pod across containers and init containers.

use std::collections::HashSet;

use serde_json::Value;

use crate::apiserver::names::label_problem;

/// A field error: (field path, message).
type Cause = (String, String);

/// The problems of the pod spec at `path` (`"spec"`, `"spec.template.spec"`, ...).
pub fn validate(spec: &Value, path: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut volumes = HashSet::new();
    for (i, v) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        unique_label(
            &v["name"],
            &format!("{path}.volumes[{i}].name"),
            &mut volumes,
            &mut causes,
        );
    }
    let containers = spec["containers"].as_array().map_or(&[][..], Vec::as_slice);
    if containers.is_empty() {
        causes.push((format!("{path}.containers"), "Required value".into()));
    }
    let mut names = HashSet::new();
    for list in ["containers", "initContainers"] {
        for (i, c) in spec[list].as_array().into_iter().flatten().enumerate() {
            let at = format!("{path}.{list}[{i}]");
            unique_label(&c["name"], &format!("{at}.name"), &mut names, &mut causes);
            if c["image"].as_str().is_none_or(str::is_empty) {
                causes.push((format!("{at}.image"), "Required value".into()));
            }
        }
    }
    causes
}

/// Required, a DNS-1123 label, and not seen before among `seen`.
fn unique_label(name: &Value, field: &str, seen: &mut HashSet<String>, causes: &mut Vec<Cause>) {
    let name = name.as_str().unwrap_or_default();
    if name.is_empty() {
        causes.push((field.into(), "Required value".into()));
        return;
    }
    if let Some(p) = label_problem(name) {
        causes.push((field.into(), p));
    }
    if !seen.insert(name.to_string()) {
        causes.push((field.into(), format!("Duplicate value: {name:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_required_named_once_and_have_an_image() {
        assert_eq!(
            validate(&json!({"containers": []}), "spec"),
            vec![("spec.containers".to_string(), "Required value".to_string())]
        );
        let spec = json!({
            "volumes": [{"name": "v"}, {"name": "v"}],
            "containers": [{"name": "a", "image": "x"}, {"name": "Bad_"}, {"image": "y"}],
            "initContainers": [{"name": "a", "image": "z"}]});
        let causes = validate(&spec, "spec.template.spec");
        let fields: Vec<&str> = causes.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.template.spec.volumes[1].name",
                "spec.template.spec.containers[1].name",
                "spec.template.spec.containers[1].image",
                "spec.template.spec.containers[2].name",
                "spec.template.spec.initContainers[0].name",
            ]
        );
        assert_eq!(causes[0].1, "Duplicate value: \"v\"");
        assert!(
            causes[1]
                .1
                .starts_with("Invalid value: \"Bad_\": a lowercase RFC 1123 label")
        );
        assert_eq!(causes[3].1, "Required value");
        assert_eq!(causes[4].1, "Duplicate value: \"a\"");
        let ok = json!({"containers": [{"name": "app", "image": "busybox:1.36"}]});
        assert!(validate(&ok, "spec").is_empty());
    }
}
