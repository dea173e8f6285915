#!/usr/bin/env bash
# The parts of the stack's real node (INFRA-NODE.md), each cached by version under $KUBELESS_CACHE:
#   k8s-node-$K8S_VERSION/{kubelet,kube-proxy}            the module and replace list of the API server build
#   containerd-$CONTAINERD_VERSION/{containerd,containerd-shim-runc-v2,ctr}
#   runc-$RUNC_VERSION/runc                                cgo + libseccomp: without seccomp no pod starts
#   cni-plugins-$CNI_PLUGINS_VERSION/{bridge,host-local,loopback,portmap}
#   coredns-$COREDNS_VERSION/coredns                     the cluster DNS, run as a pod from images/coredns
#   images/<name>.oci.tar                                 images built here from test/stack/images/<name>,
#                                                         rebuilt when their build context changes
# All are built from the Go module proxy, pinned in versions.sh. Debian's containerd (1.6) is out of
# support and its runc (1.1.5) lags the fixes of 1.2-1.5; building them costs ~4 min cold, once.
# The OS packages the node needs (libseccomp for runc, iptables/nftables for kube-proxy and portmap,
# buildah and mmdebstrap for images) come from Debian through ensure_node_packages.
# Sourced by build.sh (needs versions.sh, log and quietly from there).

NODE_PACKAGES=(libseccomp-dev iptables nftables buildah mmdebstrap busybox-static)

ensure_node_packages() {
  local missing=() p
  for p in "${NODE_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && { log "node OS packages present"; return; }
  if [[ $EUID -ne 0 ]]; then log "the node needs these Debian packages (install them as root): ${missing[*]}"; return 1; fi
  log "installing Debian packages for the node: ${missing[*]}"
  quietly node-apt bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing[*]}"
}

# go_tool_build <name> <out-dir> <module@version> <go-build-args...>: builds packages of one module
# in a throw-away consumer module, so the module's own go.mod (and replace lines) rule.
go_tool_build() {
  local name="$1" out="$2" modver="$3"; shift 3
  local work="$KUBELESS_CACHE/src/$name"; rm -rf "$work"; mkdir -p "$work"
  printf 'module local.kubeless/stack/%s-bin\n\ngo 1.25.0\n' "$name" > "$work/go.mod"
  quietly "$name-download" bash -c "cd '$work' && go mod download '$modver' && go get '$modver'"
  mkdir -p "$out.tmp"
  quietly "$name-compile" bash -c "cd '$work' && go build -trimpath $*"
}

