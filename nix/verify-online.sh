#!/usr/bin/env bash
# What only a machine with network (and Nix >= 2.18, flakes) can prove about the flake;
# nix/check.sh proves the rest offline. Never run on the project's machines, which cannot fetch
# nixpkgs or rust-overlay. One command confirms the whole flake:
#   1. the pins: nixpkgs and rust-overlay have the narHashes recorded in nix/pkgs-used.nix (and
#      flake.nix); the nixpkgs pin fetches crates from static.crates.io (importCargoLock); says
#      whether a stable channel newer than the pinned one exists;
#   2. every attribute and package set of nix/pkgs-used.nix exists at the pin, for x86_64-linux,
#      aarch64-linux and pkgsCross.aarch64-multiplatform (printed with versions);
#   3. one toolchain: rust-toolchain.toml's channel = the version of every toolchain the flake
#      makes (native, static, cross, dev shell) = rustc and cargo in `nix develop`;
#   4. nix fmt: with no arguments it changes no file of this (formatted) tree; --check passes;
#   5. `nix flake check`: fmt, clippy, unit tests, nix-fmt, and the x86_64-linux packages and
#      images, including the aarch64-linux ones cross-built;
#   6. the packages and images of both systems: aarch64-linux natively when this machine can
#      build for it (an aarch64 machine, or binfmt emulation / a remote builder), else said so;
#   7. each image's architecture, entrypoint, PATH and plugin paths, read from the image archive;
#   8. the dev shell builds and its hook runs;
#   9. with a Docker daemon: `docker load` takes this machine's image, tether-agent runs by name
#      through the image's PATH and /opt/tether/bin/tether-cni answers CNI VERSION.
# Usage: bash nix/verify-online.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

nixf() { nix --extra-experimental-features 'nix-command flakes' "$@"; }
step() { printf '\n== verify-online: %s\n' "$*"; }
fail() {
  echo "verify-online: $*" >&2
  exit 1
}
pin() { nixf eval --raw --file nix/pkgs-used.nix "$1"; }

system=$(nixf eval --impure --raw --expr builtins.currentSystem)
channel=$(sed -n 's/^channel *= *"\([^"]*\)" *$/\1/p' rust-toolchain.toml)

step "1. pins"
check_pin() {
  local ref=$1 want=$2 got
  got=$(nixf flake metadata --json "$ref" | jq -r .locked.narHash)
  [[ $got == "$want" ]] || fail "$ref has narHash $got, nix/pkgs-used.nix records $want"
  echo "$ref: narHash $got as recorded"
}
nixpkgs_ref="github:NixOS/nixpkgs/$(pin nixpkgsRev)"
check_pin "$nixpkgs_ref" "$(pin nixpkgsNarHash)"
check_pin "github:oxalica/rust-overlay/$(pin rustOverlayRev)" "$(pin rustOverlayNarHash)"
nixpkgs_src=$(nixf flake prefetch --json "$nixpkgs_ref" | jq -r .storePath)
grep -q 'static.crates.io' "$nixpkgs_src/pkgs/build-support/rust/import-cargo-lock.nix" ||
  fail "$nixpkgs_ref: importCargoLock does not fetch from static.crates.io (NixOS/nixpkgs#524985)"
echo "importCargoLock fetches from static.crates.io at the pin"
echo "pinned channel: nixos-$(cat "$nixpkgs_src/.version")"
for newer in nixos-26.11 nixos-27.05; do
  if nixf flake metadata "github:NixOS/nixpkgs/$newer" >/dev/null 2>&1; then
    echo "NOTE: branch $newer exists; consider pinning it (nix/README.md, 'Moving the pin')"
  fi
done

