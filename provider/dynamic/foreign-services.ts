// Services in the cluster that carry an assignment (`l2lb.dev/load-balancer-ips`) but are not
// the stack's own: made by kubectl, Helm or operators and assigned by the in-cluster allocator,
// or assigned by another stack. The allocation treats their addresses as taken, under MetalLB's
// sharing rules: `check` plans with them as *held* requests for exactly their addresses, and
// `create`/`update` look again right before writing. Pure: the engine does the reading.
import type { Assignment, ServiceRequest, SharedIpGroup } from "../core/allocation/index.ts";
import { SHARING_KEY_ANNOTATIONS } from "../core/allocation/requests.ts";
import { sharingConflict, sharingProfile } from "../core/allocation/sharing.ts";
import { familyName, formatAddress, parseRange, rangeContains, tryParseAddress } from "../core/ip/index.ts";
import type { IpRange } from "../core/ip/index.ts";
import { serviceRequestOf } from "../core/manifests/index.ts";
import { ALLOCATED_IN_CLUSTER, ANNOTATIONS } from "../core/model/contract.ts";
import type { AddressPool } from "../core/model/pool.ts";

/** The subset of a Service object read here. */
export interface ServiceLike {
  metadata?: { namespace?: string; name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: object;
}

/** A Service outside the stack that holds addresses in the cluster. */
export interface ForeignService {
  /** `"<namespace>/<name>"`. */
  key: string;
  /** Its assigned addresses, in canonical text. */
  ips: string[];
  /** The pool its annotation names (may be empty). */
  pool: string;
  /** Whether the in-cluster allocator made the assignment. */
  inCluster: boolean;
  /** What decides whether it may share: labels, ports, traffic policy, pod selector and sharing key. */
  request: ServiceRequest;
}

/** The stack's own Services, as the sharing rules need them. */
export interface StackServices {
  keys: ReadonlySet<string>;
  requests: ReadonlyMap<string, ServiceRequest>;
  /** The shared-IP group of each grouped Service: a group's address is reserved for its members. */
  groups: ReadonlyMap<string, string>;
}

/** A stack Service's address held by a foreign Service that may not share it. */
export interface ForeignConflict {
  service: string;
  address: string;
  holder: ForeignService;
  /** Why they may not share, naming the holder (a clause starting with "it is used by"). */
  reason: string;
}

export function stackServicesOf(services: readonly ServiceRequest[], groups: readonly SharedIpGroup[]): StackServices {
  const requests = new Map<string, ServiceRequest>();
  for (const s of services) if (typeof s?.name === "string") requests.set(`${s.namespace || "default"}/${s.name}`, s);
  const grouped = new Map<string, string>();
  for (const g of groups) {
    for (const member of Array.isArray(g?.services) ? g.services : []) {
      if (typeof member === "string") grouped.set(member.includes("/") ? member : `default/${member}`, g.name);
    }
  }
  return { keys: new Set(requests.keys()), requests, groups: grouped };
}

/** Every Service with an assignment that is not one of the stack's, sorted by key. */
export function foreignServices(services: readonly ServiceLike[], stackKeys: ReadonlySet<string>): ForeignService[] {
  const out: ForeignService[] = [];
  for (const service of services) {
    const annotations = service.metadata?.annotations ?? {};
    const ips = canonicalAddresses(annotations[ANNOTATIONS.assignedIps]);
    const namespace = service.metadata?.namespace || "default";
    const name = service.metadata?.name ?? "";
    const key = `${namespace}/${name}`;
    if (ips.length === 0 || stackKeys.has(key)) continue;
    out.push({
      key,
      ips,
      pool: annotations[ANNOTATIONS.assignedPool] ?? "",
      inCluster: annotations[ANNOTATIONS.allocatedBy] === ALLOCATED_IN_CLUSTER,
      request: sharingRequest(namespace, name, service),
    });
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Where a foreign assignment came from, for messages. */
export function originOf(holder: ForeignService): string {
  return holder.inCluster ? "assigned in the cluster" : "assigned outside this stack";
}

/** Comma-separated addresses in canonical text; anything that is not an address is left out. */
export function canonicalAddresses(text: string | undefined): string[] {
  const out: string[] = [];
  for (const part of (text ?? "").split(",")) {
    const address = tryParseAddress(part.trim());
    if (address === undefined) continue;
    const canonical = formatAddress(address);
    if (!out.includes(canonical)) out.push(canonical);
  }
  return out;
}

/** The Service without what could make it malformed for sharing purposes: requests, pools and families. */
function sharingRequest(namespace: string, name: string, service: ServiceLike): ServiceRequest {
  const { annotations, loadBalancerIP: _request, ipFamilies: _families, ipFamilyPolicy: _policy, ...rest } = serviceRequestOf(namespace, name, service);
  const sharing: Record<string, string> = {};
  for (const spelling of SHARING_KEY_ANNOTATIONS) {
    const value = annotations?.[spelling];
    if (value !== undefined) sharing[spelling] = value;
  }
  return Object.keys(sharing).length > 0 ? { ...rest, annotations: sharing } : rest;
}

// ---------------------------------------------------------------------------------------------
// check: foreign Services in the plan

/**
 * The foreign Services holding addresses of the stack's pools, as requests for exactly those
 * addresses (their other addresses are irrelevant here) and as their previous assignments.
 */
export function heldInput(foreign: readonly ForeignService[], pools: readonly AddressPool[]): { services: ServiceRequest[]; previous: Record<string, Assignment> } {
  const ranges = poolRanges(pools);
  const services: ServiceRequest[] = [];
  const previous: Record<string, Assignment> = {};
  for (const holder of foreign) {
    const inside = holder.ips.filter((ip) => ranges.some((range) => rangeContains(range, ip)));
    if (inside.length === 0) continue;
    services.push(heldRequest(holder, inside));
    previous[holder.key] = { ips: inside, pool: holder.pool };
  }
  return { services, previous };
}

function heldRequest(holder: ForeignService, ips: string[]): ServiceRequest {
  const families = ips.map((ip) => familyName(tryParseAddress(ip)!.family));
  return {
    ...holder.request,
    ipFamilies: families,
    ipFamilyPolicy: families.length > 1 ? "RequireDualStack" : "SingleStack",
    annotations: { ...holder.request.annotations, [ANNOTATIONS.requestedIps]: ips.join(",") },
  };
}

function poolRanges(pools: readonly AddressPool[]): IpRange[] {
  const ranges: IpRange[] = [];
  for (const pool of pools) {
    for (const text of Array.isArray(pool?.spec?.addresses) ? pool.spec.addresses : []) {
      try {
        ranges.push(parseRange(String(text)));
      } catch {
        // malformed ranges are reported by the allocator
      }
    }
  }
  return ranges;
}

/** The stack Services whose previous addresses a foreign Service now holds and may not share: why, by key. */
export function takenPrevious(previous: Record<string, Assignment>, stack: StackServices, foreign: readonly ForeignService[]): Map<string, string> {
  const held: Record<string, string[]> = {};
  for (const [key, assignment] of Object.entries(previous)) held[key] = assignment.ips.flatMap((ip) => canonicalAddresses(String(ip)));
  const taken = new Map<string, string>();
  for (const c of foreignConflicts(held, stack, foreign)) {
    if (!taken.has(c.service)) taken.set(c.service, `${c.address} is taken by Service "${c.holder.key}", ${originOf(c.holder)}`);
  }
  return taken;
}

// ---------------------------------------------------------------------------------------------
// the sharing rule, shared by check and the re-check before writing

/** Every address of `assignments` (addresses by stack Service key) held by a foreign Service that may not share it. */
export function foreignConflicts(assignments: Record<string, readonly string[]>, stack: StackServices, foreign: readonly ForeignService[]): ForeignConflict[] {
  const holders = holdersByAddress(foreign);
  const conflicts: ForeignConflict[] = [];
  for (const key of Object.keys(assignments).sort()) {
    for (const address of assignments[key] ?? []) {
      for (const holder of holders.get(address) ?? []) {
        const reason = sharingRefusal(key, stack, holder);
        if (reason !== undefined) conflicts.push({ service: key, address, holder, reason });
      }
    }
  }
  return conflicts;
}

function holdersByAddress(foreign: readonly ForeignService[]): Map<string, ForeignService[]> {
  const holders = new Map<string, ForeignService[]>();
  for (const f of foreign) for (const ip of f.ips) holders.set(ip, [...(holders.get(ip) ?? []), f]);
  return holders;
}

/** MetalLB's sharing rule between a stack Service and a foreign holder, as the allocator applies it. */
function sharingRefusal(key: string, stack: StackServices, holder: ForeignService): string | undefined {
  const group = stack.groups.get(key);
  if (group !== undefined) {
    return `it is used by Service "${holder.key}", and Service "${key}" is in SharedIpGroup "${group}", whose address is reserved for its members`;
  }
  const request = stack.requests.get(key);
  const claimant = request === undefined ? undefined : sharingProfile(request);
  const held = sharingProfile(holder.request);
  if (claimant === undefined || held === undefined) {
    return `it is used by Service "${holder.key}", whose ports, traffic policy or sharing key cannot be read`;
  }
  return sharingConflict(claimant, held);
}

/** The stack's assignments (`"<ns>/<name>"` → comma-separated addresses) as canonical address lists. */
export function assignedAddresses(assignments: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (typeof assignments !== "object" || assignments === null || Array.isArray(assignments)) return out;
  for (const [key, ips] of Object.entries(assignments)) if (typeof ips === "string") out[key] = canonicalAddresses(ips);
  return out;
}
