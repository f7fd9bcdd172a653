import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { canonicalIp, cidrContains, formatMac, multicastMac, parseIp, parseMac, solicitedNode } from "./addr.ts";
import { readSelected, validateSelection, watchLinks, type LinkRecord } from "./interfaces.ts";
import { DataPlaneMetrics, type Protocol } from "./metrics.ts";
import { loadAddon, type PacketSocket, type Responder } from "./socket.ts";
import type {
  DataPlaneEvents,
  DataPlaneOptions,
  EligibleInterface,
  GratuitousOptions,
  InterfaceSelection,
  OwnedAddress,
  OwnedBinding,
} from "./types.ts";

/** MetalLB's schedule: 5 rounds 1.1 s apart, no periodic refresh. */
export const DEFAULT_GRATUITOUS: Required<GratuitousOptions> = { count: 5, intervalMs: 1100, refreshSeconds: 0 };
const DUPLICATE_LOG_INTERVAL_MS = 10_000;

interface Desired {
  ip: string;
  /** 4 or 16 bytes. */
  bytes: Buffer;
  slot: number;
  spec: OwnedAddress;
  gratuitous: Required<GratuitousOptions>;
}

interface Binding {
  desired: Desired;
  timer: NodeJS.Timeout | undefined;
}

interface PortRuntime {
  link: LinkRecord;
  sock: PacketSocket;
  responder: Responder;
  mac: Buffer;
  /** Solicited-node group MAC (hex) → number of owned addresses needing it. */
  groups: Map<string, number>;
  promiscuous: boolean;
  bound: Map<string, Binding>;
  announceErrors: number;
}

function resolveGratuitous(base: Required<GratuitousOptions>, o: GratuitousOptions | undefined): Required<GratuitousOptions> {
  // Most addresses use the defaults: share one object rather than hold a copy per address.
  if (o === undefined || Object.values(o).every((v) => v === undefined)) return base;
  const g = { ...base, ...Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) } as Required<GratuitousOptions>;
  if (!Number.isInteger(g.count) || g.count < 0 || g.count > 100) throw new Error(`gratuitous.count must be an integer 0..100, got ${g.count}`);
  if (!Number.isFinite(g.intervalMs) || g.intervalMs < 10) throw new Error(`gratuitous.intervalMs must be ≥ 10, got ${g.intervalMs}`);
  if (!Number.isFinite(g.refreshSeconds) || g.refreshSeconds < 0) throw new Error(`gratuitous.refreshSeconds must be ≥ 0, got ${g.refreshSeconds}`);
  return g;
}

const sameGratuitous = (a: Required<GratuitousOptions>, b: Required<GratuitousOptions>): boolean =>
  a.count === b.count && a.intervalMs === b.intervalMs && a.refreshSeconds === b.refreshSeconds;

const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  (a === undefined && b === undefined) || (a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]));

const sameAddresses = (a: LinkRecord, b: LinkRecord): boolean =>
  a.addresses.length === b.addresses.length && a.addresses.every((x, i) => x.address === b.addresses[i]!.address && x.prefixLength === b.addresses[i]!.prefixLength);

/**
 * One per speaker process. Emits `"duplicate"` ({@link DuplicateEvent}), `"link"`
 * ({@link LinkEvent}: a selected interface went up or down, or disappeared) and `"interfaces"`
 * (the selected set or one of its addresses changed).
 *
 * Each owned address is answered on the interfaces it is bound to (see {@link OwnedAddress}),
 * with that interface's MAC, while the link is up; when a link comes back up its addresses are
 * announced again.
 */
export class DataPlane extends EventEmitter<DataPlaneEvents> {
  readonly #log: Logger;
  readonly #metrics: DataPlaneMetrics;
  readonly #gratuitous: Required<GratuitousOptions>;
  readonly #pollMs: number;
  readonly #realtime: boolean;
  #selection: InterfaceSelection | undefined;
  readonly #ports = new Map<string, PortRuntime>();
  #desired = new Map<string, Desired>();
  #closed = false;
  #stopWatch: (() => void) | undefined;
  #poll: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshAgain = false;
  readonly #duplicateLogged = new Map<string, number>();
  #ipvsWarned = false;
  /** performance.now() until which the control plane's last confirmation holds; Infinity: no deadline. */
  #answerUntil = Infinity;

