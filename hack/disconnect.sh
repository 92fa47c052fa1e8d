#!/usr/bin/env bash
# Cuts an edge node of the demo off the cloud: `docker network disconnect`, as OpenYurt's own
# e2e does, on the sim's network or kind's. --dry-run prints what it would run.
#   hack/disconnect.sh [--dry-run] NODE      (NODE: edge-1, edge-2, …)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"
# shellcheck source=SCRIPTDIR/node-network.sh
source "$ROOT/hack/node-network.sh"
node_network disconnect "$@"
