//! Every file the kind backend writes before it runs anything: kind's cluster config with the
//! kubeadm patch enabling audit logging, the audit policy, the helm values, the NodePools, the
//! kustomize overlay that points deploy/ at the local image, and the demo profile and pods.
//!
//! Documents are built as JSON values and rendered with serde-saphyr, so they are YAML by
//! construction (keys come out sorted, which YAML does not mind).

use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use super::apf;
use super::config::{
    AUDIT_LOG_PATH, AUDIT_POLICY_DIR, KindConfig, MAX_MUTATING_REQUESTS_INFLIGHT,
    MAX_REQUESTS_INFLIGHT, TETHER_AGENT, TETHER_NAMESPACE,
};
use super::error::KindError;
use super::versions::Versions;

/// A file of the plan, relative to the work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path under [`KindConfig::work_dir`].
    pub rel: PathBuf,
    /// Full contents.
    pub contents: String,
}

/// Work-dir paths of the generated files, so commands and files agree.
pub mod paths {
    /// kind's cluster configuration.
    pub const KIND_CONFIG: &str = "kind-config.yaml";
    /// Host directory mounted into the control plane at `/etc/kubernetes/policies`.
    pub const AUDIT_DIR: &str = "audit";
    /// The audit policy inside [`AUDIT_DIR`].
    pub const AUDIT_POLICY: &str = "audit/audit-policy.yaml";
    /// Values for chart `yurt-manager`.
    pub const YURT_MANAGER_VALUES: &str = "yurt-manager-values.yaml";
    /// Values for chart `yurthub`.
    pub const YURTHUB_VALUES: &str = "yurthub-values.yaml";
    /// Output of `helm template yurthub --show-only templates/yurthub-cfg.yaml`.
    pub const YURTHUB_CFG: &str = "yurthub-cfg.yaml";
    /// The NodePools.
    pub const NODEPOOLS: &str = "nodepools.yaml";
    /// Kustomize overlay over deploy/.
    pub const OVERLAY_DIR: &str = "tether-overlay";
    /// Its kustomization.
    pub const OVERLAY: &str = "tether-overlay/kustomization.yaml";
    /// Demo NetworkProfile and pods (hack/up.sh).
    pub const DEMO: &str = "demo.yaml";
    /// The tether image saved for `kind load image-archive` (Docker's containerd image store).
    pub const IMAGE_ARCHIVE: &str = "tether-image.tar";
    /// Where a disconnected node's address is recorded, one file per node.
    pub const DISCONNECTED_DIR: &str = "disconnected";
    /// The merge patch that squeezes the agent's priority level (`Backend::limit`).
    pub const LIMIT_PATCH: &str = "apf/tether-agent-limit.json";
    /// The objects that put the contention load into the agent's priority level.
    pub const CONTENTION: &str = "apf/contention.yaml";
}

// Long one-line values (digest-pinned images, paths) stay plain scalars instead of being
// folded with `>-`; multi-line strings (the kubeadm patch) are still literal blocks.
fn options() -> serde_saphyr::SerializerOptions {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = 4096;
    options
}

fn render(what: &'static str, doc: &Value) -> Result<String, KindError> {
    serde_saphyr::to_string_with_options(doc, options()).map_err(|e| KindError::Render {
        what,
        message: e.to_string(),
    })
}

fn render_all(what: &'static str, docs: &[Value]) -> Result<String, KindError> {
    serde_saphyr::to_string_multiple_with_options(docs, options()).map_err(|e| KindError::Render {
        what,
        message: e.to_string(),
    })
}

/// The audit policy: every request of tether-agent's ServiceAccount at `Metadata` (user, verb,
/// resource, response code, User-Agent, APF annotations), one event per request — only
/// `ResponseComplete` (or `Panic`): `RequestReceived` and `ResponseStarted` (which a watch is
/// logged at too) are omitted; nothing else, to keep the log small.
pub fn audit_policy() -> Result<PlannedFile, KindError> {
    let doc = json!({
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived", "ResponseStarted"],
        "rules": [
            {"level": "Metadata", "users": [format!("system:serviceaccount:{TETHER_NAMESPACE}:{TETHER_AGENT}")]},
            {"level": "None"},
        ],
    });
    Ok(PlannedFile {
        rel: paths::AUDIT_POLICY.into(),
        contents: render("audit policy", &doc)?,
    })
}

