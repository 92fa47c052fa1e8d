# Stand-ins for the flake's inputs, made from builtins, so that its outputs can be evaluated where
# nixpkgs and rust-overlay cannot be fetched (nix/offline-check.nix, nix/toolchain-report.nix).
#
# The nixpkgs stand-in has one fake for each attribute of nix/pkgs-used.nix and nothing else, in
# every package set the list reaches (pkgsStatic, buildPackages, pkgsCross.aarch64-multiplatform,
# and theirs), each fake recording how the flake called it and in which set (`label`, e.g.
# "x86_64-linux/aarch64Cross/pkgsStatic"). The rust-overlay stand-in's toolchain records the
# rust-toolchain.toml table it was asked for and the set it was made for.
let
  pins = import ./pkgs-used.nix;

  linux = [ "aarch64-linux" "x86_64-linux" ];
  darwin = [ "aarch64-darwin" "x86_64-darwin" ];

  storeName = label: builtins.replaceStrings [ "/" ] [ "." ] label;
  fake = label: name: extra: {
    type = "derivation";
    inherit name label;
    pname = name;
    version = "0-stub";
    outPath = "/nix/store/00000000000000000000000000000000-${name}-${storeName label}";
    meta = { };
    overrideAttrs = f: fake label "${name}-overridden" { overriddenWith = f { }; };
  } // extra;

  calls = label: {
    mkShell = args: fake label "shell" { stub = "mkShell"; inherit args; };
    makeRustPlatform = { cargo, rustc }: {
      buildRustPackage = args: fake label args.pname {
        stub = "buildRustPackage";
        inherit args cargo rustc;
      };
    };
    buildLayeredImage = args: fake label "${args.name}.tar.gz" { stub = "buildLayeredImage"; inherit args; };
    runCommand = name: env: script: fake label name { stub = "runCommand"; inherit env script; };
    writeShellApplication = args: fake label args.name { stub = "writeShellApplication"; inherit args; };
  };

  nest = path: value:
    if path == [ ] then value else { ${builtins.head path} = nest (builtins.tail path) value; };
  merge = a: b: a // builtins.mapAttrs
    (key: value:
      if a ? ${key} && builtins.isAttrs a.${key} && builtins.isAttrs value
      then merge a.${key} value else value)
    b;

  # the stand-in package set `label`, without the pkgs-used.nix names in `omit`
  stubSet = { label, omit }:
    let
      keep = names: builtins.filter (name: !(builtins.elem name omit)) names;
      leaves = map
        (name: nest pins.paths.${name} ((calls label).${name} or (fake label name { })))
        (keep (builtins.attrNames pins.paths));
      sets = map
        (name: nest pins.sets.${name} (stubSet { label = "${label}/${name}"; inherit omit; }))
        (keep (builtins.attrNames pins.sets));
    in
    builtins.foldl' merge { _label = label; } (leaves ++ sets);
in
rec {
  inherit linux darwin;
  flake = import ../flake.nix;

  # omit: names of nix/pkgs-used.nix (attributes or sets) to leave out of every set
  stubNixpkgs = { omit ? [ ] }: {
    legacyPackages = builtins.listToAttrs
      (map (system: { name = system; value = stubSet { label = system; inherit omit; }; }) (linux ++ darwin));
  };

  # reportVersion: the version the stand-in toolchain claims for the channel it is asked for
  stubRustOverlay = { reportVersion ? (channel: channel) }: {
    lib.mkRustBin = _: pkgs: {
      fromRustupToolchain = spec: fake "${pkgs._label}" "rust-toolchain" {
        stub = "toolchain";
        version = reportVersion spec.channel;
        inherit spec;
      };
    };
  };

  # as Nix calls it: with every input and the flake itself as `self`
  outputsWith = { nixpkgs ? stubNixpkgs { }, rust-overlay ? stubRustOverlay { } }:
    let self = flake.outputs { inherit self nixpkgs rust-overlay; }; in self;
  outputs = outputsWith { };

  # Every Rust toolchain the outputs use: those of the Rust builds (rustc and cargo) in packages
  # and checks, the checks' cargo fmt, and the dev shells'.
  toolchains =
    let
      inSystems = attr: builtins.concatMap (system: builtins.attrValues outputs.${attr}.${system}) (builtins.attrNames outputs.${attr});
      builds = builtins.filter (drv: (drv.stub or "") == "buildRustPackage") (inSystems "packages" ++ inSystems "checks");
      commandTools = builtins.concatMap (drv: drv.env.nativeBuildInputs or [ ])
        (builtins.filter (drv: (drv.stub or "") == "runCommand") (inSystems "checks"));
      shellTools = builtins.concatMap (shell: shell.default.args.packages) (builtins.attrValues outputs.devShells);
    in
    builtins.filter (drv: (drv.stub or "") == "toolchain")
      (builtins.concatMap (drv: [ drv.rustc drv.cargo ]) builds ++ commandTools ++ shellTools);
}