build_node_k8s() {
  local out="$KUBELESS_CACHE/k8s-node-$K8S_VERSION"
  if [[ -x "$out/kubelet" && -x "$out/kube-proxy" ]]; then log "kubelet and kube-proxy $K8S_VERSION cached"; return; fi
  local work="$KUBELESS_CACHE/src/k8s-$K8S_VERSION"
  [[ -f "$work/go.mod" ]] || build_k8s
  log "building kubelet and kube-proxy $K8S_VERSION (warm module cache: ~3 min)"
  quietly k8s-node-download bash -c "cd '$work' && go get -tool 'k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION' 'k8s.io/kubernetes/cmd/kube-proxy@$K8S_VERSION'"
  local min=${K8S_VERSION#v1.}; min=${min%%.*}
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$min -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  quietly k8s-node-compile bash -c "cd '$work' && go build -trimpath -ldflags '$ld' -o '$out.tmp/' k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "kubelet and kube-proxy built into $out"
}

build_containerd() {
  local out="$KUBELESS_CACHE/containerd-$CONTAINERD_VERSION"
  if [[ -x "$out/containerd" && -x "$out/containerd-shim-runc-v2" && -x "$out/ctr" ]]; then log "containerd $CONTAINERD_VERSION cached"; return; fi
  log "building containerd $CONTAINERD_VERSION from the Go module proxy (cold: 2-4 min)"
  local m=github.com/containerd/containerd/v2
  rm -rf "$out.tmp"
  go_tool_build "containerd-$CONTAINERD_VERSION" "$out" "$m@$CONTAINERD_VERSION" \
    "-tags 'no_btrfs no_devmapper no_zfs no_aufs' -ldflags '-s -w -X $m/version.Version=$CONTAINERD_VERSION' -o '$out.tmp/' $m/cmd/containerd $m/cmd/containerd-shim-runc-v2 $m/cmd/ctr"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "containerd $CONTAINERD_VERSION built into $out"
}

build_runc() {
  local out="$KUBELESS_CACHE/runc-$RUNC_VERSION"
  if [[ -x "$out/runc" ]]; then log "runc $RUNC_VERSION cached"; return; fi
  log "building runc $RUNC_VERSION with seccomp (cgo, libseccomp-dev)"
  rm -rf "$out.tmp"
  CGO_ENABLED=1 go_tool_build "runc-$RUNC_VERSION" "$out" "github.com/opencontainers/runc@$RUNC_VERSION" \
    "-tags seccomp -ldflags '-s -w -X main.version=${RUNC_VERSION#v}' -o '$out.tmp/runc' github.com/opencontainers/runc"
  "$out.tmp/runc" --version | grep -q 'seccomp' || { log "runc built without seccomp"; return 1; }
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "runc $RUNC_VERSION built into $out"
}

build_cni_plugins() {
  local out="$KUBELESS_CACHE/cni-plugins-$CNI_PLUGINS_VERSION"
  if [[ -x "$out/bridge" && -x "$out/host-local" && -x "$out/loopback" && -x "$out/portmap" ]]; then log "CNI plugins $CNI_PLUGINS_VERSION cached"; return; fi
  log "building the CNI plugins $CNI_PLUGINS_VERSION (bridge, host-local, loopback, portmap)"
  local m=github.com/containernetworking/plugins
  rm -rf "$out.tmp"
  go_tool_build "cni-plugins-$CNI_PLUGINS_VERSION" "$out" "$m@$CNI_PLUGINS_VERSION" \
    "-ldflags '-s -w' -o '$out.tmp/' $m/plugins/main/bridge $m/plugins/ipam/host-local $m/plugins/main/loopback $m/plugins/meta/portmap"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "CNI plugins $CNI_PLUGINS_VERSION built into $out"
}

build_coredns() {
  local out="$KUBELESS_CACHE/coredns-$COREDNS_VERSION"
  if [[ -x "$out/coredns" ]]; then log "CoreDNS $COREDNS_VERSION cached"; return; fi
  log "building CoreDNS $COREDNS_VERSION from the Go module proxy (cold: 2-3 min)"
  rm -rf "$out.tmp"
  go_tool_build "coredns-$COREDNS_VERSION" "$out" "github.com/coredns/coredns@$COREDNS_VERSION" \
    "-ldflags '-s -w' -o '$out.tmp/coredns' github.com/coredns/coredns"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "CoreDNS $COREDNS_VERSION built into $out"
}

BUILDAH=(buildah --root "$KUBELESS_CACHE/buildah/root" --runroot "$KUBELESS_CACHE/buildah/run" --storage-driver vfs)
IMAGES_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../images" && pwd)"

# build_image <name> <context>: builds kubeless.local/<name>:stack from <context>/Dockerfile with
# buildah (daemonless; chroot isolation for RUN) into images/<name>.oci.tar, unless the context's
# content digest is the one of the archive already there.
build_image() {
  local name="$1" ctx="$2" out="$KUBELESS_CACHE/images" key
  mkdir -p "$out"
  key=$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
  if [[ -f "$out/$name.oci.tar" && "$(cat "$out/$name.key" 2>/dev/null)" == "$key" ]]; then log "image $name cached"; return; fi
  local ref="kubeless.local/$name:stack"
  quietly "image-$name" bash -c "$(printf '%q ' "${BUILDAH[@]}") bud --isolation chroot --layers=false --pull=never -t '$ref' '$ctx' \
    && rm -f '$out/$name.oci.tar.tmp' && $(printf '%q ' "${BUILDAH[@]}") push --quiet '$ref' 'oci-archive:$out/$name.oci.tar.tmp:$ref'"
  mv "$out/$name.oci.tar.tmp" "$out/$name.oci.tar"
  echo "$key" > "$out/$name.key"
}

# build_base <name> <suite> <packages>: a Debian base image kubeless.local/<name> from a minbase
# rootfs made by mmdebstrap (upstream base images cannot be pulled here). Rebuilt only when the
# recipe changes; the digest of what was built is recorded in images/<name>.digest.
build_base() {
  local name="$1" suite="$2" packages="$3" out="$KUBELESS_CACHE/images" file="${1//:/-}"
  local key="mmdebstrap minbase $suite $packages v1"
  mkdir -p "$out"
  if [[ -f "$out/$file.oci.tar" && "$(cat "$out/$file.key" 2>/dev/null)" == "$key" ]]; then log "base image $name cached"; return; fi
  local work="$KUBELESS_CACHE/src/base-$file"; rm -rf "$work"; mkdir -p "$work"
  local m=http://deb.debian.org/debian
  quietly "base-$file" bash -c "mmdebstrap --variant=minbase --include='ca-certificates,$packages' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      '$suite' '$work/rootfs.tar' 'deb $m $suite main' 'deb $m $suite-updates main' 'deb http://deb.debian.org/debian-security $suite-security main' \
    && c=\$($(printf '%q ' "${BUILDAH[@]}") from scratch) \
    && $(printf '%q ' "${BUILDAH[@]}") add \$c '$work/rootfs.tar' / \
    && $(printf '%q ' "${BUILDAH[@]}") config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \$c \
    && $(printf '%q ' "${BUILDAH[@]}") commit --rm \$c 'kubeless.local/$name' \
    && rm -f '$out/$file.oci.tar.tmp' && $(printf '%q ' "${BUILDAH[@]}") push --quiet --digestfile '$out/$file.digest' 'kubeless.local/$name' 'oci-archive:$out/$file.oci.tar.tmp:kubeless.local/$name'"
  mv "$out/$file.oci.tar.tmp" "$out/$file.oci.tar"
  echo "$key" > "$out/$file.key"
  rm -rf "$work"
  log "base image kubeless.local/$name built: $(cat "$out/$file.digest")"
}

build_node_images() {
  build_base python:3.11 bookworm python3
  local ctx="$KUBELESS_CACHE/src/image-pause"
  rm -rf "$ctx"; mkdir -p "$ctx"
  (cd "$IMAGES_SRC/pause" && go build -buildvcs=false -trimpath -ldflags '-s -w' -o "$ctx/pause" .)
  cp "$IMAGES_SRC/pause/Dockerfile" "$ctx/"
  build_image pause "$ctx"
  ctx="$KUBELESS_CACHE/src/image-busybox"
  rm -rf "$ctx"; mkdir -p "$ctx"
  cp /bin/busybox "$IMAGES_SRC/busybox/Dockerfile" "$ctx/"
  build_image busybox "$ctx"
  ctx="$KUBELESS_CACHE/src/image-coredns"
  rm -rf "$ctx"; mkdir -p "$ctx"
  cp "$KUBELESS_CACHE/coredns-$COREDNS_VERSION/coredns" "$IMAGES_SRC/coredns/Dockerfile" "$ctx/"
  build_image coredns "$ctx"
}

build_node() {
  ensure_node_packages
  build_node_k8s
  build_containerd
  build_runc
  build_cni_plugins
  build_coredns
  build_node_images
}
