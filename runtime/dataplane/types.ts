// Public types of the speaker data plane. Kept free of I/O so that the control plane can import
// them without loading the native packet addon.
import type { Logger } from "pino";
import type { Registry } from "prom-client";

/**
 * Which interfaces the data plane may answer on. Each entry is one of:
 * - an exact interface name (`eth0`, `eth0.100`): selected even if it matches a default exclusion;
 * - a glob (`eth*`, `enp?s0`, `en[ops]*`): matched against every interface, default exclusions apply;
 * - `can_reach:<ip>`: the interface the kernel's route to `<ip>` leaves through (re-evaluated
 *   whenever interfaces or addresses change);
 * - `!<glob>`: exclude what it matches (applied after every inclusion).
 *
 * Omitted or empty: every eligible interface minus the default exclusions.
 * Never selected, whatever the entry: loopback, non-Ethernet links, NOARP links and links
 * enslaved to a bond or bridge (answer on the master instead).
 */
export type InterfaceSelection = readonly string[];

/** Gratuitous announcement schedule. */
export interface GratuitousOptions {
  /** Rounds in the burst sent when an address is gained (or its interface comes back up). Default 5. */
  count?: number;
  /** Milliseconds between rounds of the burst. Default 1100 (MetalLB's spacing). */
  intervalMs?: number;
  /** Seconds between periodic refresh rounds after the burst; 0 or omitted disables refresh. */
  refreshSeconds?: number;
}

export interface DataPlaneOptions {
  logger: Logger;
  /** Registry the `l2lb_*_total` counters are registered on. */
  registry: Registry;
  /** Interfaces to answer on; see {@link InterfaceSelection}. */
  interfaces?: InterfaceSelection;
  /** Default schedule for every owned address. */
  gratuitous?: GratuitousOptions;
  /**
   * Seconds between full re-reads of the interface table, in addition to the change-driven reads
   * triggered by `ip monitor`. Default 30.
   */
  pollSeconds?: number;
  /**
   * Run each interface's receive thread with real-time priority (SCHED_FIFO 10; falls back to
   * nice −10, then to normal priority, when CAP_SYS_NICE is missing) so that answers are not
   * delayed by CPU contention. Default true, unless the environment sets `L2LB_REALTIME=0`.
   */
  realtime?: boolean;
}

export interface OwnedAddress {
  /** IPv4 or IPv6 address, textual. */
  ip: string;
  /**
   * Restrict answering to these interface names (intersected with the selected interfaces).
   * Default: every selected interface with a subnet containing `ip`; when none has, every
   * selected interface.
   */
  interfaces?: string[];
  /** Per-address override of {@link DataPlaneOptions.gratuitous}. */
  gratuitous?: GratuitousOptions;
}

export interface InterfaceAddress {
  address: string;
  prefixLength: number;
}

export interface EligibleInterface {
  name: string;
  ifindex: number;
  /** `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** Administratively up and carrier present. */
  up: boolean;
  /** Global-scope addresses (IPv4 and IPv6) configured on the interface. */
  addresses: InterfaceAddress[];
  /** The subnets of {@link addresses}, CIDR with host bits cleared, deduplicated. */
  subnets: string[];
}

export interface OwnedBinding {
  ip: string;
  interface: string;
}

/** Payload of the `"duplicate"` event: another station answered for, or claimed, an owned address. */
export interface DuplicateEvent {
  ip: string;
  /** MAC address of the other station. */
  mac: string;
  /** Interface it was seen on. */
  interface: string;
  protocol: "arp" | "ndp";
}

/** Payload of the `"link"` event. */
export interface LinkEvent {
  interface: string;
  up: boolean;
}

export interface DataPlaneEvents {
  duplicate: [DuplicateEvent];
  link: [LinkEvent];
  /** The set of selected interfaces, or one of their addresses, changed; read {@link EligibleInterface}s again. */
  interfaces: [];
}
