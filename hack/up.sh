#!/usr/bin/env bash
# Brings up a demo cluster with tether, a demo NetworkProfile and pods. Idempotent.
#
#   hack/up.sh            Kind + OpenYurt when kind, kubectl and helm are installed, else the sim
#   hack/up.sh --sim      the embedded sim backend (Docker only)
#   hack/up.sh --kind     Kind + OpenYurt, or a clear error naming what is missing
#   hack/up.sh --explain  print which mode would be chosen, why, and what would run; run nothing
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

usage() {
  printf 'usage: hack/up.sh [--sim|--kind] [--explain]\n' >&2
  exit 2
}

want='' explain=0
for arg in "$@"; do
  case $arg in
    --sim) want=sim ;;
    --kind) want=kind ;;
    --explain) explain=1 ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
done

[[ -z $(missing_tools docker) ]] || die "docker is required for both modes and is not on PATH. Run \`nix develop\` or install Docker."

# Decide the mode and say why.
kind_missing=$(missing_tools kind kubectl helm)
case $want in
  sim) mode=sim reason="--sim was given" ;;
  kind)
    [[ -z $kind_missing ]] || die "--kind needs kind, kubectl and helm; missing: $kind_missing. Run \`nix develop\` for a shell with all of them (kind $KIND_VERSION, Kubernetes $KUBERNETES_VERSION)."
    mode=kind reason="--kind was given"
    ;;
  *)
    if [[ -z $kind_missing ]]; then
      mode=kind reason="kind, kubectl and helm are installed"
    else
      mode=sim reason="not installed: $kind_missing (Kind needs kind, kubectl and helm; \`nix develop\` has them)"
    fi
    ;;
esac

running=$(demo_mode)
if [[ $running != none && $running != "$mode" ]]; then
  die "a $running demo is already up; run hack/down.sh first"
fi

sim_steps() {
  DRY_RUN=1 run cargo build -q -p e2e --bin tether-demo
  printf 'nohup %q --dir %q >%q 2>&1 &   # pid in %q\n' \
    "$TARGET_DIR/debug/tether-demo" "$DEMO_DIR" "$DEMO_DIR/log" "$DEMO_DIR/pid"
  printf 'wait for %q (at most %ss)\n' "$DEMO_DIR/ready" "${TETHER_DEMO_TIMEOUT:-300}"
}

kind_steps() {
  DRY_RUN=1 run cargo build -q -p e2e --bin tether-kind
  DRY_RUN=1 run "$TARGET_DIR/debug/tether-kind" up --dir "$DEMO_DIR" --name "$KIND_CLUSTER" --image "$TETHER_IMAGE"
  printf '# its full plan: target/debug/tether-kind up --dry-run --dir DIR\n'
}

if ((explain)); then
  printf 'mode: %s\nreason: %s\nalready up: %s\nwould run:\n' "$mode" "$reason" "$running"
  "${mode}_steps"
  exit 0
fi

say "mode: $mode ($reason)"
mkdir -p "$DEMO_DIR"

up_sim() {
  if sim_pid >/dev/null && [[ -f $DEMO_DIR/ready ]]; then
    say "the sim demo is already up (pid $(sim_pid))"
    return
  fi
  if ! sim_pid >/dev/null; then
    rm -f "$DEMO_DIR/ready" "$DEMO_DIR/pid"
    say "building tether-demo"
    run cargo build -q -p e2e --bin tether-demo
    say "starting the sim demo (log: $DEMO_DIR/log)"
    echo sim >"$DEMO_DIR/mode"
    nohup "$TARGET_DIR/debug/tether-demo" --dir "$DEMO_DIR" >"$DEMO_DIR/log" 2>&1 &
    echo $! >"$DEMO_DIR/pid"
  fi
  local timeout=${TETHER_DEMO_TIMEOUT:-300} waited=0
  say "waiting for nodes, tether, the demo profile and pods (at most ${timeout}s)"
  until [[ -f $DEMO_DIR/ready ]]; do
    if ! sim_pid >/dev/null; then
      tail -n 30 "$DEMO_DIR/log" >&2 || true
      die "tether-demo exited before it was ready; its log is $DEMO_DIR/log"
    fi
    ((waited < timeout)) || die "tether-demo was not ready after ${timeout}s; see $DEMO_DIR/log (hack/down.sh stops it)"
    sleep 1
    waited=$((waited + 1))
  done
}

up_kind() {
  if ! docker image inspect "$TETHER_IMAGE" >/dev/null 2>&1; then
    command -v nix >/dev/null 2>&1 || die "image $TETHER_IMAGE is not in docker; build it with \`nix build .#image && docker load < result\` (or set TETHER_IMAGE)"
    say "building image $TETHER_IMAGE with nix"
    run nix build "$ROOT#image" --out-link "$DEMO_DIR/image"
    run docker load --input "$DEMO_DIR/image"
  fi
  say "building tether-kind"
  run cargo build -q -p e2e --bin tether-kind
  echo kind >"$DEMO_DIR/mode"
  run "$TARGET_DIR/debug/tether-kind" up --dir "$DEMO_DIR" --name "$KIND_CLUSTER" --image "$TETHER_IMAGE"
}

cd "$ROOT"
"up_$mode"

first_node=edge-1
say "the $mode demo is up"
cat <<EOF

  KUBECONFIG=$DEMO_DIR/kubeconfig kubectl get networkprofiles,pods -A
  hack/disconnect.sh $first_node     # cut $first_node off the cloud; hack/reconnect.sh $first_node brings it back
  hack/down.sh                  # remove the demo

EOF
