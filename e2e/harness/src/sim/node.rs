//! A sim edge node: a container from the node image on the run's Docker network, given what
//! a DaemonSet pod gets (ServiceAccount token, CA and namespace files, the in-cluster
//! environment, `NODE_NAME`), with the agent on in-cluster config, and what a kind node's
//! kubelet gets (its kubeconfig under `/etc/kubernetes`). containerd runs inside it: its
//! state is on tmpfs (overlayfs cannot stack on the fuse-overlayfs or overlay root of a
//! container), and the container has its own cgroup namespace, so the cgroups runc makes for
//! pods are the node's and go with it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use testcontainers::bollard::models::HostConfigCgroupnsModeEnum;
use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::backend::Cut;
use crate::cleanup::{OWNER_LABEL, owner_label};
use crate::docker;
use crate::node::{
    AGENT_SERVICE, INSTALL_CNI_SERVICE, KUBELET_KUBECONFIG, YURTHUB_CERT, YURTHUB_IP, YURTHUB_KEY,
    YURTHUB_KUBECONFIG, YURTHUB_PORT, YURTHUB_SERVICE,
};

/// Where a pod finds its ServiceAccount credentials.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Directories of containerd's that live on tmpfs.
const CONTAINERD_DIRS: [&str; 2] = ["/var/lib/containerd", "/run/containerd"];

/// What a node container needs to start.
pub struct NodeSetup<'a> {
    /// Node name (also `NODE_NAME`).
    pub name: &'a str,
    /// Image `repo:tag`.
    pub image: &'a str,
    /// Docker network of the run.
    pub network: &'a str,
    /// Label key and value naming the cluster.
    pub cluster_label: (&'a str, &'a str),
    /// API server address as the node reaches it.
    pub api: (IpAddr, u16),
    /// ServiceAccount token of the agent.
    pub token: &'a str,
    /// CA that signed the API server's certificate.
    pub ca_pem: &'a str,
    /// The kubelet double's kubeconfig (yurthub's address and the node's credentials).
    pub kubelet_kubeconfig: &'a str,
    /// yurthub's kubeconfig (the API server's address and the node's credentials).
    pub yurthub_kubeconfig: &'a str,
    /// yurthub's serving certificate and key (PEM), signed by the cluster CA.
    pub yurthub_tls: (&'a str, &'a str),
    /// Host directory for this node's files.
    pub dir: &'a Path,
    /// Client-side rate limit of the agent.
    pub qps: f64,
    /// Burst of that limit.
    pub burst: u32,
}

/// A running edge node.
pub struct EdgeNode {
    /// Node name.
    pub name: String,
    container: ContainerAsync<GenericImage>,
    network: String,
    api: (IpAddr, u16),
}

impl EdgeNode {
    /// Starts the container and waits until its agent answers on the socket.
    pub async fn start(setup: NodeSetup<'_>) -> anyhow::Result<EdgeNode> {
        let secrets: PathBuf = setup.dir.join("serviceaccount");
        std::fs::create_dir_all(&secrets)
            .with_context(|| format!("creating {}", secrets.display()))?;
        for (file, content) in [
            ("token", setup.token),
            ("ca.crt", setup.ca_pem),
            ("namespace", "tether-system"),
        ] {
            std::fs::write(secrets.join(file), content)
                .with_context(|| format!("writing {file}"))?;
        }
        let kubelet_dir = setup.dir.join("kubernetes");
        std::fs::create_dir_all(&kubelet_dir)
            .with_context(|| format!("creating {}", kubelet_dir.display()))?;
        for (path, content) in [
            (KUBELET_KUBECONFIG, setup.kubelet_kubeconfig),
            (YURTHUB_KUBECONFIG, setup.yurthub_kubeconfig),
            (YURTHUB_CERT, setup.yurthub_tls.0),
            (YURTHUB_KEY, setup.yurthub_tls.1),
        ] {
            let name = Path::new(path)
                .file_name()
                .context("a node file has no name")?;
            let file = kubelet_dir.join(name);
            std::fs::write(&file, content)
                .with_context(|| format!("writing {}", file.display()))?;
        }
        let kubelet_conf_dir = Path::new(KUBELET_KUBECONFIG)
            .parent()
            .context("kubelet kubeconfig path has no directory")?
            .to_string_lossy()
            .into_owned();
        let (repo, tag) = setup.image.split_once(':').context("image has no tag")?;
        let mut image = GenericImage::new(repo, tag)
            .with_container_name(format!("{}-{}", setup.network, setup.name))
            .with_network(setup.network)
            .with_hostname(setup.name)
            .with_label(OWNER_LABEL, std::process::id().to_string())
            .with_label("tether.e2e.node", setup.name)
            .with_label(setup.cluster_label.0, setup.cluster_label.1)
            .with_cap_add("NET_ADMIN")
            .with_cap_add("SYS_ADMIN")
            .with_security_opt("seccomp=unconfined")
            .with_security_opt("apparmor=unconfined")
            // What `--security-opt systempaths=unconfined` does: /proc/sys read-write, as on
            // a real node, because tuning sets sysctls inside pod namespaces.
            .with_host_config_modifier(|config| {
                config.masked_paths = Some(Vec::new());
                config.readonly_paths = Some(Vec::new());
                config.cgroupns_mode = Some(HostConfigCgroupnsModeEnum::PRIVATE);
            })
            .with_mount(Mount::bind_mount(
                secrets.to_string_lossy(),
                SERVICE_ACCOUNT_DIR,
            ))
            .with_mount(Mount::bind_mount(
                kubelet_dir.to_string_lossy(),
                kubelet_conf_dir,
            ))
            .with_env_var("NODE_NAME", setup.name)
            // The agent's in-cluster config reaches yurthub, as on an OpenYurt edge node.
            .with_env_var("KUBERNETES_SERVICE_HOST", YURTHUB_IP)
            .with_env_var("KUBERNETES_SERVICE_PORT", YURTHUB_PORT.to_string())
            .with_env_var("TETHER_QPS", setup.qps.to_string())
            .with_env_var("TETHER_BURST", setup.burst.to_string())
            .with_env_var("TETHER_METRICS_ADDR", "0.0.0.0:9464")
            .with_env_var("TETHER_LOG_FORMAT", "json");
        for dir in CONTAINERD_DIRS {
            image = image.with_mount(Mount::tmpfs_mount(dir));
        }
        let container = image.start().await.with_context(|| {
            format!("starting node container {} ({})", setup.name, owner_label())
        })?;
        let node = EdgeNode {
            name: setup.name.to_string(),
            container,
            network: setup.network.to_string(),
            api: setup.api,
        };
        node.exec(&["tether-node", "wait-ready"])
            .await
            .with_context(|| format!("agent on {} never became ready", setup.name))?;
        Ok(node)
    }

