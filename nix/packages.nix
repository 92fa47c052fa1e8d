# tether-agent, tether-cni and the agent's OCI image for one platform, built from the workspace's
# Cargo.lock with rust-toolchain.toml's toolchain (nix/toolchain.nix).
#
# `set` is the package set of the platform the binaries run on (seen through nix/pkgs-used.nix):
# a system's own nixpkgs, or pkgsCross.aarch64-multiplatform to build aarch64-linux on
# x86_64-linux. `canExecute` is false for the latter: its binaries cannot run during the build,
# so the image build checks that they are static but does not run them.
#
# doCheck is off for the packages: the crates' integration tests need root, network namespaces
# and Docker (tiers 2 and 3 of the test plan), which the Nix sandbox does not give. .ci/run runs
# them; `checks.<system>.unit-tests` (nix/checks.nix) runs the unprivileged unit tests.
{ set, toolchain, src, cargoLock, version, architecture, canExecute ? true }:
let
  layout = import ./image-layout.nix;

  crate = { pname, package, platform }: (toolchain.platformFor platform).buildRustPackage {
    inherit pname version src;
    cargoLock.lockFile = cargoLock;
    cargoBuildFlags = [ "-p" package ];
    doCheck = false;
    meta.mainProgram = pname;
  };

  tether-agent = crate { pname = "tether-agent"; package = "agent"; platform = set; };

  # Static (musl), because `tether-agent install-cni` copies it onto the node, where /nix/store
  # is not: pkgsStatic of `set`, i.e. x86_64 or aarch64 musl with isStatic.
  tether-cni = crate { pname = "tether-cni"; package = "cni"; platform = set.pkgsStatic; };

  # The upstream plugins the installer copies when a node lacks them. Built like the upstream
  # release binaries (CGO_ENABLED=0), so they are static and run outside the Nix store too.
  # Exported in preBuild rather than set in `env`: buildGoModule recomputes env.CGO_ENABLED from
  # its own arguments in some revisions, which would undo an override there.
  cni-plugins-static = set.cni-plugins.overrideAttrs (old: {
    preBuild = (old.preBuild or "") + "\nexport CGO_ENABLED=0\n";
  });

  pluginPaths = map (plugin: "$out${layout.pluginDir}/${plugin}") layout.plugins;

  # Everything the image runs or hands to the node, laid out as nix/image-layout.nix says (the
  # paths deploy/daemonset.yaml uses). The build fails if a plugin is dynamically linked (it would
  # not run on a node without /nix/store) or, when it can run here, does not answer CNI VERSION.
  bundle = set.runCommand "tether-bundle-${version}"
    {
      nativeBuildInputs = [ set.buildPackages.patchelf ];
    } ''
    install -D -m 0755 ${tether-agent}/bin/tether-agent $out${layout.agent}
    mkdir -p $out${layout.pluginDir}
    cp ${tether-cni}/bin/tether-cni $out${layout.pluginDir}/tether-cni
    cp ${cni-plugins-static}/bin/bandwidth ${cni-plugins-static}/bin/tuning $out${layout.pluginDir}/
    for plugin in ${builtins.concatStringsSep " " pluginPaths}; do
      if patchelf --print-interpreter "$plugin" >/dev/null 2>&1; then
        echo "$plugin is dynamically linked; it would not run on a node without /nix/store" >&2
        exit 1
      fi
    ${if canExecute then ''
      answer=$(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$plugin")
      case "$answer" in
        *supportedVersions*) ;;
        *) echo "$plugin answered VERSION with: $answer" >&2; exit 1 ;;
      esac
    '' else ''
      echo "$plugin: static; not run (built for ${architecture} on another platform)"
    ''}
    done
  '';

  image = set.buildLayeredImage {
    name = "tether-agent";
    tag = version;
    inherit architecture;
    contents = [ bundle ];
    config = {
      Entrypoint = [ layout.agent ];
      Env = [ "PATH=${builtins.concatStringsSep ":" layout.path}" ];
      Labels = {
        "org.opencontainers.image.title" = "tether-agent";
        "org.opencontainers.image.version" = version;
        "org.opencontainers.image.licenses" = "Apache-2.0";
      };
    };
  };
in
{
  inherit tether-agent tether-cni image;
  default = tether-agent;
}
