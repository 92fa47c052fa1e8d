#!/usr/bin/env bash
# What can be proven about the flake without network (nixpkgs and rust-overlay cannot be fetched
# here):
#   1. every .nix file parses (nix-instantiate --parse, Debian's nix-bin);
#   2. its formatting is clean, checked by nix/fmt.sh --check, the very program `nix fmt` runs,
#      which is first shown to format a whole tree when called with no arguments;
#   3. it has no dead code (deadnix --fail);
#   4. one Rust toolchain: rust-toolchain.toml's channel is what every Rust build, check and dev
#      shell of the flake uses, what rustc is in this tree (rustup), and not older than
#      Cargo.toml's rust-version;
#   5. the flake's wiring holds (nix/offline-check.nix: flake.nix's outputs evaluated against
#      stand-ins built from nix/pkgs-used.nix, checked against Cargo.toml/Cargo.lock, and the
#      image's layout against deploy/daemonset.yaml).
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
fail() {
  echo "nix check: $*" >&2
  exit 1
}

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
    fail "$what accepted a file it must reject: $*"
  fi
}

ensure_nix_instantiate
ensure_tool nixpkgs-fmt "$nixpkgs_fmt_version"
ensure_tool deadnix "$deadnix_version"
PATH=$tools_root/bin:$PATH
# nix/fmt.sh formats $PRJ_ROOT when it is set (nix fmt sets it): each call below says which tree
unset PRJ_ROOT

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.nix')
if [[ ${#files[@]} -eq 0 ]]; then
  fail "no .nix files found under $repo"
fi

step "the checkers reject known-bad input"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '{ a = ; }\n' >"$scratch/unparsable.nix"
printf '{a=1;\n   b =2;}\n' >"$scratch/unformatted.nix"
printf 'let unused = 1; in 2\n' >"$scratch/dead.nix"
expect_failure "nix-instantiate --parse" nix-instantiate --parse "$scratch/unparsable.nix"
expect_failure "nixpkgs-fmt --check" nixpkgs-fmt --check "$scratch/unformatted.nix"
expect_failure "nix/fmt.sh --check FILE" bash nix/fmt.sh --check "$scratch/unformatted.nix"
expect_failure "deadnix --fail" deadnix --fail "$scratch/dead.nix"

step "nix fmt with no arguments formats the whole tree, from any directory (nix/fmt.sh)"
# A git work tree with unformatted files at the top and two levels down, an ignored one, and no
# arguments, as Nix >= 2.25 calls the formatter; then the same without git (a flake check's copy).
tree=$scratch/tree
mkdir -p "$tree/a/b"
cp "$scratch/unformatted.nix" "$tree/top.nix"
cp "$scratch/unformatted.nix" "$tree/a/b/deep.nix"
cp "$scratch/unformatted.nix" "$tree/ignored.nix"
printf 'ignored.nix\n' >"$tree/.gitignore"
git -C "$tree" init -q
expect_failure "nix/fmt.sh --check (whole tree)" bash -c "cd '$tree/a' && bash '$repo/nix/fmt.sh' --check"
(cd "$tree/a/b" && bash "$repo/nix/fmt.sh" >/dev/null 2>&1)
(cd "$tree/a" && bash "$repo/nix/fmt.sh" --check >/dev/null 2>&1) ||
  fail "nix/fmt.sh with no arguments left a file of the tree unformatted"
cmp -s "$tree/ignored.nix" "$scratch/unformatted.nix" ||
  fail "nix/fmt.sh formatted a file git ignores"
rm -rf "$tree/.git" "$tree/.gitignore" "$tree/ignored.nix"
cp "$scratch/unformatted.nix" "$tree/a/again.nix"
expect_failure "nix/fmt.sh --check (tree without git)" bash -c "cd '$tree' && bash '$repo/nix/fmt.sh' --check"
(cd "$tree" && bash "$repo/nix/fmt.sh" >/dev/null 2>&1 && bash "$repo/nix/fmt.sh" --check >/dev/null 2>&1) ||
  fail "nix/fmt.sh without git left a file of the tree unformatted"

step "parse ${#files[@]} files: ${files[*]}"
for file in "${files[@]}"; do
  nix-instantiate --parse "$file" >/dev/null
done

step "format (nix/fmt.sh --check: nixpkgs-fmt $nixpkgs_fmt_version over the tree, as nix fmt)"
PRJ_ROOT=$repo bash nix/fmt.sh --check

step "dead code (deadnix $deadnix_version --fail)"
deadnix --fail "${files[@]}"

step "one toolchain: rust-toolchain.toml = the flake's = this tree's rustc"
channel=$(sed -n 's/^channel *= *"\([^"]*\)" *$/\1/p' rust-toolchain.toml)
[[ $channel =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "rust-toolchain.toml: want channel = \"x.y.z\" (an exact version), found '${channel}'"
# every toolchain the flake's outputs use, evaluated against the stand-ins (nix/stand-in.nix)
flake_versions=$(nix-instantiate --read-write-mode --eval --strict --json \
  -E 'map (t: t.version) (import ./nix/stand-in.nix).toolchains' | tr -d '[]"' | tr ',' '\n' | sort -u)
if [[ $flake_versions != "$channel" ]]; then
  fail "rust-toolchain.toml says Rust $channel, but the flake builds with: $(echo "$flake_versions" | tr '\n' ' ')"
fi
rust_version=$(sed -n 's/^rust-version *= *"\([^"]*\)" *$/\1/p' Cargo.toml)
if [[ $(printf '%s\n%s\n' "$rust_version" "$channel" | sort -V | head -n1) != "$rust_version" ]]; then
  fail "rust-toolchain.toml's Rust $channel is older than Cargo.toml's rust-version $rust_version"
fi
if command -v rustc >/dev/null; then
  tree_rustc=$(rustc --version 2>/dev/null | cut -d' ' -f2) ||
    fail "rustc does not run in this tree (rustup lacks Rust $channel?): bash nix/rustup-toolchain.sh"
  [[ $tree_rustc == "$channel" ]] ||
    fail "rust-toolchain.toml says Rust $channel, but rustc in this tree is $tree_rustc"
fi
echo "Rust $channel: rust-toolchain.toml, the flake (all builds, checks and dev shells)${tree_rustc:+, rustc here}"

step "wiring (nix/offline-check.nix against stand-ins; image layout against deploy/daemonset.yaml)"
# read-write: the check reads the filtered source trees, which builtins.path adds to the store
nix-instantiate --read-write-mode --eval --strict nix/offline-check.nix

step "ok"
