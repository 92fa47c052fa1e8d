//! Shared helpers for the tether-sim tests: a server per test, kube clients, kubectl.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Shared by several test crates; a failure is the test failing.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use tether_sim::apiserver::{self, ApiServer, SimConfig};

/// The NetworkProfile CRD fixture.
pub const CRD: &str = include_str!("../fixtures/networkprofile-crd.yaml");
/// Two NetworkProfiles.
pub const PROFILES: &str = include_str!("../fixtures/profiles.yaml");

/// Start a server with `config` (defaults otherwise).
pub async fn server_with(config: SimConfig) -> ApiServer {
    apiserver::start(config).await.unwrap()
}

/// Start a server with default settings.
pub async fn server() -> ApiServer {
    server_with(SimConfig::default()).await
}

/// A kube client authenticating with `token`, with tether's User-Agent.
pub async fn client(server: &ApiServer, token: &str) -> kube::Client {
    client_with_retry(server, token, true).await
}

/// A kube client; `retry` switches kube's own retry of 429/503 (Retry-After aware).
pub async fn client_with_retry(server: &ApiServer, token: &str, retry: bool) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&server.kubeconfig_for(&server.url(), token)).unwrap();
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    cfg.default_retry = retry;
    cfg.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static("tether-agent/0.1.0"),
    ));
    kube::Client::try_from(cfg).unwrap()
}

/// Poll `f` until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Create a fresh one.
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "tether-sim-{tag}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    /// A path inside.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// kubectl against one server with one token.
pub struct Kubectl {
    dir: TempDir,
}

/// What a kubectl run gave.
pub struct Output {
    /// Exit success.
    pub ok: bool,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Kubectl {
    /// kubectl with a kubeconfig for `token`.
    pub fn new(server: &ApiServer, token: &str) -> Self {
        let dir = TempDir::new("kubectl");
        std::fs::write(
            dir.path("kubeconfig"),
            server.kubeconfig_for(&server.url(), token),
        )
        .unwrap();
        Self { dir }
    }

    /// The kubeconfig path.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path("kubeconfig")
    }

    /// Write a file next to the kubeconfig and return its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A kubectl command with the kubeconfig set and no cache shared with others.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.env("KUBECONFIG", self.kubeconfig())
            .env("KUBECACHEDIR", self.dir.path("cache"))
            .env("HOME", &self.dir.0)
            .args(args);
        c
    }

    /// Run to completion (blocking: call from spawn_blocking or a plain test).
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().unwrap();
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run and require success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.ok, "kubectl {args:?} failed: {}{}", o.stdout, o.stderr);
        o.stdout
    }

    /// Run and require failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.ok,
            "kubectl {args:?} unexpectedly succeeded: {}",
            o.stdout
        );
        o.stderr
    }
}
