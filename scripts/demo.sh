#!/usr/bin/env bash
# The README's demo command (`npm run demo [-- --keep]`). Steps 1-3 install and build what the
# demo needs, outside the stack's network namespace (it has no route out); then
# scripts/demo/dist/main.js runs steps 4-12 inside it: the local stack (reused when one is already
# running in this checkout), the chart installed with helm (the four controllers as pods), the
# talk's functions, Kafka, SQS and HTTP triggers, events, a check that every event reached its
# function, and the talk's security checks (RBAC, Pod Security restricted, the NetworkPolicy, mTLS).
# Without --keep everything it started is stopped and the namespace it created is removed; with
# --keep it stays up until `npm run stack -- down`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/node.sh  # the pinned Node.js LTS (.node-version), downloaded once if the machine has another
source test/stack/netns.sh

keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (usage: npm run demo [-- --keep])" >&2; exit 2 ;;
  esac
done

DEMO_T0=$(date +%s%3N)
export DEMO_T0
TOTAL=12
step_t0=0
step() { step_t0=$(date +%s%3N); printf '\n[%2d/%d] %s\n' "$1" "$TOTAL" "$2"; }
say() { printf '       %s\n' "$*"; }
step_done() {
  local now; now=$(date +%s%3N)
  say "$(awk -v s=$(( now - step_t0 )) -v t=$(( now - DEMO_T0 )) 'BEGIN { printf "done in %.1f s (elapsed %d:%02d)", s / 1000, int(t / 60000), int(t / 1000) % 60 }')"
}
# Indents the output of a command under its step.
indented() { "$@" 2>&1 | sed -u 's/^/       /'; return "${PIPESTATUS[0]}"; }

[[ $EUID -eq 0 ]] || { echo "the demo needs root, for the stack's network namespace (CAP_SYS_ADMIN, CAP_NET_ADMIN)" >&2; exit 1; }

stack_was_up=0
created_netns=0
cleanup() {
  local rc=$?
  # A stack the demo started goes away unless it was asked to stay (and everything worked); the
  # driver normally stops it itself: this catches an interrupted or crashed driver.
  if [[ $stack_was_up -eq 0 && ( $keep -eq 0 || $rc -ne 0 ) ]]; then
    if netns_exists; then
      netns_run node test/stack/dist/cli.js down >/dev/null 2>&1 || true
      if [[ $created_netns -eq 1 ]] || ! netns_run node test/stack/dist/cli.js status >/dev/null 2>&1; then netns_delete; fi
    fi
    say "network namespace $KUBELESS_NETNS removed; \`npm run stack -- status\` now says: $(bash test/stack/stack.sh status 2>&1 | tail -n 1 || true)"
  fi
  local t=$(( $(date +%s%3N) - DEMO_T0 ))
  local took; took=$(printf '%d:%02d' $(( t / 60000 )) $(( t / 1000 % 60 )))
  if [[ $rc -eq 0 ]]; then printf '\ndemo passed in %s\n' "$took"; else printf '\ndemo FAILED after %s (exit %d)\n' "$took" "$rc" >&2; fi
  exit $rc
}
trap cleanup EXIT

step 1 "install npm packages"
say "Node.js $(node --version) ($(command -v node))"
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1) node-$KUBELESS_NODE_VERSION"
if [[ "$(cat node_modules/.kubeless-lock-sha256 2>/dev/null)" == "$lock_sum" ]]; then
  say "node_modules matches package-lock.json"
else
  say "npm ci (node_modules is missing or does not match package-lock.json; about a minute)"
  indented npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.kubeless-lock-sha256
fi
step_done

step 2 "build the stack's components: kube-apiserver, kube-controller-manager, etcd, Kafka, ElasticMQ, Traefik, helm, the node (kubelet, containerd, runc, CNI, kube-proxy, CoreDNS, the NetworkPolicy engine) and its images (runtimes, controllers)"
say "cached by version under ${KUBELESS_CACHE:-~/.cache/kubeless-stack}; the first build takes 10-20 minutes (Go builds of Kubernetes), later runs skip it"
indented bash test/stack/build/build.sh all
step_done

step 3 "build the TypeScript (tsc -b): controllers, runtimes, CLI, stack, this demo"
indented npm run -s build
step_done

if netns_exists && netns_run node test/stack/dist/cli.js status >/dev/null 2>&1; then
  stack_was_up=1
else
  netns_exists || created_netns=1
  netns_create
fi

args=()
[[ $keep -eq 1 ]] && args+=(--keep)
netns_run node scripts/demo/dist/main.js "${args[@]}"
