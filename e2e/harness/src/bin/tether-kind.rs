//! `tether-kind`: the kind backend's steps for hack/ scripts and people.
//!
//! ```text
//! tether-kind up          [--dir D] [--name N] [--image I] [--dry-run]   cluster + OpenYurt + tether + demo
//! tether-kind down        [--dir D] [--name N] [--dry-run]               delete the cluster
//! tether-kind disconnect  NODE [--dir D] [--name N] [--dry-run]          docker network disconnect kind NODE, checked
//! tether-kind reconnect   NODE [--dir D] [--name N] [--dry-run]          docker network connect kind NODE, until yurthub is back
//! ```
//!
//! NODE is an alias (`edge-1`, `edge-2`) or a kind node name. `up` is idempotent: it reuses a
//! running cluster of that name. `--dry-run` (or `TETHER_E2E_DRY_RUN=1`) prints every command,
//! writes every file under the directory, and runs nothing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use e2e::backend::Cut;
use e2e::kind::{AnyExecutor, DryRunExecutor, KindBackend, KindConfig, RealExecutor};

struct Args {
    command: String,
    node: Option<String>,
    dir: PathBuf,
    name: String,
    image: Option<String>,
    dry_run: bool,
}

const USAGE: &str = "usage: tether-kind up|down|disconnect NODE|reconnect NODE [--dir DIR] [--name CLUSTER] [--image IMAGE] [--dry-run]";

fn parse_args() -> Result<Args> {
    let mut raw = std::env::args().skip(1);
    let command = raw.next().context(USAGE)?;
    let mut args = Args {
        command,
        node: None,
        dir: ".tether-demo".into(),
        name: "tether-kind".into(),
        image: None,
        dry_run: false,
    };
    while let Some(arg) = raw.next() {
        let mut value = |flag: &str| {
            raw.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--dir" => args.dir = value("--dir")?.into(),
            "--name" => args.name = value("--name")?,
            "--image" => args.image = Some(value("--image")?),
            "--dry-run" => args.dry_run = true,
            node if !node.starts_with('-') && args.node.is_none() => {
                args.node = Some(node.to_owned())
            }
            other => bail!("unexpected argument {other:?}\n{USAGE}"),
        }
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let work_dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    let repo = std::env::current_dir().context("reading the current directory")?;
    let mut config = KindConfig::new(repo.join("deploy"), work_dir.clone());
    config.cluster_name = args.name.clone();
    if let Some(image) = &args.image {
        config.image = image.clone();
    }
    // up is idempotent: a running demo cluster is kept and everything re-applied
    config.reuse = args.command != "down";
    let dry_run = args.dry_run || std::env::var("TETHER_E2E_DRY_RUN").is_ok_and(|v| v == "1");
    let exec = match dry_run {
        true => AnyExecutor::DryRun(
            DryRunExecutor::new(work_dir.clone()).context("starting the dry run")?,
        ),
        false => AnyExecutor::Real(RealExecutor),
    };
    let mut backend = KindBackend::new(config, exec).context("kind backend configuration")?;
    let node = || {
        args.node
            .clone()
            .with_context(|| format!("{} needs a NODE\n{USAGE}", args.command))
    };
    match args.command.as_str() {
        "up" => {
            backend.up().context("bringing the kind cluster up")?;
            backend.install_tether().context("installing tether")?;
            backend
                .apply_demo()
                .context("applying the demo profile and pods")?;
        }
        "down" => backend
            .down()
            .with_context(|| format!("deleting kind cluster {}", args.name))?,
        "disconnect" => backend
            .cut(&node()?, Cut::Network)
            .context("disconnecting the node")?,
        "reconnect" => backend
            .reconnect(&node()?, Cut::Network)
            .context("reconnecting the node")?,
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
    if dry_run {
        println!(
            "# dry run: nothing was run; commands in {}/commands.sh",
            work_dir.display()
        );
    }
    Ok(())
}
