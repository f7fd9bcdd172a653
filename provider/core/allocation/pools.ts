/**
 * Pools compiled for allocation: validated, parsed into sorted bigint ranges, with every
 * exclusion (CIDR ends, IPv4 .0/.255 when avoiding buggy IPs, IPv6 subnet anycast addresses,
 * node subnets' network and broadcast addresses, node addresses) expressed arithmetically. Nothing enumerates a pool:
 * sizes are computed, and first-fit walks forward from a cursor that never moves back.
 */
import { familyName, formatAddress, IpError, parseCidr, parseRange, rangesOverlap, reservedOfSubnet, tryParseAddress } from "../ip/index.ts";
import type { Address, Cidr, Family, IpRange } from "../ip/index.ts";
import type { AddressPool } from "../model/pool.ts";
import { admissionRefusal, poolAdmits as admits, type AdmissionSubject } from "./admission.ts";
import { selectorProblems } from "./selectors.ts";
import type { ConfigProblem, ServiceRequest } from "./types.ts";

/** One entry of a pool's `spec.addresses`, parsed. */
export interface PoolRange extends IpRange {
  pool: string;
  /** Index in `spec.addresses`. */
  entry: number;
  /** The text as written. */
  text: string;
  /** First and last address are not handed out (CIDR shorter than /31 or /127 without allowFirstLastIPs). */
  skipEnds: boolean;
}

export interface CompiledPool {
  name: string;
  source: AddressPool;
  autoAssign: boolean;
  avoidBuggyIPs: boolean;
  /** Has a serviceAllocation: only matching Services may use it, and it is tried before plain pools. */
  pinned: boolean;
  /** serviceAllocation.priority; 0 = unset (lowest precedence among pinned pools). */
  priority: number;
  /** Sorted by family, then first address. */
  ranges: PoolRange[];
  families: Set<Family>;
  /** Usable addresses after every exclusion. */
  size: bigint;
}

/** Addresses no pool may hand out, with the reason, per family. */
export interface Exclusions {
  reasons: Map<Family, Map<bigint, string>>;
  /** Sorted values, for counting the exclusions inside a range. */
  sorted: Map<Family, bigint[]>;
  subnets: (Cidr & { text: string })[];
  /** The nodes' own addresses (given, or written in a node subnet), sorted by family and value, once each. */
  nodeAddresses: Address[];
}

