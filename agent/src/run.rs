//! `tether-agent run`: logging, then the wiring of the store, cache, socket server, watches,
//! reporting and operations endpoint, and the graceful stop on SIGTERM.
//!
//! Order matters for edge autonomy: the disk cache is loaded and the socket bound before the
//! API server is contacted, so pods get answers (from the cache, else defaults) whether or not
//! the cloud is reachable.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::api::client::{self, Limits};
use crate::api::report::{self, KubeSink};
use crate::api::upstream::Monitor;
use crate::api::watches;
use crate::cli::{LogFormat, RunArgs};
use crate::metrics::Metrics;
use crate::serve::ops::{self, Ops};
use crate::serve::socket::{self, ServerConfig};
use crate::state::cache;
use crate::state::outbox::Outbox;
use crate::state::records::{Feed, Kind, Origin};
use crate::state::store::Store;

/// How often, at most, the cache is rewritten and status drift is looked at.
const SETTLE: Duration = Duration::from_secs(2);

/// Runs the agent until SIGTERM or SIGINT.
pub fn main(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    // An answer that waits for its pod must still fit in the connection's deadline.
    if args.pod_wait_ms >= args.connection_timeout_ms {
        anyhow::bail!(
            "--pod-wait-ms ({}) must be below --connection-timeout-ms ({})",
            args.pod_wait_ms,
            args.connection_timeout_ms
        );
    }
    let metrics = Arc::new(Metrics::default());
    let store = Store::new(&args.node_name);
    let cache_path = cache::path(&args.state_dir);
    match cache::load(&store, &cache_path) {
        Ok(loaded) => tracing::info!(path = %cache_path.display(), ?loaded, "disk cache"),
        Err(e) => {
            metrics.cache_errors.inc();
            tracing::warn!(error = %e, "disk cache ignored");
        }
    }
    let (outbox, troubles) = Outbox::open(
        &Outbox::path(&args.state_dir),
        args.outbox_limit,
        metrics.clone(),
    );
    for trouble in troubles {
        tracing::warn!(error = %trouble, "outbox");
    }
    if !outbox.is_empty() {
        tracing::info!(
            writes = outbox.len(),
            "outbox: writes owed by an earlier run"
        );
    }
    let monitor = Monitor::new(store.clone(), metrics.clone(), Some(outbox.clone()));
    let listener = socket::bind(&args.socket)
        .with_context(|| format!("binding the socket {}", args.socket.display()))?;
    let ops_listener = tokio::net::TcpListener::bind(args.metrics_addr)
        .await
        .with_context(|| format!("binding the metrics address {}", args.metrics_addr))?;
    let (stop, stopped) = watch::channel(false);
    let config = ServerConfig {
        pod_wait: Duration::from_millis(args.pod_wait_ms),
        connection_timeout: Duration::from_millis(args.connection_timeout_ms),
        max_connections: args.max_connections,
        // Only root may ask: tether-cni is exec'd by the container runtime as root.
        required_uid: 0,
    };
    let server = tokio::spawn(socket::serve(
        listener,
        store.clone(),
        config,
        metrics.clone(),
        Some(outbox.clone()),
        stopped.clone(),
    ));
    let ops_state = Arc::new(Ops {
        metrics: metrics.clone(),
        store: store.clone(),
        ready: true.into(),
    });
    tokio::spawn(ops::serve(ops_listener, ops_state.clone(), stopped.clone()));
    tracing::info!(node = %args.node_name, socket = %args.socket.display(), metrics = %args.metrics_addr, "serving");

    let limits = Limits {
        qps: args.qps,
        burst: args.burst,
        throttled: metrics.api_throttled.clone(),
        retried: metrics.api_retried.clone(),
    };
    let background = tokio::spawn(connect_and_watch(
        limits,
        store.clone(),
        outbox.clone(),
        metrics.clone(),
        monitor,
        args.node_name.clone(),
        stopped.clone(),
    ));
    let saver = tokio::spawn(save_cache_on_change(
        store.clone(),
        cache_path.clone(),
        metrics.clone(),
        stopped.clone(),
    ));
    tokio::spawn(report::run_status(
        store.clone(),
        outbox.clone(),
        metrics.clone(),
        SETTLE,
        stopped.clone(),
    ));

    wait_for_signal().await?;
    tracing::info!("stopping: no new connections, finishing answers in flight");
    ops_state.ready.store(false, Ordering::Relaxed);
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    background.abort();
    let _ = saver.await;
    if let Err(e) = outbox.persist() {
        tracing::warn!(error = %e, "persisting the outbox failed");
    }
    let _ = std::fs::remove_file(&args.socket);
    tracing::info!("stopped");
    Ok(())
}

/// Sets up `tracing` with `RUST_LOG` in the chosen format. The default is `info`, without
/// kube's per-request error lines: the watch loop logs each failure once with its resource.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,kube_client::client::builder=off")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// Builds the client (retrying while no configuration can be found), then runs the upstream
/// probe, the watches and the outbox flusher.
async fn connect_and_watch(
    limits: Limits,
    store: Arc<Store>,
    outbox: Arc<Outbox>,
    metrics: Arc<Metrics>,
    monitor: Arc<Monitor>,
    node: String,
    stopped: watch::Receiver<bool>,
) {
    let mut delay = Duration::from_secs(1);
    let client = loop {
        match client::infer(&limits).await {
            Ok(c) => break c,
            Err(e) => {
                store.set_all_feeds(Feed::Down);
                tracing::error!(error = %e, "no Kubernetes configuration; serving from the cache and defaults");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    };
    let sink = KubeSink {
        client: client.clone(),
        node,
        monitor: monitor.clone(),
        metrics: metrics.clone(),
    };
    tokio::join!(
        monitor.clone().run(client.clone(), stopped.clone()),
        watches::run(client, store, metrics, monitor),
        outbox.run(sink, stopped)
    );
}

/// Rewrites the disk cache after changes, at most every [`SETTLE`], once pods, profiles and the
/// node are all loaded and something was listed from the API server (so a failed or half-done
/// start never overwrites a good cache with less), and at shutdown.
async fn save_cache_on_change(
    store: Arc<Store>,
    path: std::path::PathBuf,
    metrics: Arc<Metrics>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut changes = store.subscribe();
    // A cache written from a half-loaded store (pods listed, profiles not yet) would make the
    // next start answer "no profile" from disk: write only what is whole.
    let worth_writing = |s: &Store| {
        s.loaded()
            && [Kind::Pods, Kind::Node, Kind::Profiles]
                .iter()
                .any(|k| s.origin(*k) == Origin::Api)
    };
    loop {
        let stopping = tokio::select! {
            r = changes.changed() => r.is_err(),
            _ = stopped.wait_for(|s| *s) => true,
        };
        if !stopping {
            tokio::select! {
                _ = tokio::time::sleep(SETTLE) => {}
                _ = stopped.wait_for(|s| *s) => {}
            }
        }
        changes.mark_unchanged();
        if worth_writing(&store) {
            let (s, p) = (store.clone(), path.clone());
            match tokio::task::spawn_blocking(move || cache::save(&s, &p)).await {
                Ok(Ok(())) => tracing::debug!(path = %path.display(), "disk cache written"),
                Ok(Err(e)) => {
                    metrics.cache_errors.inc();
                    tracing::warn!(error = %e, "writing the disk cache failed");
                }
                Err(e) => tracing::warn!(error = %e, "cache writer panicked"),
            }
        }
        if stopping || *stopped.borrow() {
            return;
        }
    }
}
