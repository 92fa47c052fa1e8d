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
        ((waited < timeout)) || die "tether-demo (pid $pid) did not exit within ${timeout}s of SIGTERM; see $DEMO_DIR/log"
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
# containers and network of a sim that did not get to clean up (killed, crashed); a running sim
# removes its own on SIGTERM, so a dry run does not look while it runs
if [[ ($mode == none || ($mode == sim && DRY_RUN -eq 0)) && -z $(missing_tools docker) ]]; then
  leftovers=()
  while read -r name; do
    [[ -n $name ]] && leftovers+=("$name")
  done < <(docker ps --all --filter "name=^$SIM_PREFIX" --format '{{.Names}}' 2>/dev/null)
  if ((${#leftovers[@]})); then
    say "removing leftover sim containers: ${leftovers[*]}"
    run docker rm --force "${leftovers[@]}"
  fi
  if docker network inspect "$SIM_NETWORK" >/dev/null 2>&1; then
    run docker network rm "$SIM_NETWORK"
  fi
fi
if ((!DRY_RUN)); then
  rm -f "$DEMO_DIR/pid" "$DEMO_DIR/ready" "$DEMO_DIR/mode" "$DEMO_DIR/kubeconfig"
fi
