#!/usr/bin/env bash
# `npm audit signatures`: checks the registry signatures (and provenance attestations) of every
# installed package. Run by scripts/test.sh after each `npm ci` (so on every CI run, which starts
# from a fresh clone). It needs the registry's signing keys (<registry>/-/npm/v1/keys) and
# Sigstore's TUF repository (tuf-repo-cdn.sigstore.dev); a registry that publishes no signing keys
# (a mirror that strips dist.signatures) cannot be checked at all: that is said and skipped. Any
# other failure fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
registry=$(npm config get registry); registry="${registry%/}"
code=$(curl -s -o /dev/null -m 20 -w '%{http_code}' "$registry/-/npm/v1/keys" || true)
if [[ "$code" == 404 ]]; then
  echo "npm audit signatures: SKIPPED: registry $registry publishes no signing keys (/-/npm/v1/keys: 404), so no signature can be checked here"
  exit 0
fi
npm audit signatures
