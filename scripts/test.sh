#!/usr/bin/env bash
# The README's test command (`npm test`): installs and builds everything it needs, checks
# lint, types and CRD drift, then runs the whole vitest suite inside the stack's network
# namespace against the real stack (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# Kafka, ElasticMQ, Traefik, the node). Reuses a stack that `npm run stack -- up` started in this
# checkout; otherwise it starts one beside the lint and type checks, and stops it and removes the
# namespace it created on the way out.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/node.sh  # the pinned Node.js LTS (.node-version), downloaded once if the machine has another
source test/stack/netns.sh

# Each step says when it began (seconds since the start), so a slow step shows in CI's log.
step() { printf '\n==> [%s s] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
t0=$(date +%s)
created_netns=0
stack_pid=""

cleanup() {
  local rc=$?
  if [[ $created_netns -eq 1 ]]; then
    # A stack still starting finishes first, so `down` finds every process it started.
    if [[ -n "${stack_pid:-}" ]]; then wait "$stack_pid" >/dev/null 2>&1 || true; fi
    netns_run node test/stack/dist/cli.js down >/dev/null 2>&1 || true
    netns_delete
  fi
  echo "test command finished in $(( $(date +%s) - t0 )) s (exit $rc)"
  exit $rc
}
trap cleanup EXIT

step "installing npm packages (Node.js $(node --version), npm $(npm --version))"
# Keyed by the lockfile and the Node.js version (a native module would be built for one).
lock_sum="$(sha256sum package-lock.json | cut -d' ' -f1) node-$KUBELESS_NODE_VERSION"
if [[ "$(cat node_modules/.kubeless-lock-sha256 2>/dev/null)" == "$lock_sum" ]]; then
  echo "node_modules matches package-lock.json"
else
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.kubeless-lock-sha256
  bash scripts/audit-signatures.sh
fi

step "building the stack's components (cached under ${KUBELESS_CACHE:-~/.cache/kubeless-stack}; a cold build takes 10-20 minutes, mostly the Go build of Kubernetes)"
bash test/stack/build/build.sh all

step "building TypeScript (tsc -b)"
npm run -s build

# The stack starts in its namespace while the checks below run (the suite then reuses it), unless
# one is up already; `cleanup` stops it.
stack_pid=""
if netns_exists && netns_run node test/stack/dist/cli.js status >/dev/null 2>&1; then
  step "reusing the running stack in network namespace $KUBELESS_NETNS"
else
  step "creating network namespace $KUBELESS_NETNS and starting the stack there, beside the checks"
  created_netns=1
  netns_create
  stack_log=$(mktemp)
  netns_run node test/stack/dist/cli.js up > "$stack_log" 2>&1 & stack_pid=$!
fi
# Side by side: each is mostly single-threaded, and together they take the time of the longer.
step "type-checking tests and lint (eslint strictTypeChecked), side by side"
checks=$(mktemp -d)
npx tsc -p tsconfig.test.json > "$checks/types" 2>&1 & types_pid=$!
npm run -s lint > "$checks/lint" 2>&1 & lint_pid=$!
checks_rc=0
wait "$types_pid" || { echo "type-check failed:"; checks_rc=1; }
cat "$checks/types"
wait "$lint_pid" || { echo "lint failed:"; checks_rc=1; }
cat "$checks/lint"
rm -rf "$checks"
if [[ $checks_rc -ne 0 ]]; then exit 1; fi
step "CRD drift check"
npm run -s crds:check

if [[ -n "$stack_pid" ]]; then
  step "waiting for the stack"
  stack_rc=0
  wait "$stack_pid" || stack_rc=$?
  cat "$stack_log"; rm -f "$stack_log"
  if [[ $stack_rc -ne 0 ]]; then echo "the stack did not start" >&2; exit 1; fi
fi

step "running vitest (unit and integration) inside $KUBELESS_NETNS"
netns_run npx vitest run "$@"
