// The per-packet half of the data plane: validates ARP (RFC 826) and neighbour discovery
// (RFC 4861 §7.1.1) frames received on one interface, decides whether to answer, and writes the
// answer into that interface's preallocated transmit buffer. Pure and synchronous — no I/O and
// no allocation on the request path — so that it can be fuzzed without sockets.
//
// NA flags: solicited answers carry S=1 (they answer a solicitation) and O=1 (override): we are the
// address's owner, not a proxy, and after a failover the client must replace the previous node's
// MAC in its existing cache entry, which only an override advertisement does (RFC 4861 §7.2.5).
// R=0: a VIP is never a router address. Unsolicited announcements carry S=0, O=1.

export const ETH_HLEN = 14;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ARP_FRAME_LEN = 42;
/** Frames shorter than this are padded on transmit (minimum Ethernet payload). */
export const ETH_MIN_FRAME = 60;
const IPV6_HLEN = 40;
const ICMPV6 = 58;
const ND_NS = 135;
const ND_NA = 136;
const OPT_SLLA = 1;
const OPT_TLLA = 2;
/** Length of an NA we send: Ethernet + IPv6 + 24-byte NA + 8-byte target link-layer option. */
export const NA_FRAME_LEN = ETH_HLEN + IPV6_HLEN + 32;

export type Protocol = "arp" | "ndp";

/** Per-address counters, shared by every interface the address is answered on. */
export class AddressStats {
  requests = 0;
  responses = 0;
  gratuitous = 0;
  duplicates = 0;
  readonly ip: string;
  readonly protocol: Protocol;
  constructor(ip: string, protocol: Protocol) {
    this.ip = ip;
    this.protocol = protocol;
  }
}

/** An owned address in wire form. */
export class AddressEntry {
  readonly ip: string;
  /** 4 or 16 bytes. */
  readonly bytes: Buffer;
  readonly stats: AddressStats;
  /** Lookup key: the address as uint32 (IPv4) or its last 32 bits (IPv6). */
  readonly key: number;
  constructor(ip: string, bytes: Buffer, stats: AddressStats) {
    this.ip = ip;
    this.bytes = bytes;
    this.stats = stats;
    this.key = bytes.readUInt32BE(bytes.length - 4);
  }
}

/** What {@link Port.handle} saw, for callers that count or log. */
export const Verdict = {
  /** Not for us, malformed, or nothing to do. */
  ignore: 0,
  /** A reply is in `tx`, `replyLength` bytes, for `replyEntry`. */
  reply: 1,
} as const;

export type DuplicateHook = (port: Port, entry: AddressEntry, frame: Buffer, macOffset: number, protocol: Protocol) => void;

function isZero(b: Buffer, off: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[off + i] !== 0) return false;
  return true;
}

