# shellcheck shell=bash
# Pulumi environment for the lab: source it (`. test/lab/pulumi.sh`), then run `pulumi ...` as usual.
#
# Sets:
#   PATH                      the CLI, the Node.js language host, the dynamic-provider shim (built by
#                             test/lab/build-tools.sh) and Node 24 first; when pulumi-language-nodejs
#                             is not built, a wrapper of that name beside the CLI runs the lab's own
#                             host, test/lab/language-host.ts
#   PULUMI_HOME               a per-run home in the scratch dir; its plugins/ is the shared cached plugin dir
#                             $L2LB_CACHE/pulumi-home/plugins, where pulumi-resource-kubernetes is installed
#                             once (`pulumi plugin install resource kubernetes <v> --file <binary>`)
#   PULUMI_BACKEND_URL        file://$L2LB_PULUMI_DIR/state (local file backend, no service)
#   PULUMI_CONFIG_PASSPHRASE  kept if set, else "l2lb-lab" (lab stacks only)
#   PULUMI_SKIP_UPDATE_CHECK=true, PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true (nothing is downloaded)
# Env in:  L2LB_PULUMI_DIR  scratch dir (default ${TMPDIR:-/tmp}/l2lb-pulumi); `rm -rf` it to forget stacks
# Functions: lab_pulumi_ready -> 0 when the CLI (with a language host and the dynamic-provider shim)
#                                is usable, else says what is missing and returns 1
#            lab_pulumi_kubernetes_ready -> same for pulumi-resource-kubernetes (installs it for the CLI)
#            lab_pulumi_install_plugins -> (re)installs the kubernetes plugin into the cached plugin dir
# A Node.js project for `pulumi up` here: Pulumi.yaml with `runtime: {name: nodejs, options:
# {typescript: false}}` and `main: index.ts` lets Node 24 load TypeScript itself.
_pl_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$_pl_here/../../scripts/env.sh"
. "$_pl_here/tools.sh"

export L2LB_PULUMI_DIR="${L2LB_PULUMI_DIR:-${TMPDIR:-/tmp}/l2lb-pulumi}"
export L2LB_PULUMI_PLUGINS="$L2LB_CACHE/pulumi-home/plugins"
export PULUMI_HOME="$L2LB_PULUMI_DIR/home"
export PULUMI_BACKEND_URL="file://$L2LB_PULUMI_DIR/state"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-l2lb-lab}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
export PATH="$L2LB_PULUMI_LANGUAGE_NODEJS_BIN:$L2LB_PULUMI_BIN:$L2LB_NODE_DIR/bin:$PATH"
mkdir -p "$L2LB_PULUMI_DIR/state" "$PULUMI_HOME" "$L2LB_PULUMI_PLUGINS"
[ -e "$PULUMI_HOME/plugins" ] || ln -s "$L2LB_PULUMI_PLUGINS" "$PULUMI_HOME/plugins"
# Without a built pulumi-language-nodejs, the lab's own language host (test/lab/language-host.ts) stands
# in: a wrapper next to the CLI (where the engine expects its bundled language hosts) that runs it from
# the checkout named by L2LB_ROOT (exported by scripts/env.sh, inherited by the engine's plugins).
if [ -x "$L2LB_PULUMI_BIN/pulumi" ] && [ ! -x "$L2LB_PULUMI_LANGUAGE_NODEJS_BIN/pulumi-language-nodejs" ] \
  && [ ! -x "$L2LB_PULUMI_BIN/pulumi-language-nodejs" ]; then
  printf '%s\n' '#!/bin/sh' \
    '# Pulumi Node.js language host of the l2lb lab (test/lab/language-host.ts in the checkout at $L2LB_ROOT).' \
    ': "${L2LB_ROOT:?pulumi-language-nodejs: source scripts/env.sh (L2LB_ROOT) first}"' \
    'exec "${L2LB_NODE_DIR:+$L2LB_NODE_DIR/bin/}node" "$L2LB_ROOT/test/lab/language-host.ts" "$@"' \
    >"$L2LB_PULUMI_BIN/.pulumi-language-nodejs.$$"
  chmod +x "$L2LB_PULUMI_BIN/.pulumi-language-nodejs.$$"
  mv -f "$L2LB_PULUMI_BIN/.pulumi-language-nodejs.$$" "$L2LB_PULUMI_BIN/pulumi-language-nodejs"
fi

lab_pulumi_install_plugins() {
  [ -x "$L2LB_PULUMI_BIN/pulumi" ] || { echo "pulumi CLI not built" >&2; return 1; }
  [ -x "$L2LB_PULUMI_KUBERNETES_BIN/pulumi-resource-kubernetes" ] || { echo "pulumi-resource-kubernetes not built" >&2; return 1; }
  pulumi plugin install resource kubernetes "$PULUMI_KUBERNETES_VERSION" \
    --file "$L2LB_PULUMI_KUBERNETES_BIN/pulumi-resource-kubernetes" >&2
}

# The Kubernetes provider plugin, once built, is installed into the shared plugin dir the first time
# this file is sourced (under a lock: tests source it concurrently), like `pulumi plugin install`
# would download it.
if [ -x "$L2LB_PULUMI_BIN/pulumi" ] && [ -x "$L2LB_PULUMI_KUBERNETES_BIN/pulumi-resource-kubernetes" ] \
  && [ ! -d "$L2LB_PULUMI_PLUGINS/resource-kubernetes-v$PULUMI_KUBERNETES_VERSION" ]; then
  (
    flock 9
    [ -d "$L2LB_PULUMI_PLUGINS/resource-kubernetes-v$PULUMI_KUBERNETES_VERSION" ] || lab_pulumi_install_plugins
  ) 9>"$L2LB_PULUMI_PLUGINS/.install.lock"
fi

# lab_pulumi_ready: the CLI, a language host and the dynamic-provider shim are usable.
lab_pulumi_ready() {
  if [ ! -x "$L2LB_PULUMI_BIN/pulumi" ]; then echo "not built: pulumi (test/lab/build-tools.sh pulumi)" >&2; return 1; fi
}

# lab_pulumi_kubernetes_ready: pulumi-resource-kubernetes is built and installed for the CLI.
lab_pulumi_kubernetes_ready() {
  lab_pulumi_ready || return 1
  if [ ! -x "$L2LB_PULUMI_KUBERNETES_BIN/pulumi-resource-kubernetes" ]; then
    echo "not built: pulumi-kubernetes (test/lab/build-tools.sh pulumi-kubernetes)" >&2; return 1
  fi
  if [ ! -d "$L2LB_PULUMI_PLUGINS/resource-kubernetes-v$PULUMI_KUBERNETES_VERSION" ]; then
    lab_pulumi_install_plugins || return 1
  fi
}
