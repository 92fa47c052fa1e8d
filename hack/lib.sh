# shellcheck shell=bash disable=SC2034  # the variables are used by the scripts that source this
# Shared by hack/*.sh: paths, pinned versions, messages, and which demo mode is up.
# Only bash builtins here, so `--explain`/`--dry-run` work with any PATH.

ROOT=$(cd -- "${BASH_SOURCE[0]%/*}/.." && pwd)
# shellcheck source=SCRIPTDIR/versions.env
source "$ROOT/hack/versions.env"

# The demo's state: kubeconfig, pid and log of the sim, the mode that is up.
DEMO_DIR=${TETHER_DEMO_DIR:-$ROOT/.tether-demo}
# kind cluster of the demo (the e2e harness makes its own per test case, tether-e2e-…); its
# node containers are tether-kind-control-plane, tether-kind-worker, … and never match SIM_PREFIX
KIND_CLUSTER=tether-kind
# docker network and container prefix of the sim demo's nodes
SIM_NETWORK=tether-demo
SIM_PREFIX=tether-demo-
# where cargo puts binaries
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# tether's image for the kind demo (nix build .#image && docker load < result)
TETHER_IMAGE=${TETHER_IMAGE:-tether-agent:0.1.0}

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Prints the names of the given tools that are not on PATH, space-separated.
missing_tools() {
  local tool missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  printf '%s' "${missing[*]}"
}

need_tools() {
  local missing
  missing=$(missing_tools "$@")
  [[ -z $missing ]] || die "missing: $missing. Run \`nix develop\` for a shell with docker, kind, kubectl and helm, or install them."
}

sim_pid() {
  local pid
  [[ -f $DEMO_DIR/pid ]] || return 1
  read -r pid <"$DEMO_DIR/pid" || return 1
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s' "$pid"
}

kind_cluster_up() {
  command -v kind >/dev/null 2>&1 || return 1
  local name
  while read -r name; do
    [[ $name == "$KIND_CLUSTER" ]] && return 0
  done < <(kind get clusters 2>/dev/null)
  return 1
}

# Which demo is up: prints sim, kind or none. The mode file says which was started; the
# process or cluster must still be there.
demo_mode() {
  local mode=none
  [[ -f $DEMO_DIR/mode ]] && read -r mode <"$DEMO_DIR/mode"
  case $mode in
    sim) sim_pid >/dev/null && { echo sim; return; } ;;
    kind) kind_cluster_up && { echo kind; return; } ;;
  esac
  echo none
}

# The sim's node container for NODE (edge-1 → tether-demo-edge-1).
sim_container() {
  local node=${1#"$SIM_PREFIX"}
  printf '%s%s' "$SIM_PREFIX" "$node"
}

# Runs a command, printing it first; with --dry-run (DRY_RUN=1) only prints it, on stdout.
run() {
  local line
  printf -v line '%q ' "$@"
  if [[ ${DRY_RUN:-0} == 1 ]]; then
    printf '%s\n' "${line% }"
  else
    printf '+ %s\n' "${line% }" >&2
    "$@"
  fi
}
