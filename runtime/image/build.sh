#!/usr/bin/env bash
# Builds the speaker image with podman:  runtime/image/build.sh [TAG]   (default localhost/l2lb-speaker:dev)
#
# The Dockerfile starts FROM node:24-bookworm-slim. Without a reachable registry that base image
# is made here once — a Debian bookworm minbase rootfs (debootstrap, from the Debian mirror)
# plus the project's pinned Node 24 (scripts/versions.env) in /usr/local — cached as a tarball
# under $L2LB_CACHE/image and imported under the very name the Dockerfile uses, so the
# Dockerfile builds unchanged with or without a registry.
# Env: L2LB_IMAGE_PULL=1 tries pulling the base image first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../../scripts/env.sh"
cd "$L2LB_ROOT"
tag="${1:-localhost/l2lb-speaker:dev}"
base="docker.io/library/node:24-bookworm-slim"
podman=(podman --runtime runc --cgroup-manager cgroupfs)
say() { printf '\033[1m[image]\033[0m %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (rootful podman, debootstrap)"; exit 1; }
command -v podman >/dev/null || { say "installing podman and runc"; apt-get install -y podman runc >/dev/null; }

if ! "${podman[@]}" image exists "$base"; then
  if [ "${L2LB_IMAGE_PULL:-0}" = 1 ] && timeout 60 "${podman[@]}" pull -q "$base" >/dev/null 2>&1; then
    say "pulled $base"
  else
    tarball="$L2LB_CACHE/image/node-$NODE_VERSION-bookworm-slim-v2.tar"
    if [ ! -s "$tarball" ]; then
      command -v debootstrap >/dev/null || { say "installing debootstrap"; apt-get install -y debootstrap >/dev/null; }
      [ -x "$L2LB_NODE_DIR/bin/node" ] || { say "Node $NODE_VERSION missing in $L2LB_NODE_DIR (run scripts/setup.sh)"; exit 1; }
      work="$(mktemp -d)"
      trap 'rm -rf "$work"' EXIT
      say "debootstrap bookworm (minbase) into $work/rootfs"
      debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
      say "adding Node $NODE_VERSION to /usr/local"
      cp -a "$L2LB_NODE_DIR/bin" "$L2LB_NODE_DIR/include" "$L2LB_NODE_DIR/lib" "$L2LB_NODE_DIR/share" "$work/rootfs/usr/local/"
      # As in the official image: npm and npx on PATH (from this Node's own npm, else the host's).
      if [ ! -d "$work/rootfs/usr/local/lib/node_modules/npm" ]; then
        npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
        [ -f "$npm_dir/package.json" ] || { say "no npm to put in the base image"; exit 1; }
        mkdir -p "$work/rootfs/usr/local/lib/node_modules"
        cp -a "$npm_dir" "$work/rootfs/usr/local/lib/node_modules/npm"
      fi
      ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$work/rootfs/usr/local/bin/npm"
      ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$work/rootfs/usr/local/bin/npx"
      chroot "$work/rootfs" /usr/local/bin/npm --version >/dev/null || { say "npm does not run in the base image"; exit 1; }
      rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
      mkdir -p "$(dirname "$tarball")"
      tar -C "$work/rootfs" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    fi
    say "importing $tarball as $base"
    "${podman[@]}" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["node"]' "$tarball" "$base" >/dev/null
  fi
fi

say "building $tag"
npm_cache_mount=()
[ -d "$HOME/.npm" ] && npm_cache_mount=(--volume "$HOME/.npm:/root/.npm")
"${podman[@]}" build --pull=never --ignorefile runtime/image/containerignore "${npm_cache_mount[@]}" \
  -f runtime/Dockerfile -t "$tag" .
say "built $tag"
