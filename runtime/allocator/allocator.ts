// The in-cluster allocator: the elected speaker gives every LoadBalancer Service l2lb serves that
// has no assignment from a Pulumi stack an address, with the same planner the Pulumi provider and
// `l2lb plan` use. Bursts are batched (one plan per batch), every write goes through one keyed
// work queue with backoff, and the API client and clock are injected.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Assignment } from "../../provider/core/allocation/index.ts";
import { ALLOCATED_IN_CLUSTER, ANNOTATIONS, API_GROUP_VERSION, EVENT_REASONS, KINDS } from "../../provider/core/model/contract.ts";
import type { EventSink } from "../control/events.ts";
import { realClock, WorkQueue, type Clock, type Outcome } from "../control/work-queue.ts";
import { allocationInputOf, assignmentOf, servedServices, ServiceReadings } from "./cluster-input.ts";
import type { ClusterObject, ClusterSnapshot, ServedService } from "./cluster-input.ts";
import { decide, sameAssignment, type Desired } from "./decisions.ts";
import { inProcessPlanner, PLANNER_IDLE_MS, type AllocatorPlan, type Planner } from "./planner.ts";
import { poolCondition, sameCondition, type PoolCondition } from "./pool-status.ts";
import type { SetAsidePool } from "./pool-selection.ts";

/** The writes the allocator makes. */
export interface AllocatorApi {
  /** Merge-patches a Service's annotations (`null` removes one) on its resourceVersion. */
  patchServiceAnnotations(namespace: string, name: string, resourceVersion: string | undefined, annotations: Record<string, string | null>): Promise<void>;
  /** Replaces a Service's `status.loadBalancer.ingress`. */
  patchServiceIngress(namespace: string, name: string, ingress: k8s.V1LoadBalancerIngress[]): Promise<void>;
  /** Merge-patches an AddressPool's status with its `Usable` condition. */
  patchPoolCondition(name: string, condition: PoolCondition): Promise<void>;
}

export interface AllocatorOptions {
  api: AllocatorApi;
  events: EventSink;
  logger: Logger;
  registry: Registry;
  /** Also serve `type: LoadBalancer` Services without a loadBalancerClass. */
  defaultClass: boolean;
  /** The informers' current view. */
  snapshot: () => ClusterSnapshot;
  /** One Service from the informer's cache. */
  lookupService: (namespace: string, name: string) => k8s.V1Service | undefined;
  clock?: Clock;
  /** Changes arriving within this window are planned together. Default 50 ms. */
  batchMs?: number;
  /** Wait after becoming the allocator before the first plan, so the caches hold a predecessor's last writes. Default 1000 ms. */
  settleMs?: number;
  /** Where plans are computed. Default: in-process; the speaker passes a worker thread. */
  planner?: Planner;
  /**
   * Service writes in flight. Default 32: under a burst a PATCH waits about a second at a busy API
   * server, and 8 at a time could not keep up with 32 clients creating Services (README, "In-cluster
   * allocation", the benchmark).
   */
  writesInFlight?: number;
}

interface Metrics {
  plans: Counter;
  planSeconds: Histogram;
  writes: Counter;
  pending: Gauge;
  active: Gauge;
  dirty: Counter;
}

function metrics(registry: Registry): Metrics {
  const registers = [registry];
  return {
    plans: new Counter({ name: "l2lb_allocator_plans_total", help: "In-cluster allocation plans computed.", registers }),
    planSeconds: new Histogram({ name: "l2lb_allocator_plan_seconds", help: "Time to compute one in-cluster allocation plan.", buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers }),
    writes: new Counter({ name: "l2lb_allocator_writes_total", help: "Writes of the in-cluster allocator.", labelNames: ["kind", "result"], registers }),
    pending: new Gauge({ name: "l2lb_allocator_pending_services", help: "Services l2lb serves that have no address, with a reason.", registers }),
    active: new Gauge({ name: "l2lb_allocator_active", help: "1 on the speaker elected to allocate addresses.", registers }),
    dirty: new Counter({ name: "l2lb_allocator_replan_causes_total", help: "What asked the allocator to plan again: a watched kind, a write conflict, a failed plan.", labelNames: ["cause"], registers }),
  };
}

const serviceQueueKey = (key: string): string => `service:${key}`;
const poolQueueKey = (name: string): string => `pool:${name}`;

