/**
 * Ranges and subnets: single addresses, CIDRs and `first-last` ranges, all as exact bigint
 * bounds. Nothing here ever enumerates addresses; sizes and positions are arithmetic.
 */
import { bitsOf, familyName, formatAddress, IpError, maxValue, parseAddress, tryParseAddress } from "./address.ts";
import type { Address, Family } from "./address.ts";

/** A contiguous, inclusive range of addresses of one family. */
export interface IpRange {
  family: Family;
  first: bigint;
  last: bigint;
  /** How it was written. */
  kind: "single" | "cidr" | "range";
  /** Prefix length when `kind` is `cidr` (and for a single address: 32 or 128). */
  prefixLength?: number;
}

/** A subnet: network address (host bits cleared) and prefix length. */
export interface Cidr {
  family: Family;
  network: bigint;
  prefixLength: number;
}

/** A subnet together with the address it was written with (e.g. a node's `192.0.2.7/24`). */
export interface InterfaceCidr extends Cidr {
  address: bigint;
}

function hostMask(family: Family, prefixLength: number): bigint {
  return (1n << BigInt(bitsOf(family) - prefixLength)) - 1n;
}

/** Network address of `value` under `prefixLength`. */
export function networkOf(family: Family, value: bigint, prefixLength: number): bigint {
  return value & (maxValue(family) ^ hostMask(family, prefixLength));
}

/**
 * Parses `address/prefix`. With `allowHostBits` (for interface addresses such as `192.0.2.7/24`)
 * the host bits are cleared; without it they are an error, since a pool written `192.0.2.7/24`
 * is ambiguous. Throws {@link IpError}.
 */
export function parseCidr(text: string, options: { allowHostBits?: boolean } = {}): InterfaceCidr {
  if (typeof text !== "string") throw new IpError(`${String(text)} is not a CIDR; write e.g. 192.0.2.0/24.`);
  const slash = text.indexOf("/");
  if (slash < 0 || slash !== text.lastIndexOf("/")) {
    throw new IpError(`"${text}" is not a CIDR; write an address, a slash and a prefix length, e.g. 192.0.2.0/24.`);
  }
  const addrText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const address = tryParseAddress(addrText);
  if (address === undefined) {
    throw new IpError(`"${text}" is not a CIDR: "${addrText}" is not an IPv4 or IPv6 address.`);
  }
  const bits = bitsOf(address.family);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > bits) {
    throw new IpError(
      `"${text}" has an invalid prefix length "${prefixText}"; an ${familyName(address.family)} prefix length is a whole number from 0 to ${bits}.`,
    );
  }
  const prefixLength = Number(prefixText);
  const network = networkOf(address.family, address.value, prefixLength);
  if (!options.allowHostBits && network !== address.value) {
    const fixed = `${formatAddress({ family: address.family, value: network })}/${prefixLength}`;
    throw new IpError(
      `"${text}" has host bits set; write the network as ${fixed}, or a range such as ${addrText}-${formatAddress({ family: address.family, value: network | hostMask(address.family, prefixLength) })}.`,
    );
  }
  return { family: address.family, network, prefixLength, address: address.value };
}

/**
 * Parses a single address (`192.0.2.5`), a CIDR (`192.0.2.0/28`) or a range
 * (`192.0.2.10-192.0.2.20`, spaces around the dash allowed). Both ends of a range must be of one
 * family and in order. Throws {@link IpError} with a sentence naming the text and the fix.
 */
export function parseRange(text: string): IpRange {
  if (typeof text !== "string" || text.trim() === "") {
    throw new IpError(`An empty address range is not allowed; write a single address, a CIDR or first-last.`);
  }
  const trimmed = text.trim();
  if (trimmed.includes("/")) return cidrToRange(parseCidr(trimmed));
  if (trimmed.includes("-")) {
    const parts = trimmed.split("-");
    if (parts.length !== 2) {
      throw new IpError(`"${text}" is not a range; write exactly two addresses joined by one dash, e.g. 192.0.2.10-192.0.2.20.`);
    }
    const [aText, bText] = parts.map((p) => p.trim()) as [string, string];
    const a = tryParseAddress(aText);
    const b = tryParseAddress(bText);
    if (a === undefined || b === undefined) {
      const bad = a === undefined ? aText : bText;
      throw new IpError(`"${text}" is not a range: "${bad}" is not an IPv4 or IPv6 address.`);
    }
    if (a.family !== b.family) {
      throw new IpError(
        `"${text}" mixes ${familyName(a.family)} and ${familyName(b.family)}; a range must have both ends in one family — split it into one range per family.`,
      );
    }
    if (a.value > b.value) {
      throw new IpError(`"${text}" starts after it ends; write it as ${bText}-${aText}.`);
    }
    return { family: a.family, first: a.value, last: b.value, kind: "range" };
  }
  const address = tryParseAddress(trimmed);
  if (address === undefined) {
    throw new IpError(`"${text}" is neither an address, a CIDR nor a first-last range; write e.g. 192.0.2.5, 192.0.2.0/28 or 192.0.2.10-192.0.2.20.`);
  }
  return { family: address.family, first: address.value, last: address.value, kind: "single", prefixLength: bitsOf(address.family) };
}

