# The sources the builds see.
#   rust: the repository minus build output, VCS data and the Nix files themselves, so that
#         editing nix/ does not rebuild the binaries;
#   nix:  only the .nix files (and their directories), for the formatting check.
{ root }:
let
  rootPath = toString root;
  # fuzz/'s own build output (cargo-fuzz's target, artifacts, coverage) is gigabytes.
  buildOutput = [ "target" ".git" "fuzz/target" "fuzz/artifacts" "fuzz/coverage" ];
  excluded = map (p: "${rootPath}/${p}") (buildOutput ++ [ "nix" "flake.nix" "flake.lock" ]);
  isResult = path: builtins.match "result(-.*)?" (baseNameOf path) != null;
  isNix = path: builtins.match ".*[.]nix" (baseNameOf path) != null;
  notBuildOutput = path: !(builtins.elem path (map (p: "${rootPath}/${p}") buildOutput)) && !(isResult path);
in
{
  rust = builtins.path {
    path = root;
    name = "tether-source";
    filter = path: _type: !(builtins.elem path excluded) && !(isResult path);
  };

  nix = builtins.path {
    path = root;
    name = "tether-nix-files";
    filter = path: type: notBuildOutput path && (type == "directory" || (type == "regular" && isNix path));
  };
}
