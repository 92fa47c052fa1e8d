//! Which resources yurthub recognises, and their kinds: what client-go's scheme knows
//! (built-ins), plus every custom kind it has seen in an answer, with the plural guessed
//! from the kind and remembered on disk (`pkg/yurthub/kubernetes/meta/restmapper.go`).
//! An offline list of a resource it does not recognise is a 404 (`cache_manager.go:308-325`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A group, version and resource (plural).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvr {
    /// API group (`""` for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Resource (plural).
    pub resource: String,
}

impl Gvr {
    /// Build one.
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }

    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Built-in resources of Kubernetes v1.34 as client-go's scheme maps them to kinds: the
/// ones a node agent plausibly lists (the scheme knows more; see the README).
#[rustfmt::skip]
const BUILT_IN: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "bindings", "Binding"),
    ("", "v1", "componentstatuses", "ComponentStatus"),
    ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "endpoints", "Endpoints"),
    ("", "v1", "events", "Event"),
    ("", "v1", "limitranges", "LimitRange"),
    ("", "v1", "namespaces", "Namespace"),
    ("", "v1", "nodes", "Node"),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    ("", "v1", "persistentvolumes", "PersistentVolume"),
    ("", "v1", "pods", "Pod"),
    ("", "v1", "podtemplates", "PodTemplate"),
    ("", "v1", "replicationcontrollers", "ReplicationController"),
    ("", "v1", "resourcequotas", "ResourceQuota"),
    ("", "v1", "secrets", "Secret"),
    ("", "v1", "serviceaccounts", "ServiceAccount"),
    ("", "v1", "services", "Service"),
    ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "ValidatingAdmissionPolicyBinding"),
    ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition"),
    ("apps", "v1", "controllerrevisions", "ControllerRevision"),
    ("apps", "v1", "daemonsets", "DaemonSet"),
    ("apps", "v1", "deployments", "Deployment"),
    ("apps", "v1", "replicasets", "ReplicaSet"),
    ("apps", "v1", "statefulsets", "StatefulSet"),
    ("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview"),
    ("authentication.k8s.io", "v1", "tokenreviews", "TokenReview"),
    ("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview"),
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview"),
    ("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview"),
    ("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview"),
    ("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    ("batch", "v1", "cronjobs", "CronJob"),
    ("batch", "v1", "jobs", "Job"),
    ("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest"),
    ("coordination.k8s.io", "v1", "leases", "Lease"),
    ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    ("events.k8s.io", "v1", "events", "Event"),
    ("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations", "PriorityLevelConfiguration"),
    ("networking.k8s.io", "v1", "ingressclasses", "IngressClass"),
    ("networking.k8s.io", "v1", "ingresses", "Ingress"),
    ("networking.k8s.io", "v1", "ipaddresses", "IPAddress"),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    ("networking.k8s.io", "v1", "servicecidrs", "ServiceCIDR"),
    ("node.k8s.io", "v1", "runtimeclasses", "RuntimeClass"),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ("resource.k8s.io", "v1", "deviceclasses", "DeviceClass"),
    ("resource.k8s.io", "v1", "resourceclaims", "ResourceClaim"),
    ("resource.k8s.io", "v1", "resourceclaimtemplates", "ResourceClaimTemplate"),
    ("resource.k8s.io", "v1", "resourceslices", "ResourceSlice"),
    ("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass"),
    ("storage.k8s.io", "v1", "csidrivers", "CSIDriver"),
    ("storage.k8s.io", "v1", "csinodes", "CSINode"),
    ("storage.k8s.io", "v1", "csistoragecapacities", "CSIStorageCapacity"),
    ("storage.k8s.io", "v1", "storageclasses", "StorageClass"),
    ("storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment"),
];

/// Where the custom kinds are remembered, under the cache dir (`restmapper.go:36`).
const FILE: &str = "_internal/restmapper/cache-crd-restmapper.conf";

/// The kind of a built-in resource.
fn built_in(gvr: &Gvr) -> Option<&'static str> {
    BUILT_IN
        .iter()
        .find(|(g, v, r, _)| *g == gvr.group && *v == gvr.version && *r == gvr.resource)
        .map(|(_, _, _, k)| *k)
}

/// Whether a kind is one of the scheme's (then it is never added as custom).
fn is_built_in_kind(group: &str, version: &str, kind: &str) -> bool {
    BUILT_IN
        .iter()
        .any(|(g, v, _, k)| *g == group && *v == version && *k == kind)
}

/// `meta.UnsafeGuessKindToResource`, with yurthub's exception for kinds ending in
/// "gateway" (`restmapper.go:277-295`): (plural, singular).
pub fn guess_resources(kind: &str) -> (String, String) {
    let singular = kind.to_lowercase();
    let plural = if singular.ends_with("gateway") {
        format!("{singular}s")
    } else if let Some(stem) = singular.strip_suffix('y') {
        format!("{stem}ies")
    } else if singular.ends_with('s') {
        format!("{singular}es")
    } else {
        format!("{singular}s")
    };
    (plural, singular)
}

