#!/usr/bin/env bash
# The host's cgroup hierarchies, for the node's processes and for the stack runner. Both live in
# mount namespaces made by `ip netns exec`, whose fresh /sys has no cgroup mounts (and this
# sandbox refuses entering PID 1's mount namespace): mounting a v1 hierarchy again with the same
# controllers attaches the existing one, so a private mount namespace gets the host's tree back.
#   cgroups.sh list <cgroup>    the folders of <cgroup> in every hierarchy, deepest first
#   cgroups.sh pids <cgroup>    the processes in them
#   cgroups.sh clean <cgroup>   SIGKILL those processes, then remove the folders
# (each runs in a mount namespace of its own; sourced by launch.sh for mount_cgroups only)
set -euo pipefail

# mount_cgroups: a tmpfs at /sys/fs/cgroup with every hierarchy of /proc/self/cgroup beneath it,
# named as on the host (cpu, memory, ..., systemd for name=systemd, unified for v2).
mount_cgroups() {
  mountpoint -q /sys/fs/cgroup || mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup
  local id controllers rest dir
  while IFS=: read -r id controllers rest; do
    if [[ -z "$controllers" ]]; then
      dir=/sys/fs/cgroup/unified
      mkdir -p "$dir"; mountpoint -q "$dir" || mount -t cgroup2 cgroup2 "$dir"
    else
      dir=/sys/fs/cgroup/${controllers#name=}
      mkdir -p "$dir"; mountpoint -q "$dir" || mount -t cgroup -o "$controllers" cgroup "$dir"
    fi
  done < /proc/self/cgroup
}

tree() {
  local cg=$1 h
  for h in /sys/fs/cgroup/*/; do
    [[ -d "$h${cg#/}" ]] && find "$h${cg#/}" -depth -type d
  done
  return 0
}

pids() {
  local d
  tree "$1" | while read -r d; do cat "$d/cgroup.procs" 2>/dev/null || true; done | sort -un
}

clean() {
  local cg=$1 i p left
  for i in $(seq 1 200); do
    left=$(pids "$cg")
    [[ -z "$left" ]] && break
    for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
    sleep 0.1
  done
  [[ -n "$(pids "$cg")" ]] && { echo "processes survive in $cg: $(pids "$cg" | tr '\n' ' ')" >&2; return 1; }
  for i in $(seq 1 50); do
    left=$(tree "$cg" | while read -r d; do rmdir "$d" 2>/dev/null || echo "$d"; done)
    [[ -z "$left" ]] && return 0
    sleep 0.1
  done
  echo "cgroup folders remain: $left" >&2
  return 1
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  cmd=${1:-}; cg=${2:-}
  [[ "$cmd" =~ ^(list|pids|clean)$ && "$cg" == /kubeless-* ]] || { sed -n '6,9p' "$0" >&2; exit 2; }
  if [[ "${KUBELESS_CGROUPS_NS:-}" != "$$" ]]; then
    export KUBELESS_CGROUPS_NS=$$
    exec unshare --mount --propagation private -- bash "$0" "$@"
  fi
  mount_cgroups
  case "$cmd" in list) tree "$cg" | sed 's|^/sys/fs/cgroup||' ;; pids) pids "$cg" ;; clean) clean "$cg" ;; esac
fi
