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

/// How Docker stores images: `docker info`'s `DriverStatus` (JSON), which holds
/// `["driver-type","io.containerd.snapshotter.v1"]` under the containerd image store (moby
/// `daemon/containerd/service.go` `LayerStoreStatus`, moby/moby#43983).
pub fn docker_image_store() -> Cmd {
    Cmd::new("docker", ["info", "--format", "{{json .DriverStatus}}"])
}

/// Whether `docker info`'s `DriverStatus` says the containerd image store is in use. Anything
/// else, unreadable output included, is the classic store.
pub fn is_containerd_image_store(driver_status: &str) -> bool {
    serde_json::from_str::<Vec<Vec<String>>>(driver_status.trim()).is_ok_and(|pairs| {
        pairs.iter().any(|p| {
            p.len() == 2 && p[0] == "driver-type" && p[1] == "io.containerd.snapshotter.v1"
        })
    })
}

/// This machine's platform as Docker names it (`linux/amd64`, `linux/arm64`).
pub fn docker_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux/{arch}")
}

/// Loads the local tether image into every node. With the classic image store, `kind load
/// docker-image`. With Docker's containerd image store, `kind load` (both forms) ends in `ctr
/// images import --all-platforms` (kind v0.31.0 `pkg/cluster/nodeutils/util.go:86`), which
/// fails on an archive naming platforms whose blobs are not there (kind#3795, open): the
/// archive is then made for this platform only (`docker save --platform`, Docker API ≥ 1.48)
/// and loaded with `kind load image-archive`.
pub fn load_image(config: &KindConfig, containerd_store: bool) -> Vec<Cmd> {
    if !containerd_store {
        return vec![kind_load_image(config)];
    }
    let archive = path(config, paths::IMAGE_ARCHIVE);
    vec![
        Cmd::new(
            "docker",
            [
                "save".to_owned(),
                "--platform".into(),
                docker_platform(),
                "--output".into(),
                archive.clone(),
                config.image.clone(),
            ],
        ),
        Cmd::new(
            "kind",
            [
                "load".to_owned(),
                "image-archive".into(),
                archive,
                "--name".into(),
                config.cluster_name.clone(),
            ],
        ),
    ]
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