export const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Parses node subnets and node addresses into exclusions; bad entries become problems. */
export function compileExclusions(nodeSubnets: readonly string[], nodeAddresses: readonly string[], problems: ConfigProblem[]): Exclusions {
  const reasons = new Map<Family, Map<bigint, string>>([
    [4, new Map()],
    [6, new Map()],
  ]);
  const subnets: Exclusions["subnets"] = [];
  const own: Address[] = [];
  nodeSubnets.forEach((text, i) => {
    try {
      const cidr = parseCidr(text, { allowHostBits: true });
      const canonical = `${formatAddress({ family: cidr.family, value: cidr.network })}/${cidr.prefixLength}`;
      subnets.push({ family: cidr.family, network: cidr.network, prefixLength: cidr.prefixLength, text: canonical });
      const reserved = reservedOfSubnet(cidr);
      reserved.forEach((a, k) => {
        const what = cidr.family === 6 ? "Subnet-Router anycast address" : k === 0 ? "network address" : "broadcast address";
        if (!reasons.get(a.family)!.has(a.value)) reasons.get(a.family)!.set(a.value, `it is the ${what} of node subnet ${canonical}`);
      });
      if (cidr.address !== cidr.network) {
        reasons.get(cidr.family)!.set(cidr.address, `it is a node's own address (${text})`);
        own.push({ family: cidr.family, value: cidr.address });
      }
    } catch (e) {
      problems.push({
        object: `Node subnet "${String(text)}"`,
        field: `nodeSubnets[${i}]`,
        message: `Node subnet "${String(text)}" is invalid: ${(e as Error).message} Pass subnets as CIDRs, e.g. 192.168.28.0/24.`,
      });
    }
  });
  nodeAddresses.forEach((text, i) => {
    const a = tryParseAddress(text);
    if (a === undefined) {
      problems.push({
        object: `Node address "${String(text)}"`,
        field: `nodeAddresses[${i}]`,
        message: `Node address "${String(text)}" is not an IPv4 or IPv6 address; fix the Node's status.addresses or remove the entry.`,
      });
      return;
    }
    reasons.get(a.family)!.set(a.value, `it is a node's own address`);
    own.push(a);
  });
  const sorted = new Map<Family, bigint[]>();
  for (const [f, m] of reasons) sorted.set(f, [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  subnets.sort((a, b) => a.family - b.family || (a.network < b.network ? -1 : a.network > b.network ? 1 : a.prefixLength - b.prefixLength));
  own.sort((a, b) => a.family - b.family || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
  const ownOnce = own.filter((a, i) => i === 0 || a.family !== own[i - 1]!.family || a.value !== own[i - 1]!.value);
  return { reasons, sorted, subnets, nodeAddresses: ownOnce };
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** Number of x in [first, last] with x mod 256 = r. */
function countResidue(first: bigint, last: bigint, r: bigint): bigint {
  if (last < first) return 0n;
  return floorDiv(last - r, 256n) - floorDiv(first - 1n - r, 256n);
}

function isBuggy(family: Family, value: bigint): boolean {
  if (family !== 4) return false;
  const low = value & 0xffn;
  return low === 0n || low === 255n;
}

/** Number of interface IDs of an IPv6 /64 (its low 64 bits). */
const IID_SPAN = 1n << 64n;
/**
 * RFC 2526 reserves the 128 highest interface IDs of every subnet with 64-bit (EUI-64 format)
 * interface IDs as subnet anycast addresses: fdff:ffff:ffff:ff80 to fdff:ffff:ffff:ffff (the
 * universal/local bit is 0, hence fdff, not ffff). Routers and Mobile IPv6 home agents answer
 * them, so a Service must never get one. Pools do not say the prefix of their link, and IPv6
 * links are /64 in practice, so they are excluded in every /64 of every pool — like IPv4 .0/.255
 * under avoidBuggyIPs, as arithmetic, never enumerated. (The Subnet-Router anycast address, the
 * interface ID 0 of RFC 4291 §2.6.1, is excluded where the subnet is known: as the first address
 * of a CIDR shorter than /127 and as the network address of a node subnet; a /127 has none, RFC 6164.)
 */
const SUBNET_ANYCAST_FIRST = 0xfdff_ffff_ffff_ff80n;
const SUBNET_ANYCAST_LAST = 0xfdff_ffff_ffff_ffffn;

function isSubnetAnycast(family: Family, value: bigint): boolean {
  if (family !== 6) return false;
  const iid = value & (IID_SPAN - 1n);
  return iid >= SUBNET_ANYCAST_FIRST && iid <= SUBNET_ANYCAST_LAST;
}

/** Number of x in [0, n] whose interface ID lies in the subnet anycast window (0 for n < 0). */
function subnetAnycastUpTo(n: bigint): bigint {
  if (n < 0n) return 0n;
  const width = SUBNET_ANYCAST_LAST - SUBNET_ANYCAST_FIRST + 1n;
  const partial = (n % IID_SPAN) - SUBNET_ANYCAST_FIRST + 1n;
  return (n / IID_SPAN) * width + (partial < 0n ? 0n : partial > width ? width : partial);
}

/** Number of subnet anycast addresses (RFC 2526) in [first, last]. */
function countSubnetAnycast(first: bigint, last: bigint): bigint {
  return last < first ? 0n : subnetAnycastUpTo(last) - subnetAnycastUpTo(first - 1n);
}

/** Lower bound in a sorted bigint array. */
function lowerBound(arr: readonly bigint[], v: bigint): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((arr[mid] as bigint) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Why `value` in `range` of `pool` may not be handed out, or `undefined` when it may. */
export function exclusionReason(pool: CompiledPool, range: PoolRange, value: bigint, ex: Exclusions): string | undefined {
  if (range.skipEnds && (value === range.first || value === range.last)) {
    return `it is the ${value === range.first ? "first" : "last"} address of ${range.text} in pool "${pool.name}" (set allowFirstLastIPs on the pool to use it)`;
  }
  if (pool.avoidBuggyIPs && isBuggy(range.family, value)) {
    return `it ends in .${(value & 0xffn).toString()} and pool "${pool.name}" avoids buggy IPs (avoidBuggyIPs)`;
  }
  if (isSubnetAnycast(range.family, value)) {
    return `it is a reserved subnet anycast address (RFC 2526: interface IDs fdff:ffff:ffff:ff80 to fdff:ffff:ffff:ffff of every /64), which routers answer`;
  }
  return ex.reasons.get(range.family)?.get(value);
}

function usableCount(pool: { avoidBuggyIPs: boolean }, range: PoolRange, ex: Exclusions): bigint {
  let total = range.last - range.first + 1n;
  const buggy = pool.avoidBuggyIPs && range.family === 4;
  if (buggy) total -= countResidue(range.first, range.last, 0n) + countResidue(range.first, range.last, 255n);
  if (range.family === 6) total -= countSubnetAnycast(range.first, range.last);
  const extra = new Set<bigint>();
  if (range.skipEnds) {
    extra.add(range.first);
    extra.add(range.last);
  }
  const pts = ex.sorted.get(range.family) ?? [];
  for (let i = lowerBound(pts, range.first); i < pts.length && (pts[i] as bigint) <= range.last; i++) extra.add(pts[i] as bigint);
  for (const v of extra) if (!(buggy && isBuggy(range.family, v)) && !isSubnetAnycast(range.family, v)) total -= 1n;
  return total;
}

/** The problem of range `r` overlapping `other` (of the same pool or another one). */
export function overlapProblem(r: PoolRange, other: PoolRange): ConfigProblem {
  const which = other.pool === r.pool ? `its own spec.addresses[${other.entry}]` : `AddressPool "${other.pool}" spec.addresses[${other.entry}]`;
  return {
    object: `AddressPool "${r.pool}"`,
    field: `spec.addresses[${r.entry}]`,
    message: `AddressPool "${r.pool}" spec.addresses[${r.entry}] (${r.text}) overlaps ${which} (${other.text}); an address may belong to one range of one pool only — shrink or remove one of them.`,
  };
}

/** True when a pool has a serviceAllocation (and so is "pinned" in MetalLB's words). */
function isPinned(p: AddressPool): boolean {
  return p.spec.serviceAllocation !== undefined && p.spec.serviceAllocation !== null;
}

/**
 * Validates and compiles pools. Problems: missing or invalid or duplicate names, bad addresses
 * (syntax, host bits, prefix lengths, start after end, mixed families), overlaps within and across
 * pools, ranges outside every node subnet (when subnets are known), bad serviceAllocation.
 */
export function compilePools(pools: readonly AddressPool[], ex: Exclusions, problems: ConfigProblem[]): CompiledPool[] {
  const compiled: CompiledPool[] = [];
  const seen = new Map<string, number>();
  pools.forEach((pool, index) => {
    const name = typeof pool?.name === "string" ? pool.name : "";
    const object = name ? `AddressPool "${name}"` : `AddressPool #${index + 1}`;
    const add = (field: string, message: string): void => {
      problems.push({ object, field, message });
    };
    if (!name) {
      add("metadata.name", `${object} has no name; give it a metadata.name.`);
      return;
    }
    if (!DNS_NAME.test(name) || name.length > 253) {
      add("metadata.name", `${object} has an invalid name; use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit.`);
    }
    if (seen.has(name)) {
      add("metadata.name", `${object} is defined twice; rename or remove one of the definitions.`);
      return;
    }
    seen.set(name, index);
    const spec = pool.spec as unknown as Record<string, unknown> | undefined;
    if (spec === undefined || spec === null || typeof spec !== "object") {
      add("spec", `${object} has no spec; add spec.addresses.`);
      return;
    }
    for (const flag of ["autoAssign", "avoidBuggyIPs", "allowFirstLastIPs"]) {
      if (spec[flag] !== undefined && typeof spec[flag] !== "boolean") {
        add(`spec.${flag}`, `${object} spec.${flag} is ${JSON.stringify(spec[flag])}; write true or false (unquoted).`);
      }
    }
    const addresses = spec.addresses;
    if (typeof addresses === "string") {
      add("spec.addresses", `${object} spec.addresses is a single string; make it a list, e.g. addresses: ["${addresses}"].`);
      return;
    }
    if (!Array.isArray(addresses) || addresses.length === 0) {
      add("spec.addresses", `${object} has no addresses; list at least one address, CIDR or first-last range in spec.addresses.`);
      return;
    }
    const allowEnds = spec.allowFirstLastIPs === true;
    const ranges: PoolRange[] = [];
    addresses.forEach((text: unknown, entry: number) => {
      const field = `spec.addresses[${entry}]`;
      if (typeof text !== "string") {
        add(field, `${object} ${field} is ${JSON.stringify(text)}; write it as a string such as "192.0.2.0/28".`);
        return;
      }
      try {
        const r = parseRange(text);
        const fullBits = r.family === 4 ? 31 : 127;
        const skipEnds = r.kind === "cidr" && !allowEnds && (r.prefixLength ?? 0) < fullBits;
        ranges.push({ ...r, pool: name, entry, text: text.trim(), skipEnds });
      } catch (e) {
        if (!(e instanceof IpError)) throw e;
        add(field, `${object} ${field}: ${e.message}`);
      }
    });
    const sa = spec.serviceAllocation as Record<string, unknown> | undefined | null;
    let priority = 0;
    if (sa !== undefined && sa !== null) {
      if (typeof sa !== "object" || Array.isArray(sa)) {
        add("spec.serviceAllocation", `${object} spec.serviceAllocation must be an object with priority, namespaces, namespaceSelectors or serviceSelectors.`);
      } else {
        if (sa.priority !== undefined) {
          if (typeof sa.priority !== "number" || !Number.isInteger(sa.priority) || sa.priority < 0) {
            add("spec.serviceAllocation.priority", `${object} spec.serviceAllocation.priority is ${JSON.stringify(sa.priority)}; use a whole number ≥ 0 (lower is tried first, 0 means lowest).`);
          } else priority = sa.priority;
        }
        if (sa.namespaces !== undefined && (!Array.isArray(sa.namespaces) || sa.namespaces.some((n) => typeof n !== "string" || n === ""))) {
          add("spec.serviceAllocation.namespaces", `${object} spec.serviceAllocation.namespaces must be a list of namespace names.`);
        }
        for (const key of ["namespaceSelectors", "serviceSelectors"]) {
          const list = sa[key];
          if (list === undefined) continue;
          if (!Array.isArray(list)) {
            add(`spec.serviceAllocation.${key}`, `${object} spec.serviceAllocation.${key} must be a list of label selectors.`);
            continue;
          }
          list.forEach((sel, i) => {
            for (const p of selectorProblems(sel, `spec.serviceAllocation.${key}[${i}]`)) add(p.field, `${object} ${p.message}`);
          });
        }
      }
    }
    ranges.sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    const c: CompiledPool = {
      name,
      source: pool,
      autoAssign: spec.autoAssign !== false,
      avoidBuggyIPs: spec.avoidBuggyIPs === true,
      pinned: isPinned(pool),
      priority,
      ranges,
      families: new Set(ranges.map((r) => r.family)),
      size: 0n,
    };
    c.size = ranges.reduce((sum, r) => sum + usableCount(c, r, ex), 0n);
    compiled.push(c);
  });

  // Overlaps, within and across pools: sort every range, compare neighbours (and the running max).
  const all = compiled.flatMap((p) => p.ranges);
  all.sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0) || a.pool.localeCompare(b.pool) || a.entry - b.entry);
  let widest: PoolRange | undefined;
  for (const r of all) {
    if (widest !== undefined && rangesOverlap(widest, r)) problems.push(overlapProblem(r, widest));
    if (widest === undefined || widest.family !== r.family || r.last > widest.last) widest = r;
  }

  // Node subnets: when known, each range must lie inside one of them.
  if (ex.subnets.length > 0) {
    for (const r of all) {
      const inside = ex.subnets.some((s) => {
        if (s.family !== r.family) return false;
        const mask = (1n << BigInt((s.family === 4 ? 32 : 128) - s.prefixLength)) - 1n;
        return r.first >= s.network && r.last <= (s.network | mask);
      });
      if (!inside) {
        const same = ex.subnets.filter((s) => s.family === r.family).map((s) => s.text);
        const known = same.length > 0 ? `the node subnets are ${same.join(", ")}` : `no ${familyName(r.family)} node subnet is known`;
        problems.push({
          object: `AddressPool "${r.pool}"`,
          field: `spec.addresses[${r.entry}]`,
          message: `AddressPool "${r.pool}" spec.addresses[${r.entry}] (${r.text}) lies outside every node subnet (${known}); layer-2 announcements only reach hosts on the nodes' own subnets — use addresses from one of them, or declare the missing subnet.`,
        });
      }
    }
  }
  compiled.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return compiled;
}

function subject(svc: ServiceRequest, namespaceLabels: Record<string, Record<string, string>>): AdmissionSubject {
  return { namespace: svc.namespace, labels: svc.labels, namespaceLabels: namespaceLabels[svc.namespace] };
}

/** True when the pool's serviceAllocation admits the Service (namespace AND selectors must match). */
export function poolAdmits(pool: CompiledPool, svc: ServiceRequest, namespaceLabels: Record<string, Record<string, string>>): boolean {
  return admits(pool.source, subject(svc, namespaceLabels));
}

/** Why the pool does not admit the Service, as a clause. */
export function admitRefusal(pool: CompiledPool, svc: ServiceRequest, namespaceLabels: Record<string, Record<string, string>>): string {
  const sa = pool.source.spec.serviceAllocation;
  switch (admissionRefusal(pool.source, subject(svc, namespaceLabels))) {
    case undefined:
      return "";
    case "namespaces":
      return `pool "${pool.name}" serves only namespaces ${sa?.namespaces?.join(", ")}`;
    case "namespaceSelectors":
      return `the labels of namespace "${svc.namespace}" match none of pool "${pool.name}"'s namespaceSelectors`;
    case "serviceSelectors":
      return `the Service's labels match none of pool "${pool.name}"'s serviceSelectors`;
  }
}

/** Index of every range of every pool, for finding the range that holds an address. */
export class RangeIndex {
  private readonly byFamily = new Map<Family, PoolRange[]>();
  constructor(pools: readonly CompiledPool[]) {
    for (const f of [4, 6] as const) {
      this.byFamily.set(
        f,
        pools.flatMap((p) => p.ranges.filter((r) => r.family === f)).sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0)),
      );
    }
  }
  /** The range containing the address (ranges never overlap once validated). */
  find(family: Family, value: bigint): PoolRange | undefined {
    const arr = this.byFamily.get(family) ?? [];
    let lo = 0;
    let hi = arr.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = arr[mid] as PoolRange;
      if (value < r.first) hi = mid - 1;
      else if (value > r.last) lo = mid + 1;
      else return r;
    }
    return undefined;
  }
}

