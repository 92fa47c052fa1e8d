//! tether's DaemonSet image for the kind backend, built from the compiled binaries when the
//! Nix-built image (`nix build .#image`) is not loaded: `tether-agent` on PATH (the DaemonSet
//! runs `tether-agent run` and `tether-agent install-cni`), and what install-cni copies to the
//! node under `/opt/tether/bin`.
//!
//! What install-cni copies runs on the kind node, not in this image: `tether-cni` is therefore
//! built statically (`-C target-feature=+crt-static`, as README's benchmark section does). The
//! workspace's ordinary build links glibc dynamically and needs the glibc of the machine that
//! built it, which a kind node (Debian bookworm, glibc 2.36: kind v0.31.0
//! `images/base/Dockerfile:23`) need not have.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::binaries::Binaries;
use crate::image::{self, Entry, ImageSpec};
use testkit::cni_runtime::DEBIAN_PLUGIN_DIR as HOST_PLUGIN_DIR;

/// Repository of the image built from cargo's binaries.
pub const REPOSITORY: &str = "tether-e2e-agent";
/// Where install-cni takes the plugins from (`TETHER_PLUGIN_SOURCE_DIR` in deploy/).
pub const BUNDLE_DIR: &str = "/opt/tether/bin";
/// The flag that links Rust's std and glibc statically (rustc's `crt-static` target feature).
pub const STATIC_RUSTFLAGS: &str = "-C target-feature=+crt-static";

/// The image's contents, with `cni` as `/opt/tether/bin/tether-cni` (a static build).
pub fn spec(bins: &Binaries, cni: &Path) -> ImageSpec {
    let mut entries = vec![
        Entry::binary(&bins.agent, "/usr/local/bin/tether-agent"),
        Entry::binary(cni, format!("{BUNDLE_DIR}/tether-cni")),
    ];
    for plugin in ["bandwidth", "tuning"] {
        entries.push(Entry::copy(
            Path::new(HOST_PLUGIN_DIR).join(plugin),
            Path::new(BUNDLE_DIR).join(plugin),
        ));
    }
    ImageSpec {
        repository: REPOSITORY.into(),
        entries,
        files: Vec::new(),
        dirs: vec!["/tmp".into(), "/run/tether".into(), "/var/lib/tether".into()],
        links: Vec::new(),
        dockerfile: "FROM scratch\nCOPY . /\nENV PATH=/usr/local/bin:/usr/bin:/bin\nCMD [\"tether-agent\", \"--help\"]\n".into(),
    }
}

/// The GNU target of this machine (`x86_64-unknown-linux-gnu`), given to cargo explicitly so
/// the static flag applies to tether-cni and not to build scripts and proc macros.
pub fn gnu_target() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// Builds `tether-cni` statically for [`gnu_target`], in the profile `bins` were built with;
/// its path, checked to be static.
pub fn static_cni(bins: &Binaries) -> anyhow::Result<PathBuf> {
    let release = bins
        .cni
        .parent()
        .is_some_and(|dir| dir.ends_with("release"));
    let target = gnu_target();
    let root = testkit::repo::root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustflags = match std::env::var("RUSTFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} {STATIC_RUSTFLAGS}"),
        _ => STATIC_RUSTFLAGS.to_owned(),
    };
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "cni",
        "--bin",
        "tether-cni",
        "--target",
    ])
    .arg(&target)
    .arg("--manifest-path")
    .arg(root.join("Cargo.toml"))
    .env("RUSTFLAGS", rustflags);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .with_context(|| format!("running {cargo:?} build for {target}"))?;
    if !status.success() {
        bail!(
            "the static build of tether-cni failed ({status}); it needs glibc's static libraries (libc6-dev)"
        );
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let built = target_dir
        .join(&target)
        .join(if release { "release" } else { "debug" })
        .join("tether-cni");
    let bytes = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    match elf_interpreter(&bytes) {
        Ok(None) => Ok(built),
        Ok(Some(interp)) => bail!(
            "{} still asks for the dynamic loader {interp}",
            built.display()
        ),
        Err(why) => bail!("{}: {why}", built.display()),
    }
}

/// Builds the image (or finds it built from the same inputs); its `repo:tag`.
pub fn build(bins: &Binaries, work: &Path) -> anyhow::Result<String> {
    let cni = static_cni(bins)?;
    image::build(&spec(bins, &cni), work)
}

