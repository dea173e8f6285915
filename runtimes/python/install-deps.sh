#!/bin/sh
# Installs a Python function's dependencies into the install volume: the command of the function
# pod's `install` init container (runtimes/README.md). Runs as any user with a read-only root
# filesystem: pip's home lives in /tmp, packages go to $KUBELESS_INSTALL_VOLUME/site-packages,
# which the runtime puts on sys.path.
#   KUBELESS_INSTALL_VOLUME  the install volume (default /kubeless)
#   KUBELESS_DEPS_FILE       the requirements file (default $KUBELESS_INSTALL_VOLUME/requirements.txt)
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, ...  the usual pip settings, passed through
set -eu

install="${KUBELESS_INSTALL_VOLUME:-/kubeless}"
deps="${KUBELESS_DEPS_FILE:-$install/requirements.txt}"

if [ ! -f "$deps" ] || ! grep -q '^[[:space:]]*[^#[:space:]]' "$deps"; then
  echo "install-deps: no dependencies to install ($deps is missing or empty)"
  exit 0
fi

export HOME=/tmp
export PIP_NO_CACHE_DIR=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
exec python3 -m pip install --no-input --target "$install/site-packages" -r "$deps"
