//! Container images built locally (no registry can be reached): a root filesystem assembled
//! from compiled binaries and host tools, each with the shared libraries it loads, and
//! `docker build` of a `FROM scratch` Dockerfile over it. Tagged by a hash of the inputs, so
//! an unchanged build reuses the image without assembling anything.

use std::collections::BTreeSet;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

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
        "{} is missing (install containernetworking-plugins, iproute2, iptables and binutils, and build the workspace)",
        path.display()
    )
}

/// Writes the image's root filesystem and Dockerfile under `root`.
pub fn assemble(spec: &ImageSpec, root: &Path) -> anyhow::Result<()> {
    let mut libs = BTreeSet::new();
    for entry in &spec.entries {
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

/// `repository:tag`, the tag a hash of every input's identity (path, size, modification
/// time) and of everything generated.
pub fn tag(spec: &ImageSpec) -> anyhow::Result<String> {
    let mut hasher = DefaultHasher::new();
    spec.hash(&mut hasher);
    for entry in &spec.entries {
        let meta = fs::metadata(&entry.from).map_err(|_| missing(&entry.from))?;
        (meta.len(), meta.modified().ok()).hash(&mut hasher);
    }
    Ok(format!("{}:{:016x}", spec.repository, hasher.finish()))
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