/// The program interpreter an ELF executable names (`PT_INTERP`, e.g.
/// `/lib64/ld-linux-x86-64.so.2`): `None` for a static executable, which the kernel starts
/// without one. An error when `bytes` is not an ELF file this reads (32/64-bit, either byte
/// order).
pub fn elf_interpreter(bytes: &[u8]) -> Result<Option<String>, String> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    let wide = match bytes.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err("unknown ELF class".into()),
    };
    let little = match bytes.get(5) {
        Some(1) => true,
        Some(2) => false,
        _ => return Err("unknown ELF byte order".into()),
    };
    let int = |at: usize, len: usize| -> Result<u64, String> {
        let raw = bytes
            .get(at..at + len)
            .ok_or_else(|| format!("truncated at byte {at}"))?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if little { raw[len - 1 - i] } else { raw[i] };
            value = (value << 8) | u64::from(byte);
        }
        Ok(value)
    };
    let to_usize = |v: u64| usize::try_from(v).map_err(|_| "offset too large".to_owned());
    // e_phoff, e_phentsize, e_phnum (ELF specification, "ELF Header")
    let (phoff, phentsize, phnum) = match wide {
        true => (int(0x20, 8)?, int(0x36, 2)?, int(0x38, 2)?),
        false => (int(0x1c, 4)?, int(0x2a, 2)?, int(0x2c, 2)?),
    };
    for i in 0..phnum {
        let header = to_usize(phoff + i * phentsize)?;
        if int(header, 4)? != u64::from(PT_INTERP) {
            continue;
        }
        // p_offset and p_filesz of the segment, which holds the interpreter's path
        let (offset, size) = match wide {
            true => (int(header + 0x08, 8)?, int(header + 0x20, 8)?),
            false => (int(header + 0x04, 4)?, int(header + 0x10, 4)?),
        };
        let (offset, size) = (to_usize(offset)?, to_usize(size)?);
        let path = bytes
            .get(offset..offset + size)
            .ok_or("PT_INTERP points past the end")?;
        let path = path.split(|b| *b == 0).next().unwrap_or_default();
        return Ok(Some(String::from_utf8_lossy(path).into_owned()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF: a header and one program header of type `p_type`.
    fn elf(p_type: u32) -> Vec<u8> {
        let mut b = vec![0u8; 0x40 + 0x38 + 16];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // 64-bit
        b[5] = 1; // little-endian
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes()); // e_phoff
        b[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes()); // e_phentsize
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        b[0x40..0x44].copy_from_slice(&p_type.to_le_bytes());
        let interp_at = 0x40u64 + 0x38;
        b[0x48..0x50].copy_from_slice(&interp_at.to_le_bytes()); // p_offset
        b[0x60..0x68].copy_from_slice(&11u64.to_le_bytes()); // p_filesz
        b[0x78..0x83].copy_from_slice(b"/lib/ld.so\0");
        b
    }

    #[test]
    fn a_program_interpreter_is_found_and_its_absence_means_static() {
        assert_eq!(elf(3).as_slice().len(), 0x40 + 0x38 + 16);
        assert_eq!(elf_interpreter(&elf(3)), Ok(Some("/lib/ld.so".into())));
        assert_eq!(elf_interpreter(&elf(1)), Ok(None), "PT_LOAD only: static");
        assert!(elf_interpreter(b"#!/bin/sh\n").is_err());
        assert!(elf_interpreter(&elf(3)[..0x30]).is_err(), "truncated");
    }

    #[test]
    fn this_machines_shell_is_dynamic_by_that_reading() {
        // a check of the reader against a real binary of this machine: Debian's sh is dynamic
        let Ok(sh) = std::fs::read("/bin/sh") else {
            return;
        };
        let interp = elf_interpreter(&sh).unwrap();
        assert!(
            interp.is_some_and(|i| i.contains("ld-")),
            "/bin/sh is dynamic"
        );
    }

    #[test]
    fn the_static_cni_goes_where_install_cni_takes_it_from() {
        let bins = Binaries {
            agent: "/b/tether-agent".into(),
            cni: "/b/tether-cni".into(),
            node: "/b/tether-node".into(),
            sim: "/b/tether-sim".into(),
        };
        let spec = spec(&bins, Path::new("/s/tether-cni"));
        let to = |from: &str| {
            spec.entries
                .iter()
                .find(|e| e.from == Path::new(from))
                .map(|e| e.to.clone())
        };
        assert_eq!(
            to("/s/tether-cni"),
            Some("/opt/tether/bin/tether-cni".into())
        );
        assert_eq!(to("/b/tether-cni"), None, "never the dynamic build");
        assert_eq!(
            to("/b/tether-agent"),
            Some("/usr/local/bin/tether-agent".into())
        );
        assert!(spec.dockerfile.contains("ENV PATH=/usr/local/bin"));
        assert_eq!(
            gnu_target(),
            format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
        );
    }
}