    /// Docker's ID of the container.
    pub fn container_id(&self) -> &str {
        self.container.id()
    }

    /// Runs `argv` in the node; stdout, or an error with stderr when it exits non-zero.
    pub async fn exec(&self, argv: &[&str]) -> anyhow::Result<String> {
        let (code, stdout, stderr) = self.exec_status(argv).await?;
        if code != 0 {
            bail!(
                "{} on {} exited {code}: {}{}",
                argv.join(" "),
                self.name,
                stdout.trim(),
                stderr.trim()
            );
        }
        Ok(stdout)
    }

    /// Runs `argv` in the node; exit code, stdout and stderr.
    pub async fn exec_status(&self, argv: &[&str]) -> anyhow::Result<(i64, String, String)> {
        // `docker exec` on a blocking thread: testcontainers' exec result is not Sync, so a
        // future holding it could not be sent between threads as the Backend contract needs.
        let mut args = vec!["exec".to_string(), self.container.id().to_string()];
        args.extend(argv.iter().map(|a| a.to_string()));
        let out = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            docker::raw(&args)
        })
        .await
        .context("joining a docker exec")?
        .with_context(|| format!("exec {} on {}", argv.join(" "), self.name))?;
        Ok((
            i64::from(out.status.code().unwrap_or(-1)),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// Cuts the node off from the API server.
    pub async fn cut(&self, how: Cut) -> anyhow::Result<()> {
        match how {
            Cut::Network => {
                docker::docker(&["network", "disconnect", &self.network, self.container.id()])?;
            }
            Cut::Blackhole => self.blackhole("-I").await?,
        }
        Ok(())
    }

    /// Undoes [`EdgeNode::cut`]. The node may come back with another address on the
    /// network; the agent only makes outbound connections, so nothing depends on it.
    pub async fn reconnect(&self, how: Cut) -> anyhow::Result<()> {
        match how {
            Cut::Network => {
                docker::docker(&["network", "connect", &self.network, self.container.id()])?;
            }
            Cut::Blackhole => self.blackhole("-D").await?,
        }
        Ok(())
    }

    /// Inserts (`-I`) or deletes (`-D`) the rules dropping traffic with the API server, both
    /// ways: with only outbound dropped, data of established connections (a watch) arrives.
    async fn blackhole(&self, op: &str) -> anyhow::Result<()> {
        let api = self.api.0.to_string();
        self.exec(&["iptables", op, "OUTPUT", "-d", &api, "-j", "DROP"])
            .await?;
        self.exec(&["iptables", op, "INPUT", "-s", &api, "-j", "DROP"])
            .await?;
        Ok(())
    }

    /// Restarts the agent process (as kubelet restarts a container) and waits until it serves.
    pub async fn restart_agent(&self) -> anyhow::Result<()> {
        self.exec(&["tether-node", "restart", AGENT_SERVICE])
            .await?;
        self.exec(&["tether-node", "wait-ready"]).await?;
        Ok(())
    }

    /// Stops the tether DaemonSet's pod on this node for good, as kubelet does when the
    /// DaemonSet is deleted: the agent, then its install-cni sidecar, whose SIGTERM takes tether
    /// out of the node's chain.
    pub async fn remove_tether(&self) -> anyhow::Result<()> {
        for service in [AGENT_SERVICE, INSTALL_CNI_SERVICE] {
            self.exec(&["tether-node", "stop", service]).await?;
        }
        Ok(())
    }

    /// Rewrites the node's main conflist from its template, as kindnetd does when it restarts.
    pub async fn restart_main_plugin(&self) -> anyhow::Result<()> {
        self.exec(&["tether-node", "cni", "rewrite"])
            .await
            .map(drop)
    }

    /// Restarts the node's yurthub (as systemd restarts its unit) and waits until it accepts
    /// connections again; its disk cache survives, its recorded selectors do not.
    pub async fn restart_yurthub(&self) -> anyhow::Result<()> {
        self.exec(&["tether-node", "restart", YURTHUB_SERVICE])
            .await
            .map(drop)
    }

    /// Everything the node printed (init and agent).
    pub fn logs(&self) -> String {
        docker::raw(&["logs", self.container.id()])
            .map(|o| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
            .unwrap_or_else(|e| format!("(no logs: {e})"))
    }

    /// Removes the container.
    pub async fn remove(self) -> anyhow::Result<()> {
        self.container
            .rm()
            .await
            .with_context(|| format!("removing node {}", self.name))
    }
}
