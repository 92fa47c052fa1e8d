# The flake's outputs as a function of its nixpkgs input, so that nix/offline-check.nix can call
# it with a stand-in nixpkgs. Packages and checks for Linux; the dev shell for darwin too.
{ nixpkgs, root }:
let
  linux = [ "x86_64-linux" "aarch64-linux" ];
  darwin = [ "x86_64-darwin" "aarch64-darwin" ];
  forSystems = systems: f:
    builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);

  workspace = (builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"))).workspace.package;
  inherit (workspace) version;
  cargoLock = root + "/Cargo.lock";
  src = import ./source.nix { inherit root; };

  # nixpkgs for one system, seen only through nix/pkgs-used.nix, refused when its rustc is older
  # than the workspace's rust-version.
  usedFor = system:
    let
      used = (import ./pkgs-used.nix).select nixpkgs.legacyPackages.${system};
      rustc = used.rustc.version;
    in
    if builtins.compareVersions rustc workspace.rust-version < 0
    then throw "nixpkgs' rustc ${rustc} is older than the workspace's rust-version ${workspace.rust-version}"
    else used;

  packagesFor = system:
    import ./packages.nix { used = usedFor system; inherit src cargoLock version; };
in
{
  packages = forSystems linux packagesFor;

  devShells = forSystems (linux ++ darwin) (system: {
    default = import ./devshell.nix {
      used = usedFor system;
      isLinux = builtins.elem system linux;
    };
  });

  checks = forSystems linux (system: import ./checks.nix {
    used = usedFor system;
    packages = packagesFor system;
    inherit src cargoLock version;
  });

  formatter = forSystems (linux ++ darwin) (system: (usedFor system).nixpkgs-fmt);
}
