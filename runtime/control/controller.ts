// The speaker's control loop in Kubernetes mode: a composition of small parts. Every `tickMs`
// (and on every watched change) it evaluates who is alive (membership.ts), plans again when the
// inputs changed (election/), lets the announcer decide what this node answers for and drive the
// data plane (announcer.ts), and has the writers put the outcome in the cluster: `announced-by`
// and departed Services (service-marks.ts), status and pool usage (status-writer.ts), this node's
// subnets (node-subnets.ts), events (events.ts). The API client, the informers, the heartbeat
// endpoint and the clock are injected (kube-api.ts, sources.ts, heartbeat.ts, clock.ts), so the
// whole loop runs against fakes in the fast tests (controller.test.ts).
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { InClusterAllocator } from "../allocator/allocator.ts";
import { workerPlanner, type Planner } from "../allocator/planner.ts";
import { ALLOCATOR_KEY, STATUS_WRITER_KEY, elect } from "../election/rank.ts";
import { PlanMemo, planAddresses } from "../election/plan.ts";
import type { AddressPlan, Plan } from "../election/plan.ts";
import { Announcer, type DataPlaneLike } from "./announcer.ts";
import { realClock, withTimeout, type Clock } from "./clock.ts";
import { ClusterCache } from "./cluster-view.ts";
import { EventRecorder, type EventTarget } from "./events.ts";
import { Heartbeat, formatEndpoint, type HeartbeatOptions, type HeartbeatTransport } from "./heartbeat.ts";
import type { ControlApi } from "./kube-api.ts";
import type { LeaseKeeper } from "./lease.ts";
import type { Liveness } from "./liveness.ts";
import { MEMBER_LABEL, SPEAKER_LEASE_LABEL } from "../../provider/core/model/contract.ts";
import type { Membership, WantedAddress } from "./membership.ts";
import { MeshMembership } from "./mesh-membership.ts";
import { RingMembership } from "./ring-membership.ts";
import { controlMetrics, type ControlMetrics } from "./metrics.ts";
import { NodeSubnets } from "./node-subnets.ts";
import type { Owned } from "./ownership.ts";
import { ServiceMarks } from "./service-marks.ts";
import { ServiceStamps } from "./service-stamps.ts";
import type { SourceFactory, SourceKind } from "./sources.ts";
import type { ControlState } from "./state.ts";
import type { IngressEntry } from "./status.ts";
import { StatusWriter } from "./status-writer.ts";

export type { DataPlaneLike } from "./announcer.ts";

export interface ControllerTiming {
  /** Lease renew period. Default 1000 ms. */
  renewIntervalMs: number;
  /** `leaseDurationSeconds`. Default 5. */
  leaseDurationSeconds: number;
  /** Slack on a missed renewal before the quick path declares a peer dead. Default 300 ms. */
  graceMs: number;
  /** Heartbeat period. Default 200 ms. */
  heartbeatIntervalMs: number;
  /** Heartbeats missing this long mean silent. Default 700 ms. */
  heartbeatTimeoutMs: number;
  /** Control loop period. Default 100 ms. */
  tickMs: number;
  /** Period of the full status resync by the status writer. Default 30 s. */
  resyncMs: number;
  /**
   * Configuration changes (Services, pools, nodes) that keep coming are planned at most once per
   * this period; the first few after a quiet spell are planned at once. Default 100 ms (the tick).
   */
  burstPlanIntervalMs: number;
}

/** Plans of configuration changes run at once after a quiet spell, before burstPlanIntervalMs paces them. */
const PLAN_BURST = 3;

/** Taken off the earliest takeover when confirming the data plane's answers. */
const ANSWER_MARGIN_MS = 50;

export const DEFAULT_TIMING: ControllerTiming = {
  renewIntervalMs: 1000,
  leaseDurationSeconds: 5,
  graceMs: 300,
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 700,
  tickMs: 100,
  resyncMs: 30_000,
  burstPlanIntervalMs: 100,
};

