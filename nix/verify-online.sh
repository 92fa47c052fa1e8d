#!/usr/bin/env bash
# What only a machine with network (and Nix >= 2.18) can prove about the flake; nix/check.sh
# proves the rest offline. Not run on the project's machines, which cannot fetch nixpkgs.
#   1. the pinned revision has the narHash recorded in nix/pkgs-used.nix;
#   2. every attribute in nix/pkgs-used.nix exists at that revision (printed with its version);
#   3. `nix flake check`: fmt, clippy, unit tests, tether-agent, tether-cni (static) and the image,
#      whose build fails if a binary meant for the node is dynamically linked;
#   4. the dev shell builds and its hook runs;
#   5. with a Docker daemon: `docker load` takes the image.
# Usage: bash nix/verify-online.sh
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

nixf() { nix --extra-experimental-features 'nix-command flakes' "$@"; }
step() { printf '== verify-online: %s\n' "$*"; }

rev=$(nixf eval --raw --file nix/pkgs-used.nix nixpkgsRev)
want=$(nixf eval --raw --file nix/pkgs-used.nix nixpkgsNarHash)

step "narHash of nixpkgs $rev"
got=$(nixf flake metadata --json "github:NixOS/nixpkgs/$rev" | jq -r .locked.narHash)
if [[ $got != "$want" ]]; then
  echo "verify-online: nixpkgs $rev has narHash $got, nix/pkgs-used.nix records $want" >&2
  exit 1
fi

step "every attribute of nix/pkgs-used.nix at $rev"
nixf eval --impure --json --expr "
  let
    used = import ./nix/pkgs-used.nix;
    pkgs = (builtins.getFlake \"github:NixOS/nixpkgs/$rev\").legacyPackages.\${builtins.currentSystem};
  in
  builtins.mapAttrs
    (_: value: if builtins.isAttrs value then value.version or \"(no version)\" else \"(function)\")
    (used.select pkgs)" | jq .

step "nix flake check"
nixf flake check --print-build-logs

step "dev shell"
nixf develop --command cargo --version

if docker info >/dev/null 2>&1; then
  step "docker load of the image"
  docker load <"$(nixf build .#image --no-link --print-out-paths)"
else
  step "no Docker daemon: docker load skipped"
fi

step "ok"
