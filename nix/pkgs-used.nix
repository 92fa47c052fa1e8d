# Every nixpkgs attribute the flake uses, and nothing else: the rest of nix/ reads nixpkgs only
# through `select` below, so this list is the whole surface to check against the pinned revision
# (nix/verify-online.sh does that on a machine with network; nix/offline-check.nix builds its
# stand-in nixpkgs from this same list). The Rust toolchain does not come from nixpkgs: it is
# rust-toolchain.toml's channel from oxalica/rust-overlay (nix/toolchain.nix), pinned below too.
#
# The pins (flake.nix must carry the same revisions and narHashes; nix/offline-check.nix compares
# them). Provenance and how each was established: nix/README.md, "The pins".
#
# nixpkgs: branch nixos-26.05 at 5880666fd9eb563038431edb35c2d0aa595884e6, lastModified
#   1787204541 (2026-08-20T05:42:21Z), narHash sha256-OURZPknrTjQrlNyxPdqzyqmU/81Wes1CUP/Ft1Rv/YI=.
#   Found as the locked `nixos-26.05` input of github.com/nix-community/home-manager, branch
#   release-26.05, flake.lock at commit 65258d5c65a250189fde2e35f490d15e064c4c62 (2026-08-22);
#   the narHash is the one Nix computed there (nixpkgs is too large to fetch here). nixos-26.05
#   because it is the newest stable channel (NixOS/infra channels.nix, 2026-08-19: nixos-26.05
#   "stable", no 26.11 yet) and carries the static.crates.io fix of importCargoLock
#   (NixOS/nixpkgs#524985, backported to release-26.05 as #524989); 25.11 is end of life.
# rust-overlay: oxalica/rust-overlay at fd2ebb9cc4323d0c5a1336138dab5c3c5a5d8bd9, lastModified
#   1787367552 (2026-08-22T02:59:12Z), narHash sha256-YT4Fs2k7bi+7YzuLt93EtIRgjpwHK5ZfsQEIh5dEQSk=,
#   computed here from that commit's `git archive` with `nix hash path` (the same method gives
#   the narHash NixOS/infra's flake.lock records for home-manager abfad3d2). Its manifest
#   manifests/stable/1.95.0.nix has rustc, cargo, clippy, rustfmt and rust-analyzer for
#   x86_64/aarch64 Linux and rust-std for x86_64/aarch64 gnu and musl.
rec {
  nixpkgsRev = "5880666fd9eb563038431edb35c2d0aa595884e6";
  nixpkgsNarHash = "sha256-OURZPknrTjQrlNyxPdqzyqmU/81Wes1CUP/Ft1Rv/YI=";
  rustOverlayRev = "fd2ebb9cc4323d0c5a1336138dab5c3c5a5d8bd9";
  rustOverlayNarHash = "sha256-YT4Fs2k7bi+7YzuLt93EtIRgjpwHK5ZfsQEIh5dEQSk=";

  # name used in nix/ = attribute path in a nixpkgs package set (where nixpkgs defines it;
  # nix/README.md says which of these were read here, in which versions: none at the pin)
  paths = {
    # dev shell (the Rust tools come from the toolchain)
    mkShell = [ "mkShell" ]; # pkgs/build-support/mkshell/default.nix
    cargo-nextest = [ "cargo-nextest" ]; # pkgs/by-name/ca/cargo-nextest/package.nix
    kind = [ "kind" ]; # pkgs/by-name/ki/kind/package.nix
    kubectl = [ "kubectl" ]; # pkgs/top-level/all-packages.nix
    kubernetes-helm = [ "kubernetes-helm" ]; # pkgs/top-level/all-packages.nix
    docker-client = [ "docker-client" ]; # all-packages.nix: docker.override { clientOnly = true; }
    cni-plugins = [ "cni-plugins" ]; # all-packages.nix: applications/networking/cluster/cni/plugins.nix
    shellcheck = [ "shellcheck" ]; # pkgs/top-level/all-packages.nix
    jq = [ "jq" ]; # pkgs/by-name/jq/jq/package.nix

    # packages, image and checks
    makeRustPlatform = [ "makeRustPlatform" ]; # pkgs/development/compilers/rust/make-rust-platform.nix
    buildLayeredImage = [ "dockerTools" "buildLayeredImage" ]; # pkgs/build-support/docker/default.nix
    runCommand = [ "runCommand" ]; # pkgs/build-support/trivial-builders/default.nix
    patchelf = [ "patchelf" ]; # pkgs/top-level/all-packages.nix (used from buildPackages)

    # `nix fmt`: nix/fmt.sh as a program, with the same nixpkgs-fmt nix/check.sh runs
    writeShellApplication = [ "writeShellApplication" ]; # trivial-builders/default.nix
    nixpkgs-fmt = [ "nixpkgs-fmt" ]; # pkgs/by-name/ni/nixpkgs-fmt/package.nix
    git = [ "git" ]; # pkgs/top-level/all-packages.nix
  };

  # package sets reached from a package set, each seen through `select` again
  sets = {
    # the set whose programs run while building this one (patchelf; the toolchain's host)
    buildPackages = [ "buildPackages" ]; # pkgs/top-level/stage.nix (splice)
    # tether-cni is copied onto the node, outside the Nix store: it must be static (musl)
    pkgsStatic = [ "pkgsStatic" ]; # pkgs/top-level/stage.nix: musl, isStatic, of hostPlatform
    # aarch64-linux built on x86_64-linux
    aarch64Cross = [ "pkgsCross" "aarch64-multiplatform" ]; # lib/systems/examples.nix
  };

  # pkgs -> { name = the attribute at its path; set = select (the set at its path);
  # _raw = pkgs }, failing with the path that is missing. `_raw` is handed to rust-overlay only
  # (its mkRustBin takes a whole package set).
  select = pkgs:
    let
      at = name: path:
        builtins.foldl'
          (set: key:
            if set ? ${key} then set.${key}
            else throw "nixpkgs has no attribute ${builtins.concatStringsSep "." path} (used as `${name}` in nix/)")
          pkgs
          path;
    in
    builtins.mapAttrs at paths
    // builtins.mapAttrs (name: path: select (at name path)) sets
    // { _raw = pkgs; };
}
