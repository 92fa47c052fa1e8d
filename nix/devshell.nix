# `nix develop`: everything a contributor needs to build, test and run the demo cluster.
{ used, isLinux }:
let
  toolNames = [
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
  ]
  # the CNI plugins build only for Linux; on darwin the privileged tests cannot run anyway
  ++ (if isLinux then [ "cni-plugins" ] else [ ]);
in
used.mkShell ({
  packages = map (name: used.${name}) toolNames;
  RUST_SRC_PATH = "${used.rustLibSrc}";
  shellHook = ''
    echo "tether dev shell: $(rustc --version)"
    echo "  tools: ${builtins.concatStringsSep " " toolNames}"
    echo "  start: cargo test -p e2e    # the scenarios on the sim backend (Docker only)"
    echo "         hack/up.sh           # a Kind + OpenYurt demo cluster (needs network)"
  '';
} // (if isLinux then {
  # the variable a CNI runtime sets: where tether-cni and the tests find bandwidth and tuning
  CNI_PATH = "${used.cni-plugins}/bin";
} else { }))
