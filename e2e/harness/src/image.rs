//! Container images built locally (no registry can be reached): a root filesystem assembled
//! from compiled binaries and host tools, each with the shared libraries it loads, and
//! `docker build` of a `FROM scratch` Dockerfile over it. Tagged by a hash of the inputs, so
//! an unchanged build reuses the image without assembling anything.
//!
//! Images that a node's containerd runs (the pause and app images of the sim node) never go
//! through Docker: [`archive`] writes them as a docker-archive tarball, the format
//! `docker save` writes and `ctr images import` reads, named by the hash of its inputs.

use std::collections::BTreeSet;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::docker;

/// A binary or file of the image: where it comes from, where it goes.
#[derive(Debug, Clone, Hash)]
pub struct Entry {
    /// Path on this host.
    pub from: PathBuf,
    /// Absolute path in the image.
    pub to: PathBuf,
    /// Drop debug information on the way (`objcopy --strip-debug`).
    pub strip: bool,
}

impl Entry {
    /// A file copied as it is.
    pub fn copy(from: impl Into<PathBuf>, to: impl Into<PathBuf>) -> Entry {
        Entry {
            from: from.into(),
            to: to.into(),
            strip: false,
        }
    }

    /// A compiled binary, stripped of debug information.
    pub fn binary(from: impl Into<PathBuf>, to: impl Into<PathBuf>) -> Entry {
        Entry {
            from: from.into(),
            to: to.into(),
            strip: true,
        }
    }
}

/// Everything an image is made of.
#[derive(Debug, Clone, Hash)]
pub struct ImageSpec {
    /// Repository; the tag is the inputs' hash.
    pub repository: String,
    /// Files copied in, with their libraries.
    pub entries: Vec<Entry>,
    /// Files written with this content (path in the image, content).
    pub files: Vec<(String, String)>,
    /// Empty directories to create (`tmp` gets mode 1777).
    pub dirs: Vec<String>,
    /// Symbolic links (path in the image, target).
    pub links: Vec<(String, String)>,
    /// The Dockerfile; `FROM scratch` and `COPY . /` at least.
    pub dockerfile: String,
}

/// Shared libraries `binary` loads, as `ldd` resolves them on this host.
fn libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .context("running ldd")?;
    if !out.status.success() {
        // Static binaries make ldd fail with "not a dynamic executable".
        return Ok(Vec::new());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect())
}

fn inside(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn copy(from: &Path, root: &Path, to: &Path, strip: bool) -> anyhow::Result<()> {
    let dest = inside(root, to);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    if strip {
        let status = Command::new("objcopy")
            .arg("--strip-debug")
            .arg(from)
            .arg(&dest)
            .status()
            .context("running objcopy (binutils)")?;
        if !status.success() {
            bail!("objcopy --strip-debug {} failed", from.display());
        }
    } else {
        fs::copy(from, &dest)
            .with_context(|| format!("copying {} to {}", from.display(), dest.display()))?;
    }
    Ok(())
}

fn missing(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{} is missing (install containernetworking-plugins, containerd, runc, iproute2, iptables and binutils, and build the workspace)",
        path.display()
    )
}

/// Copies `entries` under `root`, each with the shared libraries it loads.
fn populate(entries: &[Entry], root: &Path) -> anyhow::Result<()> {
    let mut libs = BTreeSet::new();
    for entry in entries {
        if !entry.from.is_file() {
            return Err(missing(&entry.from));
        }
        copy(&entry.from, root, &entry.to, entry.strip)?;
        libs.extend(libraries(&entry.from)?);
    }
    for lib in libs {
        // Copy the file a symlink points to, under the name the loader asks for.
        let real =
            fs::canonicalize(&lib).with_context(|| format!("resolving {}", lib.display()))?;
        copy(&real, root, &lib, false)?;
    }
    Ok(())
}

/// Writes the image's root filesystem and Dockerfile under `root`.
pub fn assemble(spec: &ImageSpec, root: &Path) -> anyhow::Result<()> {
    populate(&spec.entries, root)?;
    for dir in &spec.dirs {
        fs::create_dir_all(inside(root, Path::new(dir)))
            .with_context(|| format!("creating {dir}"))?;
    }
    if spec.dirs.iter().any(|d| d.trim_matches('/') == "tmp") {
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))
            .context("chmod /tmp")?;
    }
    for (path, content) in &spec.files {
        let dest = inside(root, Path::new(path));
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&dest, content).with_context(|| format!("writing {path}"))?;
    }
    for (path, target) in &spec.links {
        symlink(target, inside(root, Path::new(path)))
            .with_context(|| format!("linking {path}"))?;
    }
    fs::write(root.join("Dockerfile"), &spec.dockerfile).context("writing the Dockerfile")?;
    Ok(())
}