  private constructor(opts: DataPlaneOptions) {
    super();
    this.#log = opts.logger.child({ component: "dataplane" });
    this.#metrics = new DataPlaneMetrics(opts.registry);
    this.#gratuitous = resolveGratuitous(DEFAULT_GRATUITOUS, opts.gratuitous);
    this.#pollMs = Math.max(1, opts.pollSeconds ?? 30) * 1000;
    this.#realtime = opts.realtime ?? process.env.L2LB_REALTIME !== "0";
    if (opts.interfaces) validateSelection(opts.interfaces);
    this.#selection = opts.interfaces;
  }

  /**
   * Opens packet sockets on the selected interfaces and starts watching the interface table.
   * Rejects when packet sockets cannot be opened at all (missing CAP_NET_RAW, addon not built).
   */
  static async open(opts: DataPlaneOptions): Promise<DataPlane> {
    loadAddon();
    const dp = new DataPlane(opts);
    try {
      await dp.#refreshNow(true);
    } catch (err) {
      await dp.close();
      throw err;
    }
    dp.#stopWatch = watchLinks(
      () => dp.#refresh(),
      (err) => dp.#log.warn({ err: err.message }, "interface watch"),
    );
    dp.#poll = setInterval(() => dp.#refresh(), dp.#pollMs);
    dp.#poll.unref();
    dp.#log.info({ interfaces: dp.interfaces().map((i) => i.name) }, "data plane open");
    return dp;
  }

  /**
   * Answers (and announces) for `ms` more milliseconds, until the next call: past that, the
   * receive threads and the gratuitous sends are silent. The control plane calls this on every
   * tick with the earliest moment a peer could have taken over from this node, so a process that
   * was frozen (a VM pause, SIGSTOP) sends nothing for an address that moved while it was away.
   * Never called (standalone mode): no deadline.
   */
  answerFor(ms: number): void {
    this.#answerUntil = ms === Infinity ? Infinity : performance.now() + Math.max(0, ms);
    for (const rt of this.#ports.values()) rt.responder.answerFor(ms);
  }

  /**
   * Declares the complete set of owned addresses. New addresses are answered from now on and
   * announced with a gratuitous burst; addresses no longer listed stop being answered before
   * this returns. Unchanged addresses are left alone (no new burst). Invalid input throws before
   * anything changes.
   */
  setOwned(addresses: OwnedAddress[]): void {
    if (this.#closed) throw new Error("DataPlane is closed");
    // Validate everything first: nothing changes when any entry is invalid.
    const checked = new Map<string, { spec: OwnedAddress; gratuitous: Required<GratuitousOptions>; bytes: Buffer }>();
    for (const a of addresses) {
      // An address already answered for is its canonical text: no need to parse it again.
      const ip = this.#desired.has(a.ip) ? a.ip : canonicalIp(a.ip);
      if (checked.has(ip)) throw new Error(`address ${ip} listed twice`);
      if (a.interfaces !== undefined && (!Array.isArray(a.interfaces) || a.interfaces.some((n) => typeof n !== "string"))) throw new Error(`address ${ip}: interfaces must be a list of names`);
      checked.set(ip, { spec: a, gratuitous: resolveGratuitous(this.#gratuitous, a.gratuitous), bytes: this.#desired.get(ip)?.bytes ?? parseIp(ip) });
    }
    const next = new Map<string, Desired>();
    const rescheduled: Desired[] = [];
    for (const [ip, { spec, gratuitous, bytes }] of checked) {
      const old = this.#desired.get(ip);
      if (old) {
        if (!sameGratuitous(old.gratuitous, gratuitous)) rescheduled.push(old);
        if (!sameList(old.spec.interfaces, spec.interfaces)) this.#log.debug({ ip, interfaces: spec.interfaces }, "address interfaces changed");
        old.spec = spec;
        old.gratuitous = gratuitous;
        next.set(ip, old);
        continue;
      }
      const protocol: Protocol = bytes.length === 4 ? "arp" : "ndp";
      next.set(ip, { ip, bytes, slot: this.#metrics.slot(ip, protocol), spec, gratuitous });
    }
    const previous = this.#desired;
    this.#desired = next;
    for (const ip of previous.keys()) if (!next.has(ip)) this.#log.info({ ip }, "address released");
    for (const ip of next.keys()) if (!previous.has(ip)) this.#log.info({ ip }, "address owned");
    this.#reconcile();
    // A changed schedule applies from now on (the refresh period), without a new burst.
    for (const d of rescheduled) {
      for (const rt of this.#ports.values()) {
        const b = rt.bound.get(d.ip);
        if (b && b.desired === d && rt.link.up) this.#announce(rt, b, false);
      }
    }
  }

  /** Replaces the interface selection given to {@link open}; takes effect after the table is re-read. */
  async setInterfaces(selection: InterfaceSelection | undefined): Promise<void> {
    if (selection) validateSelection(selection);
    this.#selection = selection;
    await this.#refresh();
  }

  /** Selected interfaces, as last read from the kernel. */
  interfaces(): EligibleInterface[] {
    return [...this.#ports.values()].map(({ link: l }) => ({
      name: l.name,
      ifindex: l.ifindex,
      mac: l.mac,
      up: l.up,
      addresses: l.addresses.map((a) => ({ ...a })),
      subnets: [...l.subnets],
    }));
  }

  /** Every (address, interface) pair currently answered (while that interface's link is up). */
  owned(): OwnedBinding[] {
    const out: OwnedBinding[] = [];
    for (const rt of this.#ports.values()) for (const ip of rt.bound.keys()) out.push({ ip, interface: rt.link.name });
    return out.sort((a, b) => (a.ip === b.ip ? a.interface.localeCompare(b.interface) : a.ip.localeCompare(b.ip)));
  }

  /** Re-reads the interface table now (also done on kernel notifications and every `pollSeconds`). */
  refresh(): Promise<void> {
    return this.#refresh();
  }

  /** Stops answering, cancels timers, closes sockets, unregisters the metrics. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWatch?.();
    if (this.#poll) clearInterval(this.#poll);
    await this.#refreshing?.catch(() => undefined);
    for (const rt of [...this.#ports.values()]) this.#closePort(rt);
    this.#ports.clear();
    this.#desired.clear();
    this.#metrics.close();
    // Sockets close on the next loop turn; let that happen before resolving.
    await new Promise<void>((r) => setImmediate(r));
  }

  #refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#refreshing) {
      this.#refreshAgain = true;
      return this.#refreshing;
    }
    this.#refreshing = (async () => {
      try {
        do {
          this.#refreshAgain = false;
          await this.#refreshNow(false);
        } while (this.#refreshAgain && !this.#closed);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, "reading interfaces failed");
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  async #refreshNow(initial: boolean): Promise<void> {
    const { all, selected } = await readSelected(this.#selection);
    if (this.#closed) return;
    await this.#checkIpvs(all);
    let changed = false;
    const seen = new Set<string>();
    for (const link of selected) {
      seen.add(link.name);
      let rt = this.#ports.get(link.name);
      if (rt && (rt.link.ifindex !== link.ifindex || rt.link.mac !== link.mac)) {
        // Re-created or re-addressed: a fresh socket, and fresh announcements with the new MAC.
        this.#log.info({ interface: link.name, ifindex: link.ifindex, mac: link.mac }, "interface changed identity");
        this.#closePort(rt);
        rt = undefined;
      }
      if (!rt) {
        try {
          rt = this.#openPort(link);
        } catch (err) {
          const e = err as Error & { errno?: number };
          // Without CAP_NET_RAW nothing can ever work: fail loudly at start.
          if (initial && (e.errno === 1 || e.errno === 13)) throw new Error(`cannot open packet socket on ${link.name} (needs CAP_NET_RAW): ${e.message}`, { cause: err });
          this.#log.error({ interface: link.name, err: e.message }, "cannot open packet socket");
          continue;
        }
        changed = true;
        this.#log.info({ interface: link.name, ifindex: link.ifindex, mac: link.mac, up: link.up, subnets: link.subnets }, "interface selected");
        continue;
      }
      const wasUp = rt.link.up;
      if (!sameAddresses(rt.link, link)) changed = true;
      rt.link = link;
      if (wasUp !== link.up) {
        this.#log.info({ interface: link.name, up: link.up }, "link state");
        if (link.up) for (const b of rt.bound.values()) this.#announce(rt, b);
        else for (const b of rt.bound.values()) this.#stopTimer(b);
        this.emit("link", { interface: link.name, up: link.up });
      }
    }
    for (const rt of [...this.#ports.values()]) {
      if (seen.has(rt.link.name)) continue;
      this.#log.info({ interface: rt.link.name }, "interface gone");
      this.#closePort(rt);
      changed = true;
      this.emit("link", { interface: rt.link.name, up: false });
    }
    const macs = Buffer.concat([...this.#ports.values()].map((p) => p.mac).slice(0, 64));
    for (const rt of this.#ports.values()) rt.responder.setOurMacs(macs);
    this.#reconcile();
    if (changed && !initial) this.emit("interfaces");
  }

  /**
   * kube-proxy in IPVS mode binds every service address to kube-ipvs0; unless ARP is strict
   * (arp_ignore ≥ 1), the kernel then answers ARP for our addresses too, from every interface —
   * the "wrong or several MACs" failure. Warn once per occurrence.
   */
  async #checkIpvs(all: LinkRecord[]): Promise<void> {
    if (!all.some((l) => l.name === "kube-ipvs0")) {
      this.#ipvsWarned = false;
      return;
    }
    if (this.#ipvsWarned) return;
    let arpIgnore: number;
    try {
      arpIgnore = Number((await readFile("/proc/sys/net/ipv4/conf/all/arp_ignore", "utf8")).trim());
    } catch {
      return;
    }
    if (arpIgnore >= 1) return;
    this.#ipvsWarned = true;
    this.#log.warn(
      { arp_ignore: arpIgnore },
      "kube-ipvs0 present and net.ipv4.conf.all.arp_ignore is 0: the kernel will also answer ARP for service addresses from every interface; enable kube-proxy strictARP (arp_ignore=1, arp_announce=2)",
    );
  }

  #openPort(link: LinkRecord): PortRuntime {
    const { PacketSocket, Responder } = loadAddon();
    const mac = parseMac(link.mac);
    const responder = new Responder(mac, this.#metrics.counters);
    if (this.#answerUntil !== Infinity) responder.answerFor(this.#answerUntil - performance.now());
    const sock = new PacketSocket(link.ifindex, responder, (slot, other, protocol) => this.#onDuplicate(link.name, slot, other, protocol), this.#realtime);
    const rt: PortRuntime = { link, sock, responder, mac, groups: new Map(), promiscuous: false, bound: new Map(), announceErrors: 0 };
    this.#ports.set(link.name, rt);
    const { priority } = sock.stats();
    if (this.#realtime && priority !== "realtime") this.#log.info({ interface: link.name, priority }, "receive thread runs without real-time priority (needs CAP_SYS_NICE)");
    return rt;
  }

  #closePort(rt: PortRuntime): void {
    for (const ip of [...rt.bound.keys()]) this.#unbind(rt, ip);
    rt.sock.close();
    if (this.#ports.get(rt.link.name) === rt) this.#ports.delete(rt.link.name);
  }

  #onDuplicate(iface: string, slot: number, mac: string, protocol: Protocol): void {
    const ip = this.#metrics.ipOfSlot(slot);
    if (!ip || this.#closed) return;
    const key = `${ip}|${mac}|${iface}`;
    const now = Date.now();
    const last = this.#duplicateLogged.get(key);
    if (last !== undefined && now - last < DUPLICATE_LOG_INTERVAL_MS) return;
    if (this.#duplicateLogged.size > 10_000) this.#duplicateLogged.clear();
    this.#duplicateLogged.set(key, now);
    this.#log.warn({ ip, mac, interface: iface, protocol }, "another station answers for or claims an owned address");
    this.emit("duplicate", { ip, mac, interface: iface, protocol });
  }

  /** Interfaces an address should be answered on, given the current selection. */
  #targets(d: Desired): Set<string> {
    const ports = [...this.#ports.values()];
    if (d.spec.interfaces) return new Set(ports.filter((p) => d.spec.interfaces!.includes(p.link.name)).map((p) => p.link.name));
    const onSubnet = ports.filter((p) => p.link.addresses.some((a) => cidrContains(`${a.address}/${a.prefixLength}`, d.ip)));
    return new Set((onSubnet.length ? onSubnet : ports).map((p) => p.link.name));
  }

  #reconcile(): void {
    for (const rt of this.#ports.values()) {
      for (const [ip, b] of [...rt.bound]) {
        const d = this.#desired.get(ip);
        if (!d) this.#unbind(rt, ip);
        else if (b.desired !== d) this.#unbind(rt, ip);
      }
    }
    for (const d of this.#desired.values()) {
      const targets = this.#targets(d);
      for (const rt of this.#ports.values()) {
        const has = rt.bound.has(d.ip);
        const want = targets.has(rt.link.name);
        if (want && !has) this.#bind(rt, d);
        else if (!want && has) this.#unbind(rt, d.ip);
      }
    }
  }

  #bind(rt: PortRuntime, d: Desired): void {
    rt.responder.add(d.bytes, d.slot);
    if (d.bytes.length === 16) this.#join(rt, d.bytes);
    const b: Binding = { desired: d, timer: undefined };
    rt.bound.set(d.ip, b);
    this.#log.debug({ ip: d.ip, interface: rt.link.name }, "answering");
    if (rt.link.up) this.#announce(rt, b);
  }

  #unbind(rt: PortRuntime, ip: string): void {
    const b = rt.bound.get(ip);
    if (!b) return;
    rt.responder.remove(b.desired.bytes);
    rt.bound.delete(ip);
    this.#stopTimer(b);
    if (b.desired.bytes.length === 16) this.#leave(rt, b.desired.bytes);
    this.#log.debug({ ip, interface: rt.link.name }, "no longer answering");
  }

  #join(rt: PortRuntime, ip6: Buffer): void {
    const mac = multicastMac(solicitedNode(ip6));
    const key = mac.toString("hex");
    const n = rt.groups.get(key) ?? 0;
    rt.groups.set(key, n + 1);
    if (n > 0) return;
    if (rt.sock.membership(mac, true)) return;
    // The driver refused the group (e.g. its filter table is full): see everything instead.
    if (!rt.promiscuous) {
      rt.promiscuous = rt.sock.promiscuous(true);
      this.#log.warn({ interface: rt.link.name, group: formatMac(mac), promiscuous: rt.promiscuous }, "cannot join solicited-node group; falling back to promiscuous mode");
    }
  }

  #leave(rt: PortRuntime, ip6: Buffer): void {
    const mac = multicastMac(solicitedNode(ip6));
    const key = mac.toString("hex");
    const n = rt.groups.get(key) ?? 0;
    if (n > 1) {
      rt.groups.set(key, n - 1);
      return;
    }
    rt.groups.delete(key);
    rt.sock.membership(mac, false);
  }

  #stopTimer(b: Binding): void {
    if (b.timer) clearTimeout(b.timer);
    b.timer = undefined;
  }

  /**
   * Starts (or restarts) the burst, followed by the periodic refresh if configured; with
   * `burst` false only the refresh schedule is (re)started.
   */
  #announce(rt: PortRuntime, b: Binding, burst = true): void {
    this.#stopTimer(b);
    const g = b.desired.gratuitous;
    let rounds = burst ? 0 : g.count;
    const tick = (): void => {
      b.timer = undefined;
      if (this.#closed || rt.bound.get(b.desired.ip) !== b || !rt.link.up) return;
      this.#sendGratuitous(rt, b.desired);
      rounds++;
      const next = rounds < g.count ? g.intervalMs : g.refreshSeconds > 0 ? g.refreshSeconds * 1000 : 0;
      if (next > 0) {
        b.timer = setTimeout(tick, next);
        b.timer.unref();
      }
    };
    if (rounds < g.count) tick();
    else if (g.refreshSeconds > 0) {
      b.timer = setTimeout(tick, g.refreshSeconds * 1000);
      b.timer.unref();
    }
  }

  #sendGratuitous(rt: PortRuntime, d: Desired): void {
    const r = rt.sock.announce(d.bytes, d.slot);
    if (r < 0) {
      // Logged on powers of two so that a persistent failure does not flood the log.
      rt.announceErrors++;
      if ((rt.announceErrors & (rt.announceErrors - 1)) === 0) this.#log.warn({ interface: rt.link.name, ip: d.ip, errno: -r, failures: rt.announceErrors }, "gratuitous send failed");
    }
  }
}