export class InClusterAllocator {
  private readonly o: AllocatorOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly m: Metrics;
  private readonly queue: WorkQueue;
  private active = false;
  private timer: unknown;
  private dirty = false;
  private lastPlanMs = 0;
  private planning = false;
  private stopped = false;
  private readonly planner: Planner;
  /** What each Service should carry, from the last plan. */
  private desired = new Map<string, Desired>();
  /** Assignments written (or queued) and not yet seen in the cache. */
  private readonly pending = new Map<string, Assignment>();
  /**
   * What was last written to each Service and the resourceVersion it was written on: while the
   * cache still holds that version, the write is not repeated.
   */
  private readonly written = new Map<string, { signature: string; base: string | undefined }>();
  private readonly reportedFailures = new Map<string, string>();
  private readonly reportedPools = new Map<string, string>();
  private conditions = new Map<string, PoolCondition>();
  private lastFailures = new Map<string, string>();
  private lastSetAside: SetAsidePool[] = [];
  private readings = new ServiceReadings();
  private idleTimer: unknown;

  constructor(options: AllocatorOptions) {
    this.o = options;
    this.clock = options.clock ?? realClock;
    this.log = options.logger.child({ component: "allocator" });
    this.m = metrics(options.registry);
    this.queue = new WorkQueue({ handler: (key) => this.process(key), clock: this.clock, concurrency: options.writesInFlight ?? 32 });
    this.planner = options.planner ?? inProcessPlanner();
  }