/// A hash of `spec` and of every entry's identity (path, size, modification time).
fn inputs_hash(spec: &impl Hash, entries: &[Entry]) -> anyhow::Result<u64> {
    let mut hasher = DefaultHasher::new();
    spec.hash(&mut hasher);
    for entry in entries {
        let meta = fs::metadata(&entry.from).map_err(|_| missing(&entry.from))?;
        (meta.len(), meta.modified().ok()).hash(&mut hasher);
    }
    Ok(hasher.finish())
}

/// `repository:tag`, the tag a hash of every input's identity (path, size, modification
/// time) and of everything generated.
pub fn tag(spec: &ImageSpec) -> anyhow::Result<String> {
    Ok(format!(
        "{}:{:016x}",
        spec.repository,
        inputs_hash(spec, &spec.entries)?
    ))
}

/// Builds the image (or finds it built from the same inputs) with `work` as scratch space;
/// its `repository:tag`.
pub fn build(spec: &ImageSpec, work: &Path) -> anyhow::Result<String> {
    let tag = tag(spec)?;
    if docker::docker(&["image", "inspect", "--format", "{{.Id}}", &tag]).is_ok() {
        return Ok(tag);
    }
    let root = work.join("rootfs");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let built = assemble(spec, &root).and_then(|()| {
        docker::docker(&[
            "build",
            "--quiet",
            "--label",
            "tether.e2e=image",
            "-t",
            &tag,
            &root.to_string_lossy(),
        ])
        .with_context(|| format!("building {tag}"))
    });
    let _ = fs::remove_dir_all(&root);
    built.map(|_| tag)
}

/// A one-layer image for a node's containerd, written by [`archive`].
#[derive(Debug, Clone, Hash)]
pub struct ArchiveSpec {
    /// Names it is imported under (`registry.k8s.io/pause:3.10`).
    pub repo_tags: Vec<String>,
    /// Files of its only layer, with their libraries.
    pub entries: Vec<Entry>,
    /// The image's entrypoint.
    pub entrypoint: Vec<String>,
}

/// Writes the image as a docker-archive tarball in `dir` (or finds it written from the same
/// inputs there, so its file, and whatever image includes it, stays the same between runs);
/// the tarball's path.
pub fn archive(spec: &ArchiveSpec, dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!(
        "image-{:016x}.tar",
        inputs_hash(spec, &spec.entries)?
    ));
    if path.is_file() {
        return Ok(path);
    }
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Unique scratch names: two test processes may write the same archive at once.
    let scratch = dir.join(format!("scratch-{}", uuid::Uuid::new_v4().simple()));
    let written = write_archive(spec, &scratch).and_then(|tarball| {
        fs::rename(&tarball, &path)
            .with_context(|| format!("renaming {} to {}", tarball.display(), path.display()))
    });
    let _ = fs::remove_dir_all(&scratch);
    written.map(|()| path)
}

fn write_archive(spec: &ArchiveSpec, scratch: &Path) -> anyhow::Result<PathBuf> {
    let root = scratch.join("rootfs");
    fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    populate(&spec.entries, &root)?;
    let mut layer = tar::Builder::new(Vec::new());
    layer.mode(tar::HeaderMode::Deterministic);
    layer.follow_symlinks(false);
    append_tree(&mut layer, &root, Path::new(""))?;
    let layer = layer.into_inner().context("writing the layer")?;
    let diff_id = format!("sha256:{:x}", Sha256::digest(&layer));
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": spec.entrypoint, "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))?;
    let config_name = format!("{:x}.json", Sha256::digest(&config));
    let layer_name = format!("{}/layer.tar", &diff_id["sha256:".len()..]);
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name,
        "RepoTags": spec.repo_tags,
        "Layers": [layer_name],
    }]))?;
    let tarball = scratch.join("image.tar");
    let file =
        fs::File::create(&tarball).with_context(|| format!("creating {}", tarball.display()))?;
    let mut outer = tar::Builder::new(file);
    for (name, data) in [
        (layer_name.as_str(), &layer[..]),
        (config_name.as_str(), &config[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        outer
            .append_data(&mut header, name, data)
            .with_context(|| format!("adding {name} to {}", tarball.display()))?;
    }
    outer
        .into_inner()
        .with_context(|| format!("writing {}", tarball.display()))?;
    Ok(tarball)
}

/// Adds everything under `dir` to `layer`, named relative to the layer's root, in name order.
fn append_tree(layer: &mut tar::Builder<Vec<u8>>, dir: &Path, name: &Path) -> anyhow::Result<()> {
    let mut children: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let path = child.path();
        let child_name = name.join(child.file_name());
        let kind = child
            .file_type()
            .with_context(|| format!("reading {}", path.display()))?;
        if kind.is_dir() {
            layer
                .append_dir(&child_name, &path)
                .with_context(|| format!("adding {}", path.display()))?;
            append_tree(layer, &path, &child_name)?;
        } else {
            layer
                .append_path_with_name(&path, &child_name)
                .with_context(|| format!("adding {}", path.display()))?;
        }
    }
    Ok(())
}
