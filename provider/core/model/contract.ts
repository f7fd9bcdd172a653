// Names shared by the Pulumi layer (writer) and the speaker runtime (reader).
// Changing any of these is a breaking change for installed clusters.

/** API group of l2lb's own custom resources. */
export const API_GROUP = "l2lb.dev";
/** Version of l2lb's custom resources. */
export const API_VERSION = "v1alpha1";
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}`;

/** `spec.loadBalancerClass` of every Service l2lb serves. */
export const LOAD_BALANCER_CLASS = "l2lb.dev/layer2";

/** Namespace the runtime is installed into by default. */
export const DEFAULT_NAMESPACE = "l2lb-system";

/** Kinds (cluster-scoped) and their plural resource names. */
export const KINDS = {
  addressPool: { kind: "AddressPool", plural: "addresspools", singular: "addresspool" },
  l2Advertisement: { kind: "L2Advertisement", plural: "l2advertisements", singular: "l2advertisement" },
} as const;

/** Annotations l2lb reads from, and writes to, Services. */
export const ANNOTATIONS = {
  /** Comma-separated addresses the allocator assigned (one per family). Written by the Pulumi layer; the speaker announces only these. */
  assignedIps: "l2lb.dev/load-balancer-ips",
  /** Pool the assigned addresses came from. Written by the Pulumi layer. */
  assignedPool: "l2lb.dev/address-pool",
  /** Requested addresses (comma-separated), our own spelling of metallb.io/loadBalancerIPs. */
  requestedIps: "l2lb.dev/requested-ips",
  /** Requested pool name. */
  requestedPool: "l2lb.dev/requested-pool",
  /** Sharing key: Services with the same key may share an address (MetalLB rules). */
  sharingKey: "l2lb.dev/sharing-key",
  /** Written by the speaker: node and interface announcing each address, e.g. `192.0.2.50=node-a/eth0`. */
  announcedBy: "l2lb.dev/announced-by",
  /**
   * Which half made the assignment: `cluster` when the in-cluster allocator wrote it. Absent means
   * a Pulumi stack (or a rendered plan) did, and the in-cluster allocator never changes it.
   */
  allocatedBy: "l2lb.dev/allocated-by",
} as const;

/** Value of {@link ANNOTATIONS.allocatedBy} written by the in-cluster allocator. */
export const ALLOCATED_IN_CLUSTER = "cluster";

/** Reasons of the Events l2lb records on Services and AddressPools. */
export const EVENT_REASONS = {
  /** Warning on a Service: the in-cluster allocator could not give it an address; the message says why and the fix. */
  allocationFailed: "AllocationFailed",
  /** Normal on a Service: the in-cluster allocator assigned (or moved) its addresses. */
  allocated: "IPAllocated",
  /** Warning on a Service: it claims an address another Service holds without being allowed to share it. */
  addressConflict: "AddressConflict",
  /** Warning on an AddressPool: it is set aside (invalid together with others); the message names the fix. */
  poolSetAside: "PoolSetAside",
} as const;

/** Condition type on AddressPool status: `True` when the pool is used, `False` (with reason and message) when set aside. */
export const POOL_USABLE_CONDITION = "Usable";

/** Annotation on a Node, written by that node's speaker: JSON array of the subnets of its eligible interfaces. */
export const NODE_SUBNETS_ANNOTATION = "l2lb.dev/subnets";

/** Shape of the {@link NODE_SUBNETS_ANNOTATION} value. */
export interface PublishedSubnet {
  /** Interface name on the node, e.g. `eth0` or `eth0.100`. */
  interface: string;
  /** Subnet in CIDR form with host bits cleared, e.g. `192.0.2.0/24`. */
  cidr: string;
  /** The node's own address on that subnet. */
  address: string;
}

/** Label on every speaker Lease; one Lease per node, named `l2lb-speaker-<node>`. */
export const SPEAKER_LEASE_LABEL = "l2lb.dev/speaker";
export const SPEAKER_LEASE_PREFIX = "l2lb-speaker-";

/**
 * Label on every member record: a Lease per node, named `l2lb-member-<node>`, written when the
 * speaker joins or its heartbeat endpoint or subnets change, deleted when it leaves or is
 * declared dead. Speakers watch these, not the speaker Leases renewed every second.
 */
export const MEMBER_LABEL = "l2lb.dev/member";
export const MEMBER_PREFIX = "l2lb-member-";

/** Name of the speaker DaemonSet, ServiceAccount and ClusterRole created by the installation. */
export const SPEAKER_NAME = "l2lb-speaker";
/**
 * Secret in the install namespace holding the heartbeat key the speakers create for themselves
 * when none is configured (`key`: 64 hex digits); only the speakers may read it.
 */
export const GENERATED_HEARTBEAT_KEY_SECRET = "l2lb-heartbeat-key";
