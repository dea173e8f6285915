# Sourced by build.sh: builds helm $HELM_VERSION from the Go module proxy (no replace directives, so
# `go install` works) into $KUBELESS_CACHE/helm-$HELM_VERSION/helm, skipped when that binary exists.
# The -X flags set helm's own version and the Kubernetes version it assumes offline
# (.Capabilities.KubeVersion, lint's deprecation checks) to the stack's $K8S_VERSION; without them
# helm reports v1.20. Needs: log, quietly (build.sh), HELM_VERSION and K8S_VERSION (versions.sh).

build_helm() {
  local out="$KUBELESS_CACHE/helm-$HELM_VERSION"
  if [[ -x "$out/helm" ]]; then log "helm $HELM_VERSION cached"; return; fi
  log "building helm $HELM_VERSION from the Go module proxy (cold: 1-3 min)"
  local min=${K8S_VERSION#v1.}; min=${min%%.*}
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local pkg
  for pkg in pkg/chartutil pkg/lint/rules; do
    ld+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$min"
  done
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  # go install pkg@version builds outside any module; GOFLAGS=-mod=mod from build.sh does not apply.
  quietly helm-compile env GOFLAGS= GOBIN="$out.tmp" go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "helm $HELM_VERSION built into $out"
}
