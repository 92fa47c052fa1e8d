#!/usr/bin/env bash
# Removes the demo that hack/up.sh brought up: stops the sim (it removes its containers on
# SIGTERM) or deletes the kind cluster. Idempotent. --dry-run prints what it would run.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"

DRY_RUN=0
case ${1:-} in
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *)
    printf 'usage: hack/down.sh [--dry-run]\n' >&2
    exit 2
    ;;
esac

mode=$(demo_mode)
case $mode in
  none)
    say "no demo is up"
    ;;
  sim)
    pid=$(sim_pid)
    say "stopping the sim demo (pid $pid)"
    run kill -TERM "$pid"
    if ((!DRY_RUN)); then
      timeout=${TETHER_DEMO_TIMEOUT:-60} waited=0
      while kill -0 "$pid" 2>/dev/null; do
        ((waited < timeout)) || die "tether-sim (pid $pid) did not exit within ${timeout}s of SIGTERM; see $DEMO_DIR/log"
        sleep 1
        waited=$((waited + 1))
      done
    fi
    ;;
  kind)
    need_tools kind
    say "deleting kind cluster $KIND_CLUSTER"
    run kind delete cluster --name "$KIND_CLUSTER"
    ;;
esac
if ((!DRY_RUN)); then
  rm -f "$DEMO_DIR/pid" "$DEMO_DIR/ready" "$DEMO_DIR/mode" "$DEMO_DIR/kubeconfig"
fi
