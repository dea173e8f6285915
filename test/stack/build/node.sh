#!/usr/bin/env bash
# The parts of the stack's real node (docs/local-stack.md#the-node), each cached by version under
# $KUBELESS_CACHE:
#   k8s-node-$K8S_VERSION/{kubelet,kube-proxy,kube-scheduler}  the module and replace list of the API server build
#   containerd-$CONTAINERD_VERSION/{containerd,containerd-shim-runc-v2,ctr}
#   runc-$RUNC_VERSION/runc                                cgo + libseccomp: without seccomp no pod starts
#   cni-plugins-$CNI_PLUGINS_VERSION/{bridge,host-local,loopback,portmap}
#   coredns-$COREDNS_VERSION/coredns                     the cluster DNS, run as a pod from images/coredns
#   kube-network-policies-$KUBE_NETWORK_POLICIES_VERSION/kube-network-policies
#                                                        the NetworkPolicy engine, a pod from images/kube-network-policies
# The images the node runs are built by images.sh.
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
  if [[ -x "$out/kubelet" && -x "$out/kube-proxy" && -x "$out/kube-scheduler" ]]; then log "kubelet, kube-proxy and kube-scheduler $K8S_VERSION cached"; return; fi
  local work="$KUBELESS_CACHE/src/k8s-$K8S_VERSION"
  [[ -f "$work/go.mod" ]] || build_k8s
  log "building kubelet, kube-proxy and kube-scheduler $K8S_VERSION (warm module cache: ~4 min)"
  quietly k8s-node-download bash -c "cd '$work' && go get -tool 'k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION' 'k8s.io/kubernetes/cmd/kube-proxy@$K8S_VERSION' 'k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION'"
  local min=${K8S_VERSION#v1.}; min=${min%%.*}
  local ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$min -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  quietly k8s-node-compile bash -c "cd '$work' && go build -trimpath -ldflags '$ld' -o '$out.tmp/' k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kube-scheduler"
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "kubelet, kube-proxy and kube-scheduler built into $out"
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

# sigs.k8s.io/kube-network-policies, built from its module's source with a patch
# (patches/kube-network-policies.patch, part of the cache key) that
#  - queues packets through the xtables NFQUEUE target: this kernel has it, but not nftables'
#    native queue expression, which upstream uses (its rules fail with ENOENT); same verdicts;
#  - also checks pods' connections to the node's own addresses (the input hook): on a one-node
#    stack the API server and the brokers are on the node, where in a cluster they are other
#    hosts whose traffic upstream checks, so a pod's egress policy applies to them too.
build_network_policies() {
  local v="$KUBE_NETWORK_POLICIES_VERSION" patch="$HERE/patches/kube-network-policies.patch"
  local out="$KUBELESS_CACHE/kube-network-policies-$v" key
  key="$v $(sha256sum < "$patch" | cut -c1-16)"
  if [[ -x "$out/kube-network-policies" && "$(cat "$out/key" 2>/dev/null)" == "$key" ]]; then log "kube-network-policies $v cached"; return; fi
  log "building kube-network-policies $v from the Go module proxy, patched (cold: ~2 min)"
  local work="$KUBELESS_CACHE/src/kube-network-policies-$v" dir
  rm -rf "$work" "$out.tmp"; mkdir -p "$work" "$out.tmp"
  quietly kube-network-policies-download bash -c "cd '$work' && go mod download -json 'sigs.k8s.io/kube-network-policies@$v' > download.json"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$work/download.json")
  cp -r "$dir" "$work/src"; chmod -R u+w "$work/src"
  (cd "$work/src" && patch -s -p1 < "$patch")
  # Static (no cgo): it runs from an image with nothing else in it.
  quietly kube-network-policies-compile bash -c "cd '$work/src' && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o '$out.tmp/kube-network-policies' ./cmd"
  echo "$key" > "$out.tmp/key"
  rm -rf "$out" "$work"; mv "$out.tmp" "$out"
  log "kube-network-policies $v built into $out"
}

build_node() {
  ensure_node_packages
  build_node_k8s
  build_containerd
  build_runc
  build_cni_plugins
  build_coredns
  build_network_policies
  build_traefik  # the binary of the ingress controller's image
  build_images
}