/** Number of addresses in a range (exact). */
export function rangeSize(range: Pick<IpRange, "first" | "last">): bigint {
  return range.last - range.first + 1n;
}

/** True when `address` (an {@link Address} or its text) lies in `range` (an {@link IpRange} or its text). */
export function rangeContains(range: IpRange | string, address: Address | string): boolean {
  const r = typeof range === "string" ? parseRange(range) : range;
  const a = typeof address === "string" ? tryParseAddress(address) : address;
  return a !== undefined && a.family === r.family && a.value >= r.first && a.value <= r.last;
}

/** True when `address` lies in the subnet `cidr` (host bits in `cidr` are ignored, as for an interface address). */
export function cidrContains(cidr: Cidr | string, address: Address | string): boolean {
  const c = typeof cidr === "string" ? parseCidr(cidr, { allowHostBits: true }) : cidr;
  const a = typeof address === "string" ? tryParseAddress(address) : address;
  return a !== undefined && a.family === c.family && networkOf(c.family, a.value, c.prefixLength) === c.network;
}

/** The range covered by a subnet. */
export function cidrToRange(cidr: Cidr): IpRange {
  return {
    family: cidr.family,
    first: cidr.network,
    last: cidr.network | hostMask(cidr.family, cidr.prefixLength),
    kind: "cidr",
    prefixLength: cidr.prefixLength,
  };
}

/** True when two ranges share at least one address. */
export function rangesOverlap(a: IpRange, b: IpRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/** True when `inner` lies entirely inside `outer`. */
export function rangeWithin(inner: IpRange, outer: IpRange): boolean {
  return inner.family === outer.family && inner.first >= outer.first && inner.last <= outer.last;
}

/** The `n`-th address (0-based) of a range; throws {@link IpError} when `n` is outside it. */
export function nthAddress(range: IpRange, n: bigint): Address {
  if (n < 0n || n > range.last - range.first) {
    throw new IpError(`Offset ${n} is outside a range of ${rangeSize(range)} addresses.`);
  }
  return { family: range.family, value: range.first + n };
}

/** Offset of an address inside a range, or `undefined` when it is outside. */
export function offsetOf(range: IpRange, address: Address): bigint | undefined {
  return rangeContains(range, address) ? address.value - range.first : undefined;
}

/** Canonical text of a range: `a`, `a/len` or `a-b`. */
export function formatRange(range: IpRange): string {
  const first = formatAddress({ family: range.family, value: range.first });
  if (range.kind === "cidr" && range.prefixLength !== undefined) return `${first}/${range.prefixLength}`;
  if (range.first === range.last) return first;
  return `${first}-${formatAddress({ family: range.family, value: range.last })}`;
}

/** The subnet of `address` under `prefixLength`, e.g. `subnetOf("192.0.2.7", 24)` → `{ network: 192.0.2.0, prefixLength: 24 }`. */
export function subnetOf(address: Address | string, prefixLength: number): Cidr {
  const a = typeof address === "string" ? parseAddress(address) : address;
  const bits = bitsOf(a.family);
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bits) {
    throw new IpError(`Prefix length ${prefixLength} is invalid for ${familyName(a.family)}; use 0 to ${bits}.`);
  }
  return { family: a.family, network: networkOf(a.family, a.value, prefixLength), prefixLength };
}

/** Text of a subnet, e.g. `192.0.2.0/24`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatAddress({ family: cidr.family, value: cidr.network })}/${cidr.prefixLength}`;
}

/**
 * Addresses of a subnet that must never be handed to a Service: for IPv4 the network and
 * broadcast addresses (none for /31 and /32, RFC 3021); for IPv6 the Subnet-Router anycast
 * address, which is the network address (none for /127 and /128, RFC 6164).
 */
export function reservedOfSubnet(cidr: Cidr): Address[] {
  const range = cidrToRange(cidr);
  if (cidr.family === 4) {
    if (cidr.prefixLength >= 31) return [];
    return [
      { family: 4, value: range.first },
      { family: 4, value: range.last },
    ];
  }
  if (cidr.prefixLength >= 127) return [];
  return [{ family: 6, value: range.first }];
}

/**
 * Network and broadcast (last) address of a subnet. For IPv6 "broadcast" is simply the last
 * address of the subnet (IPv6 has no broadcast); see {@link reservedOfSubnet} for what is excluded.
 */
export function networkAndBroadcast(cidr: Cidr | string): { network: Address; broadcast: Address } {
  const c = typeof cidr === "string" ? parseCidr(cidr, { allowHostBits: true }) : cidr;
  const r = cidrToRange(c);
  return { network: { family: c.family, value: r.first }, broadcast: { family: c.family, value: r.last } };
}