/// The REST mapper: built-ins and the custom kinds seen so far.
pub struct Kinds {
    file: PathBuf,
    custom: Mutex<BTreeMap<Gvr, String>>,
}

impl Kinds {
    /// Load the remembered custom kinds from `cache_dir` (an unreadable file is an error, as
    /// in `restmapper.go:83-114`).
    pub fn open(cache_dir: &Path) -> std::io::Result<Self> {
        let file = cache_dir.join(FILE);
        let custom = match std::fs::read(&file) {
            Ok(b) if b.is_empty() => BTreeMap::new(),
            Ok(b) => {
                let m: BTreeMap<String, String> = serde_json::from_slice(&b).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", file.display()),
                    )
                })?;
                m.into_iter()
                    .filter_map(|(k, kind)| {
                        let mut p = k.splitn(3, '/');
                        match (p.next(), p.next(), p.next()) {
                            (Some(g), Some(v), Some(r)) => Some((Gvr::new(g, v, r), kind)),
                            _ => None,
                        }
                    })
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Self {
            file,
            custom: Mutex::new(custom),
        })
    }

    fn custom(&self) -> std::sync::MutexGuard<'_, BTreeMap<Gvr, String>> {
        self.custom.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kind served at `gvr`, if recognised (`restmapper.go:171-185`).
    pub fn kind_for(&self, gvr: &Gvr) -> Option<String> {
        built_in(gvr)
            .map(String::from)
            .or_else(|| self.custom().get(gvr).cloned())
    }

    /// Remember a custom kind seen in an answer (`restmapper.go:196-211`): its guessed
    /// plural and singular both map to it.
    pub fn learn(&self, api_version: &str, kind: &str) {
        let kind = kind.strip_suffix("List").unwrap_or(kind);
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        if kind.is_empty() || group.is_empty() || is_built_in_kind(group, version, kind) {
            return;
        }
        let (plural, singular) = guess_resources(kind);
        let added = {
            let mut c = self.custom();
            let singular = Gvr::new(group, version, &singular);
            if c.contains_key(&singular) {
                false
            } else {
                c.insert(singular, kind.to_string());
                c.insert(Gvr::new(group, version, &plural), kind.to_string());
                true
            }
        };
        if added {
            self.save();
        }
    }

    /// Forget the custom kind served at `gvr` (after a 404 to a list, `loadbalancer.go:413-427`).
    pub fn forget(&self, gvr: &Gvr) {
        let removed = {
            let mut c = self.custom();
            match c.get(gvr).cloned() {
                Some(kind) => {
                    let (plural, singular) = guess_resources(&kind);
                    c.remove(&Gvr::new(&gvr.group, &gvr.version, &plural));
                    c.remove(&Gvr::new(&gvr.group, &gvr.version, &singular));
                    true
                }
                None => false,
            }
        };
        if removed {
            self.save();
        }
    }

    /// Write the custom kinds back; a failure costs only the memory across a restart.
    fn save(&self) {
        let m: BTreeMap<String, String> = self
            .custom()
            .iter()
            .map(|(g, k)| {
                (
                    format!("{}/{}/{}", g.group, g.version, g.resource),
                    k.clone(),
                )
            })
            .collect();
        if let Ok(text) = serde_json::to_vec(&m) {
            let _ = super::cache::write_atomically(&self.file, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn plurals_are_guessed_from_the_kind() {
        assert_eq!(guess_resources("NetworkProfile").0, "networkprofiles");
        assert_eq!(guess_resources("Policy").0, "policies");
        assert_eq!(guess_resources("Ingress").0, "ingresses");
        assert_eq!(guess_resources("EdgeGateway").0, "edgegateways");
    }

    #[test]
    fn custom_kinds_are_learned_remembered_and_forgotten() {
        let dir = std::env::temp_dir().join(format!("kinds-{}", uuid::Uuid::new_v4().simple()));
        let kinds = Kinds::open(&dir).unwrap();
        let np = Gvr::new("tether.dev", "v1alpha1", "networkprofiles");
        assert_eq!(kinds.kind_for(&np), None);
        kinds.learn("tether.dev/v1alpha1", "NetworkProfileList");
        assert_eq!(kinds.kind_for(&np).as_deref(), Some("NetworkProfile"));
        assert_eq!(
            Kinds::open(&dir).unwrap().kind_for(&np).as_deref(),
            Some("NetworkProfile")
        );
        kinds.forget(&np);
        assert_eq!(Kinds::open(&dir).unwrap().kind_for(&np), None);
        assert_eq!(
            kinds.kind_for(&Gvr::new("", "v1", "pods")).as_deref(),
            Some("Pod")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
