# The flake's outputs as a function of its inputs, so that nix/offline-check.nix can call it with
# stand-ins. Packages and checks for the two Linux systems, aarch64-linux also cross-built on
# x86_64-linux; the dev shell and the formatter for darwin too.
{ nixpkgs, rust-overlay, root }:
let
  linux = [ "x86_64-linux" "aarch64-linux" ];
  darwin = [ "x86_64-darwin" "aarch64-darwin" ];
  forSystems = systems: f:
    builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);

  workspace = (builtins.fromTOML (builtins.readFile (root + "/Cargo.toml"))).workspace.package;
  inherit (workspace) version;
  cargoLock = root + "/Cargo.lock";
  src = import ./source.nix { inherit root; };
  toolchain = import ./toolchain.nix {
    rustOverlay = rust-overlay;
    inherit root;
    rustVersion = workspace.rust-version;
  };

  # nixpkgs for one system, seen only through nix/pkgs-used.nix
  usedFor = system: (import ./pkgs-used.nix).select nixpkgs.legacyPackages.${system};

  # the OCI architecture of each Linux system (GOARCH names)
  architectures = { x86_64-linux = "amd64"; aarch64-linux = "arm64"; };

  packagesWith = args: import ./packages.nix ({ inherit toolchain cargoLock version; src = src.rust; } // args);

  # aarch64-linux's packages built on x86_64-linux, as <name>-aarch64-linux
  crossAarch64 =
    let
      cross = packagesWith {
        set = (usedFor "x86_64-linux").aarch64Cross;
        architecture = architectures.aarch64-linux;
        canExecute = false;
      };
    in
    builtins.listToAttrs (map
      (name: { name = "${name}-aarch64-linux"; value = cross.${name}; })
      [ "tether-agent" "tether-cni" "image" ]);

  packagesFor = system:
    packagesWith { set = usedFor system; architecture = architectures.${system}; }
    // (if system == "x86_64-linux" then crossAarch64 else { });

  formatterFor = system: import ./formatter.nix { used = usedFor system; };
in
{
  packages = forSystems linux packagesFor;

  devShells = forSystems (linux ++ darwin) (system: {
    default = import ./devshell.nix {
      used = usedFor system;
      inherit toolchain;
      isLinux = builtins.elem system linux;
    };
  });

  checks = forSystems linux (system: import ./checks.nix {
    used = usedFor system;
    packages = packagesFor system;
    formatter = formatterFor system;
    inherit toolchain src cargoLock version;
  });

  formatter = forSystems (linux ++ darwin) formatterFor;
}
