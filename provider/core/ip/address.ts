/**
 * IPv4 / IPv6 addresses as exact bigints. Pure functions, no I/O.
 *
 * An address is `{ family, value }` where `value` is the address as an unsigned integer
 * (32 bits for IPv4, 128 bits for IPv6). Parsing is strict: no leading zeros in IPv4 octets (they
 * are ambiguous, octal to some tools), no zone identifiers, no surrounding whitespace.
 */

/** 4 or 6. */
export type Family = 4 | 6;

/** An address as an exact unsigned integer of its family's width. */
export interface Address {
  family: Family;
  value: bigint;
}

/** Thrown by the strict parsers; `message` is a full sentence that names the bad text. */
export class IpError extends Error {
  override name = "IpError";
}

/** Number of bits of an address of `family`. */
export function bitsOf(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** Largest address value of `family` (255.255.255.255 or ffff:...:ffff). */
export function maxValue(family: Family): bigint {
  return family === 4 ? 0xffff_ffffn : (1n << 128n) - 1n;
}

/** Kubernetes' spelling of a family: `IPv4` or `IPv6`. */
export function familyName(family: Family): "IPv4" | "IPv6" {
  return family === 4 ? "IPv4" : "IPv6";
}

/** The family of a Kubernetes family name. */
export function familyFromName(name: "IPv4" | "IPv6"): Family {
  return name === "IPv4" ? 4 : 6;
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4Number(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

function parseIPv4Value(text: string): bigint | undefined {
  const n = parseIPv4Number(text);
  return n === undefined ? undefined : BigInt(n);
}

function parseIPv6Value(text: string): bigint | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let body = text;
  // An embedded IPv4 tail (e.g. ::ffff:192.0.2.1) counts as two groups.
  let tail: string[] = [];
  const lastColon = body.lastIndexOf(":");
  if (lastColon >= 0 && body.slice(lastColon + 1).includes(".")) {
    const v4 = parseIPv4Number(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail = [Math.floor(v4 / 65536).toString(16), (v4 % 65536).toString(16)];
    body = body.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::"; "1::1.2.3.4" leaves "1::"; "1:2:...:6:1.2.3.4" leaves "1:...:6:".
    if (body.endsWith(":") && !body.endsWith("::")) body = body.slice(0, -1);
  }
  const doubleColon = body.indexOf("::");
  if (doubleColon !== body.lastIndexOf("::")) return undefined;
  const parseGroups = (s: string): string[] | undefined => {
    if (s === "") return [];
    const groups = s.split(":");
    for (const g of groups) if (!HEX_GROUP.test(g)) return undefined;
    return groups;
  };
  let groups: string[];
  if (doubleColon >= 0) {
    const head = parseGroups(body.slice(0, doubleColon));
    const rest = parseGroups(body.slice(doubleColon + 2));
    if (head === undefined || rest === undefined) return undefined;
    const missing = 8 - head.length - rest.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<string>(missing).fill("0"), ...rest, ...tail];
  } else {
    const all = parseGroups(body);
    if (all === undefined) return undefined;
    groups = [...all, ...tail];
  }
  if (groups.length !== 8) return undefined;
  // One BigInt construction from 32 hex digits.
  return BigInt(`0x${groups.map((g) => g.padStart(4, "0")).join("")}`);
}

/** Parses an IPv4 or IPv6 address; `undefined` when `text` is not one. */
export function tryParseAddress(text: string): Address | undefined {
  if (typeof text !== "string") return undefined;
  if (text.includes(":")) {
    const value = parseIPv6Value(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIPv4Value(text);
  return value === undefined ? undefined : { family: 4, value };
}

/** Parses an IPv4 or IPv6 address; throws {@link IpError} with a sentence naming the text. */
export function parseAddress(text: string): Address {
  const address = tryParseAddress(text);
  if (address === undefined) {
    const hint = typeof text === "string" && /(^|\.)0[0-9]/.test(text) && !text.includes(":")
      ? " (IPv4 octets must not have leading zeros)"
      : typeof text === "string" && text.includes("%")
        ? " (zone identifiers such as %eth0 are not allowed)"
        : "";
    throw new IpError(`"${String(text)}" is not an IPv4 or IPv6 address${hint}; write e.g. 192.0.2.10 or 2001:db8::10.`);
  }
  return address;
}

/** The family of an address text, or `undefined` when it is not an address. */
export function familyOf(text: string): Family | undefined {
  return tryParseAddress(text)?.family;
}

/** True when `text` is an IPv4 or IPv6 address. */
export function isAddress(text: string): boolean {
  return tryParseAddress(text) !== undefined;
}

function formatIPv4(value: bigint): string {
  const n = Number(value);
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * Formats an address: dotted quad for IPv4, RFC 5952 canonical text for IPv6 (lower case, the
 * longest run of two or more zero groups as `::`, the leftmost on a tie). An IPv4-mapped IPv6
 * address (`::ffff:0:0/96`) is written with its IPv4 address dotted, `::ffff:192.0.2.1`, as RFC
 * 5952 §5 recommends (and as Go's `net/netip`, hence Kubernetes, writes it); no other prefix is,
 * since only this one says for certain that the low 32 bits are an IPv4 address.
 */
export function formatAddress(address: Address): string {
  const { family, value } = address;
  if (family === 4) return formatIPv4(value);
  if (value >> 32n === 0xffffn) return `::ffff:${formatIPv4(value & 0xffff_ffffn)}`;
  const hex32 = value.toString(16).padStart(32, "0");
  const groups: number[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(parseInt(hex32.slice(i, i + 4), 16));
  // Longest run (length >= 2) of zero groups, the first one on a tie, becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Canonical text of an address text (e.g. `2001:DB8:0::1` → `2001:db8::1`); throws {@link IpError}. */
export function canonicalAddress(text: string): string {
  return formatAddress(parseAddress(text));
}

/** Orders addresses: IPv4 before IPv6, then by value. */
export function compareAddresses(a: Address, b: Address): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** True when both are the same address. */
export function sameAddress(a: Address, b: Address): boolean {
  return a.family === b.family && a.value === b.value;
}
