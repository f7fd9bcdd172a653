// The exact Kubernetes permissions the speaker needs, least privilege. Pure data: the Pulumi
// `Installation` turns these into a ClusterRole (cluster-wide rules) and a Role in the install
// namespace (namespaced rules), and the integration tests bind a ServiceAccount to exactly these.
//
// Why each rule exists (verb by verb):
// - services: list/watch to find Services of our class; patch to write the
//   `l2lb.dev/announced-by` annotation (owner of the address).
// - services/status: patch `status.loadBalancer.ingress` (EXTERNAL-IP).
// - endpointslices: list/watch for `externalTrafficPolicy: Local` (nodes with a ready endpoint).
// - nodes: list/watch for labels, conditions and the exclusion label; patch to publish this
//   node's subnets in the `l2lb.dev/subnets` annotation (read by the provider's deploy-time check).
// - namespaces: list/watch, for pools restricted by `serviceAllocation.namespaceSelectors`.
// - addresspools, l2advertisements: list/watch the configuration written by the Pulumi layer.
// - addresspools/status: patch the pool usage shown by `kubectl get addresspools`.
// - events: create/patch, in the namespace of the Service they are about.
// - leases (install namespace only): two per node, its speaker Lease and its member record;
//   create/update/delete its own, list/watch the member records, `get` a suspect peer's Lease
//   and delete its member record (the verdict). `get` also recovers after a conflict.
// - secrets (install namespace only): `get` of the generated heartbeat key, by name, and `create`
//   for the first speaker to make it (Kubernetes cannot restrict a create to a name). No list or
//   watch: no other Secret is readable.

import { API_GROUP, GENERATED_HEARTBEAT_KEY_SECRET, KINDS } from "./contract.ts";

/** The subset of a Kubernetes `rbac.authorization.k8s.io/v1` PolicyRule that we use. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Rules granted cluster-wide (ClusterRole bound with a ClusterRoleBinding). */
export const SPEAKER_CLUSTER_RULES: readonly PolicyRule[] = Object.freeze([
  { apiGroups: [""], resources: ["services"], verbs: ["list", "watch", "patch"] },
  { apiGroups: [""], resources: ["services/status"], verbs: ["patch"] },
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
  { apiGroups: [""], resources: ["nodes"], verbs: ["list", "watch", "patch"] },
  { apiGroups: [""], resources: ["namespaces"], verbs: ["list", "watch"] },
  {
    apiGroups: [API_GROUP],
    resources: [KINDS.addressPool.plural, KINDS.l2Advertisement.plural],
    verbs: ["list", "watch"],
  },
  { apiGroups: [API_GROUP], resources: [`${KINDS.addressPool.plural}/status`], verbs: ["patch"] },
  { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
]);

/** Rules granted in the install namespace only (Role bound with a RoleBinding). */
export const SPEAKER_NAMESPACED_RULES: readonly PolicyRule[] = Object.freeze([
  {
    apiGroups: ["coordination.k8s.io"],
    resources: ["leases"],
    verbs: ["get", "list", "watch", "create", "update", "delete"],
  },
  { apiGroups: [""], resources: ["secrets"], verbs: ["get"], resourceNames: [GENERATED_HEARTBEAT_KEY_SECRET] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
]);

/** Deep copies, for callers that need mutable arrays (e.g. Pulumi inputs). */
export function speakerRbacRules(): { cluster: PolicyRule[]; namespaced: PolicyRule[] } {
  const copy = (rules: readonly PolicyRule[]): PolicyRule[] => rules.map((r) => structuredClone(r));
  return { cluster: copy(SPEAKER_CLUSTER_RULES), namespaced: copy(SPEAKER_NAMESPACED_RULES) };
}