export interface ControllerOptions {
  node: string;
  namespace: string;
  /** Lease holder identity (the pod name); default the node name. */
  holder?: string;
  /** What the control plane writes through (kube-api.ts `kubeApi`, or a fake). */
  api: ControlApi;
  /** Builds the informers (sources.ts `Sources`, or a fake). */
  sources: SourceFactory;
  /** Default the real clock (performance.now and timers). */
  clock?: Clock;
  /** Builds the heartbeat endpoint; default the UDP one (heartbeat.ts). */
  heartbeat?: (options: HeartbeatOptions) => HeartbeatTransport;
  /** Where the allocator plans; default a worker thread. */
  planner?: Planner;
  logger: Logger;
  registry: Registry;
  dataPlane: DataPlaneLike;
  heartbeatPort: number;
  /** Address peers send heartbeats to; default the node's InternalIP, else its first published address. */
  heartbeatAddress?: string;
  heartbeatKey?: Buffer;
  timing?: Partial<ControllerTiming>;
  /** Also serve `type: LoadBalancer` Services without a loadBalancerClass (what MetalLB and OpenELB serve). */
  defaultClass?: boolean;
  /**
   * How speakers learn who is alive (runtime/control/README.md): `ring` (default) — heartbeats to
   * three ring successors, member records watched, liveness Leases read only on suspicion: O(N)
   * cluster-wide; `mesh` — heartbeats to every peer and every Lease renewal watched by every
   * speaker: O(N²), kept for small clusters and for comparison.
   */
  liveness?: LivenessMode;
}

export type LivenessMode = "ring" | "mesh";

