// Fakes for the controller's fast tests: an in-memory API server (the writes of kube-api.ts, the
// informers of sources.ts, one client per speaker that can be cut off), a heartbeat network
// whose links can be dropped, a data plane that records what it was told, and a fake clock with
// a wall clock. No root, no sockets, no real time.
import { EventEmitter } from "node:events";
import type * as k8s from "@kubernetes/client-node";
import { FakeClock } from "../allocator/testing.ts";
import type { DataPlaneEvents, EligibleInterface, OwnedAddress } from "../dataplane/types.ts";
import type { DataPlaneLike } from "./announcer.ts";
import type { Clock } from "./clock.ts";
import { ClaimsBook } from "./claims.ts";
import { composeFor, outgoing, replyFor, SendLog, type Reply, type HeartbeatEvents, type HeartbeatMessage, type HeartbeatOptions, type HeartbeatPeer, type HeartbeatTransport } from "./heartbeat.ts";
import type { ControlApi } from "./kube-api.ts";
import type { ClusterSource, CustomObject, SourceFactory, SourceKind, SourcesOptions } from "./sources.ts";

/** A fake clock that also tells wall-clock time (Lease renew times), moving with it. */
export class TestClock extends FakeClock implements Clock {
  static readonly EPOCH = Date.parse("2026-01-01T00:00:00Z");
  wallNow(): number {
    return TestClock.EPOCH + this.now();
  }
}

/**
 * One speaker's view of a {@link TestClock} that can be frozen, as SIGSTOP or a VM pause freezes
 * a process: time goes on, but its timers and the events delivered to it wait until it thaws,
 * then run in the order they came.
 */
export class FreezableClock implements Clock {
  private readonly base: TestClock;
  private frozen = false;
  private readonly deferred: (() => void)[] = [];

  constructor(base: TestClock) {
    this.base = base;
  }

  now(): number {
    return this.base.now();
  }

  wallNow(): number {
    return this.base.wallNow();
  }

  setTimeout(fn: () => void, ms: number): unknown {
    return this.base.setTimeout(this.gate(fn), ms);
  }

  clearTimeout(handle: unknown): void {
    this.base.clearTimeout(handle);
  }

  /** `fn`, run at once or, while frozen, when thawed. */
  gate<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args) => {
      if (this.frozen) this.deferred.push(() => fn(...args));
      else fn(...args);
    };
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const fn of this.deferred.splice(0)) fn();
  }
}

/** An error as the client raises it: `code` is the HTTP status. */
export function httpError(code: number, message = `HTTP ${code}`): Error {
  return Object.assign(new Error(message), { code });
}

export interface ApiCall {
  at: number;
  client: string;
  method: keyof ControlApi;
  /** `namespace/name` or `name` of the object written. */
  target: string;
  ok: boolean;
}

type Store = Map<string, k8s.KubernetesObject>;

const key = (namespace: string | undefined, name: string): string => (namespace ? `${namespace}/${name}` : name);
const keyOfObject = (o: k8s.KubernetesObject): string => key(o.metadata?.namespace, o.metadata?.name ?? "");

class StoreCache<T extends k8s.KubernetesObject> implements k8s.ObjectCache<T> {
  private readonly store: Store;
  constructor(store: Store) {
    this.store = store;
  }
  get(name: string, namespace?: string): T | undefined {
    return this.store.get(key(namespace, name)) as T | undefined;
  }
  list(namespace?: string): T[] {
    return [...this.store.values()].filter((o) => namespace === undefined || o.metadata?.namespace === namespace) as T[];
  }
}

interface Watcher {
  client: string | undefined;
  onChange: SourcesOptions["onChange"];
  pending: (() => void)[];
}

/** An in-memory API server: objects by kind, resourceVersions, and watchers told of every change. */
export class FakeApiServer {
  readonly clock: Clock;
  private readonly stores = new Map<SourceKind, Store>();
  private readonly watchers = new Set<Watcher>();
  private rv = 1;
  readonly calls: ApiCall[] = [];
  readonly events: k8s.CoreV1Event[] = [];
  /** The API server is unreachable for every client. */
  down = false;
  /** Clients (speakers) cut off from the API server. */
  readonly blocked = new Set<string>();
  /** Refuses matching writes with this HTTP status (a 403 from a missing RBAC rule, say). */
  refuse: ((method: keyof ControlApi, target: string) => number | undefined) | undefined;

  constructor(clock: Clock) {
    this.clock = clock;
    for (const k of ["service", "endpointslice", "node", "namespace", "pool", "advertisement", "lease"] as SourceKind[]) this.stores.set(k, new Map());
  }

  private store(kind: SourceKind): Store {
    return this.stores.get(kind) as Store;
  }

