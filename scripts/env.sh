# Sourced by every project script: pins, cache location, Node 24 first on PATH.
# shellcheck shell=bash
L2LB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export L2LB_ROOT
# shellcheck source=versions.env
. "$L2LB_ROOT/scripts/versions.env"
# Cold mode, L2LB_COLD=1: no earlier build can hide a missing step. Everything the scripts download
# or build goes into L2LB_CACHE: Node, the npm cache, the speaker image's base tarball, a podman image
# store of its own (L2LB_PODMAN_ROOT), the Go module and build caches and the lab's tools. Give it a
# new empty directory to share between commands (README, "Proving it from cold"); unset, a fresh
# /var/tmp/l2lb-cold.XXXXXX is made and exported to the scripts this one runs.
if [ "${L2LB_COLD:-0}" = 1 ]; then
  if [ -z "${L2LB_CACHE:-}" ]; then
    L2LB_CACHE="$(mktemp -d /var/tmp/l2lb-cold.XXXXXX)"
    printf 'l2lb: cold mode, fresh cache %s (export L2LB_CACHE=%s to reuse it)\n' "$L2LB_CACHE" "$L2LB_CACHE" >&2
  fi
  export L2LB_PODMAN_ROOT="${L2LB_PODMAN_ROOT:-$L2LB_CACHE/podman}"
  export GOMODCACHE="$L2LB_CACHE/go/mod" GOCACHE="$L2LB_CACHE/go/build"
  export npm_config_cache="$L2LB_CACHE/npm"
fi
export L2LB_CACHE="${L2LB_CACHE:-$HOME/.cache/l2lb}"
export L2LB_NODE_DIR="$L2LB_CACHE/node-$NODE_VERSION"
export PATH="$L2LB_NODE_DIR/bin:$L2LB_ROOT/node_modules/.bin:$PATH"
export npm_config_nodedir="$L2LB_NODE_DIR"
# podman with the project's options, and its own image store when L2LB_PODMAN_ROOT is set; the
# TypeScript tests build the same arguments (test/control/image.test.ts).
l2lb_podman() {
  local store=()
  [ -n "${L2LB_PODMAN_ROOT:-}" ] && store=(--root "$L2LB_PODMAN_ROOT/storage" --runroot "$L2LB_PODMAN_ROOT/run")
  podman --runtime runc --cgroup-manager cgroupfs "${store[@]}" "$@"
}
