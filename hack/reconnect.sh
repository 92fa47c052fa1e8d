#!/usr/bin/env bash
# Plugs an edge node of the demo back in (`docker network connect`), undoing hack/disconnect.sh.
# --dry-run prints what it would run.
#   hack/reconnect.sh [--dry-run] NODE       (NODE: edge-1, edge-2, …)
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "${BASH_SOURCE[0]%/*}/lib.sh"
# shellcheck source=SCRIPTDIR/node-network.sh
source "$ROOT/hack/node-network.sh"
node_network reconnect "$@"
