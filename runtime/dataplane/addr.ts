// Address helpers for the data plane: textual IPv4/IPv6 to bytes and back, subnets, MACs.
// Not on the per-packet path (packets are compared as bytes); allocation here is fine.
import { isIPv4, isIPv6 } from "node:net";

/** Parses an IPv4 or IPv6 address into 4 or 16 bytes; throws on anything else (zones included). */
export function parseIp(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split(".").map(Number));
  if (!isIPv6(text) || text.includes("%")) throw new Error(`not an IP address: ${JSON.stringify(text)}`);
  let s = text;
  const out = Buffer.alloc(16);
  // Embedded IPv4 tail (::ffff:192.0.2.1): turn it into two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1]!.split(".").map(Number);
    s = s.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  if (groups.length !== 8) throw new Error(`not an IP address: ${JSON.stringify(text)}`);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Canonical text (RFC 5952 for IPv6) of 4 or 16 bytes. */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) throw new Error(`bad address length ${bytes.length}`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run (≥2) of zero groups becomes "::".
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** Canonical form of an address text (so that `2001:DB8::0:1` and `2001:db8::1` compare equal). */
export function canonicalIp(text: string): string {
  return formatIp(parseIp(text));
}

/** `a.b.c.d/len` or `x::/len` of the network containing `address`, host bits cleared. */
export function subnetOf(address: string, prefixLength: number): string {
  const b = parseIp(address);
  const bits = b.length * 8;
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bits) throw new Error(`bad prefix length ${prefixLength}`);
  for (let i = 0; i < b.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLength - i * 8));
    b[i] = b[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return `${formatIp(b)}/${prefixLength}`;
}

/** Whether `cidr` (any host bits ignored) contains `address`; false across families. */
export function cidrContains(cidr: string, address: string): boolean {
  const slash = cidr.lastIndexOf("/");
  if (slash < 0) return false;
  const net = parseIp(cidr.slice(0, slash));
  const len = Number(cidr.slice(slash + 1));
  const ip = parseIp(address);
  if (net.length !== ip.length) return false;
  for (let i = 0; i < net.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    const mask = (0xff << (8 - keep)) & 0xff;
    if ((net[i]! & mask) !== (ip[i]! & mask)) return false;
  }
  return true;
}

/** `aa:bb:cc:dd:ee:ff` → 6 bytes. */
export function parseMac(text: string): Buffer {
  const parts = text.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new Error(`not a MAC address: ${JSON.stringify(text)}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

/** 6 bytes at `offset` → `aa:bb:cc:dd:ee:ff`. */
export function formatMac(bytes: Uint8Array, offset = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(bytes[offset + i]!.toString(16).padStart(2, "0"));
  return out.join(":");
}

/** Solicited-node multicast address ff02::1:ffXX:XXXX of an IPv6 address (16 bytes). */
export function solicitedNode(ip6: Uint8Array): Buffer {
  const b = Buffer.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0]);
  b[13] = ip6[13]!;
  b[14] = ip6[14]!;
  b[15] = ip6[15]!;
  return b;
}

/** Ethernet multicast MAC 33:33:xx:xx:xx:xx of an IPv6 multicast address. */
export function multicastMac(group6: Uint8Array): Buffer {
  return Buffer.from([0x33, 0x33, group6[12]!, group6[13]!, group6[14]!, group6[15]!]);
}