  /** Creates or replaces an object (as an admin would), telling the watchers. */
  put<T extends k8s.KubernetesObject>(kind: SourceKind, obj: T): T {
    const copy = structuredClone(obj);
    const stored = this.store(kind).get(keyOfObject(obj));
    // Like the API server: a uid per created object, a resourceVersion per write.
    const uid = stored?.metadata?.uid ?? `uid-${keyOfObject(obj)}-${this.rv}`;
    copy.metadata = { ...copy.metadata, resourceVersion: String(this.rv++), uid };
    const existed = stored !== undefined;
    this.store(kind).set(keyOfObject(copy), copy);
    this.notify(kind, existed ? "update" : "add", copy);
    return structuredClone(copy);
  }

  remove(kind: SourceKind, namespace: string | undefined, name: string): void {
    const obj = this.store(kind).get(key(namespace, name));
    if (obj === undefined) return;
    this.store(kind).delete(key(namespace, name));
    // A delete event carries the resourceVersion of the deletion.
    this.notify(kind, "delete", { ...obj, metadata: { ...obj.metadata, resourceVersion: String(this.rv++) } });
  }

  get<T extends k8s.KubernetesObject>(kind: SourceKind, namespace: string | undefined, name: string): T | undefined {
    return this.store(kind).get(key(namespace, name)) as T | undefined;
  }

