# `nix flake check`: formatting (Rust and Nix), clippy, the unit tests and the packages.
#
# Unit tests only: `cargo test --workspace --lib --bins` runs the tests inside the crates' src/
# and leaves out tests/ (the privileged CNI tests and the Docker e2e scenarios, which need root,
# network namespaces and a Docker daemon that the Nix sandbox does not have) and doc tests.
{ used, toolchain, src, cargoLock, version, packages, formatter }:
let
  rust = toolchain.for { set = used; };

  # A workspace-wide cargo run with the dependencies vendored from Cargo.lock; succeeds or fails.
  cargoRun = { name, command }: (toolchain.platformFor used).buildRustPackage {
    pname = "tether-${name}";
    inherit version;
    src = src.rust;
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
packages // {
  fmt = used.runCommand "tether-fmt-${version}"
    {
      nativeBuildInputs = [ rust ];
    } ''
    cp -r ${src.rust} source && chmod -R u+w source && cd source
    HOME=$TMPDIR cargo fmt --all -- --check
    touch $out
  '';

  clippy = cargoRun {
    name = "clippy";
    command = "cargo clippy --workspace --all-targets --offline -- -D warnings";
  };

  unit-tests = cargoRun {
    name = "unit-tests";
    command = "cargo test --workspace --lib --bins --offline";
  };

  # `nix fmt -- --check` over every .nix file of the flake (the formatter finds them itself)
  nix-fmt = used.runCommand "tether-nix-fmt-check-${version}"
    {
      nativeBuildInputs = [ formatter ];
    } ''
    cp -r ${src.nix} tree && chmod -R u+w tree && cd tree
    tether-nix-fmt --check
    touch $out
  '';
}
