// From one consistent view of the cluster to: which addresses may be announced at all, which
// nodes are candidates for each, and who wins. Pure: no I/O, no clock, no randomness, so every
// speaker holding the same view computes the same plan.
//
// Rules, in order, for each address a Service is assigned (annotation `l2lb.dev/load-balancer-ips`):
//  1. The address must lie in an AddressPool whose `serviceAllocation` admits the Service
//     (namespace, namespace labels, Service labels); otherwise it is refused ("OutsidePools" or
//     "PoolNotAllowed") — a Service can never make us answer for, say, the gateway.
//  2. Some L2Advertisement must select that pool; otherwise it is refused ("NotAdvertised").
//  3. Candidates are the live speakers' nodes that: exist; lack the label
//     `node.kubernetes.io/exclude-from-external-load-balancers`; are not NetworkUnavailable;
//     match the nodeSelectors of an advertisement selecting the pool; have an interface allowed
//     by that advertisement whose subnet contains the address; and — for every Service with
//     `externalTrafficPolicy: Local` using the address — run a ready endpoint of that Service.
//  4. The candidate with the lowest sha256(node + "#" + address) wins. Election is per address,
//     so Services sharing an address are always announced by the same node.
//
// No ready endpoint (Local policy): nobody announces the address. kube-proxy drops traffic for a
// Local Service on a node without a local endpoint, so announcing would only blackhole it; the
// address stays assigned (EXTERNAL-IP unchanged) and is announced again as soon as an endpoint
// becomes ready. Following kube-proxy, when no endpoint is ready anywhere, nodes with a serving
// but terminating endpoint count instead (graceful rollouts keep their address answered).
// Cluster policy announces regardless of endpoints: clients then get a fast refusal from
// kube-proxy instead of ARP timeouts, and ownership does not move with every rollout.
import { cidrContains, formatAddress, parseCidr, parseRange, tryParseAddress } from "../../provider/core/ip/index.ts";
import type { Address, Cidr, IpRange } from "../../provider/core/ip/index.ts";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import { exactSize } from "../../provider/core/model/exact-size.ts";
import type { AddressPool, GratuitousSettings, L2Advertisement } from "../../provider/core/model/pool.ts";
import { poolAdmits } from "../../provider/core/allocation/admission.ts";
import { advertisementSelectsNode, advertisementSelectsPool, allowedInterfaces, sameGratuitous } from "../../provider/core/allocation/advertisement.ts";
import { sharingConflict, type SharingProfile } from "../../provider/core/allocation/sharing.ts";
import { hash53, insertByRank, orderByRank } from "./rank.ts";

export { advertisementSelectsPool, allowedInterfaces } from "../../provider/core/allocation/advertisement.ts";
export { poolAdmits } from "../../provider/core/allocation/admission.ts";

/** Label that removes a node from every election (Kubernetes well-known label). */
export const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";

export interface NodeView {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Condition NetworkUnavailable is True. */
  networkUnavailable: boolean;
}

/** A speaker considered alive (liveness is decided by the caller) and the subnets it published. */
export interface SpeakerView {
  node: string;
  subnets: readonly PublishedSubnet[];
}

export interface ServiceView {
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Labels of the Service's namespace (for `namespaceSelectors`). */
  namespaceLabels: Readonly<Record<string, string>>;
  /** Raw value of the assignment annotation (comma-separated), or undefined. */
  assigned: string | undefined;
  /** `externalTrafficPolicy: Local`. */
  local: boolean;
  /** Nodes running a ready endpoint (see {@link endpointNodes}); only read when `local`. */
  endpointNodes: ReadonlySet<string>;
  /** What decides whether it may share an address; without it the Service shares with anyone. */
  sharing?: SharingProfile;
  /**
   * The in-cluster allocator made its assignment. Two assignments of one Pulumi stack are never
   * checked against each other: the stack's planner allowed them (a SharedIpGroup needs no key).
   */
  inCluster?: boolean;
  /**
   * Order of claims (lower first), see {@link claimOrder}: when two Services claim one address
   * without being allowed to share it, only the earlier claim is announced.
   */
  claim?: string;
}

/**
 * The claim order: assignments a Pulumi stack made come before in-cluster ones (a stack's
 * previewed address is what its reviewers approved), then the older Service, then by
 * `namespace/name`.
 */
export function claimOrder(inCluster: boolean, creationTimestamp: string, key: string): string {
  return `${inCluster ? 1 : 0}|${creationTimestamp}|${key}`;
}