function equalBytes(a: Buffer, aOff: number, b: Buffer, bOff: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/**
 * One's-complement sum for the ICMPv6 checksum: pseudo-header (source, destination, upper-layer
 * length, next header 58) plus `icmpLen` bytes of the ICMPv6 message. Returns the folded 16-bit sum.
 */
export function icmp6Sum(buf: Buffer, ipOff: number, icmpLen: number): number {
  let sum = 0;
  for (let i = ipOff + 8; i < ipOff + 40; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  sum += (icmpLen >>> 16) + (icmpLen & 0xffff) + ICMPV6;
  const start = ipOff + IPV6_HLEN;
  const end = start + icmpLen;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * One interface's responder: its MAC, the owned addresses bound to it, its transmit buffer.
 * `handle` is called for every frame the kernel filter let through on that interface.
 */
export class Port {
  readonly name: string;
  readonly ifindex: number;
  /** This interface's MAC (6 bytes): the only MAC we answer with here. */
  readonly mac: Buffer;
  readonly tx: Buffer;
  /** MACs of all our interfaces: frames from them are not duplicates. */
  ourMacs: Buffer[];
  onDuplicate: DuplicateHook | undefined;
  /** After {@link Verdict.reply}: bytes to send from `tx`, and for which address. */
  replyLength = 0;
  replyEntry: AddressEntry | undefined;
  readonly #v4 = new Map<number, AddressEntry>();
  readonly #v6 = new Map<number, AddressEntry[]>();

  constructor(name: string, ifindex: number, mac: Buffer, tx: Buffer) {
    if (mac.length !== 6) throw new Error("MAC must be 6 bytes");
    this.name = name;
    this.ifindex = ifindex;
    this.mac = mac;
    this.tx = tx;
    this.ourMacs = [mac];
  }

  add(entry: AddressEntry): void {
    if (entry.bytes.length === 4) {
      this.#v4.set(entry.key, entry);
      return;
    }
    const list = this.#v6.get(entry.key) ?? [];
    if (!list.includes(entry)) list.push(entry);
    this.#v6.set(entry.key, list);
  }

  remove(entry: AddressEntry): void {
    if (entry.bytes.length === 4) {
      if (this.#v4.get(entry.key) === entry) this.#v4.delete(entry.key);
      return;
    }
    const list = this.#v6.get(entry.key);
    if (!list) return;
    const rest = list.filter((e) => e !== entry);
    if (rest.length) this.#v6.set(entry.key, rest);
    else this.#v6.delete(entry.key);
  }

  get size(): number {
    let n = this.#v4.size;
    for (const l of this.#v6.values()) n += l.length;
    return n;
  }

  #lookup6(buf: Buffer, off: number): AddressEntry | undefined {
    const list = this.#v6.get(buf.readUInt32BE(off + 12));
    if (!list) return undefined;
    for (const e of list) if (equalBytes(e.bytes, 0, buf, off, 16)) return e;
    return undefined;
  }

  #isOurMac(buf: Buffer, off: number): boolean {
    for (const m of this.ourMacs) if (equalBytes(m, 0, buf, off, 6)) return true;
    return false;
  }

  #duplicate(entry: AddressEntry, buf: Buffer, macOff: number, protocol: Protocol): void {
    entry.stats.duplicates++;
    this.onDuplicate?.(this, entry, buf, macOff, protocol);
  }

  /** Examines one received frame `buf[off, off+len)`; returns a {@link Verdict}. */
  handle(buf: Buffer, off: number, len: number): number {
    this.replyEntry = undefined;
    this.replyLength = 0;
    if (len < ETH_HLEN || off < 0 || off + len > buf.length) return Verdict.ignore;
    const type = (buf[off + 12]! << 8) | buf[off + 13]!;
    if (type === ETHERTYPE_ARP) return this.#arp(buf, off, len);
    if (type === ETHERTYPE_IPV6) return this.#ndp(buf, off, len);
    return Verdict.ignore; // 802.1Q-tagged (0x8100/0x88a8) and everything else
  }

  #arp(buf: Buffer, off: number, len: number): number {
    if (len < ARP_FRAME_LEN) return Verdict.ignore;
    const a = off + ETH_HLEN;
    // RFC 826: Ethernet hardware (1), 6-byte hardware addresses, IPv4 (0x0800), 4-byte addresses.
    if (buf.readUInt16BE(a) !== 1 || buf.readUInt16BE(a + 2) !== 0x0800 || buf[a + 4] !== 6 || buf[a + 5] !== 4) return Verdict.ignore;
    const op = buf.readUInt16BE(a + 6);
    if (op !== 1 && op !== 2) return Verdict.ignore;
    const sha = a + 8, spa = a + 14, tpa = a + 24;
    // A sender hardware address that is multicast/broadcast or zero cannot be answered (or trusted).
    if ((buf[sha]! & 1) !== 0 || isZero(buf, sha, 6)) return Verdict.ignore;
    const spaKey = buf.readUInt32BE(spa);
    const tpaKey = buf.readUInt32BE(tpa);
    const claimed = this.#v4.get(spaKey);
    if (claimed && !this.#isOurMac(buf, sha)) this.#duplicate(claimed, buf, sha, "arp");
    if (op !== 1) return Verdict.ignore; // replies are never answered
    const entry = this.#v4.get(tpaKey);
    if (!entry) return Verdict.ignore;
    if (spaKey === tpaKey) return Verdict.ignore; // gratuitous request from another station
    // Sent to the broadcast address or to this interface's MAC; anything else reached us only
    // through promiscuous mode and is somebody else's.
    if (!(buf[off] === 0xff && buf[off + 1] === 0xff && buf[off + 2] === 0xff && buf[off + 3] === 0xff && buf[off + 4] === 0xff && buf[off + 5] === 0xff) && !equalBytes(buf, off, this.mac, 0, 6)) return Verdict.ignore;
    // Sender protocol address: 0.0.0.0 (an RFC 5227 probe) is answered; multicast, broadcast and
    // loopback senders are not (as the kernel does).
    const s0 = spaKey >>> 24;
    if (s0 === 127 || (s0 >= 224 && s0 <= 239) || spaKey === 0xffffffff) return Verdict.ignore;
    if (claimed) return Verdict.ignore; // the sender claims one of our addresses: no reply to a conflicting station
    entry.stats.requests++;
    const t = this.tx;
    buf.copy(t, 0, sha, sha + 6); // to the requester's hardware address (as the kernel does)
    this.mac.copy(t, 6);
    t.writeUInt16BE(ETHERTYPE_ARP, 12);
    t.writeUInt16BE(1, 14);
    t.writeUInt16BE(0x0800, 16);
    t[18] = 6;
    t[19] = 4;
    t.writeUInt16BE(2, 20);
    this.mac.copy(t, 22);
    entry.bytes.copy(t, 28);
    buf.copy(t, 32, sha, sha + 6);
    buf.copy(t, 38, spa, spa + 4);
    t.fill(0, ARP_FRAME_LEN, ETH_MIN_FRAME);
    this.replyEntry = entry;
    this.replyLength = ETH_MIN_FRAME;
    return Verdict.reply;
  }

  #ndp(buf: Buffer, off: number, len: number): number {
    const ip = off + ETH_HLEN;
    if (len < ETH_HLEN + IPV6_HLEN + 24) return Verdict.ignore;
    if (buf[ip]! >>> 4 !== 6 || buf[ip + 6] !== ICMPV6) return Verdict.ignore;
    const plen = buf.readUInt16BE(ip + 4);
    // RFC 4861 §7.1.1 / §7.1.2: hop limit 255 (not forwarded), ICMP length ≥ 24, code 0.
    if (plen < 24 || ETH_HLEN + IPV6_HLEN + plen > len) return Verdict.ignore;
    if (buf[ip + 7] !== 255) return Verdict.ignore;
    const icmp = ip + IPV6_HLEN;
    const type = buf[icmp]!;
    if ((type !== ND_NS && type !== ND_NA) || buf[icmp + 1] !== 0) return Verdict.ignore;
    const target = icmp + 8;
    if (buf[target] === 0xff) return Verdict.ignore; // target is multicast
    // Options: each non-zero length and inside the message; remember the link-layer address option.
    let lla = -1;
    const end = icmp + plen;
    for (let o = icmp + 24; o < end; ) {
      if (o + 2 > end) return Verdict.ignore;
      const olen = buf[o + 1]! * 8;
      if (olen === 0 || o + olen > end) return Verdict.ignore;
      if (buf[o] === (type === ND_NS ? OPT_SLLA : OPT_TLLA) && olen >= 8) lla = o + 2;
      o += olen;
    }
    if (icmp6Sum(buf, ip, plen) !== 0xffff) return Verdict.ignore; // bad checksum
    const src = ip + 8, dst = ip + 24;
    if (buf[src] === 0xff) return Verdict.ignore; // source must not be multicast
    const entry = this.#lookup6(buf, target);
    if (type === ND_NA) {
      // Someone else advertises one of our addresses.
      const mac = lla >= 0 ? lla : off + 6;
      if (entry && !this.#isOurMac(buf, mac)) this.#duplicate(entry, buf, mac, "ndp");
      return Verdict.ignore;
    }
    const unspecified = isZero(buf, src, 16);
    if (unspecified) {
      // DAD probe: valid only to a solicited-node group and without a source link-layer option;
      // either way it is not answered (the prober is not using the address yet).
      return Verdict.ignore;
    }
    if (!entry) return Verdict.ignore;
    // Destination: the target's solicited-node group (address resolution) or the target itself
    // (neighbour unreachability detection). The Ethernet destination must match the same choice.
    const t = entry.bytes;
    if (buf[dst] === 0xff) {
      if (!(buf[dst + 1] === 0x02 && isZero(buf, dst + 2, 9) && buf[dst + 11] === 1 && buf[dst + 12] === 0xff &&
            buf[dst + 13] === t[13] && buf[dst + 14] === t[14] && buf[dst + 15] === t[15])) return Verdict.ignore;
      if (!(buf[off] === 0x33 && buf[off + 1] === 0x33 && buf[off + 2] === 0xff && buf[off + 3] === t[13] && buf[off + 4] === t[14] && buf[off + 5] === t[15])) return Verdict.ignore;
    } else {
      if (!equalBytes(buf, dst, t, 0, 16)) return Verdict.ignore;
      if (!equalBytes(buf, off, this.mac, 0, 6)) return Verdict.ignore;
    }
    const senderMac = lla >= 0 ? lla : off + 6;
    if ((buf[senderMac]! & 1) !== 0 || isZero(buf, senderMac, 6)) return Verdict.ignore;
    if (equalBytes(buf, src, t, 0, 16)) {
      // A station soliciting from our own address is using it.
      if (!this.#isOurMac(buf, senderMac)) this.#duplicate(entry, buf, senderMac, "ndp");
      return Verdict.ignore;
    }
    entry.stats.requests++;
    const x = this.tx;
    buf.copy(x, 0, senderMac, senderMac + 6);
    this.mac.copy(x, 6);
    x.writeUInt16BE(ETHERTYPE_IPV6, 12);
    x.writeUInt32BE(0x60000000, 14);
    x.writeUInt16BE(32, 18);
    x[20] = ICMPV6;
    x[21] = 255;
    t.copy(x, 22); // source: the target address itself
    buf.copy(x, 38, src, src + 16); // destination: the solicitor
    writeNa(x, t, this.mac, 0x60);
    this.replyEntry = entry;
    this.replyLength = NA_FRAME_LEN;
    return Verdict.reply;
  }
}

/** Writes the ICMPv6 part of an NA (flags byte, target, TLLA option) at offset 54 of `x` and its checksum. */
function writeNa(x: Buffer, target: Buffer, mac: Buffer, flags: number): void {
  const icmp = ETH_HLEN + IPV6_HLEN;
  x[icmp] = ND_NA;
  x[icmp + 1] = 0;
  x.writeUInt16BE(0, icmp + 2);
  x[icmp + 4] = flags;
  x[icmp + 5] = 0;
  x[icmp + 6] = 0;
  x[icmp + 7] = 0;
  target.copy(x, icmp + 8);
  x[icmp + 24] = OPT_TLLA;
  x[icmp + 25] = 1;
  mac.copy(x, icmp + 26);
  x.writeUInt16BE(~icmp6Sum(x, ETH_HLEN, 32) & 0xffff, icmp + 2);
}

/** Gratuitous ARP into `x`: a request (op 1) or reply (op 2) announcing `ip` at `mac`, broadcast. Returns the length. */
export function writeGratuitousArp(x: Buffer, mac: Buffer, ip: Buffer, op: 1 | 2): number {
  x.fill(0xff, 0, 6);
  mac.copy(x, 6);
  x.writeUInt16BE(ETHERTYPE_ARP, 12);
  x.writeUInt16BE(1, 14);
  x.writeUInt16BE(0x0800, 16);
  x[18] = 6;
  x[19] = 4;
  x.writeUInt16BE(op, 20);
  mac.copy(x, 22);
  ip.copy(x, 28);
  // Target hardware address: zero in the request (RFC 5227 announcement), broadcast in the reply.
  x.fill(op === 1 ? 0 : 0xff, 32, 38);
  ip.copy(x, 38);
  x.fill(0, ARP_FRAME_LEN, ETH_MIN_FRAME);
  return ETH_MIN_FRAME;
}

/** Unsolicited NA (S=0, O=1) for `ip6` at `mac`, to all-nodes ff02::1. Returns the length. */
export function writeUnsolicitedNa(x: Buffer, mac: Buffer, ip6: Buffer): number {
  x[0] = 0x33; x[1] = 0x33; x[2] = 0; x[3] = 0; x[4] = 0; x[5] = 1;
  mac.copy(x, 6);
  x.writeUInt16BE(ETHERTYPE_IPV6, 12);
  x.writeUInt32BE(0x60000000, 14);
  x.writeUInt16BE(32, 18);
  x[20] = ICMPV6;
  x[21] = 255;
  ip6.copy(x, 22);
  x.fill(0, 38, 54);
  x[38] = 0xff; x[39] = 0x02; x[53] = 1;
  writeNa(x, ip6, mac, 0x20);
  return NA_FRAME_LEN;
}
