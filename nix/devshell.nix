# `nix develop`: everything a contributor needs to build, test and run the demo cluster. cargo,
# rustc, clippy, rustfmt and rust-analyzer are rust-toolchain.toml's toolchain (nix/toolchain.nix),
# the one rustup gives outside the shell.
{ used, toolchain, isLinux }:
let
  rust = toolchain.for { set = used; extensions = [ "rust-src" "rust-analyzer" ]; };
  toolNames = [
    "cargo-nextest"
    "kind"
    "kubectl"
    "kubernetes-helm"
    "docker-client"
    "shellcheck"
    "jq"
  ]
  # the CNI plugins build only for Linux; on darwin the privileged tests cannot run anyway
  ++ (if isLinux then [ "cni-plugins" ] else [ ]);
in
used.mkShell ({
  packages = [ rust ] ++ map (name: used.${name}) toolNames;
  RUST_SRC_PATH = "${rust}/lib/rustlib/src/rust/library";
  shellHook = ''
    echo "tether dev shell: $(rustc --version) (rust-toolchain.toml)"
    echo "  tools: cargo rustc clippy rustfmt rust-analyzer ${builtins.concatStringsSep " " toolNames}"
    echo "  start: cargo test -p e2e    # the scenarios on the sim backend (Docker only)"
    echo "         hack/up.sh           # a Kind + OpenYurt demo cluster (needs network)"
  '';
} // (if isLinux then {
  # the variable a CNI runtime sets: where tether-cni and the tests find bandwidth and tuning
  CNI_PATH = "${used.cni-plugins}/bin";
} else { }))
