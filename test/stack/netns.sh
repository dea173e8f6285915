# Network namespace helpers for the local stack (docs/local-stack.md#the-network-namespace). Sourced
# by stack.sh and scripts/test.sh. The stack, the controllers and the tests run inside the
# namespace; installs and builds run outside it, since it has no route out.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# One namespace per checkout, so two clones never share one.
KUBELESS_NETNS="${KUBELESS_NETNS:-kubeless-$(printf '%s' "$ROOT" | sha1sum | cut -c1-8)}"
# Pod IPs of the tests' stand-in functions (servers of the test behind hand-made EndpointSlices) live here, and only inside the
# namespace, as AnyIP routes; 10.244.128.0/18 between them is the real node's CNI bridge
# (test/stack/src/node/config.ts).
KUBELESS_POD_CIDRS="${KUBELESS_POD_CIDRS:-10.244.0.0/17 10.244.192.0/18}"
# The real node's address, on the namespace's loopback (this kernel has no dummy links; never the host's).
KUBELESS_NODE_IP="${KUBELESS_NODE_IP:-10.240.0.1}"

# A name for the namespace outside the stack (where the registries are reachable), so the stack's
# registry mirror (test/stack/src/mirror) can serve pods' dependency installs from there:
# `ip netns exec $KUBELESS_OUTSIDE_NETNS`.
export KUBELESS_OUTSIDE_NETNS="${KUBELESS_OUTSIDE_NETNS:-$KUBELESS_NETNS-outside}"

netns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$KUBELESS_NETNS"; }
in_netns() { [[ "$(ip netns identify $$ 2>/dev/null)" == "$KUBELESS_NETNS" ]]; }

netns_create() {
  if netns_exists; then return 0; fi
  if [[ $EUID -ne 0 ]]; then echo "creating a network namespace needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)" >&2; return 1; fi
  ip netns add "$KUBELESS_NETNS"
  # Name the namespace we are in now (the outside) unless it is already named.
  ip netns list | awk '{print $1}' | grep -qx "$KUBELESS_OUTSIDE_NETNS" || ip netns attach "$KUBELESS_OUTSIDE_NETNS" $$
  ip -n "$KUBELESS_NETNS" link set lo up
  # The AnyIP route for the pod range is added with -n only: never in the host's namespace.
  local cidr
  for cidr in $KUBELESS_POD_CIDRS; do ip -n "$KUBELESS_NETNS" route add local "$cidr" dev lo; done
  ip -n "$KUBELESS_NETNS" addr add "$KUBELESS_NODE_IP/32" dev lo
  # A route for the Service range, so the namespace's own processes (controllers, tests) reach
  # ClusterIPs: kube-proxy's output rules rewrite the destination after this first lookup.
  ip -n "$KUBELESS_NETNS" route add "${KUBELESS_SERVICE_CIDR:-10.96.0.0/16}" dev lo
  # The cluster DNS (CoreDNS at 10.96.0.10, started by `up`) for every process `ip netns exec`
  # starts there (it bind-mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf): the
  # controllers and tests resolve <svc>.<ns>.svc.cluster.local as pods do.
  mkdir -p "/etc/netns/$KUBELESS_NETNS"
  printf '%s\n' '# the local stack: its cluster DNS (test/stack/netns.sh)' 'nameserver 10.96.0.10' \
    'search svc.cluster.local cluster.local' 'options ndots:2 timeout:1 attempts:2' > "/etc/netns/$KUBELESS_NETNS/resolv.conf"
}

netns_delete() {
  if netns_exists; then ip netns delete "$KUBELESS_NETNS"; fi
  rm -rf "/etc/netns/$KUBELESS_NETNS"
  # Removes only the name: the outside namespace itself lives on.
  if ip netns list | awk '{print $1}' | grep -qx "$KUBELESS_OUTSIDE_NETNS"; then ip netns delete "$KUBELESS_OUTSIDE_NETNS"; fi
}

# netns_run cmd...: runs cmd inside the namespace (directly when already inside).
netns_run() {
  if in_netns; then "$@"; else ip netns exec "$KUBELESS_NETNS" "$@"; fi
}
