#!/usr/bin/env bash
# `nix fmt`: nixpkgs-fmt over the repository's .nix files. The flake's formatter is this script
# (nix/formatter.nix); nix/check.sh and the flake check `nix-fmt` run it with --check.
#
#   nix fmt                      format every .nix file of the tree
#   nix fmt -- --check           fail, listing them, when a file is not formatted; change nothing
#   nix fmt -- FILE...           format those files (or: nix fmt -- --check FILE...)
#   bash nix/fmt.sh [--check] [FILE...]    the same without Nix (nixpkgs-fmt on PATH)
#
# With no files it formats the whole tree, wherever it is started: Nix >= 2.25 runs the formatter
# with no arguments (NixOS/nix#11438) and sets PRJ_ROOT to the flake's directory; older Nix passes
# "." and is treated the same. In a git work tree the files are those git knows (tracked or not
# ignored), else every *.nix below the root except target/ and result*.
set -euo pipefail

check=()
if [[ ${1:-} == --check ]]; then
  check=(--check)
  shift
fi

if [[ $# -gt 1 || ($# -eq 1 && $1 != .) ]]; then
  exec nixpkgs-fmt "${check[@]}" "$@"
fi

root=${PRJ_ROOT:-}
if [[ -z $root ]]; then
  root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
fi
cd "$root"

files=()
if command -v git >/dev/null && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r file; do
    # a tracked file deleted in the work tree is not there to format
    [[ -e $file ]] && files+=("$file")
  done < <(git ls-files --cached --others --exclude-standard -- '*.nix')
else
  shopt -s globstar nullglob
  for file in **/*.nix; do
    case $file in
      target/* | result*/* | .git/*) ;;
      *) files+=("$file") ;;
    esac
  done
fi

if [[ ${#files[@]} -eq 0 ]]; then
  echo "nix fmt: no .nix files under $root" >&2
  exit 1
fi
exec nixpkgs-fmt "${check[@]}" "${files[@]}"
