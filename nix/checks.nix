# `nix flake check`: formatting, clippy, the unit tests and the packages.
#
# Unit tests only: `cargo test --workspace --lib --bins` runs the tests inside the crates' src/
# and leaves out tests/ (the privileged CNI tests and the Docker e2e scenarios, which need root,
# network namespaces and a Docker daemon that the Nix sandbox does not have) and doc tests.
{ used, src, cargoLock, version, packages }:
let
  # A workspace-wide cargo run with the dependencies vendored from Cargo.lock; succeeds or fails.
  cargoRun = { name, nativeBuildInputs ? [ ], command }: used.buildRustPackage {
    pname = "tether-${name}";
    inherit version src nativeBuildInputs;
    cargoLock.lockFile = cargoLock;
    dontBuild = true;
    doCheck = true;
    checkPhase = ''
      runHook preCheck
      ${command}
      runHook postCheck
    '';
    installPhase = "touch $out";
  };
in
{
  fmt = used.runCommand "tether-fmt-${version}"
    {
      nativeBuildInputs = [ used.cargo used.rustfmt ];
    } ''
    cp -r ${src} source && chmod -R u+w source && cd source
    HOME=$TMPDIR cargo fmt --all -- --check
    touch $out
  '';

  clippy = cargoRun {
    name = "clippy";
    nativeBuildInputs = [ used.clippy ];
    command = "cargo clippy --workspace --all-targets --offline -- -D warnings";
  };

  unit-tests = cargoRun {
    name = "unit-tests";
    command = "cargo test --workspace --lib --bins --offline";
  };

  inherit (packages) tether-agent tether-cni image;
}
