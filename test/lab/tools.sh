# shellcheck shell=bash
# Where the lab's tools live once test/lab/build-tools.sh has built them. Source after scripts/env.sh.
#
# Sets: L2LB_TOOLS_DIR and, for each tool, L2LB_<TOOL>_BIN (its bin directory, present or not):
#   L2LB_KUBERNETES_BIN (kube-apiserver, kube-controller-manager, kubectl), L2LB_ETCD_BIN, L2LB_KWOK_BIN,
#   L2LB_PULUMI_BIN (pulumi + dynamic-provider shim), L2LB_PULUMI_LANGUAGE_NODEJS_BIN,
#   L2LB_PULUMI_KUBERNETES_BIN (pulumi-resource-kubernetes), L2LB_METALLB_BIN (MetalLB's controller and
#   speaker) and L2LB_METALLB_CONFIG (its CRD bases, RBAC and manifests, as the module ships them).
# Functions: lab_tools_missing TOOL... prints the tools (kubernetes etcd kwok pulumi ...) not built yet.
export L2LB_TOOLS_DIR="${L2LB_TOOLS_DIR:-$L2LB_CACHE/tools}"
export L2LB_KUBERNETES_BIN="$L2LB_TOOLS_DIR/kubernetes-$KUBERNETES_VERSION/bin"
export L2LB_ETCD_BIN="$L2LB_TOOLS_DIR/etcd-$ETCD_VERSION/bin"
export L2LB_KWOK_BIN="$L2LB_TOOLS_DIR/kwok-$KWOK_VERSION/bin"
export L2LB_PULUMI_BIN="$L2LB_TOOLS_DIR/pulumi-${PULUMI_CLI_VERSION:-$PULUMI_VERSION}/bin"
export L2LB_PULUMI_LANGUAGE_NODEJS_BIN="$L2LB_TOOLS_DIR/pulumi-language-nodejs-$PULUMI_VERSION/bin"
export L2LB_PULUMI_KUBERNETES_BIN="$L2LB_TOOLS_DIR/pulumi-kubernetes-$PULUMI_KUBERNETES_VERSION/bin"
export L2LB_METALLB_BIN="$L2LB_TOOLS_DIR/metallb-${METALLB_VERSION:-none}/bin"
export L2LB_METALLB_CONFIG="$L2LB_TOOLS_DIR/metallb-${METALLB_VERSION:-none}/config"

lab_tools_missing() {
  local t v
  for t in "$@"; do
    v="L2LB_$(printf '%s' "$t" | tr 'a-z-' 'A-Z_')_BIN"
    [ -d "${!v:-/nonexistent}" ] || printf '%s\n' "$t"
  done
}
