// Frame builders and checkers for the data plane's tests, written independently of the native
// responder (so that tests compare two implementations of the wire format, not one with itself).
import { parseIp, parseMac } from "./addr.ts";
import { loadAddon, COUNTERS_PER_SLOT, type Responder } from "./socket.ts";

export const BROADCAST = "ff:ff:ff:ff:ff:ff";

/** RFC 4443 checksum of an ICMPv6 message with its pseudo-header. */
export function icmp6Checksum(src: Buffer, dst: Buffer, icmp: Buffer): number {
  const pseudo = Buffer.concat([src, dst, Buffer.from([0, 0, icmp.length >> 8, icmp.length & 0xff, 0, 0, 0, 58]), icmp, Buffer.alloc(icmp.length % 2)]);
  let sum = 0;
  for (let i = 0; i < pseudo.length; i += 2) sum += pseudo.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export interface ArpFields {
  ethDst?: string;
  ethSrc?: string;
  htype?: number;
  ptype?: number;
  hlen?: number;
  plen?: number;
  op?: number;
  sha?: string;
  spa?: string;
  tha?: string;
  tpa: string;
  /** Bytes after the ARP body (Ethernet padding). */
  trailer?: number;
}

export function arpFrame(f: ArpFields): Buffer {
  const sha = f.sha ?? "02:00:00:00:00:02";
  const b = Buffer.alloc(42 + (f.trailer ?? 0));
  parseMac(f.ethDst ?? BROADCAST).copy(b, 0);
  parseMac(f.ethSrc ?? sha).copy(b, 6);
  b.writeUInt16BE(0x0806, 12);
  b.writeUInt16BE(f.htype ?? 1, 14);
  b.writeUInt16BE(f.ptype ?? 0x0800, 16);
  b[18] = f.hlen ?? 6;
  b[19] = f.plen ?? 4;
  b.writeUInt16BE(f.op ?? 1, 20);
  parseMac(sha).copy(b, 22);
  parseIp(f.spa ?? "192.0.2.2").copy(b, 28);
  parseMac(f.tha ?? "00:00:00:00:00:00").copy(b, 32);
  parseIp(f.tpa).copy(b, 38);
  return b;
}

export interface NdFields {
  type?: number;
  code?: number;
  ethDst?: string;
  ethSrc?: string;
  src?: string;
  /** Default: the target's solicited-node group. */
  dst?: string;
  target: string;
  hopLimit?: number;
  /** Link-layer address option (source for NS, target for NA); null for none. */
  lla?: string | null;
  /** Extra raw options appended after the link-layer option. */
  options?: Buffer;
  /** Flags byte of an NA. */
  flags?: number;
  /** Replace the computed checksum. */
  checksum?: number;
  nextHeader?: number;
  version?: number;
  /** Declared payload length override. */
  payloadLength?: number;
}

export function solicitedNodeOf(target: string): string {
  const t = parseIp(target);
  return `ff02::1:ff${t[13]!.toString(16).padStart(2, "0")}:${((t[14]! << 8) | t[15]!).toString(16)}`;
}

export function ndFrame(f: NdFields): Buffer {
  const type = f.type ?? 135;
  const src = parseIp(f.src ?? "2001:db8::2");
  const dstText = f.dst ?? solicitedNodeOf(f.target);
  const dst = parseIp(dstText);
  const ethSrc = f.ethSrc ?? "02:00:00:00:00:02";
  const ethDst = f.ethDst ?? (dst[0] === 0xff ? `33:33:${[...dst.subarray(12)].map((x) => x.toString(16).padStart(2, "0")).join(":")}` : "02:00:00:00:00:01");
  const lla = f.lla === undefined ? ethSrc : f.lla;
  const opts = Buffer.concat([lla ? Buffer.concat([Buffer.from([type === 135 ? 1 : 2, 1]), parseMac(lla)]) : Buffer.alloc(0), f.options ?? Buffer.alloc(0)]);
  const icmp = Buffer.concat([Buffer.from([type, f.code ?? 0, 0, 0, f.flags ?? 0, 0, 0, 0]), parseIp(f.target), opts]);
  icmp.writeUInt16BE(f.checksum ?? icmp6Checksum(src, dst, icmp), 2);
  const ip = Buffer.alloc(40);
  ip.writeUInt32BE(((f.version ?? 6) << 28) >>> 0, 0);
  ip.writeUInt16BE(f.payloadLength ?? icmp.length, 4);
  ip[6] = f.nextHeader ?? 58;
  ip[7] = f.hopLimit ?? 255;
  src.copy(ip, 8);
  dst.copy(ip, 24);
  const eth = Buffer.alloc(14);
  parseMac(ethDst).copy(eth, 0);
  parseMac(ethSrc).copy(eth, 6);
  eth.writeUInt16BE(0x86dd, 12);
  return Buffer.concat([eth, ip, icmp]);
}

/** Inserts an 802.1Q (or 802.1ad) tag after the MAC addresses. */
export function tagged(frame: Buffer, vid = 100, tpid = 0x8100): Buffer {
  const tag = Buffer.alloc(4);
  tag.writeUInt16BE(tpid, 0);
  tag.writeUInt16BE(vid, 2);
  return Buffer.concat([frame.subarray(0, 12), tag, frame.subarray(12)]);
}

export interface ParsedNa {
  ethDst: string;
  ethSrc: string;
  src: Buffer;
  dst: Buffer;
  hopLimit: number;
  flags: number;
  target: Buffer;
  tlla: string | undefined;
  checksumOk: boolean;
}

const macText = (b: Buffer, o: number): string => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");

export function parseNa(frame: Buffer): ParsedNa {
  if (frame.readUInt16BE(12) !== 0x86dd) throw new Error("not IPv6");
  const plen = frame.readUInt16BE(18);
  const src = frame.subarray(22, 38), dst = frame.subarray(38, 54);
  const icmp = frame.subarray(54, 54 + plen);
  if (icmp[0] !== 136) throw new Error(`not an NA: type ${icmp[0]}`);
  let tlla: string | undefined;
  for (let o = 24; o + 2 <= icmp.length && icmp[o + 1]! > 0; o += icmp[o + 1]! * 8) if (icmp[o] === 2) tlla = macText(icmp, o + 2);
  const copy = Buffer.from(icmp);
  copy.writeUInt16BE(0, 2);
  return {
    ethDst: macText(frame, 0), ethSrc: macText(frame, 6), src: Buffer.from(src), dst: Buffer.from(dst), hopLimit: frame[21]!,
    flags: icmp[4]!, target: Buffer.from(icmp.subarray(8, 24)), tlla, checksumOk: icmp6Checksum(src, dst, copy) === icmp.readUInt16BE(2),
  };
}

export interface ParsedArp {
  ethDst: string;
  ethSrc: string;
  op: number;
  sha: string;
  spa: string;
  tha: string;
  tpa: string;
}

export function parseArp(frame: Buffer): ParsedArp {
  if (frame.readUInt16BE(12) !== 0x0806) throw new Error("not ARP");
  if (frame.readUInt16BE(14) !== 1 || frame.readUInt16BE(16) !== 0x0800 || frame[18] !== 6 || frame[19] !== 4) throw new Error("bad ARP header");
  return {
    ethDst: macText(frame, 0), ethSrc: macText(frame, 6), op: frame.readUInt16BE(20), sha: macText(frame, 22),
    spa: [...frame.subarray(28, 32)].join("."), tha: macText(frame, 32), tpa: [...frame.subarray(38, 42)].join("."),
  };
}

/** A socket-less responder with its own counters. */
export function makeResponder(mac: string, owned: string[]): { responder: Responder; counters: Uint32Array; out: Buffer; slots: Map<string, number> } {
  const { Responder } = loadAddon();
  const counters = new Uint32Array(64 * COUNTERS_PER_SLOT);
  const responder = new Responder(parseMac(mac), counters);
  const slots = new Map<string, number>();
  owned.forEach((ip, i) => {
    responder.add(parseIp(ip), i);
    slots.set(ip, i);
  });
  return { responder, counters, out: Buffer.alloc(256), slots };
}
