#!/usr/bin/env bash
# The local stack: real etcd, kube-apiserver, kube-controller-manager, Kafka (KRaft), ElasticMQ,
# Traefik and a node (kubelet, containerd, kube-proxy, CoreDNS) inside the stack's own network namespace.
#   npm run stack -- up        build what is missing (cached), create the namespace, start, wait
#   npm run stack -- down      stop exactly what `up` started, delete the namespace
#   npm run stack -- status    show the processes and readiness
#   npm run stack -- exec CMD  run CMD inside the namespace with the stack's env (KUBECONFIG...)
#   npm run stack -- shell     an interactive shell there
# Env: KUBELESS_STACK_DIR (run folder, default .stack), KUBELESS_CACHE, KUBELESS_NETNS.
set -euo pipefail
# shellcheck source=../../scripts/node.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/node.sh"  # the pinned Node.js LTS (.node-version)
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
RUN_DIR="${KUBELESS_STACK_DIR:-$ROOT/.stack}"
export KUBELESS_STACK_DIR="$RUN_DIR"
CLI="$ROOT/test/stack/dist/cli.js"

ensure_built() {
  bash "$ROOT/test/stack/build/build.sh" all
  if [[ ! -d "$ROOT/node_modules" ]]; then (cd "$ROOT" && npm ci --no-audit --no-fund); fi
  (cd "$ROOT" && npx tsc -b test/stack)
}

cmd="${1:-}"; shift || true
case "$cmd" in
  up)
    ensure_built
    netns_create
    netns_run node "$CLI" up --run-dir "$RUN_DIR" "$@"
    ;;
  down)
    rc=0
    if netns_exists; then netns_run node "$CLI" down --run-dir "$RUN_DIR" || rc=$?; else node "$CLI" down --run-dir "$RUN_DIR" || rc=$?; fi
    netns_delete
    echo "[stack] network namespace $KUBELESS_NETNS removed"
    exit $rc
    ;;
  status)
    if ! netns_exists; then echo "[stack] network namespace $KUBELESS_NETNS does not exist; stack down"; exit 1; fi
    netns_run node "$CLI" status --run-dir "$RUN_DIR"
    ;;
  exec)
    [[ "${1:-}" == "--" ]] && shift
    netns_run bash -c 'source "$0/env" && exec "$@"' "$RUN_DIR" "$@"
    ;;
  shell)
    netns_run bash --rcfile <(echo "source ~/.bashrc 2>/dev/null; source '$RUN_DIR/env'; PS1='(kubeless-stack) \w\$ '") -i
    ;;
  *)
    sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
