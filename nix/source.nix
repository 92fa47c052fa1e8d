# The sources the Rust builds see: the repository minus build output, VCS data and the Nix files
# themselves, so that editing nix/ does not rebuild the binaries.
{ root }:
let
  rootPath = toString root;
  excluded = map (p: "${rootPath}/${p}") [ "target" ".git" "nix" "flake.nix" "flake.lock" ];
in
builtins.path {
  path = root;
  name = "tether-source";
  filter = path: _type:
    !(builtins.elem path excluded) && builtins.match "result(-.*)?" (baseNameOf path) == null;
}
