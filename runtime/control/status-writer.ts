// The status writer (one speaker, elected like an address with a fixed key, so N speakers do not
// race): `status.loadBalancer.ingress` of every Service with an assignment, Warning events for
// refused and unannounced addresses, stale `announced-by` entries (through service-marks.ts), and
// each AddressPool's usage in its status. A pass runs on every new plan and every `resyncMs`;
// its writes go through a keyed work queue, so a write the API server keeps refusing (403, say)
// is retried with exponential backoff, not on every pass or tick.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ALLOCATED_IN_CLUSTER, ANNOTATIONS, EVENT_REASONS } from "../../provider/core/model/contract.ts";
import { poolOf } from "../allocator/cluster-input.ts";
import type { PoolCondition } from "../allocator/pool-status.ts";
import { serviceKey, type Plan } from "../election/plan.ts";
import { withTimeout, type Clock } from "./clock.ts";
import { isOurs, type ClusterCache } from "./cluster-view.ts";
import type { EventSink } from "./events.ts";
import type { WriteApi } from "./kube-api.ts";
import type { ControlMetrics } from "./metrics.ts";
import type { ServiceMarks } from "./service-marks.ts";
import type { ControlState } from "./state.ts";
import { desiredIngress, poolUsage, sameIngress, type IngressEntry, type PoolStatusUsage } from "./status.ts";
import { WorkQueue, type Outcome } from "./work-queue.ts";

/**
 * Ingress and pool writes of the status writer in flight at once (a burst is written in parallel,
 * not one by one). One speaker writes every Service's status: under a burst a write waits about a
 * second at a busy API server, and 8 at a time fell behind 32 clients creating Services.
 */
const STATUS_WRITES_IN_FLIGHT = 32;

export interface StatusWriterOptions {
  state: ControlState;
  cache: ClusterCache;
  marks: ServiceMarks;
  api: WriteApi;
  events: EventSink;
  clock: Clock;
  logger: Logger;
  metrics: ControlMetrics;
  resyncMs: number;
}

const INGRESS = "ingress:";
const POOL = "pool:";

export class StatusWriter {
  private readonly o: StatusWriterOptions;
  /** Ingress (`ingress:<namespace>/<name>`) and pool usage (`pool:<name>`) writes, with backoff. */
  readonly queue: WorkQueue;
  private syncedVersion = -1;
  private syncedAt = -Infinity;
  private readonly reported = new Set<string>();
  private readonly noOwnerReported = new Map<string, string>();
  private usage: { version: number; byPool: Map<string, PoolStatusUsage> } = { version: -1, byPool: new Map() };
  /** Per cached Service object, its key and stamp (service-stamps.ts) when it needed no write. */
  private readonly foundRight = new WeakMap<k8s.V1Service, { key: string; stamp: number }>();

  constructor(o: StatusWriterOptions) {
    this.o = o;
    this.queue = new WorkQueue({ handler: (key) => this.write(key), concurrency: STATUS_WRITES_IN_FLIGHT, clock: o.clock });
  }

  /** Runs a pass when this node is the status writer and the plan changed or a resync is due. */
  maybeSync(now: number): void {
    if (!this.o.state.isStatusWriter()) return;
    const planChanged = this.syncedVersion !== this.o.state.planVersion();
    if (!planChanged && now - this.syncedAt <= this.o.resyncMs) return;
    this.syncedVersion = this.o.state.planVersion();
    this.syncedAt = now;
    // A resync looks at every Service again; a new plan only at those whose stamp moved.
    this.sync(!planChanged);
  }

  stop(): void {
    this.queue.stop();
  }

  /** One pass: queue the writes that differ, record the warnings. */
  private sync(full: boolean): void {
    const { state, cache, events } = this.o;
    const plan = state.plan();
    for (const s of cache.ourServices()) {
      const checked = this.foundRight.get(s);
      if (!full && checked !== undefined && state.serviceStamp(checked.key) === checked.stamp) continue;
      const key = serviceKey({ namespace: s.metadata?.namespace ?? "", name: s.metadata?.name ?? "" });
      const stamp = state.serviceStamp(key);
      if (cache.serviceTarget(key) === undefined) continue;
      // Without an assignment the ingress is not l2lb's to write: it may be a previous
      // implementation's, which the allocator keeps when it migrates the Service (the allocator
      // clears what it releases itself).
      const assigned = s.metadata?.annotations?.[ANNOTATIONS.assignedIps] !== undefined;
      const ingressWrong = assigned && !sameIngress(s.status?.loadBalancer?.ingress, desiredIngress(plan, key));
      if (ingressWrong) this.enqueue(INGRESS + key);
      // announced-by entries of addresses nobody announces any more (owner crashed, Local
      // Service lost its endpoints, address withdrawn).
      const stale = this.o.marks.staleAnnouncedBy(key, s.metadata?.annotations?.[ANNOTATIONS.announcedBy]).size > 0;
      if (stale) this.o.marks.enqueue(s);
      if (!ingressWrong && !stale) this.foundRight.set(s, { key, stamp });
    }
    // Refusals: once per (service, address, reason) while it lasts.
    const now = new Set<string>();
    for (const r of plan.refusals) {
      const k = `${r.service}|${r.ip}|${r.reason}`;
      now.add(k);
      if (this.reported.has(k)) continue;
      const target = cache.serviceTarget(r.service);
      if (target) events.emit(target, "Warning", r.reason === "Conflict" ? EVENT_REASONS.addressConflict : "AddressRefused", r.message);
      this.reported.add(k);
    }
    for (const k of [...this.reported]) if (!now.has(k)) this.reported.delete(k);
    // No owner: once per transition.
    for (const a of plan.addresses) {
      const prev = this.noOwnerReported.get(a.ip);
      if (a.noOwnerReason !== undefined && prev !== a.noOwnerReason) {
        const msg =
          a.noOwnerReason === "NoReadyEndpoint"
            ? `${a.ip} is not announced: externalTrafficPolicy Local and no eligible node runs a ready endpoint`
            : a.noOwnerReason === "NoSubnet"
              ? `${a.ip} is not announced: no live speaker has an interface on a subnet containing it`
              : `${a.ip} is not announced: no eligible node (exclusion label, NetworkUnavailable, advertisement node selectors or interfaces)`;
        for (const k of a.services) {
          const t = cache.serviceTarget(k);
          if (t) events.emit(t, "Warning", a.noOwnerReason, msg);
        }
        this.noOwnerReported.set(a.ip, a.noOwnerReason);
      } else if (a.noOwnerReason === undefined) this.noOwnerReported.delete(a.ip);
    }
    // Pool usage.
    const usage = this.poolUsage(plan);
    for (const p of cache.source.pools.list()) {
      const name = p.metadata?.name ?? "";
      if (!this.samePoolUsage(p.status, usage.get(name))) this.enqueue(POOL + name);
    }
  }

