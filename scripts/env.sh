# Sourced by every project script: pins, cache location, Node 24 first on PATH.
# shellcheck shell=bash
L2LB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export L2LB_ROOT
# shellcheck source=versions.env
. "$L2LB_ROOT/scripts/versions.env"
export L2LB_CACHE="${L2LB_CACHE:-$HOME/.cache/l2lb}"
export L2LB_NODE_DIR="$L2LB_CACHE/node-$NODE_VERSION"
export PATH="$L2LB_NODE_DIR/bin:$L2LB_ROOT/node_modules/.bin:$PATH"
export npm_config_nodedir="$L2LB_NODE_DIR"