export class Controller implements ControlState {
  readonly node: string;
  readonly defaultClass: boolean;
  readonly incarnation = `${Date.now().toString(36)}-${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
  readonly cache: ClusterCache;
  readonly membership: Membership;
  readonly announcer: Announcer;
  readonly marks: ServiceMarks;
  readonly status: StatusWriter;
  readonly nodeSubnets: NodeSubnets;
  readonly events: EventRecorder;
  readonly allocator: InClusterAllocator;
  private readonly o: ControllerOptions;
  private readonly t: ControllerTiming;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly m: ControlMetrics;

  private currentPlan: Plan = { addresses: [], refusals: [], serviceAddresses: new Map() };
  /** Kept between plans: a plan after a few Service changes recomputes only their addresses. */
  private readonly planMemo = new PlanMemo();
  private readonly stamps = new ServiceStamps();
  private currentPlanVersion = 0;
  private addressIndex: { version: number; map: Map<string, AddressPlan> } = { version: -1, map: new Map() };
  /** The plan's addresses this node owns, per plan version: every tick reads them, not the whole plan. */
  private mine: { version: number; plan: Plan } = { version: -1, plan: this.currentPlan };
  private aliveNow = new Map<string, Liveness>();
  private winners: { alive: ReadonlyMap<string, Liveness>; byKey: Map<string, string | undefined> } = { alive: this.aliveNow, byKey: new Map() };
  private readonly lastOwners = new Map<string, string | undefined>();
  /** The owner before the last change of each address's owner (asked before taking it). */
  private readonly previousOwners = new Map<string, string | undefined>();
  private dirty = true;
  /** The next plan must not wait: membership, API health or a link changed. */
  private planUrgent = true;
  private lastPlanAt = -Infinity;
  private lastPlanMs = 0;
  /** Plans of configuration changes that may run at once: one comes back per burstPlanIntervalMs, up to PLAN_BURST. */
  private planTokens = PLAN_BURST;
  private planTokensAt = 0;
  private announceDirty = true;
  private apiWasHealthy = false;
  /** Clock time until which the data plane was last told to answer. */
  private answerUntil = Infinity;
  /** After an absence: listening to the peers until then, answering nothing. */
  private rejoinUntil = -Infinity;
  private lastTickAt: number;
  private timer: unknown;
  private stopping = false;

  constructor(opts: ControllerOptions) {
    this.o = opts;
    this.node = opts.node;
    this.defaultClass = opts.defaultClass ?? false;
    this.t = { ...DEFAULT_TIMING, ...opts.timing };
    this.clock = opts.clock ?? realClock;
    this.lastTickAt = this.clock.now();
    this.log = opts.logger.child({ component: "control", node: opts.node });
    const { clock, log } = this;
    const api: ControlApi = opts.api;
    const ring = (opts.liveness ?? "ring") === "ring";
    const heartbeat = (opts.heartbeat ?? ((o) => new Heartbeat(o)))({
      node: opts.node,
      incarnation: this.incarnation,
      port: opts.heartbeatPort,
      intervalMs: this.t.heartbeatIntervalMs,
      key: opts.heartbeatKey,
      now: () => this.clock.now(),
      acknowledge: true,
      claimsOnRequest: ring,
    });
    const m = (this.m = controlMetrics(opts.registry, () => heartbeat.sent));
    const leaseLabel = ring ? MEMBER_LABEL : SPEAKER_LEASE_LABEL;
    this.cache = new ClusterCache(opts.sources({ namespace: opts.namespace, logger: log, leaseLabel, onChange: (kind, verb, obj) => this.onChange(kind, verb, obj) }), this.defaultClass);
    this.membership = new (ring ? RingMembership : MeshMembership)({
      node: opts.node,
      namespace: opts.namespace,
      holder: opts.holder ?? opts.node,
      incarnation: this.incarnation,
      timing: this.t,
      api,
      heartbeat,
      clock,
      logger: log,
      metrics: m,
      // A released claim or a leaving peer can unblock a waiting address: act at once.
      onClaimsChanged: (leaving) => {
        if (this.announcer.waiting.length > 0 || leaving) this.tick();
      },
    });
    this.events = new EventRecorder(api, opts.node, log, { clock, onDropped: () => m.eventsDropped.inc() });
    this.announcer = new Announcer({
      node: opts.node,
      dataPlane: opts.dataPlane,
      clock,
      logger: log,
      metrics: m,
      events: this.events,
      servicesOf: (ip) => this.servicesOf(ip),
      onOwnedChanged: (owned, previous) => {
        this.stamps.ownedChanged(previous, owned, this.addressPlans());
        this.membership.setClaims([...owned.keys()]);
        this.announceDirty = true;
      },
    });
    this.marks = new ServiceMarks({ state: this, cache: this.cache, api, clock, logger: log, metrics: m });
    this.status = new StatusWriter({ state: this, cache: this.cache, marks: this.marks, api, events: this.events, clock, logger: log, metrics: m, resyncMs: this.t.resyncMs });
    this.nodeSubnets = new NodeSubnets({ node: opts.node, source: this.cache.source, api, clock, logger: log, metrics: m });
    this.allocator = new InClusterAllocator({
      api: {
        patchServiceAnnotations: async (namespace, name, resourceVersion, annotations) => {
          await withTimeout(api.patchServiceAnnotations(namespace, name, resourceVersion, annotations), 5000, "service assignment patch", clock);
        },
        patchPoolCondition: async (name, condition) => this.status.patchPoolCondition(name, condition),
        patchServiceIngress: async (namespace, name, ingress) => {
          await withTimeout(api.patchServiceIngress(namespace, name, undefined, ingress as IngressEntry[]), 5000, "service ingress patch", clock);
        },
      },
      events: this.events,
      logger: log,
      registry: opts.registry,
      defaultClass: this.defaultClass,
      snapshot: () => this.cache.snapshot(),
      lookupService: (namespace, name) => this.cache.source.services.get(name, namespace),
      planner: opts.planner ?? workerPlanner(),
      clock,
    });
    opts.dataPlane.on("link", ({ interface: name, up }) => {
      this.announcer.linkChanged(name, up);
      this.refreshSubnets();
      this.tick();
    });
    opts.dataPlane.on("interfaces", () => {
      this.refreshSubnets();
      this.tick();
    });
    opts.dataPlane.on("duplicate", (d) => {
      for (const svc of this.servicesOf(d.ip)) {
        this.events.emit(svc, "Warning", "DuplicateAddress", `another station (${d.mac}) answers for ${d.ip} on ${this.node}/${d.interface}`);
      }
    });
  }

  /** This node's Lease keeper. */
  get lease(): LeaseKeeper {
    return this.membership.lease;
  }

  // ---- ControlState: what the writers read ----------------------------------------------

  plan(): Plan {
    return this.currentPlan;
  }

  planVersion(): number {
    return this.currentPlanVersion;
  }

  /** The plan's addresses by IP, built once per plan (gaining many addresses at once must not search the plan for each). */
  addressPlans(): ReadonlyMap<string, AddressPlan> {
    if (this.addressIndex.version !== this.currentPlanVersion) {
      this.addressIndex = { version: this.currentPlanVersion, map: new Map(this.currentPlan.addresses.map((a) => [a.ip, a])) };
    }
    return this.addressIndex.map;
  }

  /** The live speaker elected for a fixed `key` (status writer, allocator), once per live set. */
  private winner(key: string): string | undefined {
    if (this.winners.alive !== this.aliveNow) this.winners = { alive: this.aliveNow, byKey: new Map() };
    const byKey = this.winners.byKey;
    if (!byKey.has(key)) byKey.set(key, elect(this.aliveNow.keys(), key));
    return byKey.get(key);
  }

  /** The plan, restricted to the addresses this node was elected for. */
  private myPlan(): Plan {
    if (this.mine.version !== this.currentPlanVersion) {
      this.mine = { version: this.currentPlanVersion, plan: { ...this.currentPlan, addresses: this.currentPlan.addresses.filter((a) => a.owner?.node === this.node) } };
    }
    return this.mine.plan;
  }

  alive(): ReadonlyMap<string, Liveness> {
    return this.aliveNow;
  }

  owned(): ReadonlyMap<string, Owned> {
    return this.announcer.current();
  }

  serviceStamp(key: string): number {
    return this.stamps.of(key);
  }

  isStatusWriter(): boolean {
    return this.winner(STATUS_WRITER_KEY) === this.node;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  async start(): Promise<void> {
    this.refreshSubnets();
    await this.cache.source.start();
    const subnets = this.announcer.publishedSubnets();
    const endpointHost = this.o.heartbeatAddress ?? this.cache.nodeInternalIp(this.node) ?? subnets.find((s) => !s.address.includes(":"))?.address ?? subnets[0]?.address;
    await this.membership.start(endpointHost, this.o.heartbeatPort);
    this.log.info({ incarnation: this.incarnation, heartbeat: endpointHost ? formatEndpoint(endpointHost, this.o.heartbeatPort) : "none", timing: this.t }, "speaker started");
    const loop = (): void => {
      if (this.stopping) return;
      try {
        this.tick();
      } catch (err) {
        this.log.error({ err: err instanceof Error ? err.stack : String(err) }, "control loop failed");
      }
      this.timer = this.clock.setTimeout(loop, this.t.tickMs);
    };
    loop();
  }

  /** Graceful hand-over: stop answering, tell peers, delete the lease. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    const allocatorStopped = this.allocator.stop();
    this.marks.stop();
    this.status.stop();
    this.nodeSubnets.stop();
    const had = this.announcer.releaseAll();
    await this.membership.stop();
    await allocatorStopped;
    this.log.info({ released: had }, "speaker stopped; addresses released");
    let flushWait: unknown;
    await Promise.race([this.events.flush(), new Promise((r) => (flushWait = this.clock.setTimeout(() => r(undefined), 500)))]);
    this.clock.clearTimeout(flushWait);
    await this.cache.source.stop();
  }

  /** Liveness: the loop ran recently. */
  healthy(): boolean {
    return this.clock.now() - this.lastTickAt < Math.max(5000, this.t.tickMs * 20);
  }

  /** Readiness: informers synced and the lease written at least once. */
  ready(): boolean {
    return this.cache.source.isSynced() && this.lease.acquired;
  }

  /** Addresses this node answers for, with interfaces. */
  ownedAddresses(): Owned[] {
    return [...this.announcer.current().values()];
  }

  debugState(): unknown {
    return {
      node: this.node,
      incarnation: this.incarnation,
      apiHealthy: this.apiWasHealthy,
      alive: Object.fromEntries(this.aliveNow),
      owned: this.ownedAddresses(),
      waiting: this.announcer.waiting,
      subnets: this.announcer.publishedSubnets(),
      plan: this.currentPlan.addresses.map((a) => ({ ip: a.ip, owner: a.owner?.node, candidates: a.candidates.map((c) => c.node), services: a.services, noOwnerReason: a.noOwnerReason })),
      refusals: this.currentPlan.refusals,
      allocator: this.allocator.debugState(),
    };
  }

  // ---- inputs ----------------------------------------------------------------------------

  private onChange(kind: SourceKind, verb: "add" | "update" | "delete", obj: k8s.KubernetesObject): void {
    if (kind === "lease") {
      if (!this.membership.onLease(verb, obj as k8s.V1Lease)) return;
      this.dirty = true;
      if (verb === "delete") {
        this.markUrgent();
        this.tick();
      }
      return;
    }
    if (kind === "pool" || kind === "advertisement") this.m.configReloads.inc({ kind });
    const effect = this.cache.classify(kind, verb, obj);
    if (effect.announce) this.announceDirty = true;
    if (effect.allocator) this.allocator.markDirty(kind);
    if (effect.plan) this.dirty = true;
  }

  /**
   * The data plane's answer deadline passed before this tick: the process was frozen (a VM pause,
   * SIGSTOP) or its loop stalled long enough that a peer may have taken over. Answer nothing
   * and listen to the peers for a heartbeat timeout, then keep only what no live peer claims.
   */
  private noticeAbsence(now: number, absentMs: number, declaredDead = false): void {
    if ((now < this.answerUntil && !declaredDead) || this.rejoinUntil !== -Infinity) return;
    this.rejoinUntil = now + this.t.heartbeatTimeoutMs;
    this.membership.listenAgain(now);
    this.markUrgent();
    this.m.answerPauses.inc();
    this.log.warn({ absentMs: Math.round(absentMs), owned: this.announcer.current().size }, "control loop was away past the answer deadline (frozen or stalled): answering paused until peers are heard");
  }

  /**
   * Tells the data plane how long it may answer: until the earliest moment a peer could take
   * over (membership.ts `earliestTakeover`), less a margin for the peer's and this tick's own
   * work. Called after the announcer, so that after an absence the addresses a peer took are
   * gone before answering resumes; confirms nothing while listening.
   */
  private confirmAnswers(now: number): void {
    if (now < this.rejoinUntil) return;
    this.rejoinUntil = -Infinity;
    this.answerUntil = this.membership.earliestTakeover(now, this.announcer.current().size > 0) - ANSWER_MARGIN_MS;
    this.o.dataPlane.answerFor(this.answerUntil - now);
  }

  /** Addresses this node was elected for and does not answer yet (all it was elected for, on a recheck). */
  private wantedAddresses(recheck: boolean): WantedAddress[] {
    if (!recheck && this.announcer.answersAll(this.myPlan())) return [];
    const owned = this.announcer.current();
    const wanted: WantedAddress[] = [];
    for (const a of this.myPlan().addresses) {
      const answered = owned.has(a.ip);
      if (answered && !recheck) continue;
      wanted.push({ ip: a.ip, candidates: a.candidates.map((c) => c.node), previousOwner: this.previousOwners.get(a.ip), ...(answered ? { owned: true } : {}) });
    }
    return wanted;
  }

  /** Answers, is elected for or waits for an address, or holds a role (membership.ts `setStake`). */
  private atStake(): boolean {
    return this.announcer.current().size > 0 || this.myPlan().addresses.length > 0 || this.announcer.waiting.length > 0 || this.isStatusWriter() || this.winner(ALLOCATOR_KEY) === this.node;
  }

  private markUrgent(): void {
    this.dirty = true;
    this.planUrgent = true;
  }

  private refreshSubnets(): void {
    if (!this.announcer.refreshSubnets()) return;
    this.markUrgent();
    this.membership.setSubnets(this.announcer.publishedSubnets());
  }

  private servicesOf(ip: string): EventTarget[] {
    return (this.addressPlans().get(ip)?.services ?? []).map((k) => this.cache.serviceTarget(k)).filter((x): x is EventTarget => x !== undefined);
  }

  // ---- the loop --------------------------------------------------------------------------

  /** Refills the plan budget for the time passed and returns it. */
  private planTokensLeft(now: number): number {
    this.planTokens = Math.min(PLAN_BURST, this.planTokens + (now - this.planTokensAt) / this.t.burstPlanIntervalMs);
    this.planTokensAt = now;
    return this.planTokens;
  }

  private tick(): void {
    if (this.stopping) return;
    const now = this.clock.now();
    const absentMs = now - this.lastTickAt;
    this.lastTickAt = now;
    this.noticeAbsence(now, absentMs);
    const synced = this.cache.source.isSynced();
    const apiHealthy = synced && this.membership.apiHealthy(now);
    if (apiHealthy && !this.apiWasHealthy) {
      this.membership.resetObservations(now);
      this.log.info("API server reachable: elections resume");
      this.markUrgent();
    } else if (!apiHealthy && this.apiWasHealthy) {
      this.log.warn({ err: this.lease.lastError ?? this.cache.source.lastError }, "API server unreachable: fail-static, keeping owned addresses, gaining none");
    }
    this.apiWasHealthy = apiHealthy;
    this.m.apiHealthy.set(apiHealthy ? 1 : 0);

    const members = this.membership.evaluate(now, apiHealthy, this.announcer.publishedSubnets());
    if (members.declaredDead === true) this.noticeAbsence(now, absentMs, true);
    if (members.changed) {
      // A departure is planned at once (its addresses need an owner); joins wait for the plan's
      // duty cycle like configuration changes, so N speakers starting do not cost N² plans back to back.
      if (members.left) this.markUrgent();
      else this.dirty = true;
      // The status writer cleans departed Services for nodes that are gone.
      this.announceDirty = true;
    }
    if (!sameKeys(members.alive, this.aliveNow)) this.stamps.touchAll();
    this.aliveNow = members.alive;
    this.allocator.setActive(synced && this.membership.leaseSurelyHeld(now) && this.winner(ALLOCATOR_KEY) === this.node);

    // Configuration changes are planned at most once per three plan durations, and while they
    // keep coming once per burstPlanIntervalMs, so a burst of Service writes cannot keep the loop
    // busy; liveness and link changes are planned at once.
    const planDue = this.planUrgent || (now - this.lastPlanAt >= 3 * this.lastPlanMs && this.planTokensLeft(now) >= 1);
    if (this.dirty && planDue && synced) {
      this.dirty = false;
      this.planUrgent = false;
      const previous = this.currentPlan;
      const previousByIp = this.addressPlans();
      this.currentPlan = planAddresses(this.cache.view(members.speakers), this.planMemo);
      this.lastPlanAt = this.clock.now();
      this.lastPlanMs = this.lastPlanAt - now;
      this.planTokens = Math.max(0, this.planTokens - 1);
      this.currentPlanVersion++;
      this.stamps.planChanged(previous, previousByIp, this.currentPlan);
      this.m.refused.set(this.currentPlan.refusals.length);
      for (const a of this.currentPlan.addresses) {
        const prev = this.lastOwners.get(a.ip);
        if (this.lastOwners.has(a.ip) && prev !== a.owner?.node) {
          this.m.electionChanges.inc();
          this.previousOwners.set(a.ip, prev);
        }
        this.lastOwners.set(a.ip, a.owner?.node);
      }
    }

    this.membership.setStake(this.atStake(), now);

    const recheck = now >= this.rejoinUntil && this.rejoinUntil !== -Infinity;
    // While listening after an absence, what it owns is already asked about, so that the recheck
    // keeps what nobody claims even without the API server (it could not gain it back then).
    const rejoining = this.rejoinUntil !== -Infinity;
    this.announcer.announce({
      plan: this.myPlan(),
      apiHealthy,
      // Back from an absence, isolation is judged once the peers were listened to: on the first
      // tick nothing buffered has been read yet, and nothing is answered while listening anyway.
      isolated: members.isolated && !(rejoining && !recheck),
      settled: this.membership.settled(now, apiHealthy),
      peerClaims: this.membership.peerClaims(now, members.alive),
      unconfirmed: this.membership.unconfirmed(now, this.membership.asksBeforeGaining ? this.wantedAddresses(rejoining) : []),
      recheck,
    });
    this.confirmAnswers(now);

    if (apiHealthy) {
      this.nodeSubnets.publish(this.announcer.publishedSubnets());
      if (this.announceDirty) {
        this.announceDirty = false;
        this.marks.sync();
      }
      this.status.maybeSync(now);
    }
  }
}

function sameKeys(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const k of a.keys()) if (!b.has(k)) return false;
  return true;
}