export interface ClusterView {
  nodes: readonly NodeView[];
  speakers: readonly SpeakerView[];
  services: readonly ServiceView[];
  pools: readonly AddressPool[];
  advertisements: readonly L2Advertisement[];
}

export type RefusalReason = "InvalidAddress" | "OutsidePools" | "PoolNotAllowed" | "NotAdvertised" | "DuplicateFamily" | "Conflict";

export interface Refusal {
  service: string;
  ip: string;
  reason: RefusalReason;
  message: string;
}

export interface Candidate {
  node: string;
  /** Interfaces of that node to answer on (allowed by an advertisement, subnet contains the address). */
  interfaces: string[];
}

export type NoOwnerReason = "NoReadyEndpoint" | "NoEligibleNode" | "NoSubnet";

export interface AddressPlan {
  ip: string;
  /** Pool the address lies in. */
  pool: string;
  /** `namespace/name` of every Service announcing it, sorted. */
  services: string[];
  /** Eligible nodes, best first. */
  candidates: Candidate[];
  /** The winner (first candidate), if any. */
  owner: Candidate | undefined;
  /** Why nobody owns it, when `owner` is undefined. */
  noOwnerReason?: NoOwnerReason;
  /** Gratuitous settings of the first (by name) advertisement that lets the owner announce it. */
  gratuitous?: GratuitousSettings;
}

export interface Plan {
  /** One entry per valid address, sorted by address text. */
  addresses: AddressPlan[];
  /** Assignments that will never be announced, with the reason. */
  refusals: Refusal[];
  /** Per Service (`namespace/name`): its valid addresses. */
  serviceAddresses: Map<string, string[]>;
}

export function serviceKey(s: { namespace: string; name: string }): string {
  return `${s.namespace}/${s.name}`;
}

interface ParsedAssignment {
  ips: string[];
  invalid: string[];
  /** `ips` parsed, in the same order. */
  addresses: Address[];
}

const NOTHING_ASSIGNED: ParsedAssignment = { ips: [], invalid: [], addresses: [] };
const assignedMemo = new Map<string, ParsedAssignment>();

/** {@link parseAssigned}, remembered with the parsed addresses: every plan reads the same annotations again. */
export function parseAssignedMemo(value: string | undefined): ParsedAssignment {
  if (value === undefined) return NOTHING_ASSIGNED;
  let parsed = assignedMemo.get(value);
  if (parsed === undefined) {
    if (assignedMemo.size >= 100_000) assignedMemo.clear();
    const { ips, invalid } = parseAssigned(value);
    assignedMemo.set(value, (parsed = { ips, invalid, addresses: ips.map((ip) => tryParseAddress(ip) as Address) }));
  }
  return parsed;
}

/** Parses the comma-separated assignment annotation into canonical addresses, reporting junk. */
export function parseAssigned(value: string | undefined): { ips: string[]; invalid: string[] } {
  const ips: string[] = [];
  const invalid: string[] = [];
  for (const part of (value ?? "").split(",")) {
    const t = part.trim();
    if (t === "") continue;
    const parsed = tryParseAddress(t);
    if (parsed === undefined) invalid.push(t);
    else {
      const c = formatAddress(parsed);
      if (!ips.includes(c)) ips.push(c);
    }
  }
  return { ips: exactSize(ips), invalid };
}

interface ParsedPool {
  pool: AddressPool;
  ranges: IpRange[];
}

