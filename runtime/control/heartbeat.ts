// Direct liveness signal between speakers: one UDP datagram to every target every `intervalMs`
// (default 200 ms), and at once whenever the set of answered addresses changes. The targets are
// chosen by membership: every peer (mesh), or the ring successors plus the peers being asked
// before taking an address (ring.ts); an asked peer replies at once with its own heartbeat.
//
// Datagram: JSON {v:2, n: node, i: incarnation, s: seq, c?: [addresses answered], t?: the last
// claim when `c` was cut short, l?: 1 (leaving), r?: resourceVersion of the sender's last Lease
// renewal, q?: id (a query: reply now), w?/wk?: the query's address filter (base64 bits, hash
// count), a?: id (the query this replies to), k?: seq (the heartbeat this acknowledges), p?: the
// sender's Lease renew period in ms when stretched, its heartbeats then as many times slower
// (ring-membership.ts `setStake`)} followed, when a key is configured, by "\n" and the hex
// HMAC-SHA256 of the JSON under the per-cluster key.
// Which claims a message carries is claims.ts's rule: all of them (mesh), or those an asking peer's
// filter lets through (ring), so a datagram stays small at any number of addresses; without `c` a
// message says nothing of the claims. Version 1 (every claim always) is still read. Receivers
// ignore datagrams with a bad or missing MAC, unknown versions, or sequence numbers not above the
// last one seen for that incarnation (replays).
//
// Both address families: without a bind address the endpoint opens one socket per family on the
// same port (IPv4 on 0.0.0.0, IPv6-only on ::), and sends to each peer on the socket of its
// address's family. Peers are addressed by the endpoint their Lease publishes (the node's
// InternalIP, IPv4 or IPv6), so an IPv6-only cluster gets the quick failover path too.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import { AddressFilter, ClaimsBook, type ClaimsPart } from "./claims.ts";

export interface HeartbeatMessage {
  node: string;
  incarnation: string;
  seq: number;
  /** The sender's claims, or those the receiver's filter lets through; undefined: this message says nothing of them. */
  claims?: string[];
  /** Set when `claims` stopped at the cap: the last one included (claims.ts). */
  claimsCut?: string;
  leaving: boolean;
  /** The resourceVersion of the sender's last successful Lease renewal. */
  renewal?: string;
  /** The sender's Lease renew period (ms) when it differs from its member record's: its monitors judge a missed renewal by it. */
  renewPeriodMs?: number;
  /** The sender asks for an immediate reply (it waits to take an address); the query's id. */
  query?: number;
  /** A query's filter of the addresses the sender waits for: the reply's claims are cut to it. */
  filter?: AddressFilter;
  /** The id of the query this replies to. */
  answer?: number;
  /** The sequence number of the heartbeat this acknowledges (ring: a monitor heard it). */
  ack?: number;
  /** Set by the receiving endpoint on an acknowledgement: when it sent the heartbeat acknowledged. */
  ackedSentAt?: number;
  /**
   * Set by the receiving endpoint on a reply: when (its clock) the query it answers was sent. A
   * reply proves the peer's claims as of after that instant; a plain heartbeat may have waited
   * in a socket buffer (a frozen receiver drains old ones on resume).
   */
  askedAt?: number;
  /** Set by the receiving endpoint on a reply: the interest version its query carried (claims.ts). */
  askedInterest?: number;
}

export interface HeartbeatPeer {
  node: string;
  host: string;
  port: number;
  /** Ask this peer for a reply with every heartbeat sent to it. */
  query?: boolean;
}

export interface HeartbeatOptions {
  node: string;
  incarnation: string;
  /** Address to bind (that family only); default both families, `0.0.0.0` and `::`, on one port. */
  bindAddress?: string;
  port: number;
  intervalMs: number;
  key?: Buffer | undefined;
  /** The control loop's clock, for when queries and acknowledged heartbeats were sent; default performance.now. */
  now?: () => number;
  /** Acknowledge every plain heartbeat received: its sender learns which monitors heard it. */
  acknowledge?: boolean;
  /** Claims only to the peers that ask, cut to their filters (ring); default every claim in every message (mesh). */
  claimsOnRequest?: boolean;
}

