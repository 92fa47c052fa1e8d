//! The kubelet double's CRI client: gRPC (CRI v1, crate `k8s-cri`) on containerd's Unix
//! socket, as kubelet's remote runtime does. Every call is logged with what it was about,
//! its outcome and how long it took, so a failing scenario's node log shows the runtime's
//! side of each pod.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerStatus, ContainerStatusRequest, CreateContainerRequest, ImageSpec,
    ImageStatusRequest, ListPodSandboxRequest, PodSandbox, PodSandboxConfig, PodSandboxStatus,
    PodSandboxStatusRequest, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
    StopPodSandboxRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// A connection to the runtime's CRI services.
#[derive(Clone)]
pub struct Cri {
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

/// Logs a CRI call's outcome and duration; the call's result, with `what` as context.
async fn logged<T>(
    what: String,
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    describe: impl FnOnce(&T) -> String,
) -> anyhow::Result<T> {
    let start = Instant::now();
    let outcome = call.await;
    let ms = start.elapsed().as_millis();
    match outcome {
        Ok(answer) => {
            let answer = answer.into_inner();
            println!("kubelet: CRI {what} -> {} ({ms} ms)", describe(&answer));
            Ok(answer)
        }
        Err(status) => {
            println!(
                "kubelet: CRI {what} failed: {:?}: {} ({ms} ms)",
                status.code(),
                status.message()
            );
            Err(anyhow::anyhow!("{}: {}", status.code(), status.message()))
                .with_context(|| format!("CRI {what}"))
        }
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

impl Cri {
    /// Connects to the runtime at `socket`, waiting up to `within` for it to answer `Version`.
    pub async fn connect(socket: &Path, within: Duration) -> anyhow::Result<Cri> {
        let path: PathBuf = socket.to_path_buf();
        // The URI is required by tonic and ignored: every connection goes to the socket.
        let channel = Endpoint::try_from("http://[::1]:50051")?
            .connect_timeout(Duration::from_secs(5))
            .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { UnixStream::connect(path).await.map(TokioIo::new) }
            }));
        let cri = Cri {
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        };
        let deadline = Instant::now() + within;
        loop {
            let mut runtime = cri.runtime.clone();
            match runtime.version(VersionRequest::default()).await {
                Ok(v) => {
                    let v = v.into_inner();
                    println!(
                        "kubelet: CRI Version -> {} {} (CRI {})",
                        v.runtime_name, v.runtime_version, v.runtime_api_version
                    );
                    return Ok(cri);
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(anyhow::anyhow!("{e}")).with_context(|| {
                        format!(
                            "the runtime on {} did not answer within {within:?}",
                            socket.display()
                        )
                    });
                }
                // The runtime starts before the kubelet double; until it listens, only asking
                // again tells when it does.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Whether the runtime has `image` (there is no registry to pull from).
    pub async fn has_image(&self, image: &str) -> anyhow::Result<bool> {
        let request = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            verbose: false,
        };
        let answer = logged(
            format!("ImageStatus {image}"),
            self.images.clone().image_status(request),
            |a| {
                if a.image.is_some() {
                    "present"
                } else {
                    "absent"
                }
                .to_string()
            },
        )
        .await?;
        Ok(answer.image.is_some())
    }

    /// RunPodSandbox: the sandbox and its network (CNI ADD); its ID.
    pub async fn run_pod_sandbox(&self, config: PodSandboxConfig) -> anyhow::Result<String> {
        let what = match &config.metadata {
            Some(m) => format!(
                "RunPodSandbox {}/{} (uid {}, attempt {})",
                m.namespace, m.name, m.uid, m.attempt
            ),
            None => "RunPodSandbox".into(),
        };
        let request = RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        };
        let answer = logged(what, self.runtime.clone().run_pod_sandbox(request), |a| {
            short(&a.pod_sandbox_id).to_string()
        })
        .await?;
        Ok(answer.pod_sandbox_id)
    }

    /// PodSandboxStatus, verbose: the status and containerd's `info` (netns path, pid).
    pub async fn pod_sandbox_status(
        &self,
        id: &str,
    ) -> anyhow::Result<(PodSandboxStatus, HashMap<String, String>)> {
        let request = PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: true,
        };
        let answer = logged(
            format!("PodSandboxStatus {}", short(id)),
            self.runtime.clone().pod_sandbox_status(request),
            |a| {
                let ip = a
                    .status
                    .as_ref()
                    .and_then(|s| s.network.as_ref())
                    .map(|n| n.ip.clone())
                    .unwrap_or_default();
                format!("ip {ip:?}")
            },
        )
        .await?;
        let status = answer
            .status
            .with_context(|| format!("PodSandboxStatus of {id} without status"))?;
        Ok((status, answer.info))
    }

    /// ListPodSandbox: every sandbox the runtime has.
    pub async fn list_pod_sandbox(&self) -> anyhow::Result<Vec<PodSandbox>> {
        let answer = logged(
            "ListPodSandbox".into(),
            self.runtime
                .clone()
                .list_pod_sandbox(ListPodSandboxRequest { filter: None }),
            |a| format!("{} sandboxes", a.items.len()),
        )
        .await?;
        Ok(answer.items)
    }

    /// StopPodSandbox: its containers stopped, its network torn down (CNI DEL).
    pub async fn stop_pod_sandbox(&self, id: &str) -> anyhow::Result<()> {
        let request = StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        };
        logged(
            format!("StopPodSandbox {}", short(id)),
            self.runtime.clone().stop_pod_sandbox(request),
            |_| "stopped".into(),
        )
        .await
        .map(drop)
    }

    /// RemovePodSandbox: the sandbox and its containers gone.
    pub async fn remove_pod_sandbox(&self, id: &str) -> anyhow::Result<()> {
        let request = RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        };
        logged(
            format!("RemovePodSandbox {}", short(id)),
            self.runtime.clone().remove_pod_sandbox(request),
            |_| "removed".into(),
        )
        .await
        .map(drop)
    }

    /// CreateContainer in a sandbox; the container's ID.
    pub async fn create_container(
        &self,
        sandbox: &str,
        config: ContainerConfig,
        sandbox_config: PodSandboxConfig,
    ) -> anyhow::Result<String> {
        let name = config
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let request = CreateContainerRequest {
            pod_sandbox_id: sandbox.into(),
            config: Some(config),
            sandbox_config: Some(sandbox_config),
        };
        let answer = logged(
            format!("CreateContainer {name} in {}", short(sandbox)),
            self.runtime.clone().create_container(request),
            |a| short(&a.container_id).to_string(),
        )
        .await?;
        Ok(answer.container_id)
    }

    /// StartContainer.
    pub async fn start_container(&self, id: &str) -> anyhow::Result<()> {
        let request = StartContainerRequest {
            container_id: id.into(),
        };
        logged(
            format!("StartContainer {}", short(id)),
            self.runtime.clone().start_container(request),
            |_| "started".into(),
        )
        .await
        .map(drop)
    }

    /// ContainerStatus.
    pub async fn container_status(&self, id: &str) -> anyhow::Result<ContainerStatus> {
        let request = ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        };
        let answer = logged(
            format!("ContainerStatus {}", short(id)),
            self.runtime.clone().container_status(request),
            |a| {
                let state = a.status.as_ref().map(|s| s.state).unwrap_or(-1);
                format!("state {state}")
            },
        )
        .await?;
        answer
            .status
            .with_context(|| format!("ContainerStatus of {id} without status"))
    }
}
