import type { LabelSelector } from "./labels.ts";

/** Which Services a pool may serve, and in which order pools are tried (MetalLB's serviceAllocation). */
export interface ServiceAllocation {
  /** Lower is tried first; pinned pools (with a priority) come before plain ones. 0 or unset = lowest precedence. */
  priority?: number;
  /** The Service's namespace must be one of these (when set). */
  namespaces?: string[];
  /** The Service's namespace labels must match one of these (when set). */
  namespaceSelectors?: LabelSelector[];
  /** The Service's labels must match one of these (when set). */
  serviceSelectors?: LabelSelector[];
}

/** Spec of an `AddressPool` (group l2lb.dev), the set of addresses Services may receive. */
export interface AddressPoolSpec {
  /** Single IPs, CIDRs or `first-last` ranges; IPv4 and IPv6 may be mixed in one pool (not in one range). */
  addresses: string[];
  /** When false, only Services that name this pool or request an address in it get one. Default true. */
  autoAssign?: boolean;
  /** Skip every IPv4 address ending in .0 or .255. Default false. */
  avoidBuggyIPs?: boolean;
  /** Hand out the first and last address of each CIDR too (they are skipped by default unless the prefix is /31, /32, /127 or /128). */
  allowFirstLastIPs?: boolean;
  /** Restricts the pool to some Services and orders it among pools. */
  serviceAllocation?: ServiceAllocation;
}

/** A named pool. */
export interface AddressPool {
  name: string;
  labels?: Record<string, string>;
  spec: AddressPoolSpec;
}

/** Settings of the gratuitous ARP / unsolicited NA burst sent on takeover. */
export interface GratuitousSettings {
  /** Rounds in the burst. Default 5. */
  count?: number;
  /** Milliseconds between rounds. Default 1100. */
  intervalMs?: number;
  /** Seconds between periodic refreshes after the burst; 0 disables. Default 0. */
  refreshSeconds?: number;
}

/** Spec of an `L2Advertisement`: which pools are announced, from which nodes and interfaces. */
export interface L2AdvertisementSpec {
  /** Pool names; empty with no selectors = every pool. */
  ipAddressPools?: string[];
  /** Pools whose labels match one of these. */
  ipAddressPoolSelectors?: LabelSelector[];
  /** Nodes allowed to announce; empty = every node. */
  nodeSelectors?: LabelSelector[];
  /** Interface names, glob patterns (`eth*`), or `can_reach:<ip>` (the interface the node routes that address through). Empty = every eligible interface. */
  interfaces?: string[];
  /** Gratuitous announcement settings. */
  gratuitous?: GratuitousSettings;
}

export interface L2Advertisement {
  name: string;
  spec: L2AdvertisementSpec;
}
