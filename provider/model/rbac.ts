// What the speaker may do in the API, as pure data. The installation turns these rules into a
// ClusterRole (cluster-wide reads, Service status, Node annotation, events) and a Role in the
// install namespace (one Lease per node). Least privilege: nothing here creates, deletes or
// edits workloads, secrets or configmaps.
import { API_GROUP, KINDS } from "./contract.ts";

/** One RBAC policy rule, as `rbac.authorization.k8s.io/v1` spells it. */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Cluster-wide rules of the speaker's ClusterRole. */
export const speakerClusterRules: readonly PolicyRule[] = [
  // Which Services to announce, where their endpoints are, which nodes exist and are eligible.
  { apiGroups: [""], resources: ["services", "nodes", "namespaces"], verbs: ["get", "list", "watch"] },
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "watch"] },
  // Pools and advertisements.
  { apiGroups: [API_GROUP], resources: [KINDS.addressPool.plural, KINDS.l2Advertisement.plural], verbs: ["get", "list", "watch"] },
  { apiGroups: [API_GROUP], resources: [`${KINDS.addressPool.plural}/status`, `${KINDS.l2Advertisement.plural}/status`], verbs: ["get", "update", "patch"] },
  // status.loadBalancer.ingress and the announced-by annotation.
  { apiGroups: [""], resources: ["services/status"], verbs: ["update", "patch"] },
  { apiGroups: [""], resources: ["services"], verbs: ["patch"] },
  // Each speaker publishes its node's subnets as a Node annotation.
  { apiGroups: [""], resources: ["nodes"], verbs: ["patch"] },
  // Events on Services (announced, failed over, refused).
  { apiGroups: ["", "events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
];

/** Rules of the speaker's Role in the install namespace: one Lease per node for liveness. */
export const speakerNamespaceRules: readonly PolicyRule[] = [
  { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
];