/** What the controller needs from the heartbeat endpoint (the UDP one, or a fake in tests). */
export interface HeartbeatTransport extends EventEmitter<HeartbeatEvents> {
  /** Datagrams sent so far. */
  readonly sent: number;
  start(): Promise<void>;
  /** Stops sending; with `sendLeaving`, first tells every peer this node leaves (no claims). */
  stop(sendLeaving: boolean): Promise<void>;
  setPeers(peers: HeartbeatPeer[]): void;
  /** The addresses this node answers for; sent at once when they changed. */
  setClaims(claims: string[]): void;
  /** The addresses this node waits to hear about (its queries' filter); returns the interest version covering them. */
  setInterest(ips: ReadonlySet<string>): number;
  /** The resourceVersion of this node's last successful Lease renewal, carried from now on. */
  setRenewal(version: string): void;
  /** This node's Lease renew period when stretched (undefined: its member record's), carried from now on. */
  setRenewPeriod(ms: number | undefined): void;
  /**
   * Heartbeats every `intervalMs × factor` from now on (1: the configured interval). Back to 1,
   * one is sent at once. Only while the heartbeats carry a stretched renew period (receivers
   * allow a silence that much longer: membership.ts `heartbeatTimeoutOf`).
   */
  setPace(factor: number): void;
}

/** Parses a heartbeat endpoint as published on a Lease: `host:port` or `[v6]:port`. */
export function parseEndpoint(value: string | undefined): { host: string; port: number } | undefined {
  if (!value) return undefined;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  if (!m) return undefined;
  return { host: m[1] as string, port: Number(m[2]) };
}

export function formatEndpoint(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) as the IPv4 address it maps; others unchanged. */
function unmapped(host: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  return m ? (m[1] as string) : host;
}

/** Encodes a message; exported for tests. */
export function encodeHeartbeat(m: HeartbeatMessage, key?: Buffer): Buffer {
  const filter = m.filter?.encode();
  const body = JSON.stringify({
    v: 2,
    n: m.node,
    i: m.incarnation,
    s: m.seq,
    ...(m.claims !== undefined ? { c: m.claims } : {}),
    ...(m.claimsCut !== undefined ? { t: m.claimsCut } : {}),
    ...(m.leaving ? { l: 1 } : {}),
    ...(m.renewal ? { r: m.renewal } : {}),
    ...(m.query !== undefined ? { q: m.query } : {}),
    ...(filter !== undefined ? { w: filter.w, wk: filter.k } : {}),
    ...(m.answer !== undefined ? { a: m.answer } : {}),
    ...(m.ack !== undefined ? { k: m.ack } : {}),
    ...(m.renewPeriodMs !== undefined ? { p: m.renewPeriodMs } : {}),
  });
  if (key === undefined) return Buffer.from(body);
  const mac = createHmac("sha256", key).update(body).digest("hex");
  return Buffer.from(`${body}\n${mac}`);
}