  /** Calls of `method` (optionally on `target`). */
  callsOf(method: keyof ControlApi, target?: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method && (target === undefined || c.target === target));
  }

  private notify(kind: SourceKind, verb: "add" | "update" | "delete", obj: k8s.KubernetesObject): void {
    for (const w of this.watchers) {
      w.pending.push(() => w.onChange(kind, verb, obj));
      this.flush(w);
    }
  }

  /** Delivers a watcher's pending events, unless its client is cut off (a watch resumes later). */
  private flush(w: Watcher): void {
    if (this.down || (w.client !== undefined && this.blocked.has(w.client))) return;
    const events = w.pending.splice(0);
    // Informers deliver after the write returned, not inside it.
    for (const e of events) queueMicrotask(e);
  }

  /** Resumes the watches of clients no longer cut off (called on every API call). */
  private resumeWatches(): void {
    for (const w of this.watchers) if (w.pending.length > 0) this.flush(w);
  }

  /** Informers of one speaker (`client`: its events wait while it is cut off): caches over the server's objects. */
  sources(client?: string): SourceFactory {
    return (o) => {
      // Like an informer's label selector: only the Leases of the label asked for.
      const leaseLabel = o.leaseLabel;
      const onChange: SourcesOptions["onChange"] = (kind, verb, obj) => {
        if (kind === "lease" && leaseLabel !== undefined && obj.metadata?.labels?.[leaseLabel] === undefined) return;
        o.onChange(kind, verb, obj);
      };
      const watcher: Watcher = { client, onChange, pending: [] };
      let started = false;
      const source: ClusterSource = {
        services: new StoreCache<k8s.V1Service>(this.store("service")),
        endpointSlices: new StoreCache<k8s.V1EndpointSlice>(this.store("endpointslice")),
        nodes: new StoreCache<k8s.V1Node>(this.store("node")),
        namespaces: new StoreCache<k8s.V1Namespace>(this.store("namespace")),
        pools: new StoreCache<CustomObject>(this.store("pool")),
        advertisements: new StoreCache<CustomObject>(this.store("advertisement")),
        leases: new StoreCache<k8s.V1Lease>(this.store("lease")),
        lastError: undefined,
        start: async () => {
          started = true;
          this.watchers.add(watcher);
          for (const [kind, store] of this.stores) for (const obj of store.values()) onChange(kind, "add", obj);
        },
        stop: async () => {
          this.watchers.delete(watcher);
        },
        isSynced: () => started,
      };
      return source;
    };
  }

  /** The API client of one speaker. */
  client(name: string): ControlApi {
    const call = async <T>(method: keyof ControlApi, target: string, fn: () => T): Promise<T> => {
      await Promise.resolve();
      this.resumeWatches();
      const record: ApiCall = { at: this.clock.now(), client: name, method, target, ok: false };
      this.calls.push(record);
      if (this.down || this.blocked.has(name)) throw new Error("connect ECONNREFUSED");
      const refused = this.refuse?.(method, target);
      if (refused !== undefined) throw httpError(refused);
      const out = fn();
      record.ok = true;
      return out;
    };
    const leaseOf = (namespace: string, leaseName: string): k8s.V1Lease => {
      const l = this.get<k8s.V1Lease>("lease", namespace, leaseName);
      if (l === undefined) throw httpError(404);
      return l;
    };
    const writeLease = (namespace: string, body: k8s.V1Lease, create: boolean): k8s.V1Lease => {
      const current = this.get<k8s.V1Lease>("lease", namespace, body.metadata?.name ?? "");
      if (create && current !== undefined) throw httpError(409);
      if (!create && current === undefined) throw httpError(404);
      const rv = body.metadata?.resourceVersion;
      if (!create && rv !== undefined && rv !== current?.metadata?.resourceVersion) throw httpError(409);
      return this.put("lease", { ...body, metadata: { ...body.metadata, namespace } });
    };
    const service = (namespace: string, svcName: string, rv: string | undefined): k8s.V1Service => {
      const s = this.get<k8s.V1Service>("service", namespace, svcName);
      if (s === undefined) throw httpError(404);
      if (rv !== undefined && rv !== s.metadata?.resourceVersion) throw httpError(409);
      return structuredClone(s);
    };
    const mergeAnnotations = (current: Record<string, string> | undefined, patch: Record<string, string | null>): Record<string, string> => {
      const next = { ...current };
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete next[k];
        else next[k] = v;
      }
      return next;
    };
    return {
      readLease: (namespace, leaseName) => call("readLease", key(namespace, leaseName), () => structuredClone(leaseOf(namespace, leaseName))),
      createLease: (namespace, body) => call("createLease", key(namespace, body.metadata?.name ?? ""), () => writeLease(namespace, body, true)),
      replaceLease: (namespace, leaseName, body) => call("replaceLease", key(namespace, leaseName), () => writeLease(namespace, body, false)),
      deleteLease: (namespace, leaseName, rv) =>
        call("deleteLease", key(namespace, leaseName), () => {
          const l = leaseOf(namespace, leaseName);
          if (rv !== undefined && rv !== l.metadata?.resourceVersion) throw httpError(409);
          this.remove("lease", namespace, leaseName);
        }),
      createEvent: (namespace, body) =>
        call("createEvent", key(namespace, body.metadata?.name ?? ""), () => {
          this.events.push(structuredClone(body));
        }),
      patchEvent: (namespace, eventName, patch) =>
        call("patchEvent", key(namespace, eventName), () => {
          const e = this.events.find((x) => x.metadata?.name === eventName && x.metadata.namespace === namespace);
          if (e === undefined) throw httpError(404);
          e.count = patch.count;
        }),
      patchServiceAnnotations: (namespace, svcName, rv, annotations) =>
        call("patchServiceAnnotations", key(namespace, svcName), () => {
          const s = service(namespace, svcName, rv);
          this.put("service", { ...s, metadata: { ...s.metadata, annotations: mergeAnnotations(s.metadata?.annotations, annotations) } });
        }),
      patchServiceIngress: (namespace, svcName, rv, ingress) =>
        call("patchServiceIngress", key(namespace, svcName), () => {
          const s = service(namespace, svcName, rv);
          this.put("service", { ...s, status: { ...s.status, loadBalancer: { ingress: structuredClone(ingress) as k8s.V1LoadBalancerIngress[] } } });
        }),
      patchNodeAnnotations: (nodeName, annotations) =>
        call("patchNodeAnnotations", nodeName, () => {
          const n = this.get<k8s.V1Node>("node", undefined, nodeName);
          if (n === undefined) throw httpError(404);
          this.put("node", { ...n, metadata: { ...n.metadata, annotations: mergeAnnotations(n.metadata?.annotations, annotations) } });
        }),
      patchPoolStatus: (poolName, status) =>
        call("patchPoolStatus", poolName, () => {
          const p = this.get<CustomObject>("pool", undefined, poolName);
          if (p === undefined) throw httpError(404);
          this.put("pool", { ...p, status: { ...(p.status as object), ...status } });
        }),
    };
  }
}

/** Heartbeat endpoints that reach each other in memory; links can be dropped one way or both. */
export class FakeHeartbeatNetwork {
  private readonly clock: Clock;
  readonly endpoints = new Map<string, FakeHeartbeat>();
  /** `from>to` links that drop every datagram. */
  readonly dropped = new Set<string>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** A node's endpoint; with a {@link FreezableClock}, it sends and receives nothing while frozen. */
  endpoint(o: HeartbeatOptions, clock: Clock = this.clock): FakeHeartbeat {
    const e = new FakeHeartbeat(o, clock, this);
    this.endpoints.set(o.node, e);
    return e;
  }

  /** Drops every datagram from and to `node` (a crashed or partitioned node). */
  isolate(node: string): void {
    for (const other of this.endpoints.keys()) {
      this.dropped.add(`${node}>${other}`);
      this.dropped.add(`${other}>${node}`);
    }
  }

  deliver(from: string, to: string, m: HeartbeatMessage): boolean {
    if (this.dropped.has(`${from}>${to}`)) return false;
    const e = this.endpoints.get(to);
    if (e === undefined || !e.running) return false;
    queueMicrotask(() => e.receive(m, to));
    return true;
  }
}