  /** A key waiting out a retry is not brought forward by a pass. */
  private enqueue(key: string): void {
    if (!this.queue.isBackingOff(key)) this.queue.add(key);
  }

  private poolUsage(plan: Plan): Map<string, PoolStatusUsage> {
    const version = this.o.state.planVersion();
    if (this.usage.version !== version) this.usage = { version, byPool: poolUsage(plan, this.o.cache.source.pools.list().map(poolOf)) };
    return this.usage.byPool;
  }

  private samePoolUsage(status: unknown, want: PoolStatusUsage | undefined): boolean {
    if (want === undefined) return true;
    const cur = (status ?? {}) as Partial<PoolStatusUsage>;
    return cur.assigned === want.assigned && cur.announced === want.announced && cur.services === want.services && cur.addresses === want.addresses;
  }

  /** The queue's handler: what the object needs is computed when its turn comes. */
  private async write(key: string): Promise<Outcome> {
    if (!this.o.state.isStatusWriter()) return "done";
    return key.startsWith(INGRESS) ? this.writeIngress(key, key.slice(INGRESS.length)) : this.writePool(key, key.slice(POOL.length));
  }

  private async writeIngress(queueKey: string, key: string): Promise<Outcome> {
    const { cache, metrics: m } = this.o;
    const [namespace, name] = key.split("/") as [string, string];
    const s = cache.source.services.get(name, namespace);
    const target = cache.serviceTarget(key);
    if (s === undefined || target === undefined || !isOurs(s, this.o.state.defaultClass) || s.metadata?.annotations?.[ANNOTATIONS.assignedIps] === undefined) return "done";
    const want = desiredIngress(this.o.state.plan(), key);
    if (sameIngress(s.status?.loadBalancer?.ingress, want)) return "done";
    // The allocator already told an in-cluster Service its address (IPAllocated): no second event.
    const announce = s.metadata?.annotations?.[ANNOTATIONS.allocatedBy] !== ALLOCATED_IN_CLUSTER;
    try {
      await withTimeout(this.o.api.patchServiceIngress(namespace, name, undefined, want as IngressEntry[]), 5000, "service status patch", this.o.clock);
      m.statusWrites.inc({ kind: "ingress", result: "ok" });
      if (announce && want.length > 0) this.o.events.emit(target, "Normal", "AddressAssigned", `external address ${want.map((w) => w.ip).join(", ")}`);
      return "done";
    } catch (err) {
      m.statusWrites.inc({ kind: "ingress", result: "error" });
      this.failed(queueKey, { service: key }, "cannot write service status", err);
      return "retry";
    }
  }

  private async writePool(queueKey: string, name: string): Promise<Outcome> {
    const pool = this.o.cache.source.pools.get(name);
    const want = this.poolUsage(this.o.state.plan()).get(name);
    if (pool === undefined || want === undefined || this.samePoolUsage(pool.status, want)) return "done";
    try {
      await withTimeout(this.o.api.patchPoolStatus(name, { ...want }), 5000, "pool status patch", this.o.clock);
      this.o.metrics.statusWrites.inc({ kind: "pool", result: "ok" });
      return "done";
    } catch (err) {
      this.o.metrics.statusWrites.inc({ kind: "pool", result: "error" });
      this.failed(queueKey, { pool: name }, "cannot write pool status", err);
      return "retry";
    }
  }

  /** Warns on the first failure of a key, then only at debug level while it keeps failing. */
  private failed(queueKey: string, what: Record<string, string>, message: string, err: unknown): void {
    const e = err instanceof Error ? err.message : String(err);
    if (this.queue.failuresOf(queueKey) === 0) this.o.logger.warn({ ...what, err: e }, `${message}; retrying with backoff`);
    else this.o.logger.debug({ ...what, err: e }, `${message} again`);
  }

  /** The allocator's writes of a pool's `Usable` condition (lastTransitionTime kept while the status holds). */
  async patchPoolCondition(name: string, condition: PoolCondition): Promise<void> {
    const pool = this.o.cache.source.pools.get(name);
    const current = ((pool?.status ?? {}) as { conditions?: PoolCondition[] }).conditions?.find((c) => c.type === condition.type);
    const lastTransitionTime = current?.status === condition.status && current.lastTransitionTime ? current.lastTransitionTime : new Date().toISOString();
    await withTimeout(this.o.api.patchPoolStatus(name, { conditions: [{ ...condition, lastTransitionTime }] }), 5000, "pool condition patch", this.o.clock);
  }
}
