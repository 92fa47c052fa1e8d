# tether-agent, tether-cni and the agent's OCI image, built from the workspace's Cargo.lock.
#
# doCheck is off for the packages: the crates' integration tests need root, network namespaces
# and Docker (tiers 2 and 3 of the test plan), which the Nix sandbox does not give. .ci/run runs
# them; `checks.<system>.unit-tests` (nix/checks.nix) runs the unprivileged unit tests.
{ used, src, cargoLock, version }:
let
  crate = { pname, package, build ? used.buildRustPackage }: build {
    inherit pname version src;
    cargoLock.lockFile = cargoLock;
    cargoBuildFlags = [ "-p" package ];
    doCheck = false;
    meta.mainProgram = pname;
  };

  tether-agent = crate { pname = "tether-agent"; package = "agent"; };

  # Static, because `tether-agent install-cni` copies it onto the node, where /nix/store is not.
  tether-cni = crate {
    pname = "tether-cni";
    package = "cni";
    build = used.buildStaticRustPackage;
  };

  # The upstream plugins the installer copies when a node lacks them. Built like the upstream
  # release binaries (CGO_ENABLED=0), so they are static and run outside the Nix store too.
  # Exported in preBuild rather than set in `env`: buildGoModule recomputes env.CGO_ENABLED from
  # its own arguments in some revisions, which would undo an override there.
  cni-plugins-static = used.cni-plugins.overrideAttrs (old: {
    preBuild = (old.preBuild or "") + "\nexport CGO_ENABLED=0\n";
  });

  # Everything the image runs or hands to the node, in one directory, so that install-cni finds
  # the plugins beside its own executable, on PATH (/bin) or under /opt/cni/bin, whichever it
  # looks at: bin/{tether-agent,tether-cni,bandwidth,tuning}, and opt/cni/bin/{tether,bandwidth,
  # tuning} as the names a node gives them. The build fails if a binary meant for the node is
  # dynamically linked (it would not run without /nix/store) or does not answer CNI VERSION.
  bundle = used.runCommand "tether-bundle-${version}"
    {
      nativeBuildInputs = [ used.patchelf ];
    } ''
    mkdir -p $out/bin $out/opt/cni/bin
    cp ${tether-agent}/bin/tether-agent ${tether-cni}/bin/tether-cni $out/bin/
    cp ${cni-plugins-static}/bin/bandwidth ${cni-plugins-static}/bin/tuning $out/bin/
    ln -s ../../../bin/tether-cni $out/opt/cni/bin/tether
    ln -s ../../../bin/bandwidth $out/opt/cni/bin/bandwidth
    ln -s ../../../bin/tuning $out/opt/cni/bin/tuning
    for plugin in $out/bin/tether-cni $out/bin/bandwidth $out/bin/tuning; do
      if patchelf --print-interpreter "$plugin" >/dev/null 2>&1; then
        echo "$plugin is dynamically linked; it would not run on a node without /nix/store" >&2
        exit 1
      fi
      answer=$(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$plugin")
      case "$answer" in
        *supportedVersions*) ;;
        *) echo "$plugin answered VERSION with: $answer" >&2; exit 1 ;;
      esac
    done
  '';

  image = used.buildLayeredImage {
    name = "tether-agent";
    tag = version;
    contents = [ bundle ];
    config = {
      Entrypoint = [ "${bundle}/bin/tether-agent" ];
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