step "2. every attribute of nix/pkgs-used.nix at the pin"
nixf eval --impure --json --expr "
  let
    used = import ./nix/pkgs-used.nix;
    pkgs = (builtins.getFlake \"$nixpkgs_ref\").legacyPackages;
    describe = set: builtins.mapAttrs
      (name: value:
        if builtins.elem name (builtins.attrNames used.sets) then \"(package set)\"
        else if builtins.isAttrs value then value.version or \"(no version)\"
        else \"(function)\")
      (removeAttrs set [ \"_raw\" ]);
    selected = used.select pkgs.x86_64-linux;
  in {
    x86_64-linux = describe selected;
    x86_64-linux-static = describe selected.pkgsStatic;
    aarch64-linux = describe (used.select pkgs.aarch64-linux);
    aarch64-linux-cross = describe selected.aarch64Cross;
    aarch64-linux-cross-static = describe selected.aarch64Cross.pkgsStatic;
  }" | jq .

step "3. one toolchain: Rust $channel"
versions=$(nixf eval --impure --json --expr "
  let
    flake = builtins.getFlake (toString ./.);
    used = import ./nix/pkgs-used.nix;
    toolchain = import ./nix/toolchain.nix {
      rustOverlay = flake.inputs.rust-overlay;
      root = ./.;
      rustVersion = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).workspace.package.rust-version;
    };
    pkgs = flake.inputs.nixpkgs.legacyPackages;
    x86 = used.select pkgs.x86_64-linux;
    arm = used.select pkgs.aarch64-linux;
  in map (set: (toolchain.for { inherit set; }).version) [
    x86 x86.pkgsStatic x86.aarch64Cross x86.aarch64Cross.pkgsStatic arm arm.pkgsStatic
  ]" | jq -r '.[]' | sort -u)
[[ $versions == "$channel" ]] ||
  fail "rust-toolchain.toml says $channel, the flake's toolchains are: $(echo "$versions" | tr '\n' ' ')"
# the shell hook prints too: keep the marked lines (expanded inside the shell, hence the quotes)
# shellcheck disable=SC2016
shell_versions=$(nixf develop --command bash -c 'echo "V $(rustc --version)"; echo "V $(cargo --version)"' |
  sed -n 's/^V [^ ]* \([^ ]*\).*/\1/p' | sort -u)
[[ $shell_versions == "$channel" ]] ||
  fail "rust-toolchain.toml says $channel, nix develop has rustc/cargo $(echo "$shell_versions" | tr '\n' ' ')"
echo "Rust $channel everywhere: native, static, cross, dev shell"

step "4. nix fmt"
before=$(git status --porcelain -- '*.nix')
nixf fmt
after=$(git status --porcelain -- '*.nix')
[[ $before == "$after" ]] || fail "nix fmt changed .nix files of a tree nix/check.sh calls formatted:
$(git status --short -- '*.nix')"
nixf fmt -- --check

step "5. nix flake check"
nixf flake check --print-build-logs

step "6. packages and images of both systems"
build() { nixf build --no-link --print-out-paths --print-build-logs "$@"; }
declare -A images
images[x86_64-linux]=$(build .#packages.x86_64-linux.image)
images[aarch64-linux-cross]=$(build .#packages.x86_64-linux.image-aarch64-linux)
build .#packages.x86_64-linux.tether-agent .#packages.x86_64-linux.tether-cni \
  .#packages.x86_64-linux.tether-agent-aarch64-linux .#packages.x86_64-linux.tether-cni-aarch64-linux >/dev/null
# `nix config show` (Nix >= 2.20) or `nix show-config`: this machine's system and extra-platforms
platforms=$({ nixf config show 2>/dev/null || nixf show-config 2>/dev/null || true; } |
  grep -E '^(system|extra-platforms) =' || true)
if [[ $system == aarch64-linux || $platforms == *aarch64-linux* ]]; then
  images[aarch64-linux]=$(build .#packages.aarch64-linux.image)
  build .#packages.aarch64-linux.tether-agent .#packages.aarch64-linux.tether-cni >/dev/null
else
  echo "this machine cannot build aarch64-linux natively (no aarch64 system, emulation or builder):"
  echo "  packages.aarch64-linux.* not built; on NixOS, boot.binfmt.emulatedSystems = [ \"aarch64-linux\" ]"
fi

step "7. the images' configuration and layout"
for variant in "${!images[@]}"; do
  archive=${images[$variant]}
  config=$(tar -xzOf "$archive" manifest.json | jq -r '.[0].Config')
  tar -xzOf "$archive" "$config" | jq -c '{architecture, Entrypoint: .config.Entrypoint, Env: .config.Env}' |
    sed "s/^/$variant: /"
  want_arch=arm64
  [[ $variant == x86_64-linux ]] && want_arch=amd64
  [[ $(tar -xzOf "$archive" "$config" | jq -r .architecture) == "$want_arch" ]] ||
    fail "$variant image is not $want_arch"
done
nixf eval --json --file nix/image-layout.nix | jq -c .

step "8. dev shell"
nixf develop --command true

if docker info >/dev/null 2>&1 && [[ -n ${images[$system]:-} ]]; then
  step "9. docker load of the $system image, and its paths"
  ref=$(docker load <"${images[$system]}" | sed -n 's/^Loaded image: //p')
  docker run --rm --entrypoint tether-agent "$ref" --help >/dev/null
  echo '{"cniVersion":"1.0.0"}' |
    docker run --rm -i --entrypoint /opt/tether/bin/tether-cni -e CNI_COMMAND=VERSION "$ref" | grep -q supportedVersions
  echo "$ref: tether-agent found on PATH, /opt/tether/bin/tether-cni answers VERSION"
else
  step "9. no Docker daemon (or no image of $system): docker load skipped"
fi

step "ok"
