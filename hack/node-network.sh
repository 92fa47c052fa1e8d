# shellcheck shell=bash
# node_network disconnect|reconnect [--dry-run] NODE: the body of hack/disconnect.sh and
# hack/reconnect.sh, for whichever demo is up.

node_network() {
  local action=$1 node=
  shift
  DRY_RUN=0
  for arg in "$@"; do
    case $arg in
      --dry-run) DRY_RUN=1 ;;
      -*)
        node=''
        break
        ;;
      *)
        if [[ -n $node ]]; then
          node=''
          break
        fi
        node=$arg
        ;;
    esac
  done
  if [[ -z $node ]]; then
    printf 'usage: hack/%s.sh [--dry-run] NODE   (e.g. edge-1)\n' "$action" >&2
    exit 2
  fi
  [[ $node =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "not a node name: $node"

  local mode
  mode=$(demo_mode)
  case $mode in
    none) die "no demo is up; start one with hack/up.sh" ;;
    sim)
      need_tools docker
      local container verb=disconnect
      container=$(sim_container "$node")
      [[ $action == reconnect ]] && verb=connect
      if ((!DRY_RUN)) && ! docker container inspect "$container" >/dev/null 2>&1; then
        die "no sim node $node (container $container); the demo's nodes: $(docker ps --filter "name=^$SIM_PREFIX" --format '{{.Names}}' | tr '\n' ' ')"
      fi
      say "$action $node (sim: docker network $verb $SIM_NETWORK $container)"
      run docker network "$verb" "$SIM_NETWORK" "$container"
      ;;
    kind)
      need_tools docker kind kubectl
      say "$action $node (kind cluster $KIND_CLUSTER)"
      # the kind backend resolves edge-N, records the node's address and checks it on reconnect
      ((DRY_RUN)) || run cargo build -q --manifest-path "$ROOT/Cargo.toml" -p e2e --bin tether-kind
      run "$TARGET_DIR/debug/tether-kind" "$action" "$node" --dir "$DEMO_DIR" --name "$KIND_CLUSTER"
      ;;
  esac
}
