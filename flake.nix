{
  description = "tether: a thin chained CNI plugin and its node agent for OpenYurt edge clusters";

  # A commit of nixos-25.11, pinned by revision so the flake is reproducible even without a
  # flake.lock. Where it was found, and its narHash: nix/pkgs-used.nix.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/3ceaaa8bc963ced4d830e06ea2d0863b6490ff03";

  outputs = { nixpkgs, ... }: import ./nix/outputs.nix { inherit nixpkgs; root = ./.; };
}
