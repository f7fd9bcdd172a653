// CustomResourceDefinitions of l2lb's own kinds, as plain objects. Pure data: the Pulumi
// installation applies them, and the runtime's tests apply the very same objects.
// The openAPI schemas mirror `pool.ts`; keep the two in step.
import { API_GROUP, API_VERSION, KINDS } from "./contract.ts";

/** An openAPI v3 schema as the Kubernetes API spells it (JSON keys, not a client library's renames). */
export interface JsonSchema {
  type?: "object" | "array" | "string" | "integer" | "boolean" | "number";
  description?: string;
  required?: string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema;
  items?: JsonSchema;
  enum?: string[];
  minItems?: number;
  minLength?: number;
  minimum?: number;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
}

/** A printer column of a CRD version. */
export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
}

/** An `apiextensions.k8s.io/v1` CustomResourceDefinition, ready to apply or render. */
export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    scope: "Cluster" | "Namespaced";
    names: { kind: string; plural: string; singular: string; listKind: string; shortNames: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JsonSchema };
    }[];
  };
}

const labelSelector: JsonSchema = {
  type: "object",
  description: "A Kubernetes label selector; an empty selector matches everything.",
  properties: {
    matchLabels: { type: "object", additionalProperties: { type: "string" } },
    matchExpressions: {
      type: "array",
      items: {
        type: "object",
        required: ["key", "operator"],
        properties: {
          key: { type: "string", minLength: 1 },
          operator: { type: "string", enum: ["In", "NotIn", "Exists", "DoesNotExist"] },
          values: { type: "array", items: { type: "string" } },
        },
      },
    },
  },
};

const addressPoolSpec: JsonSchema = {
  type: "object",
  required: ["addresses"],
  properties: {
    addresses: {
      type: "array",
      minItems: 1,
      description: "Single IPs, CIDRs or first-last ranges; IPv4 and IPv6 may be mixed in one pool (not in one range).",
      items: { type: "string", minLength: 1 },
    },
    autoAssign: {
      type: "boolean",
      description: "When false, only Services that name this pool or request an address in it get one. Default true.",
    },
    avoidBuggyIPs: { type: "boolean", description: "Skip every IPv4 address ending in .0 or .255. Default false." },
    allowFirstLastIPs: {
      type: "boolean",
      description: "Hand out the first and last address of each CIDR too (skipped by default unless the prefix is /31, /32, /127 or /128).",
    },
    serviceAllocation: {
      type: "object",
      description: "Restricts the pool to some Services and orders it among pools.",
      properties: {
        priority: { type: "integer", minimum: 0, description: "Lower is tried first; 0 or unset = lowest precedence." },
        namespaces: { type: "array", items: { type: "string", minLength: 1 } },
        namespaceSelectors: { type: "array", items: labelSelector },
        serviceSelectors: { type: "array", items: labelSelector },
      },
    },
  },
};

const l2AdvertisementSpec: JsonSchema = {
  type: "object",
  properties: {
    ipAddressPools: {
      type: "array",
      description: "Pool names; empty with no selectors = every pool.",
      items: { type: "string", minLength: 1 },
    },
    ipAddressPoolSelectors: { type: "array", items: labelSelector },
    nodeSelectors: { type: "array", description: "Nodes allowed to announce; empty = every node.", items: labelSelector },
    interfaces: {
      type: "array",
      description: "Interface names, glob patterns (eth*), or can_reach:<ip>. Empty = every eligible interface.",
      items: { type: "string", minLength: 1 },
    },
    gratuitous: {
      type: "object",
      description: "Gratuitous ARP / unsolicited NA burst sent on takeover.",
      properties: {
        count: { type: "integer", minimum: 0, description: "Rounds in the burst. Default 5." },
        intervalMs: { type: "integer", minimum: 0, description: "Milliseconds between rounds. Default 1100." },
        refreshSeconds: { type: "integer", minimum: 0, description: "Seconds between periodic refreshes; 0 disables. Default 0." },
      },
    },
  },
};

/** Status is written by the runtime; its shape is the runtime's to evolve. */
const status: JsonSchema = { type: "object", "x-kubernetes-preserve-unknown-fields": true };

/**
 * `AddressPool` status as the speaker's status writer writes it (`runtime/control/status.ts`
 * `PoolUsage`). Explicit, so that nothing depends on `x-kubernetes-preserve-unknown-fields`
 * surviving the client that applies the CRD (without it every unknown field is pruned).
 */
const addressPoolStatus: JsonSchema = {
  type: "object",
  description: "Usage of the pool, written by the speakers.",
  properties: {
    addresses: { type: "string", description: "Number of addresses in the pool (decimal string: an IPv6 pool may exceed 2^53)." },
    assigned: { type: "integer", minimum: 0, description: "Addresses of the pool assigned to Services." },
    announced: { type: "integer", minimum: 0, description: "Of the assigned addresses, those a node announces." },
    services: { type: "integer", minimum: 0, description: "Services holding an address of the pool." },
  },
};

function crd(
  names: { kind: string; plural: string; singular: string },
  spec: JsonSchema,
  columns: PrinterColumn[],
  shortNames: string[],
  statusSchema: JsonSchema = status,
): CustomResourceDefinition {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${names.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      scope: "Cluster",
      names: { kind: names.kind, plural: names.plural, singular: names.singular, listKind: `${names.kind}List`, shortNames, categories: ["l2lb"] },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...columns, { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }],
          schema: { openAPIV3Schema: { type: "object", required: ["spec"], properties: { spec, status: statusSchema } } },
        },
      ],
    },
  };
}

/** CRD of `AddressPool` (cluster-scoped). */
export const addressPoolCrd: CustomResourceDefinition = crd(
  KINDS.addressPool,
  addressPoolSpec,
  [
    { name: "Addresses", type: "string", jsonPath: ".spec.addresses" },
    // Usage, from the status the speakers write (empty until a speaker runs).
    { name: "Total", type: "string", jsonPath: ".status.addresses" },
    { name: "Assigned", type: "integer", jsonPath: ".status.assigned" },
    { name: "Announced", type: "integer", jsonPath: ".status.announced" },
    { name: "Services", type: "integer", jsonPath: ".status.services", priority: 1 },
    { name: "Auto Assign", type: "boolean", jsonPath: ".spec.autoAssign" },
    { name: "Avoid Buggy IPs", type: "boolean", jsonPath: ".spec.avoidBuggyIPs", priority: 1 },
  ],
  ["l2pool"],
  addressPoolStatus,
);

/** CRD of `L2Advertisement` (cluster-scoped). */
export const l2AdvertisementCrd: CustomResourceDefinition = crd(
  KINDS.l2Advertisement,
  l2AdvertisementSpec,
  [
    { name: "Pools", type: "string", jsonPath: ".spec.ipAddressPools" },
    { name: "Interfaces", type: "string", jsonPath: ".spec.interfaces" },
    { name: "Node Selectors", type: "string", jsonPath: ".spec.nodeSelectors", priority: 1 },
  ],
  ["l2adv"],
);

/** Every CRD l2lb installs, in apply order. */
export const crds: readonly CustomResourceDefinition[] = [addressPoolCrd, l2AdvertisementCrd];

