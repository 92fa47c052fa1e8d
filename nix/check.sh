#!/usr/bin/env bash
# What can be proven about the flake without network (nixpkgs cannot be fetched here):
#   1. every .nix file parses (nix-instantiate --parse, Debian's nix-bin);
#   2. its formatting is clean (nixpkgs-fmt --check);
#   3. it has no dead code (deadnix --fail);
#   4. the flake's wiring holds (nix/offline-check.nix: flake.nix's outputs evaluated against a
#      stand-in nixpkgs built from nix/pkgs-used.nix, checked against Cargo.toml/Cargo.lock).
# Installs what it lacks: nix-bin with apt-get, the two checkers with `cargo install --locked` at
# pinned versions into $TETHER_NIX_TOOLS (default ~/.cache/tether/nix-tools).
# Usage, from anywhere: bash nix/check.sh
set -euo pipefail

nixpkgs_fmt_version=1.3.0
deadnix_version=1.3.1
tools_root=${TETHER_NIX_TOOLS:-${HOME:-/root}/.cache/tether/nix-tools}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

step() { printf '== nix check: %s\n' "$*"; }

ensure_nix_instantiate() {
  if ! command -v nix-instantiate >/dev/null; then
    step "installing nix-bin (Debian's nix) with apt-get"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nix-bin
  fi
}

# ensure_tool NAME VERSION: NAME at exactly VERSION in $tools_root/bin, installed if not.
ensure_tool() {
  local name=$1 version=$2 installed
  # nixpkgs-fmt prints its version but exits 1: judge by the text alone
  installed=$("$tools_root/bin/$name" --version 2>/dev/null || true)
  if [[ $(echo "$installed" | tr -d '\n') != "$name $version" ]]; then
    step "installing $name $version from crates.io into $tools_root"
    cargo install --quiet --locked --root "$tools_root" "$name" --version "$version"
  fi
}

# expect_failure WHAT COMMAND...: the checker must reject a known-bad file, or it checks nothing.
expect_failure() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then
    echo "nix check: $what accepted a file it must reject: $*" >&2
    exit 1
  fi
}

ensure_nix_instantiate
ensure_tool nixpkgs-fmt "$nixpkgs_fmt_version"
ensure_tool deadnix "$deadnix_version"
PATH=$tools_root/bin:$PATH

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.nix')
if [[ ${#files[@]} -eq 0 ]]; then
  echo "nix check: no .nix files found under $repo" >&2
  exit 1
fi

step "the checkers reject known-bad input"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '{ a = ; }\n' >"$scratch/unparsable.nix"
printf '{a=1;\n   b =2;}\n' >"$scratch/unformatted.nix"
printf 'let unused = 1; in 2\n' >"$scratch/dead.nix"
expect_failure "nix-instantiate --parse" nix-instantiate --parse "$scratch/unparsable.nix"
expect_failure "nixpkgs-fmt --check" nixpkgs-fmt --check "$scratch/unformatted.nix"
expect_failure "deadnix --fail" deadnix --fail "$scratch/dead.nix"

step "parse ${#files[@]} files: ${files[*]}"
for file in "${files[@]}"; do
  nix-instantiate --parse "$file" >/dev/null
done

step "format (nixpkgs-fmt $nixpkgs_fmt_version --check)"
nixpkgs-fmt --check "${files[@]}"

step "dead code (deadnix $deadnix_version --fail)"
deadnix --fail "${files[@]}"

step "wiring (nix/offline-check.nix against a stand-in nixpkgs)"
# read-write: the check reads the filtered source tree, which builtins.path adds to the store
nix-instantiate --read-write-mode --eval --strict nix/offline-check.nix

step "ok"
