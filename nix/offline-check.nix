# The flake's wiring, checked without nixpkgs: flake.nix's outputs are called with a stand-in
# nixpkgs made from builtins (each attribute of nix/pkgs-used.nix, as a record of how the flake
# called it), and what comes out is checked against the issue and against Cargo.toml/Cargo.lock.
#
# It proves the flake's own logic; it proves nothing about nixpkgs (that the attributes exist at
# the pinned revision, that the builds succeed): nix/verify-online.sh does that where there is
# network. Run by nix/check.sh as: nix-instantiate --eval --strict nix/offline-check.nix
let
  flake = import ../flake.nix;
  pins = import ./pkgs-used.nix;
  cargoToml = builtins.fromTOML (builtins.readFile ../Cargo.toml);
  cargoLock = builtins.fromTOML (builtins.readFile ../Cargo.lock);
  inherit (cargoToml.workspace.package) version;

  linux = [ "aarch64-linux" "x86_64-linux" ];
  darwin = [ "aarch64-darwin" "x86_64-darwin" ];
  allSystems = builtins.sort builtins.lessThan (linux ++ darwin);

  # --- the stand-in nixpkgs ---------------------------------------------------------------

  fake = name: extra: {
    type = "derivation";
    inherit name;
    pname = name;
    version = "0-stub";
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    overrideAttrs = f: fake "${name}-overridden" { overriddenWith = f { }; };
  } // extra;

  calls = {
    mkShell = args: fake "shell" { stub = "mkShell"; inherit args; };
    buildRustPackage = args: fake args.pname { stub = "buildRustPackage"; inherit args; };
    buildStaticRustPackage = args: fake args.pname { stub = "buildStaticRustPackage"; inherit args; };
    buildLayeredImage = args: fake "${args.name}.tar.gz" { stub = "buildLayeredImage"; inherit args; };
    runCommand = name: env: script: fake name { stub = "runCommand"; inherit env script; };
  };

  nest = path: value:
    if path == [ ] then value else { ${builtins.head path} = nest (builtins.tail path) value; };
  merge = a: b: a // builtins.mapAttrs
    (key: value:
      if a ? ${key} && builtins.isAttrs a.${key} && builtins.isAttrs value
      then merge a.${key} value else value)
    b;

  # rustcVersion: the rustc the stand-in reports; omit: names of pkgs-used.nix to leave out.
  stubNixpkgs = { rustcVersion ? "1.91.1", omit ? [ ] }:
    let
      valueFor = name: calls.${name} or (fake name
        (if name == "rustc" then { version = rustcVersion; } else { }));
      names = builtins.filter (name: !(builtins.elem name omit)) (builtins.attrNames pins.paths);
      pkgs = builtins.foldl' merge { } (map (name: nest pins.paths.${name} (valueFor name)) names);
    in
    {
      legacyPackages = builtins.listToAttrs
        (map (system: { name = system; value = pkgs; }) (linux ++ darwin));
    };

  # as Nix calls it: with every input and the flake itself as `self`
  outputsWith = stub: let self = flake.outputs { inherit self; nixpkgs = stub; }; in self;
  outputs = outputsWith (stubNixpkgs { });

  # true when evaluating value in full throws (an error the flake raised on purpose)
  refused = value: !(builtins.tryEval (builtins.deepSeq value true)).success;

  # --- the checks ---------------------------------------------------------------------------

  x86 = outputs.packages.x86_64-linux;
  bundles = builtins.filter (p: (p.stub or "") == "runCommand") x86.image.args.contents;
  bundle = if bundles == [ ] then { script = ""; outPath = ""; } else builtins.head bundles;
  localCrate = name: builtins.any (p: p.name == name && !(p ? source)) cargoLock.package;
  crateBuild = pkg: stub: crate:
    pkg.stub == stub
    && pkg.args.cargoBuildFlags == [ "-p" crate ]
    && pkg.args.doCheck == false
    && pkg.args.version == version
    && pkg.args.cargoLock.lockFile == ../Cargo.lock;

  shellTools = [
    "cargo"
    "rustc"
    "clippy"
    "rustfmt"
    "rust-analyzer"
    "cargo-nextest"
    "kind"
    "kubectl"
    "kubernetes-helm"
    "docker-client"
    "shellcheck"
    "jq"
  ];
  shellHas = system: names:
    let packages = map (p: p.name) outputs.devShells.${system}.default.args.packages;
    in builtins.all (name: builtins.elem name packages) names;
  hookSays = text: builtins.match ".*${text}.*" outputs.devShells.x86_64-linux.default.args.shellHook != null;
  contains = text: haystack: builtins.match ".*${text}.*" haystack != null;

  source = builtins.readDir x86.tether-agent.args.src;
  checkNames = builtins.attrNames outputs.checks.x86_64-linux;

  results = {
    "flake.nix pins nixpkgs by the revision recorded in nix/pkgs-used.nix" =
      flake.inputs.nixpkgs.url == "github:NixOS/nixpkgs/${pins.nixpkgsRev}"
      && builtins.match "[0-9a-f]{40}" pins.nixpkgsRev != null
      && builtins.attrNames flake.inputs == [ "nixpkgs" ];
    "every output of every system evaluates in full with only the attributes nix/pkgs-used.nix lists" =
      !(refused outputs);
    "packages and checks for the two Linux systems, dev shells for darwin too" =
      builtins.attrNames outputs.packages == linux
      && builtins.attrNames outputs.checks == linux
      && builtins.attrNames outputs.devShells == allSystems
      && builtins.attrNames outputs.formatter == allSystems;
    "packages: tether-agent, tether-cni, image, default" =
      builtins.all (s: builtins.attrNames outputs.packages.${s} == [ "default" "image" "tether-agent" "tether-cni" ]) linux
      && x86.default.outPath == x86.tether-agent.outPath;
    "Cargo.lock has the workspace crates the flake builds: agent and cni" =
      localCrate "agent" && localCrate "cni";
    "tether-agent: -p agent from Cargo.lock, no tests in the build" =
      crateBuild x86.tether-agent "buildRustPackage" "agent";
    "tether-cni: -p cni from Cargo.lock, static, no tests in the build" =
      crateBuild x86.tether-cni "buildStaticRustPackage" "cni";
    "image: entrypoint tether-agent, tagged with the workspace version" =
      x86.image.stub == "buildLayeredImage"
      && x86.image.args.contents == [ bundle ]
      && x86.image.args.config.Entrypoint == [ "${bundle}/bin/tether-agent" ]
      && x86.image.args.tag == version
      && contains "cp ${x86.tether-agent}/bin/tether-agent ${x86.tether-cni}/bin/tether-cni [$]out/bin/\n" bundle.script;
    "image: static bandwidth and tuning beside tether-cni, and as /opt/cni/bin/{tether,bandwidth,tuning}" =
      contains "cni-plugins-overridden/bin/bandwidth [^\n]*cni-plugins-overridden/bin/tuning [$]out/bin/\n" bundle.script
      && builtins.all (link: contains "ln -s [.][.]/[.][.]/[.][.]/bin/${link}\n" bundle.script) [
        "tether-cni [$]out/opt/cni/bin/tether"
        "bandwidth [$]out/opt/cni/bin/bandwidth"
        "tuning [$]out/opt/cni/bin/tuning"
      ]
      && contains "for plugin in [$]out/bin/tether-cni [$]out/bin/bandwidth [$]out/bin/tuning; do" bundle.script
      && contains "patchelf --print-interpreter" bundle.script;
    "dev shell (Linux): every tool the issue names, cni-plugins on CNI_PATH" =
      shellHas "x86_64-linux" (shellTools ++ [ "cni-plugins" ])
      && shellHas "aarch64-linux" (shellTools ++ [ "cni-plugins" ])
      && outputs.devShells.x86_64-linux.default.args.CNI_PATH == "${(stubNixpkgs { }).legacyPackages.x86_64-linux.cni-plugins}/bin";
    "dev shell (darwin): the same tools but the Linux-only cni-plugins" =
      shellHas "aarch64-darwin" shellTools
      && !(shellHas "aarch64-darwin" [ "cni-plugins" ])
      && !(outputs.devShells.aarch64-darwin.default.args ? CNI_PATH);
    "dev shell: the hook says how to start" =
      hookSays "hack/up[.]sh" && hookSays "cargo test -p e2e" && hookSays "rustc --version";
    "checks: fmt, clippy, unit tests and the packages" =
      checkNames == [ "clippy" "fmt" "image" "tether-agent" "tether-cni" "unit-tests" ];
    "checks: unit tests leave out tests/ (privileged and Docker), clippy denies warnings" =
      contains "cargo test --workspace --lib --bins --offline" outputs.checks.x86_64-linux.unit-tests.args.checkPhase
      && contains "cargo clippy --workspace --all-targets --offline -- -D warnings" outputs.checks.x86_64-linux.clippy.args.checkPhase
      && contains "cargo fmt --all -- --check" outputs.checks.x86_64-linux.fmt.script;
    "source: the workspace without target/, nix/ or flake.nix" =
      source ? "Cargo.toml" && source ? "Cargo.lock" && source ? "cni"
      && !(source ? "target") && !(source ? "nix") && !(source ? "flake.nix") && !(source ? ".git");
    "a rustc older than the workspace's rust-version is refused" =
      refused (outputsWith (stubNixpkgs { rustcVersion = "1.88.0"; })).devShells.x86_64-linux.default
      && !(refused (outputsWith (stubNixpkgs { rustcVersion = cargoToml.workspace.package.rust-version; })).devShells.x86_64-linux.default);
    "an attribute missing from nixpkgs is an error, not a silent gap" =
      !(refused outputs.devShells.x86_64-linux.default) && !(refused x86.image)
      && refused (outputsWith (stubNixpkgs { omit = [ "kind" ]; })).devShells.x86_64-linux.default
      && refused (outputsWith (stubNixpkgs { omit = [ "buildStaticRustPackage" ]; })).packages.x86_64-linux.image;
  };
  failed = builtins.filter (name: !results.${name}) (builtins.attrNames results);
in
if failed == [ ]
then "nix offline check: all ${toString (builtins.length (builtins.attrNames results))} hold"
else throw "nix offline check failed:\n  ${builtins.concatStringsSep "\n  " failed}"
