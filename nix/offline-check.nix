# The flake's wiring, checked without nixpkgs or rust-overlay: flake.nix's outputs are called with
# the stand-ins of nix/stand-in.nix, and what comes out is checked against the issue, against
# Cargo.toml/Cargo.lock/rust-toolchain.toml, and against deploy/daemonset.yaml.
#
# It proves the flake's own logic; it proves nothing about nixpkgs or rust-overlay (that the
# attributes exist at the pinned revisions, that the builds succeed): nix/verify-online.sh does
# that where there is network. Run by nix/check.sh as:
#   nix-instantiate --read-write-mode --eval --strict nix/offline-check.nix
let
  standIn = import ./stand-in.nix;
  inherit (standIn) flake outputs outputsWith stubNixpkgs stubRustOverlay linux darwin;
  pins = import ./pkgs-used.nix;
  layout = import ./image-layout.nix;
  cargoToml = builtins.fromTOML (builtins.readFile ../Cargo.toml);
  cargoLock = builtins.fromTOML (builtins.readFile ../Cargo.lock);
  toolchainFile = (builtins.fromTOML (builtins.readFile ../rust-toolchain.toml)).toolchain;
  inherit (cargoToml.workspace.package) version;

  allSystems = builtins.sort builtins.lessThan (linux ++ darwin);
  contains = text: haystack: builtins.match ".*${text}.*" haystack != null;
  escape = builtins.replaceStrings [ "." "+" "*" "?" "[" "]" "(" ")" "{" "}" "$" "^" "|" ] [ "[.]" "[+]" "[*]" "[?]" "[[]" "[]]" "[(]" "[)]" "[{]" "[}]" "[$]" "\\^" "[|]" ];
  all = builtins.all (x: x);

  # true when evaluating value in full throws (an error the flake raised on purpose)
  refused = value: !(builtins.tryEval (builtins.deepSeq value true)).success;

  # --- deploy/daemonset.yaml, read line by line (the DaemonSet's commands and env) ---------------

  daemonsetLines = builtins.filter builtins.isString (builtins.split "\n" (builtins.readFile ../deploy/daemonset.yaml));
  # every `command: [a, b, ...]` of the DaemonSet's containers, as lists of words
  commands = builtins.filter (c: c != null) (map
    (line:
      let m = builtins.match " *command: *[[]([^]]*)[]] *" line;
      in if m == null then null else
      builtins.filter (w: w != "") (map (w: builtins.replaceStrings [ " " "\"" ] [ "" "" ] w)
        (builtins.filter builtins.isString (builtins.split "," (builtins.head m)))))
    daemonsetLines);
  # the value on the line after `- name: NAME`, for every container that sets NAME
  envValues = name:
    let
      indexed = builtins.genList (i: { inherit i; line = builtins.elemAt daemonsetLines i; }) (builtins.length daemonsetLines);
      at = builtins.filter (l: builtins.match " *- name: ${name} *" l.line != null) indexed;
    in
    map
      (l:
        let m = builtins.match " *value: *\"?([^\"]*)\"? *" (builtins.elemAt daemonsetLines (l.i + 1));
        in if m == null then "(no value line after ${name})" else builtins.head m)
      at;
  dirOf' = path: builtins.dirOf path;
  # a command's program as the container runtime finds it: absolute, or through the image's PATH
  resolves = program:
    if builtins.substring 0 1 program == "/" then program == layout.agent
    else program == baseNameOf layout.agent && builtins.elem (dirOf' layout.agent) layout.path;

  # --- the outputs ----------------------------------------------------------------------------

  x86 = outputs.packages.x86_64-linux;
  arm = outputs.packages.aarch64-linux;
  bundleOf = image:
    let bundles = builtins.filter (p: (p.stub or "") == "runCommand") image.args.contents;
    in if bundles == [ ] then { script = ""; env = { }; label = ""; } else builtins.head bundles;

  localCrate = name: builtins.any (p: p.name == name && !(p ? source)) cargoLock.package;
  toolchainFor = label: t: t.stub or "" == "toolchain" && t.label == "${label}/buildPackages"
    && t.spec == toolchainFile && t.version == toolchainFile.channel;
  # a crate built with rust-toolchain.toml's toolchain for the package set `label`
  crateBuild = label: pkg: crate:
    pkg.stub == "buildRustPackage"
    && pkg.label == label
    && toolchainFor label pkg.rustc && toolchainFor label pkg.cargo
    && pkg.args.cargoBuildFlags == [ "-p" crate ]
    && pkg.args.doCheck == false
    && pkg.args.version == version
    && pkg.args.cargoLock.lockFile == ../Cargo.lock;
  # tether-agent for `set`, tether-cni for its pkgsStatic
  cratesFor = packages: set:
    crateBuild set packages.tether-agent "agent"
    && crateBuild "${set}/pkgsStatic" packages.tether-cni "cni";

  # the image of the package set `set` for OCI architecture `arch`, laid out as
  # nix/image-layout.nix says; `runs`: whether the build runs the plugins (not when cross-built)
  imageFor = packages: set: arch: runs:
    let
      image = packages.image;
      bundle = bundleOf image;
      plugin = name: "[$]out${escape layout.pluginDir}/${name}";
      # the stand-in's fakes carry their set's label in their store path, "/" as "."
      inStore = escape (builtins.replaceStrings [ "/" ] [ "." ] set);
    in
    image.stub == "buildLayeredImage"
    && image.label == set
    && image.args.architecture == arch
    && image.args.name == "tether-agent"
    && image.args.tag == version
    && image.args.contents == [ bundle ]
    && image.args.config.Entrypoint == [ layout.agent ]
    && image.args.config.Env == [ "PATH=${builtins.concatStringsSep ":" layout.path}" ]
    && bundle.label == set
    && map (t: t.label) bundle.env.nativeBuildInputs == [ "${set}/buildPackages" ]
    && contains "install -D -m 0755 ${escape packages.tether-agent.outPath}/bin/tether-agent [$]out${escape layout.agent}\n" bundle.script
    && contains "cp ${escape packages.tether-cni.outPath}/bin/tether-cni ${plugin "tether-cni"}\n" bundle.script
    && contains "cni-plugins-overridden-${inStore}/bin/bandwidth [^\n]*cni-plugins-overridden-${inStore}/bin/tuning [$]out${escape layout.pluginDir}/\n" bundle.script
    && contains "for plugin in ${builtins.concatStringsSep " " (map plugin layout.plugins)}; do" bundle.script
    && contains "patchelf --print-interpreter" bundle.script
    && (contains "CNI_COMMAND=VERSION" bundle.script == runs);

  shellTools = [ "cargo-nextest" "kind" "kubectl" "kubernetes-helm" "docker-client" "shellcheck" "jq" ];
  shellOf = system: outputs.devShells.${system}.default;
  shellHas = system: names:
    let packages = map (p: p.name) (shellOf system).args.packages;
    in builtins.all (name: builtins.elem name packages) names;
  shellToolchain = system:
    let ts = builtins.filter (p: (p.stub or "") == "toolchain") (shellOf system).args.packages;
    in if builtins.length ts == 1 then builtins.head ts else { };
  hookSays = text: contains text (shellOf "x86_64-linux").args.shellHook;

  source = builtins.readDir x86.tether-agent.args.src;
  checksOf = system: outputs.checks.${system};
  nixFmt = (checksOf "x86_64-linux").nix-fmt;
  nixTree = dir: builtins.readDir (builtins.head (builtins.match "cp -r ([^ ]*) tree.*" nixFmt.script) + dir);
  formatter = outputs.formatter.x86_64-linux;

  crossNames = [ "image-aarch64-linux" "tether-agent-aarch64-linux" "tether-cni-aarch64-linux" ];
  nativeNames = [ "default" "image" "tether-agent" "tether-cni" ];
  sorted = builtins.sort builtins.lessThan;
  cross = {
    tether-agent = x86.tether-agent-aarch64-linux;
    tether-cni = x86.tether-cni-aarch64-linux;
    image = x86.image-aarch64-linux;
  };
  input = name: flake.inputs.${name};

  results = {
    "flake.nix pins nixpkgs and rust-overlay by the revisions and narHashes recorded in nix/pkgs-used.nix" =
      builtins.attrNames flake.inputs == [ "nixpkgs" "rust-overlay" ]
      && input "nixpkgs" == { type = "github"; owner = "NixOS"; repo = "nixpkgs"; rev = pins.nixpkgsRev; narHash = pins.nixpkgsNarHash; }
      && input "rust-overlay" == {
        type = "github";
        owner = "oxalica";
        repo = "rust-overlay";
        rev = pins.rustOverlayRev;
        narHash = pins.rustOverlayNarHash;
        inputs.nixpkgs.follows = "nixpkgs";
      }
      && all (map (rev: builtins.match "[0-9a-f]{40}" rev != null) [ pins.nixpkgsRev pins.rustOverlayRev ])
      && all (map (hash: builtins.match "sha256-[A-Za-z0-9+/]{43}=" hash != null) [ pins.nixpkgsNarHash pins.rustOverlayNarHash ]);
    "every output of every system evaluates in full with only the attributes nix/pkgs-used.nix lists" =
      !(refused outputs);
    "packages and checks for the two Linux systems, dev shells and the formatter for darwin too" =
      builtins.attrNames outputs.packages == linux
      && builtins.attrNames outputs.checks == linux
      && builtins.attrNames outputs.devShells == allSystems
      && builtins.attrNames outputs.formatter == allSystems;
    "packages: tether-agent, tether-cni, image, default on both systems, and on x86_64-linux the three cross-built for aarch64-linux" =
      builtins.attrNames arm == nativeNames
      && builtins.attrNames x86 == sorted (nativeNames ++ crossNames)
      && x86.default.outPath == x86.tether-agent.outPath && arm.default.outPath == arm.tether-agent.outPath;
    "Cargo.lock has the workspace crates the flake builds: agent and cni" =
      localCrate "agent" && localCrate "cni";
    "x86_64-linux: tether-agent -p agent, tether-cni -p cni static (pkgsStatic), from Cargo.lock, rust-toolchain.toml's toolchain, no tests" =
      cratesFor x86 "x86_64-linux";
    "aarch64-linux, native: the same on aarch64-linux's own package set" =
      cratesFor arm "aarch64-linux";
    "aarch64-linux, cross-built on x86_64-linux: pkgsCross.aarch64-multiplatform, tether-cni from its pkgsStatic (aarch64 musl)" =
      cratesFor cross "x86_64-linux/aarch64Cross";
    "images: tether-agent:<version> for amd64, arm64 and arm64 cross-built, laid out as nix/image-layout.nix says, plugins checked static (and run unless cross-built)" =
      imageFor x86 "x86_64-linux" "amd64" true
      && imageFor arm "aarch64-linux" "arm64" true
      && imageFor cross "x86_64-linux/aarch64Cross" "arm64" false;
    "image layout = deploy/daemonset.yaml: every container's command finds tether-agent, TETHER_PLUGIN_SOURCE_DIR holds tether-cni" =
      builtins.length commands >= 2
      && all (map (c: c != [ ] && resolves (builtins.head c)) commands)
      && builtins.elem [ "tether-agent" "install-cni" ] commands
      && envValues "TETHER_PLUGIN_SOURCE_DIR" == [ layout.pluginDir ]
      && builtins.elem "tether-cni" layout.plugins;
    "dev shell (Linux): rust-toolchain.toml's toolchain with rust-src and rust-analyzer, every tool the issue names, cni-plugins on CNI_PATH" =
      all (map
        (system:
          shellHas system (shellTools ++ [ "cni-plugins" ])
          && (shellToolchain system).label or "" == "${system}/buildPackages"
          && (shellToolchain system).spec or { } == toolchainFile // { components = toolchainFile.components ++ [ "rust-src" "rust-analyzer" ]; }
          && (shellOf system).args.RUST_SRC_PATH == "${shellToolchain system}/lib/rustlib/src/rust/library"
          && (shellOf system).args.CNI_PATH == "${(stubNixpkgs { }).legacyPackages.${system}.cni-plugins}/bin")
        linux);
    "dev shell (darwin): the same tools but the Linux-only cni-plugins" =
      shellHas "aarch64-darwin" shellTools
      && (shellToolchain "aarch64-darwin").label or "" == "aarch64-darwin/buildPackages"
      && !(shellHas "aarch64-darwin" [ "cni-plugins" ])
      && !((shellOf "aarch64-darwin").args ? CNI_PATH);
    "dev shell: the hook says how to start" =
      hookSays "hack/up[.]sh" && hookSays "cargo test -p e2e" && hookSays "rustc --version";
    "checks: the packages, fmt, clippy, unit tests and nix-fmt" =
      builtins.attrNames (checksOf "x86_64-linux") == sorted (nativeNames ++ crossNames ++ [ "clippy" "fmt" "nix-fmt" "unit-tests" ])
      && builtins.attrNames (checksOf "aarch64-linux") == sorted (nativeNames ++ [ "clippy" "fmt" "nix-fmt" "unit-tests" ]);
    "checks: unit tests leave out tests/ (privileged and Docker), clippy denies warnings, fmt with the toolchain's rustfmt" =
      all (map
        (system:
          let c = checksOf system; in
          contains "cargo test --workspace --lib --bins --offline" c.unit-tests.args.checkPhase
          && contains "cargo clippy --workspace --all-targets --offline -- -D warnings" c.clippy.args.checkPhase
          && crateBuild' system c.clippy && crateBuild' system c.unit-tests
          && contains "cargo fmt --all -- --check" c.fmt.script
          && map (t: toolchainFor system t) c.fmt.env.nativeBuildInputs == [ true ])
        linux);
    "checks: nix-fmt runs `nix fmt`'s program with --check over a tree of exactly the .nix files" =
      nixFmt.env.nativeBuildInputs == [ formatter ]
      && contains "cd tree\ntether-nix-fmt --check\n" nixFmt.script
      && (nixTree "/") ? "flake.nix" && (nixTree "/nix") ? "outputs.nix"
      && !((nixTree "/nix") ? "check.sh") && !((nixTree "/") ? "Cargo.toml") && !((nixTree "/") ? "target");
    "formatter: nix/fmt.sh as tether-nix-fmt, with nixpkgs-fmt and git, on every system" =
      formatter.stub == "writeShellApplication"
      && formatter.args.name == "tether-nix-fmt"
      && formatter.args.text == builtins.readFile ./fmt.sh
      && map (p: p.name) formatter.args.runtimeInputs == [ "nixpkgs-fmt" "git" ]
      && all (map (system: outputs.formatter.${system}.label == system) allSystems);
    "toolchain: every Rust build, check and dev shell uses rust-toolchain.toml's channel, nothing from nixpkgs" =
      standIn.toolchains != [ ]
      && all (map (t: t.version == toolchainFile.channel && t.spec.channel == toolchainFile.channel) standIn.toolchains);
    "source: the workspace without target/, nix/ or flake.nix" =
      source ? "Cargo.toml" && source ? "Cargo.lock" && source ? "cni" && source ? "rust-toolchain.toml"
      && !(source ? "target") && !(source ? "nix") && !(source ? "flake.nix") && !(source ? ".git");
    "a toolchain other than rust-toolchain.toml's channel is refused, whatever rust-overlay gives" =
      refused (outputsWith { rust-overlay = stubRustOverlay { reportVersion = _: "1.94.0"; }; }).packages.x86_64-linux.tether-agent
      && refused (outputsWith { rust-overlay = stubRustOverlay { reportVersion = _: "1.88.0"; }; }).devShells.x86_64-linux.default
      && refused (outputsWith { rust-overlay = stubRustOverlay { reportVersion = _: "1.96.0"; }; }).packages.x86_64-linux.tether-cni-aarch64-linux
      && !(refused x86.tether-agent);
    "an attribute or package set missing from nixpkgs is an error, not a silent gap" =
      !(refused outputs.devShells.x86_64-linux.default) && !(refused x86.image)
      && refused (outputsWith { nixpkgs = stubNixpkgs { omit = [ "kind" ]; }; }).devShells.x86_64-linux.default
      && refused (outputsWith { nixpkgs = stubNixpkgs { omit = [ "makeRustPlatform" ]; }; }).packages.x86_64-linux.image
      && refused (outputsWith { nixpkgs = stubNixpkgs { omit = [ "aarch64Cross" ]; }; }).packages.x86_64-linux.image-aarch64-linux
      && !(refused (outputsWith { nixpkgs = stubNixpkgs { omit = [ "aarch64Cross" ]; }; }).packages.aarch64-linux.image);
  };
  crateBuild' = system: drv:
    drv.stub == "buildRustPackage" && drv.label == system
    && toolchainFor system drv.rustc && toolchainFor system drv.cargo
    && drv.args.cargoLock.lockFile == ../Cargo.lock;
  failed = builtins.filter (name: !results.${name}) (builtins.attrNames results);
in
if failed == [ ]
then "nix offline check: all ${toString (builtins.length (builtins.attrNames results))} hold"
else throw "nix offline check failed:\n  ${builtins.concatStringsSep "\n  " failed}"
