# Every nixpkgs attribute the flake uses, and nothing else: the rest of nix/ reads nixpkgs only
# through `select` below, so this list is the whole surface to check against the pinned revision
# (nix/verify-online.sh does that on a machine with network; nix/offline-check.nix builds its
# stand-in nixpkgs from this same list).
#
# The pin (flake.nix must carry the same revision; nix/offline-check.nix compares them):
# nixos-25.11 at 3ceaaa8bc963ced4d830e06ea2d0863b6490ff03, lastModified 1768940263
# (2026-01-20), narHash sha256-sJERJIYTKPFXkoz/gBaBtRKke82h4DkX3BBSsKbfbvI=. Found as the
# locked `nixos-25.11` input of github.com/sglre6355/nixos-config, flake.lock at commit
# 6718494aea2d246e642e98a675b0543a73c6d6a7. 25.11 rather than 25.05 because the workspace needs
# rustc >= 1.89 (rust-version in Cargo.toml): unstable still had rustc 1.86 on 2025-06-03, after
# the 25.05 branch-off (NixOS/nixpkgs#413563), and 1.91.1 until 2025-12-15, after the 25.11
# branch-off (NixOS/nixpkgs#470993). nix/outputs.nix refuses a rustc older than rust-version.
rec {
  nixpkgsRev = "3ceaaa8bc963ced4d830e06ea2d0863b6490ff03";
  nixpkgsNarHash = "sha256-sJERJIYTKPFXkoz/gBaBtRKke82h4DkX3BBSsKbfbvI=";

  # name used in nix/ = attribute path in nixpkgs
  paths = {
    # dev shell
    cargo = [ "cargo" ];
    rustc = [ "rustc" ];
    clippy = [ "clippy" ];
    rustfmt = [ "rustfmt" ];
    rust-analyzer = [ "rust-analyzer" ];
    rustLibSrc = [ "rustPlatform" "rustLibSrc" ];
    cargo-nextest = [ "cargo-nextest" ];
    kind = [ "kind" ];
    kubectl = [ "kubectl" ];
    kubernetes-helm = [ "kubernetes-helm" ];
    docker-client = [ "docker-client" ];
    cni-plugins = [ "cni-plugins" ];
    shellcheck = [ "shellcheck" ];
    jq = [ "jq" ];
    mkShell = [ "mkShell" ];

    # packages, image and checks
    buildRustPackage = [ "rustPlatform" "buildRustPackage" ];
    # tether-cni is copied onto the node, outside the Nix store: it must be static (musl)
    buildStaticRustPackage = [ "pkgsStatic" "rustPlatform" "buildRustPackage" ];
    buildLayeredImage = [ "dockerTools" "buildLayeredImage" ];
    runCommand = [ "runCommand" ];
    patchelf = [ "patchelf" ];

    # `nix fmt`, the same formatter nix/check.sh runs from crates.io
    nixpkgs-fmt = [ "nixpkgs-fmt" ];
  };

  # pkgs -> { name = the attribute at its path; }, failing with the path that is missing.
  select = pkgs: builtins.mapAttrs
    (name: path:
      builtins.foldl'
        (set: key:
          if set ? ${key} then set.${key}
          else throw "nixpkgs has no attribute ${builtins.concatStringsSep "." path} (used as `${name}` in nix/)")
        pkgs
        path)
    paths;
}
