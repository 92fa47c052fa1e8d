//! `tether-sim yurthub`: the yurthub double in front of any API server, so an agent's
//! offline behaviour can be tested against `tether-sim serve` or a real cluster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tether_sim::yurthub::{self, ServingCert, Upstream, YurthubConfig};

/// `--help` of `yurthub`: what it is for and the offline answers in short.
pub const LONG_ABOUT: &str = "\
Stand in for OpenYurt's yurthub (v1.7.0) in front of an API server: `tether-sim serve` or
a real cluster. Clients use --client-kubeconfig (or their own credentials against
--listen); requests carrying a bearer token are forwarded with it, others with the
--kubeconfig identity. yurthub renews Lease kube-node-lease/<node> every --probe-interval
as its health probe: one failure and the cloud is unhealthy, two successes and it is
healthy again. Between a cut and the probe noticing, failed round trips answer 502 with
an empty body (a cache agent's cached get or list: 200 from the cache).

While the cloud is unhealthy it answers from its disk cache, and several answers say a
write succeeded when it was dropped:
  get, list      200 from the cache (a list ignores its selectors); not a cache agent: 400;
                 a list selector other than the first recorded for that resource: 400;
                 nothing cached / resource never seen: 404
  watch          200 with no events, until timeoutSeconds (else 30-60 min) or <= 2 s
                 after the cloud is back
  create         201 echoing the request body; never forwarded, never replayed
  update, patch  200 with the stale cached object (status apply too); change dropped
  delete         403 Status, reason Forbidden, details.group = the namespace
  discovery      400 (/version: the last saved copy)
Cache agents: kubelet, kube-proxy, flanneld, coredns, raven-agent-ds, yurttunnel-agent,
yurthub, multiplexer-proxy-<node>, the `cache_agents` list of ConfigMap
kube-system/yurt-hub-cfg (label openyurt.io/configmap-name=yurt-hub-cfg), and
--cache-agents. Component = User-Agent lower-cased, cut at the first '/'.";

/// Flags of `yurthub`.
#[derive(clap::Args)]
pub struct Args {
    /// Kubeconfig of the API server: its URL and CA, and the identity yurthub uses for
    /// its lease probe and for requests without a bearer token.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// The node this yurthub runs on (its Lease is kube-node-lease/<node>).
    #[arg(long, env = "NODE_NAME")]
    node: String,
    /// HTTPS address (HTTP/1.1 only, as yurthub disables HTTP/2); port 0 picks a free one.
    #[arg(long, default_value = yurthub::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Also serve plain HTTP here, like yurthub's :10261.
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// The disk cache; it survives restarts.
    #[arg(long, default_value = "/etc/kubernetes/cache/")]
    cache_dir: PathBuf,
    /// Components cached besides the built-ins and yurt-hub-cfg's (comma list).
    #[arg(long, value_delimiter = ',')]
    cache_agents: Vec<String>,
    /// How often the lease probe runs (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    probe_interval: Duration,
    /// Write a kubeconfig for clients here: --kubeconfig with its server replaced by this
    /// double's URL and CA.
    #[arg(long)]
    client_kubeconfig: Option<PathBuf>,
    /// Serving certificate (PEM). Without it a self-signed CA and certificate are written
    /// beside --client-kubeconfig (else under <cache-dir>/_internal/pki/).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA that signed --tls-cert, for --client-kubeconfig (default: the cluster CA of
    /// --kubeconfig, as for real yurthub, whose certificate the cluster CA signs).
    #[arg(long, requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
}

/// `10s`, `500ms`, `1m`, `1h`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 10s or 500ms"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if d.is_zero() {
        return Err("the probe interval must be positive".into());
    }
    Ok(d)
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

fn write(path: &Path, text: &str, what: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} for {what}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {what} {}", path.display()))
}

/// The serving certificate and the CA clients should trust (`None`: the cluster CA).
fn serving(args: &Args) -> anyhow::Result<(ServingCert, Option<String>)> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let ca = match &args.tls_ca {
            Some(p) => Some(read(p, "--tls-ca")?),
            None => None,
        };
        let cert = ServingCert {
            cert_pem: read(cert, "--tls-cert")?,
            key_pem: read(key, "--tls-key")?,
        };
        return Ok((cert, ca));
    }
    let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for ip in [args.listen.ip(), yurthub::DEFAULT_LISTEN_IP] {
        if !ip.is_unspecified() && !sans.contains(&ip.to_string()) {
            sans.push(ip.to_string());
        }
    }
    let (ca_pem, cert) =
        ServingCert::self_signed(&sans).context("making a self-signed certificate")?;
    let dir = match &args.client_kubeconfig {
        Some(p) => p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        None => args.cache_dir.join("_internal/pki"),
    };
    write(&dir.join("yurthub-ca.crt"), &ca_pem, "the self-signed CA")?;
    write(
        &dir.join("yurthub.crt"),
        &cert.cert_pem,
        "the serving certificate",
    )?;
    write(&dir.join("yurthub.key"), &cert.key_pem, "the serving key")?;
    Ok((cert, Some(ca_pem)))
}

/// Run until interrupted, printing the cloud's health as it changes.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let upstream = Upstream::from_kubeconfig_file(&args.kubeconfig)
        .await
        .with_context(|| format!("reading --kubeconfig {}", args.kubeconfig.display()))?;
    let (cert, ca) = serving(&args)?;
    let mut config = YurthubConfig::new(&args.node, upstream.clone(), cert, &args.cache_dir);
    config.listen = args.listen;
    config.http_listen = args.http_listen;
    config.cache_agents = args.cache_agents.clone();
    config.probe.interval = args.probe_interval;
    let hub = yurthub::start(config).await.with_context(|| {
        format!(
            "starting the yurthub double on {} in front of {}",
            args.listen,
            upstream.server()
        )
    })?;
    if let Some(out) = &args.client_kubeconfig {
        let text = upstream
            .client_kubeconfig(&hub.url(), ca.as_deref())
            .context("making the client kubeconfig")?;
        write(out, &text, "--client-kubeconfig")?;
    }
    let health = |healthy: bool| if healthy { "healthy" } else { "unhealthy" };
    println!(
        "yurthub double listening on {}{} for node {} in front of {} (cloud {})",
        hub.url(),
        hub.http_url()
            .map(|u| format!(" and {u}"))
            .unwrap_or_default(),
        args.node,
        upstream.server(),
        health(hub.is_healthy())
    );
    if let Err(why) = hub.ready() {
        println!("not ready yet: {why}");
    }
    let mut was = hub.is_healthy();
    let stop = super::interrupted();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            r = &mut stop => { r?; break; }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                let now = hub.is_healthy();
                if now != was {
                    match hub.last_probe_failure() {
                        Some(why) if !now => println!("cloud unhealthy: {why}"),
                        _ => println!("cloud {}", health(now)),
                    }
                    was = now;
                }
            }
        }
    }
    hub.shutdown().await;
    println!("yurthub double stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err() && parse_duration("5d").is_err());
    }
}
