#!/bin/sh
# Installs a Node.js function's dependencies into the install volume: the command of the function
# pod's `install` init container (runtimes/README.md). Runs as any user with a read-only root
# filesystem: npm's home and cache live in /tmp, everything else goes to the install volume.
#   KUBELESS_INSTALL_VOLUME  the install volume (default /kubeless)
#   KUBELESS_DEPS_FILE       the package.json to install (default $KUBELESS_INSTALL_VOLUME/package.json)
#   NPM_REGISTRY, NPM_SCOPE  optional registry, for one scope when NPM_SCOPE is set (as the original)
#   NPM_CONFIG_EXTRA         optional extra lines for the npmrc (as the original)
set -eu

install="${KUBELESS_INSTALL_VOLUME:-/kubeless}"
deps="${KUBELESS_DEPS_FILE:-$install/package.json}"

if [ ! -f "$deps" ] || ! grep -q '[^[:space:]]' "$deps"; then
  echo "install-deps: no dependencies to install ($deps is missing or empty)"
  exit 0
fi
if [ "$deps" != "$install/package.json" ]; then
  cp "$deps" "$install/package.json"
fi

export HOME=/tmp
export npm_config_cache=/tmp/.npm
export npm_config_update_notifier=false
npmrc=/tmp/.npmrc
: > "$npmrc"
if [ -n "${NPM_REGISTRY:-}" ]; then
  if [ -n "${NPM_SCOPE:-}" ]; then
    echo "${NPM_SCOPE}:registry=${NPM_REGISTRY}" >> "$npmrc"
  else
    echo "registry=${NPM_REGISTRY}" >> "$npmrc"
  fi
fi
if [ -n "${NPM_CONFIG_EXTRA:-}" ]; then
  printf '%s\n' "$NPM_CONFIG_EXTRA" >> "$npmrc"
fi
export npm_config_userconfig="$npmrc"

cd "$install"
exec npm install --prefix "$install" --omit=dev --no-audit --no-fund
