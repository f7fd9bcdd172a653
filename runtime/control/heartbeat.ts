// Direct liveness signal between speakers: one UDP datagram to every peer every `intervalMs`
// (default 200 ms), and at once whenever the set of answered addresses changes.
//
// Datagram: JSON {v:1, n: node, i: incarnation, s: seq, c: [addresses answered], l?: 1 (leaving)}
// followed, when a key is configured, by "\n" and the hex HMAC-SHA256 of the JSON under the
// per-cluster key. Receivers ignore datagrams with a bad or missing MAC, unknown versions,
// or sequence numbers not above the last one seen for that incarnation (replays).
import { createHmac, timingSafeEqual } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { EventEmitter } from "node:events";
import { isIP } from "node:net";

export interface HeartbeatMessage {
  node: string;
  incarnation: string;
  seq: number;
  claims: string[];
  leaving: boolean;
}

export interface HeartbeatPeer {
  node: string;
  host: string;
  port: number;
}

export interface HeartbeatOptions {
  node: string;
  incarnation: string;
  /** Address to bind; default `0.0.0.0` (or `::` when `family` is 6). */
  bindAddress?: string;
  port: number;
  intervalMs: number;
  key?: Buffer | undefined;
}

/** Encodes a message; exported for tests. */
export function encodeHeartbeat(m: HeartbeatMessage, key?: Buffer): Buffer {
  const body = JSON.stringify({ v: 1, n: m.node, i: m.incarnation, s: m.seq, c: m.claims, ...(m.leaving ? { l: 1 } : {}) });
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
  if (r.v !== 1 || typeof r.n !== "string" || typeof r.i !== "string" || typeof r.s !== "number" || !Array.isArray(r.c)) return undefined;
  if (!r.c.every((x) => typeof x === "string")) return undefined;
  return { node: r.n, incarnation: r.i, seq: r.s, claims: r.c as string[], leaving: r.l === 1 };
}

export interface HeartbeatEvents {
  message: [HeartbeatMessage, { address: string; port: number }];
  rejected: [string];
}

/** Sends our heartbeats to the current peer list and emits the authenticated ones we receive. */
export class Heartbeat extends EventEmitter<HeartbeatEvents> {
  private socket4: Socket | undefined;
  private socket6: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private seq = Date.now();
  private peers: HeartbeatPeer[] = [];
  private claims: string[] = [];
  private readonly lastSeq = new Map<string, number>();
  sent = 0;
  readonly opts: HeartbeatOptions;

  constructor(opts: HeartbeatOptions) {
    super();
    this.opts = opts;
  }

  async start(): Promise<void> {
    const bind = this.opts.bindAddress;
    const family = bind !== undefined && isIP(bind) === 6 ? 6 : 4;
    const sock = createSocket({ type: family === 6 ? "udp6" : "udp4", reuseAddr: true });
    sock.on("message", (buf, rinfo) => this.onMessage(buf, rinfo));
    sock.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(this.opts.port, bind ?? (family === 6 ? "::" : "0.0.0.0"), () => {
        sock.off("error", reject);
        resolve();
      });
    });
    if (family === 6) this.socket6 = sock;
    else this.socket4 = sock;
    this.timer = setInterval(() => this.send(false), this.opts.intervalMs);
    this.timer.unref();
  }

  setPeers(peers: HeartbeatPeer[]): void {
    this.peers = peers.filter((p) => p.node !== this.opts.node);
  }

  /** Updates the advertised claims; sends at once when they changed. */
  setClaims(claims: string[]): void {
    const sorted = [...claims].sort();
    const changed = sorted.length !== this.claims.length || sorted.some((c, i) => c !== this.claims[i]);
    this.claims = sorted;
    if (changed) this.send(false);
  }

  send(leaving: boolean): void {
    const buf = encodeHeartbeat({ node: this.opts.node, incarnation: this.opts.incarnation, seq: ++this.seq, claims: this.claims, leaving }, this.opts.key);
    for (const p of this.peers) {
      const sock = isIP(p.host) === 6 ? this.socket6 : this.socket4;
      if (sock === undefined) continue;
      sock.send(buf, p.port, p.host, () => {});
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
    this.emit("message", m, rinfo);
  }

  async stop(sendLeaving: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (sendLeaving) {
      this.claims = [];
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
