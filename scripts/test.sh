#!/usr/bin/env bash
# The README's test command (`npm test`): installs and builds everything it needs, checks
# lint, types and CRD drift, then runs the whole vitest suite inside the stack's network
# namespace against real etcd, kube-apiserver, kube-controller-manager, Kafka and ElasticMQ.
# Reuses a stack that `npm run stack -- up` started in this checkout; otherwise the suite starts
# its own, and this script removes the namespace it created on the way out.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source test/stack/netns.sh
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

step() { printf '\n==> %s\n' "$*"; }
t0=$(date +%s)
created_netns=0

cleanup() {
  local rc=$?
  if [[ $created_netns -eq 1 ]]; then
    # The suite stops its own stack; this catches an interrupted run.
    netns_run node test/stack/dist/cli.js down >/dev/null 2>&1 || true
    netns_delete
  fi
  echo "test command finished in $(( $(date +%s) - t0 )) s (exit $rc)"
  exit $rc
}
trap cleanup EXIT

step "installing npm packages"
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ "$(cat node_modules/.kubeless-lock-sha256 2>/dev/null)" == "$lock_sum" ]]; then
  echo "node_modules matches package-lock.json"
else
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.kubeless-lock-sha256
fi

step "building the stack's components (cached under ${KUBELESS_CACHE:-~/.cache/kubeless-stack}; a cold build takes 10-20 minutes, mostly the Go build of Kubernetes)"
bash test/stack/build/build.sh all

step "building TypeScript (tsc -b)"
npm run -s build
step "type-checking tests"
npx tsc -p tsconfig.test.json
step "lint (eslint strictTypeChecked)"
npm run -s lint
step "CRD drift check"
npm run -s crds:check

if netns_exists && netns_run node test/stack/dist/cli.js status >/dev/null 2>&1; then
  step "reusing the running stack in network namespace $KUBELESS_NETNS"
else
  step "creating network namespace $KUBELESS_NETNS"
  created_netns=1
  netns_create
fi

step "running vitest (unit and integration) inside $KUBELESS_NETNS"
netns_run npx vitest run "$@"