/**
 * First-fit over one family of one pool. The cursor only moves forward: everything below it is
 * unusable or taken, and nothing is released during a plan, so each call costs O(addresses
 * skipped), and a whole plan costs O(services + exclusions) per pool — never the pool size.
 */
export class FirstFit {
  private rangeIndex = 0;
  private cursor: bigint | undefined;
  private readonly ranges: PoolRange[];
  private readonly pool: CompiledPool;
  private readonly ex: Exclusions;
  private readonly taken: (value: bigint) => boolean;
  readonly family: Family;
  constructor(pool: CompiledPool, family: Family, ex: Exclusions, taken: (value: bigint) => boolean) {
    this.pool = pool;
    this.family = family;
    this.ex = ex;
    this.taken = taken;
    this.ranges = pool.ranges.filter((r) => r.family === family);
  }
  /** Lowest usable, untaken address, or `undefined` when the family is exhausted. Does not take it. */
  peek(): bigint | undefined {
    while (this.rangeIndex < this.ranges.length) {
      const r = this.ranges[this.rangeIndex] as PoolRange;
      let v = this.cursor === undefined || this.cursor < r.first ? r.first : this.cursor;
      while (v <= r.last) {
        if (exclusionReason(this.pool, r, v, this.ex) !== undefined || this.taken(v)) {
          v += 1n;
          continue;
        }
        this.cursor = v;
        return v;
      }
      this.rangeIndex++;
      this.cursor = undefined;
    }
    return undefined;
  }
}
