{
  description = "tether: a thin chained CNI plugin and its node agent for OpenYurt edge clusters";

  # Both inputs are pinned by revision and narHash, so the flake is reproducible without a
  # flake.lock and Nix refuses a download that is not what was pinned. Where each pin was found
  # and how its narHash was established: nix/pkgs-used.nix and nix/README.md.

  # nixos-26.05 at 2026-08-20: the newest stable channel, with importCargoLock fetching crates
  # from static.crates.io (NixOS/nixpkgs#524985).
  inputs.nixpkgs = {
    type = "github";
    owner = "NixOS";
    repo = "nixpkgs";
    rev = "5880666fd9eb563038431edb35c2d0aa595884e6";
    narHash = "sha256-OURZPknrTjQrlNyxPdqzyqmU/81Wes1CUP/Ft1Rv/YI=";
  };

  # The Rust toolchain named by rust-toolchain.toml (nix/toolchain.nix). Its own nixpkgs input
  # follows ours, so no second nixpkgs is fetched.
  inputs.rust-overlay = {
    type = "github";
    owner = "oxalica";
    repo = "rust-overlay";
    rev = "fd2ebb9cc4323d0c5a1336138dab5c3c5a5d8bd9";
    narHash = "sha256-YT4Fs2k7bi+7YzuLt93EtIRgjpwHK5ZfsQEIh5dEQSk=";
    inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs = { nixpkgs, rust-overlay, ... }:
    import ./nix/outputs.nix { inherit nixpkgs rust-overlay; root = ./.; };
}