/// kind's cluster config: one control plane with audit logging and a known concurrency limit
/// ([`super::config::SERVER_CONCURRENCY`], for `Backend::limit`), one worker per edge node, all on the pinned
/// node image. The kubeadm patch is v1beta3 (what kind v0.31 generates: kind v0.31.0
/// `pkg/cluster/internal/kubeadm/config.go:327-346,505`), where `extraArgs` is a map; kind
/// merges it by `kind:`.
pub fn kind_config(config: &KindConfig, versions: &Versions) -> Result<PlannedFile, KindError> {
    let image = versions.kind_node_image.to_string();
    let policy_file = format!("{AUDIT_POLICY_DIR}/audit-policy.yaml");
    let log_dir = Path::new(AUDIT_LOG_PATH)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let patch = render(
        "kubeadm ClusterConfiguration patch",
        &json!({
            "kind": "ClusterConfiguration",
            "apiServer": {
                "extraArgs": {
                    "audit-policy-file": policy_file,
                    "audit-log-path": AUDIT_LOG_PATH,
                    "audit-log-maxsize": "200",
                    "audit-log-maxbackup": "1",
                    "max-requests-inflight": MAX_REQUESTS_INFLIGHT.to_string(),
                    "max-mutating-requests-inflight": MAX_MUTATING_REQUESTS_INFLIGHT.to_string(),
                },
                "extraVolumes": [
                    {"name": "audit-policies", "hostPath": AUDIT_POLICY_DIR, "mountPath": AUDIT_POLICY_DIR,
                     "readOnly": true, "pathType": "DirectoryOrCreate"},
                    {"name": "audit-logs", "hostPath": log_dir, "mountPath": log_dir,
                     "readOnly": false, "pathType": "DirectoryOrCreate"},
                ],
            },
        }),
    )?;
    let audit_host_dir = config.work_dir.join(paths::AUDIT_DIR).display().to_string();
    let mut nodes = vec![json!({
        "role": "control-plane",
        "image": image,
        "kubeadmConfigPatches": [patch],
        "extraMounts": [{"hostPath": audit_host_dir, "containerPath": AUDIT_POLICY_DIR, "readOnly": true}],
    })];
    nodes.extend(
        config
            .edge_nodes
            .iter()
            .map(|_| json!({"role": "worker", "image": image})),
    );
    let doc = json!({
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "kind": "Cluster",
        "name": config.cluster_name,
        "nodes": nodes,
    });
    Ok(PlannedFile {
        rel: paths::KIND_CONFIG.into(),
        contents: render("kind config", &doc)?,
    })
}

/// Values of chart `yurt-manager` 1.7.0: both image tags pinned (`nodeServant.image.tag`
/// defaults to `latest` in the chart).
pub fn yurt_manager_values(versions: &Versions) -> Result<PlannedFile, KindError> {
    let doc = json!({
        "image": {"tag": versions.yurt_manager_image_tag.to_string()},
        "nodeServant": {"image": {"tag": versions.node_servant_image_tag.to_string()}},
    });
    Ok(PlannedFile {
        rel: paths::YURT_MANAGER_VALUES.into(),
        contents: render("yurt-manager values", &doc)?,
    })
}

/// Values of chart `yurthub` 1.7.0, from `deploy/openyurt-values.yaml`: top-level
/// `cacheAgents`, rendered by its `templates/yurthub-cfg.yaml` into ConfigMap `yurt-hub-cfg`
/// key `cache_agents` (yurthub splits it on commas). Chart `yurt-manager` has no such value.
/// The file is used as deploy/ ships it; every agent of `config.cache_agents` must be in it.
pub fn yurthub_values(config: &KindConfig) -> Result<PlannedFile, KindError> {
    let path = config.deploy_dir.join("openyurt-values.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| KindError::InvalidConfig(format!("reading {}: {e}", path.display())))?;
    let doc: Value = serde_saphyr::from_str(&text)
        .map_err(|e| KindError::InvalidConfig(format!("parsing {}: {e}", path.display())))?;
    let listed: Vec<&str> = doc["cacheAgents"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    if let Some(missing) = config
        .cache_agents
        .iter()
        .find(|a| !listed.contains(&a.as_str()))
    {
        return Err(KindError::InvalidConfig(format!(
            "{}: cacheAgents {listed:?} lacks {missing}; yurthub would not cache it",
            path.display()
        )));
    }
    Ok(PlannedFile {
        rel: paths::YURTHUB_VALUES.into(),
        contents: text,
    })
}

/// One NodePool (`apps.openyurt.io/v1beta2`, type `Edge`) per pool of the edge nodes;
/// yurt-manager converts only nodes whose pool is of type Edge.
pub fn nodepools(config: &KindConfig) -> Result<PlannedFile, KindError> {
    let docs: Vec<Value> = config
        .pools()
        .into_iter()
        .map(|pool| {
            json!({
                "apiVersion": "apps.openyurt.io/v1beta2",
                "kind": "NodePool",
                "metadata": {"name": pool},
                "spec": {"type": "Edge"},
            })
        })
        .collect();
    Ok(PlannedFile {
        rel: paths::NODEPOOLS.into(),
        contents: render_all("NodePools", &docs)?,
    })
}

/// A kustomize overlay that applies deploy/ unchanged except for the image, which becomes
/// the locally built one loaded into kind.
pub fn tether_overlay(config: &KindConfig) -> Result<PlannedFile, KindError> {
    let overlay_dir = config.work_dir.join(paths::OVERLAY_DIR);
    let base = relative_path(&overlay_dir, &config.deploy_dir);
    let (name, tag) = split_image(&config.image);
    let mut image = json!({"name": config.deploy_image_name, "newName": name});
    if let (Some(tag), Some(map)) = (tag, image.as_object_mut()) {
        map.insert("newTag".into(), Value::String(tag.to_owned()));
    }
    let doc = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [base.display().to_string()],
        "images": [image],
    });
    Ok(PlannedFile {
        rel: paths::OVERLAY.into(),
        contents: render("kustomize overlay", &doc)?,
    })
}