function parsePools(pools: readonly AddressPool[]): ParsedPool[] {
  const out: ParsedPool[] = [];
  for (const pool of [...pools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const ranges: IpRange[] = [];
    for (const text of pool.spec.addresses ?? []) {
      try {
        ranges.push(parseRange(text));
      } catch {
        // An unparsable range contributes no address (the provider rejects it at deploy time).
      }
    }
    out.push({ pool, ranges });
  }
  return out;
}

function inRanges(ranges: readonly IpRange[], a: Address): boolean {
  return ranges.some((r) => r.family === a.family && r.first <= a.value && a.value <= r.last);
}

/** A speaker's published subnets, parsed once per plan. */
interface ParsedSpeaker {
  speaker: SpeakerView;
  subnets: { subnet: PublishedSubnet; cidr: Cidr | undefined }[];
}

/** Subnets parsed per published list: a member's list is the same object while its record is unchanged. */
const parsedSubnets = new WeakMap<readonly PublishedSubnet[], ParsedSpeaker["subnets"]>();

function parseSpeaker(speaker: SpeakerView): ParsedSpeaker {
  let subnets = parsedSubnets.get(speaker.subnets);
  if (subnets === undefined) parsedSubnets.set(speaker.subnets, (subnets = speaker.subnets.map((subnet) => ({ subnet, cidr: tryParseCidr(subnet.cidr) }))));
  return { speaker, subnets };
}

function tryParseCidr(text: string): Cidr | undefined {
  try {
    return parseCidr(text, { allowHostBits: true });
  } catch {
    return undefined;
  }
}

/**
 * Nodes that run an endpoint of a Service for `externalTrafficPolicy: Local`, from its
 * EndpointSlices: nodes with a ready endpoint; if none is ready anywhere, nodes with a serving
 * (terminating) endpoint, as kube-proxy does.
 */
export function endpointNodes(
  endpoints: Iterable<{ nodeName?: string | undefined; conditions?: { ready?: boolean | null | undefined; serving?: boolean | null | undefined; terminating?: boolean | null | undefined } | undefined }>,
): Set<string> {
  const ready = new Set<string>();
  const serving = new Set<string>();
  for (const ep of endpoints) {
    if (ep.nodeName === undefined || ep.nodeName === "") continue;
    const c = ep.conditions ?? {};
    // Absent `ready` means ready (EndpointSlice API semantics).
    if (c.ready !== false && c.terminating !== true) ready.add(ep.nodeName);
    else if (c.serving === true) serving.add(ep.nodeName);
  }
  return ready.size > 0 ? ready : serving;
}

/** Why `svc` may not join the earlier claimants of an address, or `undefined`. */
function claimConflict(svc: ServiceView, holders: readonly ServiceView[]): string | undefined {
  if (svc.sharing === undefined) return undefined;
  for (const h of holders) {
    if (h.sharing === undefined || (svc.inCluster !== true && h.inCluster !== true)) continue;
    const why = sharingConflict(svc.sharing, h.sharing);
    if (why !== undefined) return why;
  }
  return undefined;
}

/** The speakers that may announce addresses of one pool on one set of subnets, with their interfaces. */
interface Eligible {
  /** By node name, before ranking; shared by every address of that pool and subnets. */
  candidates: Candidate[];
  /** Some speaker has a subnet containing the address. */
  sawSubnet: boolean;
  /** The gratuitous settings of the first advertisement that lets each candidate announce it. */
  gratuitousByNode: Map<string, GratuitousSettings | undefined>;
  /** Set by {@link PlanMemo}: the group's last eligible speakers, and the candidates new since. */
  mended?: { from: Eligible; added: readonly Candidate[]; dropped: readonly Candidate[] };
}

function eligibleSpeakers(
  speakers: readonly ParsedSpeaker[],
  nodesByName: ReadonlyMap<string, NodeView>,
  poolAds: readonly L2Advertisement[],
  address: Address,
  allowedOn: (ad: L2Advertisement, sp: ParsedSpeaker) => Set<string>,
): Eligible {
  const candidates: Candidate[] = [];
  const gratuitousByNode = new Map<string, GratuitousSettings | undefined>();
  let sawSubnet = false;
  for (const sp of speakers) {
    const node = nodesByName.get(sp.speaker.node);
    if (node === undefined) continue;
    if (Object.prototype.hasOwnProperty.call(node.labels, EXCLUDE_LABEL)) continue;
    if (node.networkUnavailable) continue;
    const onSubnet = sp.subnets.filter((s) => s.cidr !== undefined && s.cidr.family === address.family && cidrContains(s.cidr, address)).map((s) => s.subnet);
    if (onSubnet.length > 0) sawSubnet = true;
    const ifaces = new Set<string>();
    let gratuitous: GratuitousSettings | undefined;
    let matched = false;
    for (const ad of poolAds) {
      if (!advertisementSelectsNode(ad, node.labels)) continue;
      const allowed = allowedOn(ad, sp);
      let any = false;
      for (const s of onSubnet) {
        if (allowed.has(s.interface)) {
          ifaces.add(s.interface);
          any = true;
        }
      }
      if (any && !matched) {
        matched = true;
        gratuitous = ad.spec.gratuitous;
      }
    }
    if (ifaces.size === 0) continue;
    candidates.push({ node: node.name, interfaces: [...ifaces].sort() });
    gratuitousByNode.set(node.name, gratuitous);
  }
  return { candidates, sawSubnet, gratuitousByNode };
}

/** One assigned address of a Service, judged without the other Services. */
type AddressCheck = { refusal: Refusal } | { pool: ParsedPool };

/** A Service's assigned addresses judged without the other Services; `checks` follows the order of its addresses. */
interface ServiceChecks {
  key: string;
  invalid: Refusal[];
  checks: AddressCheck[];
}

/**
 * What a caller keeps between plans so that a plan costs what changed. An address whose pool,
 * Services, (for Local policy) endpoint nodes and eligible speakers are the same as last time keeps
 * its plan — the same object. When only the eligible speakers changed (a speaker joined or left,
 * a node was relabelled), its ranking is mended: the nodes that left are dropped and the few that
 * joined are inserted at their rank, instead of ranking every speaker again. Pools and
 * advertisements are compared by content on every plan; a change of either forgets everything.
 */
export class PlanMemo {
  /** Hash of the pools and advertisements everything kept was computed with. */
  private config = Number.NaN;
  private addresses = new Map<string, KeptAddress>();
  private next = new Map<string, KeptAddress>();
  /** The eligible speakers of each group (pool and subnets) in the last plan. */
  private eligible = new Map<string, Eligible>();
  private nextEligible = new Map<string, Eligible>();
  /** Per ServiceView object (the caller keeps the object of an unchanged Service): its checks. */
  private checks = new WeakMap<ServiceView, ServiceChecks>();
  private pools: ParsedPool[] | undefined;
  /** The Services in claim order and the addresses in order, as last planned. */
  readonly claimOrder = new KeptOrder<ServiceView>();
  readonly addressOrder = new KeptOrder<string>();

  /** Starts a plan: forgets everything when the view's pools or advertisements changed. */
  begin(view: ClusterView): void {
    const config = hash53(JSON.stringify([view.pools, view.advertisements]));
    if (config !== this.config) {
      this.checks = new WeakMap();
      this.pools = undefined;
      this.addresses.clear();
      this.eligible.clear();
    }
    this.config = config;
    this.next = new Map();
    this.nextEligible = new Map();
  }

  /** The pools parsed once while they are the same. */
  parsedPools(pools: readonly AddressPool[]): ParsedPool[] {
    return (this.pools ??= parsePools(pools));
  }

  /** A Service's checks, computed once per view object while the pools and advertisements are the same. */
  checksOf(svc: ServiceView, check: (svc: ServiceView) => ServiceChecks): ServiceChecks {
    let c = this.checks.get(svc);
    if (c === undefined) this.checks.set(svc, (c = check(svc)));
    return c;
  }

  /**
   * The eligible speakers of group `key` for this plan: the last plan's object when nothing in it
   * changed, else `fresh` with the last plan's candidate objects where a node and its interfaces
   * are the same (so that a ranking can be mended by object), and what changed.
   */
  settle(key: string, fresh: Eligible): Eligible {
    const before = this.eligible.get(key);
    const settled = before === undefined ? fresh : carryOver(before, fresh);
    this.nextEligible.set(key, settled);
    return settled;
  }

  /** The last plan of `ip` and what it was computed from. */
  kept(ip: string): KeptAddress | undefined {
    return this.addresses.get(ip);
  }

  keep(ip: string, inputs: AddressInputs, plan: AddressPlan): void {
    this.next.set(ip, { inputs, plan });
  }

  /** Ends a plan: only the addresses and groups it planned are kept. */
  end(): void {
    this.addresses = this.next;
    this.eligible = this.nextEligible;
    this.next = new Map();
    this.nextEligible = new Map();
  }
}

/**
 * Items sorted by a text key, kept from one plan to the next: when few items are new, only they
 * are sorted and merged into the last order (at 10,000 Services, sorting them all again was most
 * of a plan after one Service was created).
 */
export class KeptOrder<T> {
  private items: T[] = [];
  private keys: string[] = [];
  private members = new Set<T>();

  sort(items: readonly T[], keyOf: (item: T) => string): T[] {
    const now = new Set(items);
    const added = items.filter((item) => !this.members.has(item));
    const keyed = (list: readonly T[]): { key: string; item: T }[] => list.map((item) => ({ key: keyOf(item), item })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const outItems: T[] = [];
    const outKeys: string[] = [];
    // Many new items: sort them all, keeping nothing of the last order.
    const all = added.length > items.length / 4;
    const fresh = keyed(all ? items : added);
    let i = all ? this.items.length : 0;
    let j = 0;
    while (i < this.items.length || j < fresh.length) {
      const old = this.items[i] as T;
      if (i < this.items.length && !now.has(old)) {
        i++;
        continue;
      }
      const take = j >= fresh.length || (i < this.items.length && (this.keys[i] as string) <= (fresh[j] as { key: string }).key);
      if (take) {
        outItems.push(old);
        outKeys.push(this.keys[i++] as string);
      } else {
        const { key, item } = fresh[j++] as { key: string; item: T };
        outItems.push(item);
        outKeys.push(key);
      }
    }
    this.items = outItems;
    this.keys = outKeys;
    this.members = now;
    return outItems;
  }
}

interface KeptAddress {
  inputs: AddressInputs;
  plan: AddressPlan;
}

/** What an address's plan depends on (the pool and the eligible speakers: the memo's objects). */
interface AddressInputs {
  pool: ParsedPool;
  keys: readonly string[];
  /** The endpoint nodes of its Local Services, as text ("" without one). */
  endpoints: string;
  eligible: Eligible;
}

function addressInputs(pool: ParsedPool, keys: readonly string[], users: readonly ServiceView[], eligible: Eligible): AddressInputs {
  let endpoints = "";
  for (const u of users) if (u.local) endpoints += `|${[...u.endpointNodes].sort().join(",")}`;
  return { pool, keys, endpoints, eligible };
}

function sameInputs(a: AddressInputs, b: AddressInputs): boolean {
  return a.pool === b.pool && a.eligible === b.eligible && a.endpoints === b.endpoints && a.keys.length === b.keys.length && a.keys.every((k, i) => k === b.keys[i]);
}

function sameCandidate(a: Candidate, b: Candidate, ga: GratuitousSettings | undefined, gb: GratuitousSettings | undefined): boolean {
  if (a.node !== b.node || a.interfaces.length !== b.interfaces.length || !a.interfaces.every((x, i) => x === b.interfaces[i])) return false;
  return sameGratuitous(ga, gb);
}

/** `fresh`, with the candidate objects of `before` that did not change; `before` itself if nothing did. */
function carryOver(before: Eligible, fresh: Eligible): Eligible {
  const old = new Map(before.candidates.map((c) => [c.node, c]));
  let same = before.sawSubnet === fresh.sawSubnet && before.candidates.length === fresh.candidates.length;
  const candidates = fresh.candidates.map((c) => {
    const o = old.get(c.node);
    if (o !== undefined && sameCandidate(o, c, before.gratuitousByNode.get(c.node), fresh.gratuitousByNode.get(c.node))) return o;
    same = false;
    return c;
  });
  if (same) {
    delete before.mended;
    return before;
  }
  const kept = new Set(candidates);
  const added = candidates.filter((c) => old.get(c.node) !== c);
  const dropped = before.candidates.filter((c) => !kept.has(c));
  return { ...fresh, candidates, mended: { from: before, added, dropped } };
}

/** More speakers joining (or leaving) than this re-rank an address from scratch rather than mending it. */
const MEND_LIMIT = 8;

/**
 * The candidates of an address best first, mended from its last plan when only a few speakers
 * joined or left since (the same order {@link orderByRank} gives, at the cost of the change).
 */
function rankedCandidates(ip: string, candidates: readonly Candidate[], eligible: Eligible, kept: KeptAddress | undefined, local: boolean): Candidate[] {
  const mended = eligible.mended;
  if (local || mended === undefined || kept === undefined || kept.inputs.eligible !== mended.from || kept.inputs.endpoints !== "") return orderByRank(candidates, ip);
  if (mended.added.length > MEND_LIMIT || mended.dropped.length > MEND_LIMIT) return orderByRank(candidates, ip);
  const order = kept.plan.candidates.slice();
  for (const c of mended.dropped) {
    const at = order.indexOf(c);
    if (at >= 0) order.splice(at, 1);
  }
  for (const c of mended.added) insertByRank(order, c, ip);
  return order;
}

/** Each Service view's place in the claim order (its claim, then its key), kept per view object. */
const claimSortKeys = new WeakMap<ServiceView, string>();

function claimSortKey(s: ServiceView): string {
  let k = claimSortKeys.get(s);
  if (k === undefined) {
    const key = serviceKey(s);
    // NUL sorts first, so this orders by claim, then by key, as comparing the two in turn does.
    claimSortKeys.set(s, (k = `${s.claim ?? key}\u0000${key}`));
  }
  return k;
}

/**
 * Computes the whole plan. See the module comment for the rules. With a {@link PlanMemo} (kept by
 * the caller from one plan to the next) unchanged addresses keep their plan objects.
 */
export function planAddresses(view: ClusterView, memo?: PlanMemo): Plan {
  memo?.begin(view);
  const pools = memo?.parsedPools(view.pools) ?? parsePools(view.pools);
  const ads = [...view.advertisements].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const refusals: Refusal[] = [];
  const serviceAddresses = new Map<string, string[]>();
  // ip → { pool, services }
  const byIp = new Map<string, { pool: ParsedPool; services: ServiceView[]; keys: string[]; address: Address }>();
  // Pools whose addresses some advertisement announces, decided once per pool.
  const advertisedPools = new Map<ParsedPool, boolean>();
  const isAdvertised = (p: ParsedPool): boolean => {
    let yes = advertisedPools.get(p);
    if (yes === undefined) advertisedPools.set(p, (yes = ads.some((a) => advertisementSelectsPool(a, p.pool))));
    return yes;
  };

  // What each assigned address of a Service is, whatever the other Services: refused, or
  // claimable from a pool (conflicts between claims are decided below, per plan).
  const checkService = (svc: ServiceView): ServiceChecks => {
    const key = serviceKey(svc);
    const { ips, invalid, addresses: parsedIps } = parseAssignedMemo(svc.assigned);
    const checks = ips.map((ip, i): AddressCheck => {
      const parsed = parsedIps[i] as Address;
      const containing = pools.filter((p) => inRanges(p.ranges, parsed));
      if (containing.length === 0) return { refusal: { service: key, ip, reason: "OutsidePools", message: `${ip} is not in any AddressPool; it will not be announced` } };
      const admitting = containing.filter((p) => poolAdmits(p.pool, svc));
      if (admitting.length === 0) return { refusal: { service: key, ip, reason: "PoolNotAllowed", message: `${ip} is in AddressPool ${containing.map((p) => p.pool.name).join(", ")}, which does not serve ${key}` } };
      const advertised = admitting.find(isAdvertised);
      if (advertised === undefined) return { refusal: { service: key, ip, reason: "NotAdvertised", message: `no L2Advertisement selects AddressPool ${admitting.map((p) => p.pool.name).join(", ")} of ${ip}` } };
      return { pool: advertised };
    });
    return { key, invalid: invalid.map((bad) => ({ service: key, ip: bad, reason: "InvalidAddress", message: `"${bad}" in ${key} is not an IP address` })), checks };
  };

  const services = memo?.claimOrder.sort(view.services, claimSortKey) ?? [...view.services].sort((a, b) => (claimSortKey(a) < claimSortKey(b) ? -1 : 1));
  for (const svc of services) {
    const { key, invalid, checks } = memo?.checksOf(svc, checkService) ?? checkService(svc);
    for (const r of invalid) refusals.push(r);
    const { ips, addresses: parsedIps } = parseAssignedMemo(svc.assigned);
    const valid: string[] = [];
    // Families taken so far (bit 1: IPv4, bit 2: IPv6): no set per Service, as this runs for every one on every plan.
    let families = 0;
    for (let i = 0; i < ips.length; i++) {
      const ip = ips[i] as string;
      const fam = ip.includes(":") ? "6" : "4";
      const bit = fam === "6" ? 2 : 1;
      if ((families & bit) !== 0) {
        refusals.push({ service: key, ip, reason: "DuplicateFamily", message: `${key} is assigned more than one IPv${fam} address; only the first, ${valid.find((v) => (v.includes(":") ? "6" : "4") === fam)}, is announced` });
        continue;
      }
      const check = checks[i] as AddressCheck;
      if ("refusal" in check) {
        refusals.push(check.refusal);
        continue;
      }
      const entry = byIp.get(ip);
      const conflict = entry === undefined ? undefined : claimConflict(svc, entry.services);
      if (conflict !== undefined) {
        refusals.push({ service: key, ip, reason: "Conflict", message: `${ip} of ${key} is not announced: ${conflict}; the earlier claim keeps it. Give the Services one sharing key with distinct ports and compatible traffic policies, or move one of them.` });
        continue;
      }
      families |= bit;
      valid.push(ip);
      if (entry === undefined) byIp.set(ip, { pool: check.pool, services: [svc], keys: [key], address: parsedIps[i] as Address });
      else {
        entry.services.push(svc);
        entry.keys.push(key);
      }
    }
    serviceAddresses.set(key, valid);
  }

  const nodesByName = new Map(view.nodes.map((n) => [n.name, n]));
  const speakers = [...view.speakers].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)).map(parseSpeaker);
  // Interfaces an advertisement allows on a speaker: the same for every address, computed once.
  const allowedCache = new Map<string, Set<string>>();
  const allowedOn = (ad: L2Advertisement, sp: ParsedSpeaker): Set<string> => {
    const key = `${ad.name}\u0000${sp.speaker.node}`;
    let allowed = allowedCache.get(key);
    if (allowed === undefined) allowedCache.set(key, (allowed = allowedInterfaces(ad.spec.interfaces, sp.speaker.subnets)));
    return allowed;
  };
  // Who may announce an address depends on its pool and on which speaker subnets contain it, not
  // on the address itself: computed once per (pool, subnets containing it), the speakers × addresses
  // loop becomes speakers × (pools × distinct subnets), and only the ranking is per address.
  const distinctCidrs = [...new Map(speakers.flatMap((sp) => sp.subnets).flatMap((s) => (s.cidr === undefined ? [] : [[`${s.subnet.cidr}`, s.cidr] as const])))];
  const poolAdsCache = new Map<string, L2Advertisement[]>();
  const eligibleCache = new Map<string, Eligible>();
  const eligibleFor = (pool: ParsedPool, address: Address): Eligible => {
    let key = pool.pool.name;
    for (const [text, c] of distinctCidrs) if (c.family === address.family && cidrContains(c, address)) key += `\u0000${text}`;
    let e = eligibleCache.get(key);
    if (e === undefined) {
      let poolAds = poolAdsCache.get(pool.pool.name);
      if (poolAds === undefined) poolAdsCache.set(pool.pool.name, (poolAds = ads.filter((a) => advertisementSelectsPool(a, pool.pool))));
      e = eligibleSpeakers(speakers, nodesByName, poolAds, address, allowedOn);
      eligibleCache.set(key, (e = memo?.settle(key, e) ?? e));
    }
    return e;
  };
  const addresses: AddressPlan[] = [];
  const ips = [...byIp.keys()];
  for (const ip of memo?.addressOrder.sort(ips, (x) => x) ?? ips.sort()) {
    const { pool, services: users, keys, address } = byIp.get(ip) as { pool: ParsedPool; services: ServiceView[]; keys: string[]; address: Address };
    if (keys.length > 1) keys.sort();
    const eligible = eligibleFor(pool, address);
    const inputs = addressInputs(pool, keys, users, eligible);
    const kept = memo?.kept(ip);
    const plan = kept !== undefined && sameInputs(kept.inputs, inputs) ? kept.plan : planAddress(ip, keys, users, pool, eligible, kept);
    memo?.keep(ip, inputs, plan);
    addresses.push(plan);
  }
  memo?.end();
  return { addresses, refusals, serviceAddresses };
}

/** One address's candidates (Local policy applied), ranked, and its owner. */
function planAddress(ip: string, keys: string[], users: readonly ServiceView[], pool: ParsedPool, eligible: Eligible, kept: KeptAddress | undefined): AddressPlan {
  let candidates = eligible.candidates;
  let sawEndpointless = false;
  const local = users.some((u) => u.local);
  if (local) {
    const locals = users.filter((u) => u.local);
    candidates = candidates.filter((c) => locals.every((u) => u.endpointNodes.has(c.node)));
    sawEndpointless = candidates.length < eligible.candidates.length;
  }
  const ordered = rankedCandidates(ip, candidates, eligible, kept, local);
  const owner = ordered[0];
  const plan: AddressPlan = { ip, pool: pool.pool.name, services: keys, candidates: ordered, owner };
  if (owner === undefined) {
    plan.noOwnerReason = sawEndpointless ? "NoReadyEndpoint" : eligible.sawSubnet ? "NoEligibleNode" : "NoSubnet";
  } else {
    const g = eligible.gratuitousByNode.get(owner.node);
    if (g !== undefined) plan.gratuitous = g;
  }
  return plan;
}