export class FakeHeartbeat extends EventEmitter<HeartbeatEvents> implements HeartbeatTransport {
  sent = 0;
  running = false;
  peers: HeartbeatPeer[] = [];
  private readonly book: ClaimsBook;
  private renewal = "";
  private renewPeriodMs: number | undefined;
  private pace = 1;
  private readonly log = new SendLog();
  private seq = 0;
  private timer: unknown;
  private readonly o: HeartbeatOptions;
  private readonly clock: Clock;
  private readonly net: FakeHeartbeatNetwork;

  constructor(o: HeartbeatOptions, clock: Clock, net: FakeHeartbeatNetwork) {
    super();
    this.o = o;
    this.clock = clock;
    this.net = net;
    this.book = new ClaimsBook(o.claimsOnRequest !== true);
  }

  async start(): Promise<void> {
    this.running = true;
    this.schedule();
  }

  private schedule(): void {
    this.clock.clearTimeout(this.timer);
    const loop = (): void => {
      if (!this.running) return;
      this.send(false);
      this.timer = this.clock.setTimeout(loop, this.o.intervalMs * this.pace);
    };
    this.timer = this.clock.setTimeout(loop, this.o.intervalMs * this.pace);
  }

  async stop(sendLeaving: boolean): Promise<void> {
    if (sendLeaving) {
      this.book.clear();
      this.send(true);
    }
    this.running = false;
    this.clock.clearTimeout(this.timer);
  }

  setPeers(peers: HeartbeatPeer[]): void {
    const asked = new Set(this.peers.filter((p) => p.query).map((p) => p.node));
    this.peers = peers.filter((p) => p.node !== this.o.node);
    const newlyAsked = this.peers.filter((p) => p.query && !asked.has(p.node));
    if (newlyAsked.length > 0 && this.running) this.sendTo(newlyAsked, false);
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
    if (!this.running) return;
    this.schedule();
    if (faster) this.send(false);
  }

  receive(m: HeartbeatMessage, address: string): void {
    const emit = (): void => {
      if (!this.running) return;
      if (m.query !== undefined) this.book.noteFilter(m.node, m.filter, this.clock.now());
      this.emit("message", this.log.stamp(m), { address, port: 7473 });
      const reply = replyFor(m, this.o.acknowledge === true);
      if (reply !== undefined) this.sendTo([{ node: m.node }], false, reply);
    };
    if (this.clock instanceof FreezableClock) this.clock.gate(emit)();
    else emit();
  }

  setClaims(claims: string[]): void {
    if (this.book.set(claims)) this.send(false);
  }

  setInterest(ips: ReadonlySet<string>): number {
    return this.book.setInterest(ips);
  }

  private send(leaving: boolean): void {
    this.sendTo(this.peers, leaving);
  }

  private sendTo(peers: readonly { node: string; query?: boolean }[], leaving: boolean, reply?: Reply): void {
    for (const p of peers) {
      const seq = ++this.seq;
      const out = composeFor(this.book, p.node, leaving, p.query === true && !leaving, reply);
      this.log.sent(seq, this.clock.now(), out.query ? this.book.interestVersion : 0);
      const m = outgoing({ node: this.o.node, incarnation: this.o.incarnation, seq, renewal: this.renewal, renewPeriodMs: this.renewPeriodMs }, out);
      this.net.deliver(this.o.node, p.node, m);
      this.sent++;
    }
  }
}

/** A data plane that records the owned sets it is given. */
export class FakeDataPlane extends EventEmitter<DataPlaneEvents> implements DataPlaneLike {
  owned: OwnedAddress[] = [];
  /** Every owned set handed over, with the time. */
  readonly history: { at: number; ips: string[] }[] = [];
  private readonly clock: Clock;
  private readonly eligible: EligibleInterface[];

  constructor(clock: Clock, address: string, prefixLength = 24) {
    super();
    this.clock = clock;
    this.eligible = [{ name: "eth0", ifindex: 2, mac: "02:00:00:00:00:01", up: true, addresses: [{ address, prefixLength }], subnets: [] }];
  }

  /** Until when (clock time) the control plane's last confirmation lets this data plane answer. */
  answerUntil = Infinity;

  setOwned(addresses: OwnedAddress[]): void {
    this.owned = addresses;
    this.history.push({ at: this.clock.now(), ips: addresses.map((a) => a.ip).sort() });
  }

  answerFor(ms: number): void {
    this.answerUntil = this.clock.now() + ms;
  }

  interfaces(): EligibleInterface[] {
    return this.eligible;
  }

  /** The addresses answered for now: owned, and the answer deadline not passed. */
  ips(): string[] {
    return this.clock.now() < this.answerUntil ? this.owned.map((a) => a.ip).sort() : [];
  }
}
