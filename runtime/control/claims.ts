// What a heartbeat says about the addresses its sender answers for. Pure.
//
// With the ring (ring-membership.ts) a speaker needs a peer's claims only for the addresses it
// waits to take, and it always asks the peers that might hold them first. So its queries carry
// an `AddressFilter` of the addresses it wants, and a reply carries only the sender's claims the
// filter lets through: a heartbeat stays a few kilobytes whether a node answers for ten addresses
// or ten thousand (all of them in every datagram were 60 KB at 3,300 IPv6 addresses, at the
// limit of a UDP datagram). A reply holds at most MAX_CLAIMS_PER_MESSAGE addresses; when more
// pass the filter it says where it stopped (`cut`), and the asker counts every address after the
// cut as still claimed. Plain heartbeats to a monitor carry no claims. With the mesh every
// heartbeat carries every claim, as peers there never ask.

/** The most claims one datagram carries (about 20 KB of IPv6 text). */
export const MAX_CLAIMS_PER_MESSAGE = 1000;

const MIN_BITS = 256;
const MAX_BITS = 32_768;

/** Two independent 32-bit hashes of an address (FNV-1a, then a murmur finaliser of it). */
function hashes(ip: string): [number, number] {
  let h = 0x811c9dc5;
  for (let i = 0; i < ip.length; i++) h = Math.imul(h ^ ip.charCodeAt(i), 0x01000193);
  let g = h ^ (h >>> 16);
  g = Math.imul(g, 0x85ebca6b);
  g ^= g >>> 13;
  g = Math.imul(g, 0xc2b2ae35);
  g ^= g >>> 16;
  return [h >>> 0, (g | 1) >>> 0];
}

/**
 * A Bloom filter of addresses: never a false negative, so a reply filtered by it leaves out no
 * claim the asker wants; a false positive only adds a claim it does not need.
 */
export class AddressFilter {
  private readonly bits: Uint8Array;
  private readonly k: number;
  private encoded: { w: string; k: number } | undefined;

  private constructor(bits: Uint8Array, k: number) {
    this.bits = bits;
    this.k = k;
  }

  /** About ten bits per address, between 256 and 32,768 bits (4 KB). */
  static of(ips: Iterable<string>): AddressFilter {
    const list = [...ips];
    let m = MIN_BITS;
    while (m < list.length * 10 && m < MAX_BITS) m *= 2;
    const k = Math.min(8, Math.max(1, Math.round((m / Math.max(1, list.length)) * Math.LN2)));
    const f = new AddressFilter(new Uint8Array(m / 8), k);
    for (const ip of list) f.add(ip);
    return f;
  }

  /** A filter as a query carries it; undefined when malformed. */
  static decode(w: unknown, k: unknown): AddressFilter | undefined {
    if (typeof w !== "string" || typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > 8) return undefined;
    const bits = Buffer.from(w, "base64");
    const m = bits.length * 8;
    if (m < MIN_BITS || m > MAX_BITS || (m & (m - 1)) !== 0) return undefined;
    const f = new AddressFilter(new Uint8Array(bits), k);
    f.encoded = { w, k };
    return f;
  }

  encode(): { w: string; k: number } {
    this.encoded ??= { w: Buffer.from(this.bits).toString("base64"), k: this.k };
    return this.encoded;
  }

  has(ip: string): boolean {
    const mask = this.bits.length * 8 - 1;
    const [h1, h2] = hashes(ip);
    for (let i = 0; i < this.k; i++) {
      const bit = (h1 + Math.imul(i, h2)) & mask;
      if ((this.bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    }
    return true;
  }

  private add(ip: string): void {
    const mask = this.bits.length * 8 - 1;
    const [h1, h2] = hashes(ip);
    for (let i = 0; i < this.k; i++) {
      const bit = (h1 + Math.imul(i, h2)) & mask;
      this.bits[bit >>> 3]! |= 1 << (bit & 7);
    }
  }
}

/** The claims one message carries: `cut` set when it stopped at MAX_CLAIMS_PER_MESSAGE. */
export interface ClaimsPart {
  claims: string[];
  /** The last claim included; the sender may claim any wanted address sorting after it. */
  cut?: string;
}

/** A peer's claims as one message told them: does it (maybe) answer `ip`? */
export function claimsMayInclude(part: ClaimsPart, ip: string): boolean {
  return (part.cut !== undefined && ip > part.cut) || part.claims.includes(ip);
}

/** Up to the cap of `sorted` that pass `filter`. */
export function filteredClaims(sorted: readonly string[], filter: AddressFilter): ClaimsPart {
  const claims: string[] = [];
  for (const ip of sorted) {
    if (!filter.has(ip)) continue;
    if (claims.length === MAX_CLAIMS_PER_MESSAGE) return { claims, cut: claims[claims.length - 1] };
    claims.push(ip);
  }
  return { claims };
}

/** A peer's filter is forgotten this long after its last query. */
const FILTER_TTL_MS = 60_000;

/**
 * The sending side: this node's claims, the filter of its own interest (sent with its queries),
 * and each asking peer's latest filter (its replies and follow-up heartbeats are cut to it).
 */
export class ClaimsBook {
  private sorted: string[] = [];
  private readonly filters = new Map<string, { filter: AddressFilter; at: number; part?: ClaimsPart }>();
  private interestFilter: AddressFilter | undefined;
  private interestKeys = new Set<string>();
  /** Bumped on every change of the interest: a reply proves claims only for the interest its query carried. */
  interestVersion = 0;
  /** Every message carries every claim (mesh: peers never ask). */
  private readonly full: boolean;

  constructor(full: boolean) {
    this.full = full;
  }

  /** Sets this node's claims; true when they changed. */
  set(claims: readonly string[]): boolean {
    const sorted = [...claims].sort();
    const changed = sorted.length !== this.sorted.length || sorted.some((c, i) => c !== this.sorted[i]);
    if (!changed) return false;
    this.sorted = sorted;
    for (const f of this.filters.values()) delete f.part;
    return true;
  }

  /** Leaving: nothing is claimed any more. */
  clear(): void {
    this.set([]);
  }

  /** The addresses this node waits to hear about; returns the interest version that covers them. */
  setInterest(ips: ReadonlySet<string>): number {
    const same = ips.size === this.interestKeys.size && [...ips].every((ip) => this.interestKeys.has(ip));
    if (same) return this.interestVersion;
    this.interestKeys = new Set(ips);
    this.interestFilter = ips.size > 0 ? AddressFilter.of(ips) : undefined;
    return ++this.interestVersion;
  }

  /** The filter this node's queries carry. */
  interest(): AddressFilter | undefined {
    return this.interestFilter;
  }

  /** A peer's query arrived with this filter (undefined: it wants nothing). */
  noteFilter(node: string, filter: AddressFilter | undefined, now: number): void {
    if (filter === undefined) this.filters.delete(node);
    else if (this.filters.get(node)?.filter.encode().w !== filter.encode().w) this.filters.set(node, { filter, at: now });
    else this.filters.get(node)!.at = now;
    for (const [n, f] of this.filters) if (now - f.at > FILTER_TTL_MS) this.filters.delete(n);
  }

  /** What a message to `node` says of this node's claims; undefined: nothing (a plain ring heartbeat). */
  outgoing(node: string, leaving: boolean, answer: boolean): ClaimsPart | undefined {
    if (leaving) return { claims: [] };
    if (this.full) return { claims: this.sorted };
    const f = this.filters.get(node);
    if (f === undefined) return answer ? { claims: [] } : undefined;
    f.part ??= filteredClaims(this.sorted, f.filter);
    return f.part;
  }
}