  /** Elected (and the API healthy) or not. Losing the role drops queued writes. */
  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    this.m.active.set(active ? 1 : 0);
    this.log.info(active ? "elected allocator: assigning addresses in the cluster" : "no longer the allocator");
    this.cancelTimer();
    if (active) this.schedule(this.o.settleMs ?? 1000);
    else this.queue.clear();
  }

  /** Something the plan reads changed: a watched kind (`service`, `node`, ...), `conflict` or `failed`. */
  markDirty(cause = "other"): void {
    this.m.dirty.inc({ cause });
    this.dirty = true;
    this.reschedule();
  }

  /** Schedules the next plan after the usual pause, unless one is scheduled already. */
  private reschedule(): void {
    if (this.active && this.timer === undefined) this.schedule(Math.max(this.o.batchMs ?? 50, 2 * this.lastPlanMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.active = false;
    this.cancelTimer();
    if (this.idleTimer !== undefined) this.clock.clearTimeout(this.idleTimer);
    this.queue.stop();
    await this.planner.close();
  }

  /** Pending Services with their reasons and the pools set aside, as of the last plan. */
  debugState(): unknown {
    return { active: this.active, pending: Object.fromEntries(this.lastFailures), setAside: this.lastSetAside, queued: this.queue.size };
  }

  private schedule(ms: number): void {
    this.dirty = true;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.active && this.dirty) void this.planNow();
    }, ms);
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One plan over the whole cluster (one at a time); queues every write it implies. */
  async planNow(): Promise<void> {
    if (this.planning) return;
    this.planning = true;
    try {
      await this.planOnce();
    } catch (err) {
      // Stopping ends a plan in progress (its thread is terminated): nothing failed.
      if (this.stopped) return;
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, "in-cluster allocation failed; planning again");
      this.m.dirty.inc({ cause: "failed" });
      this.dirty = true;
    } finally {
      this.planning = false;
      if (this.dirty) this.reschedule();
    }
  }

  /**
   * One plan. Its steps on the event loop are each O(Services); with 10,000 Services they take
   * tens of milliseconds apiece on a busy node, so the loop gets a turn between them (heartbeats
   * and the answer deadline must not wait for all of them together).
   */
  private async planOnce(): Promise<void> {
    this.dirty = false;
    const started = this.clock.now();
    const snapshot = this.o.snapshot();
    const served = servedServices(snapshot.services, this.o.defaultClass, this.readings);
    const byKey = new Map(served.map((s) => [s.key, s]));
    await nextTurn();
    this.forgetSeen(byKey);
    const { input, selection } = allocationInputOf(snapshot, served, this.pending, this.readings);
    await nextTurn();
    const result = await this.planner.plan(input);
    await nextTurn();
    this.lastPlanMs = this.clock.now() - started;
    this.forgetReadingsWhenIdle();
    this.m.plans.inc();
    this.m.planSeconds.observe(this.lastPlanMs / 1000);
    if (!this.active) return;
    if (!result.ok) {
      this.log.error({ problems: result.problems }, "in-cluster allocation failed as a whole; nothing written");
      return;
    }
    this.applyPlan(served, byKey, result, selection.setAside, snapshot.pools);
  }

  /** Idle as long as the planner thread is kept, the readings go too: the next plan reads every Service again. */
  private forgetReadingsWhenIdle(): void {
    if (this.idleTimer !== undefined) this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = this.clock.setTimeout(() => {
      this.idleTimer = undefined;
      this.readings = new ServiceReadings();
    }, PLANNER_IDLE_MS);
  }

  private applyPlan(
    served: readonly ServedService[],
    byKey: ReadonlyMap<string, ServedService>,
    plan: Extract<AllocatorPlan, { ok: true }>,
    setAside: SetAsidePool[],
    pools: readonly ClusterObject[],
  ): void {
    const decisions = decide(served, plan, new Set(setAside.map((s) => s.pool)));
    this.desired = decisions.writes;
    for (const [key, d] of decisions.writes) {
      if (d.kind === "assign") this.pending.set(key, d.assignment);
      else this.pending.delete(key);
      this.queue.add(serviceQueueKey(key));
    }
    for (const key of decisions.failures.keys()) this.pending.delete(key);
    this.reportFailures(byKey, decisions.failures);
    this.updatePools(setAside, pools);
    this.m.pending.set(decisions.failures.size);
  }

  /** Drops pending entries the cache now shows, and those of Services l2lb no longer serves. */
  private forgetSeen(byKey: ReadonlyMap<string, ServedService>): void {
    for (const [key, last] of this.written) {
      if (byKey.get(key)?.service.metadata?.resourceVersion !== last.base) this.written.delete(key);
    }
    for (const [key, assignment] of this.pending) {
      const s = byKey.get(key);
      if (s === undefined || s.origin === "stack" || (s.origin === "in-cluster" && sameAssignment(s.assigned, assignment))) this.pending.delete(key);
    }
  }

  private reportFailures(byKey: ReadonlyMap<string, ServedService>, failures: Map<string, string>): void {
    for (const [key, message] of failures) {
      if (this.reportedFailures.get(key) === message) continue;
      this.reportedFailures.set(key, message);
      const service = byKey.get(key)?.service;
      if (service !== undefined) this.o.events.emit(serviceTarget(service), "Warning", EVENT_REASONS.allocationFailed, message);
    }
    for (const key of [...this.reportedFailures.keys()]) if (!failures.has(key)) this.reportedFailures.delete(key);
    this.lastFailures = failures;
  }

  private updatePools(setAside: SetAsidePool[], pools: readonly ClusterObject[]): void {
    this.lastSetAside = setAside;
    const byName = new Map(setAside.map((s) => [s.pool, s]));
    this.conditions = new Map(pools.map((p) => [p.metadata?.name ?? "", poolCondition(byName.get(p.metadata?.name ?? ""))]));
    for (const p of pools) {
      const name = p.metadata?.name ?? "";
      const condition = this.conditions.get(name) as PoolCondition;
      const current = (p as { status?: { conditions?: PoolCondition[] } }).status?.conditions?.find((c) => c.type === condition.type);
      if (!sameCondition(current, condition)) this.queue.add(poolQueueKey(name));
      this.reportSetAside(p, byName.get(name));
    }
  }

  private reportSetAside(pool: ClusterObject, aside: SetAsidePool | undefined): void {
    const name = pool.metadata?.name ?? "";
    if (aside === undefined) {
      this.reportedPools.delete(name);
      return;
    }
    if (this.reportedPools.get(name) === aside.message) return;
    this.reportedPools.set(name, aside.message);
    const uid = (pool.metadata as { uid?: string } | undefined)?.uid;
    this.o.events.emit({ kind: KINDS.addressPool.kind, apiVersion: API_GROUP_VERSION, name, uid }, "Warning", EVENT_REASONS.poolSetAside, aside.message);
  }

  private async process(queueKey: string): Promise<Outcome> {
    if (!this.active) return "done";
    if (queueKey.startsWith("pool:")) return this.writePool(queueKey.slice("pool:".length));
    return this.writeService(queueKey.slice("service:".length));
  }

  private async writeService(key: string): Promise<Outcome> {
    const desired = this.desired.get(key);
    if (desired === undefined) return "done";
    const slash = key.indexOf("/");
    const service = this.o.lookupService(key.slice(0, slash), key.slice(slash + 1));
    if (service === undefined) return "done";
    const { assigned, origin } = assignmentOf(service);
    if (origin === "stack") return "done";
    if (desired.kind === "assign" ? origin === "in-cluster" && sameAssignment(assigned, desired.assignment) : origin === "none") return "done";
    const last = this.written.get(key);
    if (last !== undefined && last.base === service.metadata?.resourceVersion && last.signature === desiredSignature(desired)) return "done";
    const annotations = desired.kind === "assign" ? assignAnnotations(desired.assignment) : releaseAnnotations();
    try {
      await this.o.api.patchServiceAnnotations(service.metadata?.namespace ?? "default", service.metadata?.name ?? "", service.metadata?.resourceVersion, annotations);
    } catch (err) {
      return this.failed(key, desired.kind, err);
    }
    this.m.writes.inc({ kind: desired.kind, result: "ok" });
    this.written.set(key, { signature: desiredSignature(desired), base: service.metadata?.resourceVersion });
    this.announceWrite(service, desired, assigned);
    if (desired.kind === "release") return this.clearIngress(service, assigned?.ips ?? []);
    return "done";
  }

  /** After a release: the released addresses leave `status.loadBalancer.ingress` (nothing else does). */
  private async clearIngress(service: k8s.V1Service, released: readonly string[]): Promise<Outcome> {
    const ingress = service.status?.loadBalancer?.ingress ?? [];
    const kept = ingress.filter((i) => i.ip === undefined || !released.includes(i.ip));
    if (kept.length === ingress.length) return "done";
    try {
      await this.o.api.patchServiceIngress(service.metadata?.namespace ?? "default", service.metadata?.name ?? "", kept);
      return "done";
    } catch (err) {
      this.log.warn({ service: `${service.metadata?.namespace}/${service.metadata?.name}`, err: err instanceof Error ? err.message : String(err) }, "cannot remove released addresses from status");
      return "done";
    }
  }

  private announceWrite(service: k8s.V1Service, desired: Desired, before: Assignment | undefined): void {
    const key = `${service.metadata?.namespace}/${service.metadata?.name}`;
    if (desired.kind === "release") {
      this.log.info({ service: key, released: before?.ips, reason: desired.reason }, "released");
      this.o.events.emit(serviceTarget(service), "Warning", EVENT_REASONS.allocationFailed, `released ${before?.ips.join(", ") ?? "its address"}: ${desired.reason}`);
      return;
    }
    const text = `assigned ${desired.assignment.ips.join(", ")} from pool "${desired.assignment.pool}"${before ? ` (was ${before.ips.join(", ")})` : ""}`;
    this.log.info({ service: key, ips: desired.assignment.ips, pool: desired.assignment.pool }, "assigned");
    this.o.events.emit(serviceTarget(service), "Normal", EVENT_REASONS.allocated, text);
  }

  private failed(key: string, kind: string, err: unknown): Outcome {
    const code = (err as { code?: number }).code;
    this.m.writes.inc({ kind, result: code === 409 ? "conflict" : "error" });
    if (code === 404) {
      this.pending.delete(key);
      return "done";
    }
    if (code === 409) {
      // The Service changed since the cache saw it: the informer brings the change, and the plan
      // that follows queues the key again if it still needs a write.
      this.markDirty("conflict");
      return "done";
    }
    if (this.queue.failuresOf(serviceQueueKey(key)) % 10 === 0) {
      this.log.warn({ service: key, err: err instanceof Error ? err.message : String(err) }, "cannot write the assignment; retrying with backoff");
    }
    return "retry";
  }

  private async writePool(name: string): Promise<Outcome> {
    const condition = this.conditions.get(name);
    if (condition === undefined) return "done";
    try {
      await this.o.api.patchPoolCondition(name, condition);
      this.m.writes.inc({ kind: "pool", result: "ok" });
      return "done";
    } catch (err) {
      this.m.writes.inc({ kind: "pool", result: "error" });
      if ((err as { code?: number }).code === 404) return "done";
      if (this.queue.failuresOf(poolQueueKey(name)) % 10 === 0) this.log.warn({ pool: name, err: err instanceof Error ? err.message : String(err) }, "cannot write pool condition");
      return "retry";
    }
  }
}

/** Lets the event loop run what is due (timers, datagrams) before going on. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function desiredSignature(d: Desired): string {
  return d.kind === "assign" ? `assign|${d.assignment.pool}|${d.assignment.ips.join(",")}` : "release";
}

function assignAnnotations(a: Assignment): Record<string, string> {
  return { [ANNOTATIONS.assignedIps]: a.ips.join(","), [ANNOTATIONS.assignedPool]: a.pool, [ANNOTATIONS.allocatedBy]: ALLOCATED_IN_CLUSTER };
}

function releaseAnnotations(): Record<string, null> {
  return { [ANNOTATIONS.assignedIps]: null, [ANNOTATIONS.assignedPool]: null, [ANNOTATIONS.allocatedBy]: null };
}

function serviceTarget(s: k8s.V1Service): { kind: string; apiVersion: string; namespace: string; name: string; uid: string | undefined } {
  return { kind: "Service", apiVersion: "v1", namespace: s.metadata?.namespace ?? "default", name: s.metadata?.name ?? "", uid: s.metadata?.uid };
}
