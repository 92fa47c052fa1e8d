# `nix fmt`: nix/fmt.sh as a program, with nixpkgs-fmt and git on its PATH. The same script runs
# in nix/check.sh (offline, nixpkgs-fmt from crates.io) and in the flake check `nix-fmt`.
{ used }:
used.writeShellApplication {
  name = "tether-nix-fmt";
  runtimeInputs = [ used.nixpkgs-fmt used.git ];
  text = builtins.readFile ./fmt.sh;
}
