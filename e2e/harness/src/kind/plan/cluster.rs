//! kind itself: create, reuse, delete the cluster, load the image, export logs.

use super::path;
use crate::kind::cmd::Cmd;
use crate::kind::config::KindConfig;
use crate::kind::files::paths;
use crate::kind::versions::Versions;

/// `kind get clusters`: whether a cluster of this name already runs (for reuse).
pub fn kind_get_clusters() -> Cmd {
    Cmd::new("kind", ["get", "clusters"])
}

/// `kind create cluster` from the generated config, writing the kubeconfig into the work dir.
pub fn kind_create(config: &KindConfig, versions: &Versions) -> Cmd {
    Cmd::new(
        "kind",
        [
            "create".to_owned(),
            "cluster".into(),
            "--name".into(),
            config.cluster_name.clone(),
            "--config".into(),
            path(config, paths::KIND_CONFIG),
            "--image".into(),
            versions.kind_node_image.to_string(),
            "--kubeconfig".into(),
            config.kubeconfig().display().to_string(),
            "--wait".into(),
            "180s".into(),
        ],
    )
}

/// `kind delete cluster`.
pub fn kind_delete(config: &KindConfig) -> Cmd {
    Cmd::new(
        "kind",
        [
            "delete".to_owned(),
            "cluster".into(),
            "--name".into(),
            config.cluster_name.clone(),
            "--kubeconfig".into(),
            config.kubeconfig().display().to_string(),
        ],
    )
}

/// `kind export kubeconfig` for a reused cluster whose kubeconfig is not in the work dir.
pub fn kind_export_kubeconfig(config: &KindConfig) -> Cmd {
    Cmd::new(
        "kind",
        [
            "export".to_owned(),
            "kubeconfig".into(),
            "--name".into(),
            config.cluster_name.clone(),
            "--kubeconfig".into(),
            config.kubeconfig().display().to_string(),
        ],
    )
}

/// `kind load docker-image`: the local tether image into every node (no registry involved).
pub fn kind_load_image(config: &KindConfig) -> Cmd {
    Cmd::new(
        "kind",
        [
            "load".to_owned(),
            "docker-image".into(),
            config.image.clone(),
            "--name".into(),
            config.cluster_name.clone(),
        ],
    )
}

/// `kind export logs <dir>`: kept when a scenario fails.
pub fn kind_export_logs(config: &KindConfig, dir: &str) -> Cmd {
    Cmd::new(
        "kind",
        [
            "export".to_owned(),
            "logs".into(),
            dir.to_owned(),
            "--name".into(),
            config.cluster_name.clone(),
        ],
    )
}
