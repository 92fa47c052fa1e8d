# The Rust toolchain of every build, check and dev shell of the flake: the channel and components
# of rust-toolchain.toml, the file rustup reads for `cargo` in this tree, taken from
# oxalica/rust-overlay (never nixpkgs' rustc, whose version follows the nixpkgs pin). The flake
# refuses to evaluate when rust-overlay's toolchain is not exactly that version.
{ rustOverlay, root, rustVersion }:
let
  # [toolchain] channel = "x.y.z", components = [ ... ]: what fromRustupToolchainFile reads
  spec = (builtins.fromTOML (builtins.readFile (root + "/rust-toolchain.toml"))).toolchain;
  inherit (spec) channel;

  checked = toolchain:
    if builtins.match "[0-9]+[.][0-9]+[.][0-9]+" channel == null
    then throw "rust-toolchain.toml: channel must be an exact version x.y.z, not ${channel}"
    else if toolchain.version != channel
    then throw "rust-toolchain.toml asks for Rust ${channel}, rust-overlay gives ${toolchain.version}"
    else if builtins.compareVersions channel rustVersion < 0
    then throw "rust-toolchain.toml's Rust ${channel} is older than Cargo.toml's rust-version ${rustVersion}"
    else toolchain;
in
rec {
  inherit channel;

  # The toolchain for building the programs of `set` (a package set seen through
  # nix/pkgs-used.nix): it runs on set.buildPackages' platform and targets `set`'s, so the same
  # call serves a native set, pkgsStatic (musl) and pkgsCross.aarch64-multiplatform. `extensions`
  # adds components to the file's (the dev shell's rust-src and rust-analyzer).
  for = { set, extensions ? [ ] }:
    checked ((rustOverlay.lib.mkRustBin { } set.buildPackages._raw).fromRustupToolchain
      (spec // { components = (spec.components or [ ]) ++ extensions; }));

  # rustPlatform of `set` with that toolchain: its buildRustPackage
  platformFor = set:
    let toolchain = for { inherit set; };
    in set.makeRustPlatform { cargo = toolchain; rustc = toolchain; };
}
