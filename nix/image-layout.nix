# Where the image puts what deploy/daemonset.yaml runs. nix/packages.nix builds the image from
# this; nix/offline-check.nix compares it with the DaemonSet's commands and env, so the two cannot
# drift apart unnoticed.
{
  # The image's PATH: the DaemonSet runs `tether-agent install-cni` and `tether-agent run` by
  # name, so tether-agent must be in one of these directories.
  path = [ "/bin" ];
  agent = "/bin/tether-agent";

  # TETHER_PLUGIN_SOURCE_DIR: `tether-agent install-cni` copies <dir>/tether-cni onto the node,
  # and <dir>/bandwidth and <dir>/tuning when the node lacks them (agent/src/install.rs). All
  # three are static, so they run outside the Nix store.
  pluginDir = "/opt/tether/bin";
  plugins = [ "tether-cni" "bandwidth" "tuning" ];
}
