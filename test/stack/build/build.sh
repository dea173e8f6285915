#!/usr/bin/env bash
# Builds or downloads the real components of the local stack and caches them by version under
# $KUBELESS_CACHE (default ~/.cache/kubeless-stack). Idempotent: a component whose cache folder
# holds a complete build is skipped. Needs the Go module proxy and Maven Central; runs outside
# the stack's network namespace.
#   build.sh [all|k8s|etcd|kafka|elasticmq|traefik|helm|hadolint|node|kubelet|containerd|runc|cni|coredns|network-policies|images|controller-images]...
# (`images`, and so `node` and `all`, includes controller-images: the controllers' own images, which
# the chart runs on the node)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$HERE/versions.sh"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
mkdir -p "$KUBELESS_CACHE"

log() { printf '[build] %s\n' "$*" >&2; }
LOG_DIR="$KUBELESS_CACHE/logs"; mkdir -p "$LOG_DIR"

# quietly <name> cmd...: runs cmd with its output in $LOG_DIR/<name>.log, printing a heartbeat
# every 30 s; on failure prints the log's tail and fails.
quietly() {
  local name="$1"; shift
  local logf="$LOG_DIR/$name.log" start=$SECONDS
  "$@" >"$logf" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if (( (SECONDS - start) % 30 < 2 && SECONDS - start >= 30 )); then log "  $name: still working ($((SECONDS - start)) s; log $logf)"; fi
  done
  if ! wait "$pid"; then log "$name failed; last lines of $logf:"; tail -n 30 "$logf" >&2; return 1; fi
  log "  $name: done in $((SECONDS - start)) s"
}

build_k8s() {
  local out="$KUBELESS_CACHE/k8s-$K8S_VERSION"
  if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" ]]; then log "kubernetes $K8S_VERSION cached"; return; fi
  log "building kube-apiserver and kube-controller-manager $K8S_VERSION from the Go module proxy (cold: about 10-20 min on 2 cores)"
  local work="$KUBELESS_CACHE/src/k8s-$K8S_VERSION"; rm -rf "$work"; mkdir -p "$work"
  local stg="v0.${K8S_VERSION#v1.}" mod
  mod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo 'module local.kubeless/stack/k8s-bin'; echo; echo 'go 1.25.0'; echo
    grep -E '^godebug' "$mod" || true
    echo 'replace ('
    grep -oE '^\s+k8s\.io/[a-z0-9-]+ => \./staging' "$mod" | awk -v v="$stg" '{print "\t"$1" => "$1" "v}'
    echo ')'
  } > "$work/go.mod"
  quietly k8s-download bash -c "cd '$work' && go get -tool 'k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION' \
      && go get -tool 'k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION'"
  local min=${K8S_VERSION#v1.}; min=${min%%.*}
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$min -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  mkdir -p "$out.tmp"
  quietly k8s-compile bash -c "cd '$work' && go build -trimpath -ldflags '$ld' -o '$out.tmp/' k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "kubernetes $K8S_VERSION built into $out"
}

build_etcd() {
  local out="$KUBELESS_CACHE/etcd-$ETCD_VERSION"
  if [[ -x "$out/etcd" ]]; then log "etcd $ETCD_VERSION cached"; return; fi
  log "building etcd $ETCD_VERSION from the Go module proxy (cold: 1-3 min)"
  local work="$KUBELESS_CACHE/src/etcd-$ETCD_VERSION"; rm -rf "$work"; mkdir -p "$work"
  printf 'module local.kubeless/stack/etcd-bin\n\ngo 1.25.0\n' > "$work/go.mod"
  quietly etcd-download bash -c "cd '$work' && go get -tool 'go.etcd.io/etcd/server/v3@$ETCD_VERSION'"
  mkdir -p "$out.tmp"
  quietly etcd-compile bash -c "cd '$work' && go build -trimpath -ldflags '-s -w' -o '$out.tmp/etcd' go.etcd.io/etcd/server/v3"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "etcd $ETCD_VERSION built into $out"
}

# maven_libs <name> <pom-body-deps>: resolves a dependency closure into $KUBELESS_CACHE/<name>/libs
maven_libs() {
  local name="$1" deps="$2" out="$KUBELESS_CACHE/$1"
  if [[ -f "$out/.complete" ]]; then log "$name cached"; return; fi
  log "resolving $name from Maven Central (cold: 1-3 min)"
  rm -rf "$out"; mkdir -p "$out"
  cat > "$out/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kubeless.stack</groupId><artifactId>$name</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-bom</artifactId>
      <version>$LOG4J_VERSION</version><type>pom</type><scope>import</scope></dependency>
  </dependencies></dependencyManagement>
  <dependencies>$deps</dependencies>
</project>
POM
  quietly "$name-maven" mvn -B -q -f "$out/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DoutputDirectory="$out/libs" -DincludeScope=runtime
  touch "$out/.complete"
}

build_kafka() {
  maven_libs "kafka-$KAFKA_VERSION" "
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>"
}

build_elasticmq() {
  maven_libs "elasticmq-$ELASTICMQ_VERSION" "
    <dependency><groupId>org.elasticmq</groupId><artifactId>elasticmq-server_2.13</artifactId><version>$ELASTICMQ_VERSION</version></dependency>"
}

# shellcheck source=traefik.sh
source "$HERE/traefik.sh"
# shellcheck source=helm.sh
source "$HERE/helm.sh"  # build_helm: the helm binary the chart tests use
# shellcheck source=hadolint.sh
source "$HERE/hadolint.sh"  # build_hadolint: the Dockerfile linter of the image tests
# shellcheck source=node.sh
source "$HERE/node.sh"  # build_node: kubelet, kube-proxy, containerd, runc, CNI plugins, CoreDNS, Traefik, images
# shellcheck source=images.sh
source "$HERE/images.sh"  # build_images: the images the node runs

targets=("$@"); [[ ${#targets[@]} -eq 0 ]] && targets=(all)
for t in "${targets[@]}"; do
  case "$t" in
    # build_node builds traefik before the images (the ingress controller's image holds its binary).
    all) build_etcd; build_kafka; build_elasticmq; build_k8s; build_helm; build_hadolint; build_node ;;
    k8s) build_k8s ;; etcd) build_etcd ;; kafka) build_kafka ;; elasticmq) build_elasticmq ;; traefik) build_traefik ;; helm) build_helm ;; hadolint) build_hadolint ;; node) build_node ;;
    kubelet) build_node_k8s ;; containerd) build_containerd ;; runc) build_runc ;; cni) build_cni_plugins ;; coredns) build_coredns ;; network-policies) build_network_policies ;; images) build_images ;;
    controller-images) build_controller_images ;;
    *) echo "unknown target: $t" >&2; exit 2 ;;
  esac
done