/// The demo of hack/up.sh: the demo NetworkProfile ([`testkit::demo`], the same as the sim
/// demo's) and one pod it selects pinned to each edge node.
pub fn demo(config: &KindConfig) -> Result<PlannedFile, KindError> {
    let mut docs = vec![testkit::demo::profile()];
    let (label, value) = testkit::demo::POD_LABEL;
    for (index, node) in config.worker_names().iter().enumerate() {
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": format!("camera-{}", index + 1),
                "namespace": testkit::demo::NAMESPACE,
                "labels": {label: value},
            },
            "spec": {
                "nodeName": node,
                "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10", "imagePullPolicy": "IfNotPresent"}],
            },
        }));
    }
    Ok(PlannedFile {
        rel: paths::DEMO.into(),
        contents: render_all("demo manifests", &docs)?,
    })
}

/// The merge patch `limit` applies to the agent's PriorityLevelConfiguration ([`apf::limit_patch`]).
pub fn limit_patch(shares: u32) -> Result<PlannedFile, KindError> {
    let contents =
        serde_json::to_string_pretty(&apf::limit_patch(shares)).map_err(|e| KindError::Render {
            what: "priority level patch",
            message: e.to_string(),
        })?;
    Ok(PlannedFile {
        rel: paths::LIMIT_PATCH.into(),
        contents,
    })
}

/// The contention load's ServiceAccount, RBAC and FlowSchema ([`apf::contention`]).
pub fn contention() -> Result<PlannedFile, KindError> {
    Ok(PlannedFile {
        rel: paths::CONTENTION.into(),
        contents: render_all("contention objects", &apf::contention())?,
    })
}

/// Every file `up` needs (`install_tether` writes [`tether_overlay`], `apply_demo` [`demo`]).
pub fn all(config: &KindConfig, versions: &Versions) -> Result<Vec<PlannedFile>, KindError> {
    Ok(vec![
        audit_policy()?,
        kind_config(config, versions)?,
        yurt_manager_values(versions)?,
        yurthub_values(config)?,
        nodepools(config)?,
    ])
}

/// `name` and `tag` of `name:tag` (a `:` before the last `/` is a registry port, not a tag).
fn split_image(image: &str) -> (&str, Option<&str>) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (image, None),
    }
}

/// `to` relative to directory `from`; kustomize wants relative paths to its bases.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for part in &to[common..] {
        rel.push(part);
    }
    rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        assert_eq!(
            relative_path(
                Path::new("/r/target/kind/tether-overlay"),
                Path::new("/r/deploy")
            ),
            PathBuf::from("../../../deploy")
        );
        assert_eq!(
            relative_path(Path::new("/a"), Path::new("/a/b")),
            PathBuf::from("b")
        );
    }

    #[test]
    fn image_tags_are_split_off_but_registry_ports_are_not() {
        assert_eq!(
            split_image("tether-agent:0.1.0"),
            ("tether-agent", Some("0.1.0"))
        );
        assert_eq!(
            split_image("localhost:5000/tether"),
            ("localhost:5000/tether", None)
        );
        assert_eq!(split_image("tether"), ("tether", None));
    }
}
