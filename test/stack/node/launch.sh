#!/usr/bin/env bash
# The stack's node: containerd and the kubelet in a mount namespace of their own, inside the
# stack's network namespace. Started by the stack runner (test/stack/src/node); stopped with
# SIGTERM, after which the runner kills what is left in the node's cgroups.
#   launch.sh <node-dir> <cgroup> <containerd> <kubelet> [kubelet args...]
# <node-dir>: the node's state, configs and logs (in the stack's run folder); <cgroup>: the node's
# cgroup, e.g. /kubeless-<netns>, under which containerd, the shims and every pod run.
#
# The mount namespace `ip netns exec` gave the runner has a /sys of the stack's network namespace
# but no cgroup mounts: here, in a private copy of it, the host's hierarchies are mounted again
# (cgroups.sh); / becomes rshared so the kubelet's volume mounts reach the containers, and nothing
# mounted here reaches the host.
set -euo pipefail
if [[ "${KUBELESS_NODE_NS:-}" != "$$" ]]; then
  # Same PID after the exec, so the runner's record of this process stays valid.
  export KUBELESS_NODE_NS=$$
  exec unshare --mount --propagation private -- bash "$0" "$@"
fi
NODE_DIR=$1 CGROUP=$2 CONTAINERD=$3 KUBELET=$4; shift 4
# shellcheck source=cgroups.sh
source "$(dirname "$0")/cgroups.sh"
mount_cgroups
# runc's, the shim's and the CNI plugins' fixed paths (/run/containerd, /run/netns, /var/lib/cni)
# and the kubelet's /var/log/containers: private to the node, kept in its folder.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p "$NODE_DIR/var-log" "$NODE_DIR/var-lib-cni"
mount --bind "$NODE_DIR/var-log" /var/log
[[ -d /var/lib/cni ]] && mount --bind "$NODE_DIR/var-lib-cni" /var/lib/cni
mount --make-rshared /

# This process, and so containerd, the shims and the kubelet, in <cgroup>/node of every hierarchy.
for h in /sys/fs/cgroup/*/; do
  h=${h%/}
  [[ -L "$h" || ! -f "$h/cgroup.procs" ]] && continue
  dir=$h
  for part in ${CGROUP#/} node; do
    dir=$dir/$part
    mkdir -p "$dir"
    if [[ -f "$dir/cpuset.cpus" && -z "$(cat "$dir/cpuset.cpus")" ]]; then
      cat "$(dirname "$dir")/cpuset.cpus" > "$dir/cpuset.cpus"
      cat "$(dirname "$dir")/cpuset.mems" > "$dir/cpuset.mems"
    fi
  done
  echo $$ > "$dir/cgroup.procs"
done

"$CONTAINERD" --config "$NODE_DIR/containerd.toml" >> "$NODE_DIR/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 1 300); do
  [[ -S "$NODE_DIR/containerd.sock" ]] && break
  kill -0 "$containerd_pid" 2>/dev/null || { echo "containerd exited; see $NODE_DIR/containerd.log" >&2; exit 1; }
  sleep 0.1
done
"$KUBELET" "$@" &
kubelet_pid=$!

stop() {
  kill -TERM "$kubelet_pid" 2>/dev/null || true
  wait "$kubelet_pid" 2>/dev/null || true
  kill -TERM "$containerd_pid" 2>/dev/null || true
  wait "$containerd_pid" 2>/dev/null || true
  exit 0
}
trap stop TERM INT
# Either one ending ends the node: the runner sees the launcher gone.
wait -n "$kubelet_pid" "$containerd_pid" || true
echo "$(date -Is) kubelet or containerd exited; stopping the node" >&2
stop
