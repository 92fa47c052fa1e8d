//! kube clients from a kubeconfig's text, for any backend's API server.

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A client for the cluster `kubeconfig` (YAML) names, with its first context.
pub async fn client_for(kubeconfig: &str) -> anyhow::Result<kube::Client> {
    let parsed = Kubeconfig::from_yaml(kubeconfig).context("parsing a kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(parsed, &KubeConfigOptions::default())
        .await
        .context("loading a kubeconfig")?;
    kube::Client::try_from(config).context("building a client from a kubeconfig")
}
