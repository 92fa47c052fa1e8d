#!/usr/bin/env bash
# Makes rustup find rust-toolchain.toml's toolchain without downloading anything, on a machine
# whose Rust is rustup's `stable` at exactly that version (the project's machines, where rustup
# cannot download a toolchain). rustup resolves channel "1.95.0" to the toolchain 1.95.0-<host>
# and fails when it is not installed, even if stable is 1.95.0; this links stable under that name
# (a symlink in $RUSTUP_HOME/toolchains: `rustup toolchain link` refuses version-like names).
# Idempotent. Elsewhere it fails saying what to install. Run it before the first cargo command.
# Usage: bash nix/rustup-toolchain.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fail() {
  echo "rustup-toolchain: $*" >&2
  exit 1
}

channel=$(sed -n 's/^channel *= *"\([^"]*\)" *$/\1/p' "$repo/rust-toolchain.toml")
[[ -n $channel ]] || fail "no channel in $repo/rust-toolchain.toml"
command -v rustup >/dev/null || fail "no rustup on PATH; install Rust $channel some other way"

if rustup run "$channel" rustc --version >/dev/null 2>&1; then
  echo "rustup-toolchain: Rust $channel is installed ($(rustup run "$channel" rustc --version))"
  exit 0
fi

stable=$(rustup run stable rustc --version 2>/dev/null | cut -d' ' -f2 || true)
[[ $stable == "$channel" ]] ||
  fail "rust-toolchain.toml wants Rust $channel, which rustup lacks (stable is ${stable:-absent}): rustup toolchain install $channel --component rustfmt,clippy"
sysroot=$(rustup run stable rustc --print sysroot)
host=$(rustup run stable rustc -vV | sed -n 's/^host: //p')
ln -s "$sysroot" "$(dirname "$sysroot")/$channel-$host"
rustup run "$channel" rustc --version >/dev/null ||
  fail "linked $channel-$host to $sysroot, but rustup still cannot run it"
echo "rustup-toolchain: Rust $channel is rustup's stable, linked as $channel-$host"