/** Decodes and authenticates a datagram; `undefined` when it must be ignored. */
export function decodeHeartbeat(buf: Buffer, key?: Buffer): HeartbeatMessage | undefined {
  const text = buf.toString("utf8");
  const nl = text.indexOf("\n");
  const body = nl < 0 ? text : text.slice(0, nl);
  if (key !== undefined) {
    if (nl < 0) return undefined;
    const got = Buffer.from(text.slice(nl + 1), "hex");
    const want = createHmac("sha256", key).update(body).digest();
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if ((r.v !== 1 && r.v !== 2) || typeof r.n !== "string" || typeof r.i !== "string" || typeof r.s !== "number") return undefined;
  if (r.v === 1 ? !Array.isArray(r.c) : r.c !== undefined && !Array.isArray(r.c)) return undefined;
  if (Array.isArray(r.c) && !r.c.every((x) => typeof x === "string")) return undefined;
  if ((r.r !== undefined && typeof r.r !== "string") || (r.t !== undefined && typeof r.t !== "string")) return undefined;
  const filter = r.w !== undefined ? AddressFilter.decode(r.w, r.wk) : undefined;
  if (r.w !== undefined && filter === undefined) return undefined;
  const id = (x: unknown): number | undefined => (typeof x === "number" && Number.isSafeInteger(x) ? x : undefined);
  const query = id(r.q);
  const answer = id(r.a);
  const ack = id(r.k);
  const period = id(r.p);
  return {
    node: r.n,
    incarnation: r.i,
    seq: r.s,
    ...(r.c !== undefined ? { claims: r.c as string[] } : {}),
    ...(r.t !== undefined ? { claimsCut: r.t as string } : {}),
    leaving: r.l === 1,
    ...(r.r ? { renewal: r.r } : {}),
    ...(query !== undefined ? { query } : {}),
    ...(filter !== undefined ? { filter } : {}),
    ...(answer !== undefined ? { answer } : {}),
    ...(ack !== undefined ? { ack } : {}),
    ...(period !== undefined && period > 0 ? { renewPeriodMs: period } : {}),
  };
}

export interface HeartbeatEvents {
  message: [HeartbeatMessage, { address: string; port: number }];
  rejected: [string];
}

/** What a datagram replies to: a query's id, or the heartbeat it acknowledges. */
export interface Reply {
  answer?: number;
  ack?: number;
}

/** The reply a received message calls for: an answer to a query, an acknowledgement of a plain heartbeat. */
export function replyFor(m: HeartbeatMessage, acknowledge: boolean): Reply | undefined {
  if (m.query !== undefined) return { answer: m.query };
  const plain = m.answer === undefined && m.ack === undefined && !m.leaving;
  return acknowledge && plain ? { ack: m.seq } : undefined;
}

/** When each recent datagram was sent, by sequence number; forgotten after a minute. */
export class SendLog {
  private readonly at = new Map<number, { at: number; interest: number }>();

  /** `interest`: the interest version a query carries (claims.ts). */
  sent(seq: number, now: number, interest = 0): void {
    this.at.set(seq, { at: now, interest });
    for (const [old, t] of this.at) {
      if (now - t.at < 60_000) break;
      this.at.delete(old);
    }
  }

  /**
   * The message as received, with when this endpoint sent what it answers or acknowledges. An
   * answer acknowledges too: the query it answers was a heartbeat (to a successor also asked).
   */
  stamp(m: HeartbeatMessage): HeartbeatMessage {
    const asked = m.answer !== undefined ? this.at.get(m.answer) : undefined;
    const ackedSentAt = m.ack !== undefined ? this.at.get(m.ack)?.at : asked?.at;
    if (asked === undefined && ackedSentAt === undefined) return m;
    return { ...m, ...(asked !== undefined ? { askedAt: asked.at, askedInterest: asked.interest } : {}), ...(ackedSentAt !== undefined ? { ackedSentAt } : {}) };
  }
}

/** What one message to one peer says. */
export interface Outgoing {
  leaving: boolean;
  query: boolean;
  reply?: Reply | undefined;
  claims: ClaimsPart | undefined;
  filter?: AddressFilter | undefined;
}

/** The claims part and filter of a message to `node` (claims.ts decides which claims). */
export function composeFor(book: ClaimsBook, node: string, leaving: boolean, query: boolean, reply?: Reply): Outgoing {
  return { leaving, query, reply, claims: book.outgoing(node, leaving, reply?.answer !== undefined), filter: query ? book.interest() : undefined };
}

/** One outgoing message of `node`; `seq` is fresh, and a query's id is its seq. */
export function outgoing(o: { node: string; incarnation: string; seq: number; renewal: string; renewPeriodMs?: number | undefined }, out: Outgoing): HeartbeatMessage {
  const { leaving, query, claims, filter, reply = {} } = out;
  return {
    node: o.node,
    incarnation: o.incarnation,
    seq: o.seq,
    ...(claims !== undefined ? { claims: claims.claims } : {}),
    ...(claims?.cut !== undefined ? { claimsCut: claims.cut } : {}),
    leaving,
    ...(o.renewal ? { renewal: o.renewal } : {}),
    ...(query ? { query: o.seq } : {}),
    ...(filter !== undefined ? { filter } : {}),
    ...(reply.answer !== undefined ? { answer: reply.answer } : {}),
    ...(reply.ack !== undefined ? { ack: reply.ack } : {}),
    ...(o.renewPeriodMs !== undefined ? { renewPeriodMs: o.renewPeriodMs } : {}),
  };
}

/** Sends our heartbeats to the current peer list and emits the authenticated ones we receive. */
export class Heartbeat extends EventEmitter<HeartbeatEvents> implements HeartbeatTransport {
  private socket4: Socket | undefined;
  private socket6: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private seq = Date.now();
  private peers: HeartbeatPeer[] = [];
  private readonly book: ClaimsBook;
  private renewal = "";
  private renewPeriodMs: number | undefined;
  private pace = 1;
  private readonly log = new SendLog();
  private readonly lastSeq = new Map<string, number>();
  sent = 0;
  readonly opts: HeartbeatOptions;

  constructor(opts: HeartbeatOptions) {
    super();
    this.opts = opts;
    this.book = new ClaimsBook(opts.claimsOnRequest !== true);
  }

  async start(): Promise<void> {
    const bind = this.opts.bindAddress;
    const families: (4 | 6)[] = bind !== undefined ? [isIP(bind) === 6 ? 6 : 4] : [4, 6];
    // Port 0 (tests): the second family takes the port the first one got, as in production.
    let port = this.opts.port;
    let firstError: unknown;
    for (const family of families) {
      try {
        const sock = await this.open(family, bind ?? (family === 6 ? "::" : "0.0.0.0"), port);
        if (port === 0) port = sock.address().port;
        if (family === 6) this.socket6 = sock;
        else this.socket4 = sock;
      } catch (err) {
        // A host without this family (IPv6 disabled, say) keeps the other one.
        firstError ??= err;
      }
    }
    if (this.socket4 === undefined && this.socket6 === undefined) throw firstError;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.send(false), this.opts.intervalMs * this.pace);
    this.timer.unref();
  }

  private async open(family: 4 | 6, address: string, port: number): Promise<Socket> {
    // IPv6-only, so an IPv4 socket can hold the same port whatever net.ipv6.bindv6only says.
    const sock = createSocket({ type: family === 6 ? "udp6" : "udp4", reuseAddr: true, ...(family === 6 ? { ipv6Only: true } : {}) });
    sock.on("message", (buf, rinfo) => this.onMessage(buf, rinfo));
    sock.on("error", () => {});
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        sock.bind(port, address, () => {
          sock.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      try {
        sock.close();
      } catch {
        // never bound
      }
      throw err;
    }
    return sock;
  }

  /** The local port of this endpoint's socket of `family`, once started (undefined without one). */
  localPort(family: 4 | 6): number | undefined {
    return (family === 6 ? this.socket6 : this.socket4)?.address().port;
  }

  /** Sets the targets; a peer newly asked for a reply is sent to at once. */
  setPeers(peers: HeartbeatPeer[]): void {
    const asked = new Set(this.peers.filter((p) => p.query).map((p) => p.node));
    this.peers = peers.filter((p) => p.node !== this.opts.node);
    const newlyAsked = this.peers.filter((p) => p.query && !asked.has(p.node));
    if (newlyAsked.length > 0 && this.timer !== undefined) this.sendTo(newlyAsked, false);
  }

  setRenewal(version: string): void {
    this.renewal = version;
  }

  setRenewPeriod(ms: number | undefined): void {
    this.renewPeriodMs = ms;
  }

  setPace(factor: number): void {
    if (factor === this.pace) return;
    const faster = factor < this.pace;
    this.pace = factor;
    if (this.timer === undefined) return;
    this.schedule();
    if (faster) this.send(false);
  }

  /** Updates the advertised claims; sends at once when they changed. */
  setClaims(claims: string[]): void {
    if (this.book.set(claims)) this.send(false);
  }

  setInterest(ips: ReadonlySet<string>): number {
    return this.book.setInterest(ips);
  }

  send(leaving: boolean): void {
    this.sendTo(this.peers, leaving);
  }

  private now(): number {
    return this.opts.now?.() ?? performance.now();
  }

  private encode(out: Outgoing): Buffer {
    const seq = ++this.seq;
    this.log.sent(seq, this.now(), out.query ? this.book.interestVersion : 0);
    const { node, incarnation } = this.opts;
    return encodeHeartbeat(outgoing({ node, incarnation, seq, renewal: this.renewal, renewPeriodMs: this.renewPeriodMs }, out), this.opts.key);
  }

  /** Peers told the same (same claims part, both asked or both not) share one datagram. */
  private sendTo(peers: readonly { node: string; host: string; port: number; query?: boolean }[], leaving: boolean, reply?: Reply): void {
    const encoded: Map<ClaimsPart | undefined, Buffer>[] = [new Map(), new Map()];
    for (const p of peers) {
      const host = unmapped(p.host);
      const sock = isIP(host) === 6 ? this.socket6 : this.socket4;
      if (sock === undefined) continue;
      const out = composeFor(this.book, p.node, leaving, p.query === true && !leaving, reply);
      const same = encoded[out.query ? 1 : 0]!;
      let buf = same.get(out.claims);
      if (buf === undefined) same.set(out.claims, (buf = this.encode(out)));
      sock.send(buf, p.port, host, () => {});
      this.sent++;
    }
  }

  private onMessage(buf: Buffer, rinfo: { address: string; port: number }): void {
    const m = decodeHeartbeat(buf, this.opts.key);
    if (m === undefined) {
      this.emit("rejected", rinfo.address);
      return;
    }
    if (m.node === this.opts.node) return;
    const k = `${m.node}/${m.incarnation}`;
    const last = this.lastSeq.get(k);
    if (last !== undefined && m.seq <= last) {
      this.emit("rejected", rinfo.address);
      return;
    }
    this.lastSeq.set(k, m.seq);
    if (m.query !== undefined) this.book.noteFilter(m.node, m.filter, this.now());
    this.emit("message", this.log.stamp(m), rinfo);
    const reply = replyFor(m, this.opts.acknowledge === true);
    if (reply !== undefined && this.timer !== undefined) this.sendTo([{ node: m.node, host: rinfo.address, port: rinfo.port }], false, reply);
  }

  async stop(sendLeaving: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (sendLeaving) {
      this.book.clear();
      this.send(true);
    }
    // Give the leaving datagrams a moment to leave the socket before closing it.
    await new Promise((r) => setTimeout(r, 5));
    for (const s of [this.socket4, this.socket6]) {
      if (s) await new Promise<void>((r) => s.close(() => r()));
    }
    this.socket4 = this.socket6 = undefined;
  }
}
