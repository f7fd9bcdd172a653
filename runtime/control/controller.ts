// The speaker's control loop in Kubernetes mode. Every `tickMs` (and on every watched change) it
// evaluates peer liveness (liveness.ts), recomputes the plan when inputs changed (election/),
// decides what this node answers for (ownership.ts), drives the data plane declaratively, and
// writes status, annotations, events and metrics.
import type { EventEmitter } from "node:events";
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { formatCidr, subnetOf } from "../../provider/core/ip/index.ts";
import {
  ALLOCATED_IN_CLUSTER,
  ANNOTATIONS,
  API_GROUP,
  API_GROUP_VERSION,
  API_VERSION,
  EVENT_REASONS,
  KINDS,
  NODE_SUBNETS_ANNOTATION,
  SPEAKER_LEASE_PREFIX,
} from "../../provider/core/model/contract.ts";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import { parsePublishedSubnets } from "../../provider/core/model/published.ts";
import { servedByL2lb } from "../../provider/core/model/served.ts";
import { InClusterAllocator } from "../allocator/allocator.ts";
import { allocationSignature, poolOf } from "../allocator/cluster-input.ts";
import { workerPlanner } from "../allocator/planner.ts";
import type { PoolCondition } from "../allocator/pool-status.ts";
import type { DataPlaneEvents, EligibleInterface, OwnedAddress } from "../dataplane/types.ts";
import { ALLOCATOR_KEY, STATUS_WRITER_KEY, elect } from "../election/rank.ts";
import { planAddresses, serviceKey } from "../election/plan.ts";
import type { AddressPlan, ClusterView, Plan, ServiceView, SpeakerView } from "../election/plan.ts";
import { clusterView, serviceClaim } from "../election/view.ts";
import { EventRecorder, type EventTarget } from "./events.ts";
import { runLimited, WorkQueue, type Outcome } from "./work-queue.ts";
import { Heartbeat, type HeartbeatMessage } from "./heartbeat.ts";
import { LEASE_ANNOTATIONS, LeaseKeeper, withTimeout } from "./lease.ts";
import { isolated, peerLiveness, type Liveness } from "./liveness.ts";
import { decideOwnership, type Owned } from "./ownership.ts";
import { departureStep, desiredIngress, poolUsage, sameIngress, updateAnnouncedBy, type IngressEntry, type PoolUsage } from "./status.ts";
import type { SourceKind } from "./sources.ts";
import { Sources } from "./sources.ts";

/** What the controller needs from the data plane (the real one, or a fake in tests). */
export interface DataPlaneLike extends EventEmitter<DataPlaneEvents> {
  setOwned(addresses: OwnedAddress[]): void;
  interfaces(): EligibleInterface[];
}

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
}

export const DEFAULT_TIMING: ControllerTiming = {
  renewIntervalMs: 1000,
  leaseDurationSeconds: 5,
  graceMs: 300,
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 700,
  tickMs: 100,
  resyncMs: 30_000,
};

export interface ControllerOptions {
  node: string;
  namespace: string;
  /** Lease holder identity (the pod name); default the node name. */
  holder?: string;
  kubeConfig: k8s.KubeConfig;
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
}

interface LeaseState {
  node: string;
  renewTime: string;
  resourceVersion: string;
  observedAtMs: number;
  incarnation: string;
  renewIntervalMs: number;
  durationMs: number;
  subnets: PublishedSubnet[];
  endpoint: { host: string; port: number } | undefined;
}

interface HeartbeatState {
  lastAtMs: number;
  incarnation: string;
  leaving: boolean;
  claims: string[];
}

export function parseEndpoint(value: string | undefined): { host: string; port: number } | undefined {
  if (!value) return undefined;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  if (!m) return undefined;
  return { host: m[1] as string, port: Number(m[2]) };
}

export function formatEndpoint(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The subnets of the up, selected interfaces, as published on the Lease and the Node. */
export function publishedSubnets(interfaces: readonly EligibleInterface[]): PublishedSubnet[] {
  const out: PublishedSubnet[] = [];
  for (const i of interfaces) {
    if (!i.up) continue;
    for (const a of i.addresses) {
      try {
        out.push({ interface: i.name, cidr: formatCidr(subnetOf(a.address, a.prefixLength)), address: a.address });
      } catch {
        // not an address we understand
      }
    }
  }
  out.sort((a, b) => (a.interface + a.cidr < b.interface + b.cidr ? -1 : 1));
  return out;
}

/** A Service l2lb serves: type LoadBalancer with l2lb's class (or, with `defaultClass`, none). */
export function isOurs(s: k8s.V1Service, defaultClass = false): boolean {
  return servedByL2lb(s, defaultClass);
}

/** Records `signature` (undefined: the object is gone) under `key`; true when it changed. */
function updateSignature(signatures: Map<string, string>, key: string, signature: string | undefined): boolean {
  if (signatures.get(key) === signature) return false;
  if (signature === undefined) signatures.delete(key);
  else signatures.set(key, signature);
  return true;
}

/** What of a Node the allocator reads: its addresses and the subnets its speaker published. */
function nodeNetworkSignature(n: k8s.V1Node): string {
  return `${JSON.stringify(n.status?.addresses ?? [])}|${n.metadata?.annotations?.[NODE_SUBNETS_ANNOTATION] ?? ""}`;
}

/** Ingress writes of one status pass run this many at a time (a burst of Services is written in parallel, not one by one). */
const STATUS_WRITES_IN_FLIGHT = 8;

/** Service writes (announced-by, departed ingress) in flight at once. */
const SERVICE_WRITES_IN_FLIGHT = 8;

/** A write a Service needs from this node: its `announced-by` value (undefined removes it) or, once it left l2lb, its ingress. */
type ServiceWrite = { kind: "announced-by"; value: string | undefined } | { kind: "ingress"; ingress: IngressEntry[] };

const mergePatch = () => k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

export class Controller {
  private readonly o: ControllerOptions;
  private readonly t: ControllerTiming;
  private readonly log: Logger;
  readonly sources: Sources;
  readonly lease: LeaseKeeper;
  readonly heartbeat: Heartbeat;
  readonly events: EventRecorder;
  readonly allocator: InClusterAllocator;
  private readonly nodeSignatures = new Map<string, string>();
  private readonly serviceSignatures = new Map<string, string>();
  private served: k8s.V1Service[] | undefined;
  /** resourceVersion each Service had when this node last wrote it (announced-by, departed ingress). */
  private readonly writtenOn = new Map<string, string>();
  /** Per Service, the (resourceVersion, plan, owned set) at which its `announced-by` was last found right. */
  private readonly announcedChecked = new Map<string, string>();
  private addressIndex: { version: number; map: Map<string, AddressPlan> } = { version: -1, map: new Map() };
  /** Bumped whenever the owned set changes. */
  private ownedVersion = 0;
  private readonly claims = new Map<string, { rv: string; value: Pick<ServiceView, "sharing" | "claim" | "inCluster"> }>();
  private readonly core: k8s.CoreV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  readonly incarnation = `${Date.now().toString(36)}-${Math.floor(Math.random() * 2 ** 32).toString(36)}`;

  private readonly leases = new Map<string, LeaseState>();
  private readonly heartbeats = new Map<string, HeartbeatState>();
  private owned = new Map<string, Owned>();
  private readonly linksDown = new Set<string>();
  private subnets: PublishedSubnet[] = [];
  private plan: Plan = { addresses: [], refusals: [], serviceAddresses: new Map() };
  private planVersion = 0;
  private dirty = true;
  /** The next plan must not wait: membership, API health or a link changed. */
  private planUrgent = true;
  private lastPlanAt = -Infinity;
  private lastPlanMs = 0;
  private announceDirty = true;
  private aliveKey = "";
  private alive = new Map<string, Liveness>();
  private apiWasHealthy = false;
  private knownMembers = 1;
  private heartbeatStartedAt = Infinity;
  private lastTickAt = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private readonly lastOwners = new Map<string, string | undefined>();
  private readonly inflight = new Set<string>();
  /** Writes to Services (announced-by, departed ingress): one keyed queue with backoff. */
  private readonly serviceWrites = new WorkQueue({ handler: (key) => this.writeService(key), concurrency: SERVICE_WRITES_IN_FLIGHT });
  private statusSyncedVersion = -1;
  private statusSyncedAt = -Infinity;
  private readonly reported = new Set<string>();
  private readonly noOwnerReported = new Map<string, string>();
  private nodePublished: string | undefined;
  private waiting: { ip: string; holders: string[] }[] = [];
  /** Removals from departed Services under way (logged once each). */
  private departing = new Set<string>();
  private applyRetryAt = -Infinity;

  private readonly m: {
    announced: Gauge;
    electionChanges: Counter;
    ownershipChanges: Counter;
    leaseRenew: Histogram;
    leaseFailures: Counter;
    apiHealthy: Gauge;
    peers: Gauge;
    hbReceived: Counter;
    hbRejected: Counter;
    configReloads: Counter;
    refused: Gauge;
    waiting: Gauge;
    statusWrites: Counter;
  };

  constructor(opts: ControllerOptions) {
    this.o = opts;
    this.t = { ...DEFAULT_TIMING, ...opts.timing };
    this.log = opts.logger.child({ component: "control", node: opts.node });
    this.core = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.custom = opts.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    const r = opts.registry;
    const reg = { registers: [r] };
    this.m = {
      announced: new Gauge({ name: "l2lb_speaker_announced", help: "Addresses this node answers for (1 per address and interface).", labelNames: ["ip", "interface"], ...reg }),
      electionChanges: new Counter({ name: "l2lb_election_changes_total", help: "Changes of the elected owner of an address, as seen by this node.", ...reg }),
      ownershipChanges: new Counter({ name: "l2lb_ownership_changes_total", help: "Addresses gained or released by this node.", labelNames: ["change"], ...reg }),
      leaseRenew: new Histogram({ name: "l2lb_lease_renew_seconds", help: "Round-trip time of lease renewals.", labelNames: ["result"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], ...reg }),
      leaseFailures: new Counter({ name: "l2lb_lease_renew_failures_total", help: "Failed lease renewals.", ...reg }),
      apiHealthy: new Gauge({ name: "l2lb_api_healthy", help: "1 when this node's lease renewals succeed (it may gain addresses), 0 when fail-static.", ...reg }),
      peers: new Gauge({ name: "l2lb_peers", help: "Peer speakers by liveness.", labelNames: ["state"], ...reg }),
      hbReceived: new Counter({ name: "l2lb_heartbeats_received_total", help: "Authenticated heartbeats received.", ...reg }),
      hbRejected: new Counter({ name: "l2lb_heartbeats_rejected_total", help: "Heartbeats ignored (bad MAC, malformed, replayed).", ...reg }),
      configReloads: new Counter({ name: "l2lb_config_changes_total", help: "Configuration changes applied without restart.", labelNames: ["kind"], ...reg }),
      refused: new Gauge({ name: "l2lb_refused_addresses", help: "Assigned addresses that are never announced (outside pools, not advertised...).", ...reg }),
      waiting: new Gauge({ name: "l2lb_waiting_addresses", help: "Addresses this node won but waits for a peer to release.", ...reg }),
      statusWrites: new Counter({ name: "l2lb_status_writes_total", help: "Writes of Service status, annotations and pool status.", labelNames: ["kind", "result"], ...reg }),
    };
    const sentSoFar = (): number => this.heartbeat.sent;
    new Counter({
      name: "l2lb_heartbeats_sent_total",
      help: "Heartbeat datagrams sent.",
      registers: [r],
      collect() {
        this.reset();
        this.inc(sentSoFar());
      },
    });
    this.sources = new Sources({
      kubeConfig: opts.kubeConfig,
      namespace: opts.namespace,
      logger: this.log,
      onChange: (kind, verb, obj) => this.onChange(kind, verb, obj),
    });
    this.lease = new LeaseKeeper({
      kubeConfig: opts.kubeConfig,
      namespace: opts.namespace,
      node: opts.node,
      holder: opts.holder ?? opts.node,
      incarnation: this.incarnation,
      heartbeatEndpoint: undefined,
      renewIntervalMs: this.t.renewIntervalMs,
      durationSeconds: this.t.leaseDurationSeconds,
      logger: this.log,
      onRenew: (s, ok) => {
        this.m.leaseRenew.observe({ result: ok ? "ok" : "error" }, s);
        if (!ok) this.m.leaseFailures.inc();
      },
    });
    this.heartbeat = new Heartbeat({
      node: opts.node,
      incarnation: this.incarnation,
      port: opts.heartbeatPort,
      intervalMs: this.t.heartbeatIntervalMs,
      key: opts.heartbeatKey,
    });
    this.heartbeat.on("message", (m) => this.onHeartbeat(m));
    this.heartbeat.on("rejected", () => this.m.hbRejected.inc());
    this.events = new EventRecorder(opts.kubeConfig, opts.node, this.log);
    this.allocator = new InClusterAllocator({
      api: {
        patchServiceAnnotations: async (namespace, name, resourceVersion, annotations) => {
          await withTimeout(this.core.patchNamespacedService({ name, namespace, body: { metadata: { resourceVersion, annotations } } }, mergePatch()), 5000, "service assignment patch");
        },
        patchPoolCondition: async (name, condition) => this.patchPoolCondition(name, condition),
        patchServiceIngress: async (namespace, name, ingress) => {
          await withTimeout(this.core.patchNamespacedServiceStatus({ name, namespace, body: { status: { loadBalancer: { ingress } } } }, mergePatch()), 5000, "service ingress patch");
        },
      },
      events: this.events,
      logger: this.log,
      registry: r,
      defaultClass: opts.defaultClass ?? false,
      snapshot: () => ({
        services: this.sources.services.list(),
        pools: this.sources.pools.list(),
        advertisements: this.sources.advertisements.list(),
        namespaces: this.sources.namespaces.list(),
        nodes: this.sources.nodes.list(),
      }),
      lookupService: (namespace, name) => this.sources.services.get(name, namespace),
      planner: workerPlanner(),
    });
    opts.dataPlane.on("link", ({ interface: name, up }) => {
      if (up) this.linksDown.delete(name);
      else this.linksDown.add(name);
      this.log.info({ interface: name, up }, up ? "link up" : "link down: giving up addresses on it");
      this.refreshSubnets();
      this.tick();
    });
    opts.dataPlane.on("interfaces", () => {
      this.refreshSubnets();
      this.tick();
    });
    opts.dataPlane.on("duplicate", (d) => {
      for (const svc of this.servicesOf(d.ip)) {
        this.events.emit(svc, "Warning", "DuplicateAddress", `another station (${d.mac}) answers for ${d.ip} on ${this.o.node}/${d.interface}`);
      }
    });
  }

  // ---- lifecycle -------------------------------------------------------------------------

  async start(): Promise<void> {
    this.refreshSubnets();
    await this.sources.start();
    const endpointHost = this.o.heartbeatAddress ?? this.nodeInternalIp() ?? this.subnets.find((s) => !s.address.includes(":"))?.address ?? this.subnets[0]?.address;
    if (endpointHost !== undefined) this.lease.setHeartbeatEndpoint(formatEndpoint(endpointHost, this.o.heartbeatPort));
    await this.heartbeat.start();
    this.heartbeatStartedAt = performance.now();
    this.lease.start();
    this.log.info({ incarnation: this.incarnation, heartbeat: endpointHost ? formatEndpoint(endpointHost, this.o.heartbeatPort) : "none", timing: this.t }, "speaker started");
    const loop = () => {
      if (this.stopping) return;
      try {
        this.tick();
      } catch (err) {
        this.log.error({ err: err instanceof Error ? err.stack : String(err) }, "control loop failed");
      }
      this.timer = setTimeout(loop, this.t.tickMs);
    };
    loop();
  }

  /** Graceful hand-over: stop answering, tell peers, delete the lease. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const allocatorStopped = this.allocator.stop();
    this.serviceWrites.stop();
    const had = [...this.owned.keys()];
    this.owned = new Map();
    this.ownedVersion++;
    try {
      this.o.dataPlane.setOwned([]);
    } catch (err) {
      this.log.warn({ err: String(err) }, "data plane release failed");
    }
    this.m.announced.reset();
    await this.heartbeat.stop(true);
    await this.lease.release();
    await allocatorStopped;
    this.log.info({ released: had }, "speaker stopped; addresses released");
    await Promise.race([this.events.flush(), new Promise((r) => setTimeout(r, 500))]);
    await this.sources.stop();
  }

  /**
   * The allocator keeps its role through a short API hiccup (a slow renewal at a loaded API
   * server), not only while the API counts as healthy: dropping it clears its queue, and winning
   * it back costs a settle delay and a full plan, so a blip of a second stalled whole bursts.
   * Peers elect another allocator only once this node's heartbeats stop as well, or its Lease
   * expires (a lease duration after the last successful renewal was sent); it lets go one renewal
   * interval before the latter. Two allocators at once stay harmless: assignments are written on
   * the Service's resourceVersion, and the speakers announce only the earlier of two claims.
   */
  private leaseSurelyHeld(now: number): boolean {
    return this.sources.isSynced() && this.lease.acquired && now - this.lease.lastOkSentAt < this.t.leaseDurationSeconds * 1000 - this.t.renewIntervalMs;
  }

  /** Liveness: the loop ran recently. */
  healthy(): boolean {
    return performance.now() - this.lastTickAt < Math.max(5000, this.t.tickMs * 20);
  }

  /** Readiness: informers synced and the lease written at least once. */
  ready(): boolean {
    return this.sources.isSynced() && this.lease.acquired;
  }

  /** Addresses this node answers for, with interfaces. */
  ownedAddresses(): Owned[] {
    return [...this.owned.values()];
  }

  debugState(): unknown {
    return {
      node: this.o.node,
      incarnation: this.incarnation,
      apiHealthy: this.apiWasHealthy,
      alive: Object.fromEntries(this.alive),
      owned: this.ownedAddresses(),
      waiting: this.waiting,
      subnets: this.subnets,
      plan: this.plan.addresses.map((a) => ({ ip: a.ip, owner: a.owner?.node, candidates: a.candidates.map((c) => c.node), services: a.services, noOwnerReason: a.noOwnerReason })),
      refusals: this.plan.refusals,
      allocator: this.allocator.debugState(),
    };
  }

  // ---- inputs ----------------------------------------------------------------------------

  private onChange(kind: SourceKind, verb: "add" | "update" | "delete", obj: k8s.KubernetesObject): void {
    if (kind === "lease") {
      this.onLease(verb, obj as k8s.V1Lease);
      return;
    }
    if (kind === "pool" || kind === "advertisement") this.m.configReloads.inc({ kind });
    if (kind === "service") {
      this.announceDirty = true;
      this.served = undefined;
      if (this.onServiceChange(verb, obj as k8s.V1Service)) this.dirty = true;
      return;
    }
    if (kind === "node") this.onNodeChange(verb, obj as k8s.V1Node);
    else if (kind !== "endpointslice") this.allocator.markDirty();
    this.dirty = true;
  }

  private markUrgent(): void {
    this.dirty = true;
    this.planUrgent = true;
  }

  private onNodeChange(verb: "add" | "update" | "delete", n: k8s.V1Node): void {
    const signature = verb === "delete" ? undefined : nodeNetworkSignature(n);
    if (updateSignature(this.nodeSignatures, n.metadata?.name ?? "", signature)) this.allocator.markDirty();
  }

  /**
   * True (and the allocator plans again) only when something the allocator or the election reads
   * changed: the status and `announced-by` writes of a burst need no new plan on any speaker.
   */
  private onServiceChange(verb: "add" | "update" | "delete", svc: k8s.V1Service): boolean {
    const uid = svc.metadata?.uid ?? `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const signature = verb === "delete" ? undefined : allocationSignature(svc);
    if (!updateSignature(this.serviceSignatures, uid, signature)) return false;
    this.allocator.markDirty();
    return true;
  }

  private onLease(verb: "add" | "update" | "delete", l: k8s.V1Lease): void {
    const name = l.metadata?.name ?? "";
    if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return;
    const node = name.slice(SPEAKER_LEASE_PREFIX.length);
    this.dirty = true;
    if (verb === "delete") {
      this.markUrgent();
      this.leases.delete(node);
      this.tick();
      return;
    }
    const a = l.metadata?.annotations ?? {};
    // List results carry Dates, watch events strings: compare instants.
    const renewTime = l.spec?.renewTime ? String(new Date(l.spec.renewTime as unknown as string).getTime()) : "";
    const prev = this.leases.get(node);
    const incarnation = a[LEASE_ANNOTATIONS.incarnation] ?? l.spec?.holderIdentity ?? "";
    const changed = prev === undefined || prev.renewTime !== renewTime || prev.incarnation !== incarnation;
    this.leases.set(node, {
      node,
      renewTime,
      resourceVersion: l.metadata?.resourceVersion ?? "",
      observedAtMs: changed ? performance.now() : (prev as LeaseState).observedAtMs,
      incarnation,
      renewIntervalMs: Number(a[LEASE_ANNOTATIONS.renewIntervalMs] ?? "") || (l.spec?.leaseDurationSeconds ?? 15) * 1000,
      durationMs: (l.spec?.leaseDurationSeconds ?? 15) * 1000,
      subnets: parsePublishedSubnets(a[NODE_SUBNETS_ANNOTATION]),
      endpoint: parseEndpoint(a[LEASE_ANNOTATIONS.heartbeat]),
    });
    this.heartbeat.setPeers(
      [...this.leases.values()].filter((x) => x.endpoint !== undefined).map((x) => ({ node: x.node, host: (x.endpoint as { host: string }).host, port: (x.endpoint as { port: number }).port })),
    );
  }

  private onHeartbeat(m: HeartbeatMessage): void {
    this.m.hbReceived.inc();
    const prev = this.heartbeats.get(m.node);
    this.heartbeats.set(m.node, { lastAtMs: performance.now(), incarnation: m.incarnation, leaving: m.leaving, claims: m.claims });
    const changedClaims = prev === undefined || prev.leaving !== m.leaving || prev.claims.join() !== m.claims.join() || prev.incarnation !== m.incarnation;
    // A released claim or a leaving peer can unblock a waiting address: act at once.
    if (changedClaims && (this.waiting.length > 0 || m.leaving)) this.tick();
  }

  private refreshSubnets(): void {
    let interfaces: EligibleInterface[] = [];
    try {
      interfaces = this.o.dataPlane.interfaces();
    } catch (err) {
      this.log.warn({ err: String(err) }, "cannot read interfaces");
    }
    const next = publishedSubnets(interfaces.map((i) => (this.linksDown.has(i.name) ? { ...i, up: false } : i)));
    if (JSON.stringify(next) !== JSON.stringify(this.subnets)) {
      this.subnets = next;
      this.markUrgent();
      this.lease.setSubnets(next);
      this.log.info({ subnets: next }, "published subnets changed");
    }
  }

  private nodeInternalIp(): string | undefined {
    const n = this.sources.nodes.get(this.o.node);
    return n?.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
  }

  // ---- the loop --------------------------------------------------------------------------

  private tick(): void {
    if (this.stopping) return;
    const now = performance.now();
    this.lastTickAt = now;
    const apiHealthy = this.sources.isSynced() && this.lease.acquired && now - this.lease.lastOkAt < this.t.renewIntervalMs * 2 + this.t.graceMs;
    if (apiHealthy && !this.apiWasHealthy) {
      // (Re)gained the API server: every peer gets a full observation window from now, so a
      // renewal we could not see while cut off never counts as missed.
      for (const l of this.leases.values()) l.observedAtMs = now;
      this.log.info("API server reachable: elections resume");
      this.markUrgent();
    } else if (!apiHealthy && this.apiWasHealthy) {
      this.log.warn({ err: this.lease.lastError ?? this.sources.lastError }, "API server unreachable: fail-static, keeping owned addresses, gaining none");
    }
    this.apiWasHealthy = apiHealthy;
    this.m.apiHealthy.set(apiHealthy ? 1 : 0);

    // Liveness of every speaker with a lease.
    const timing = { heartbeatTimeoutMs: this.t.heartbeatTimeoutMs, graceMs: this.t.graceMs };
    const alive = new Map<string, Liveness>();
    const speakers: SpeakerView[] = [];
    let heard = 0;
    let dead = 0;
    for (const l of this.leases.values()) {
      if (l.node === this.o.node) continue;
      const hb = this.heartbeats.get(l.node);
      if (hb && hb.incarnation === l.incarnation && now - hb.lastAtMs < this.t.heartbeatTimeoutMs && !hb.leaving) heard++;
      const lv = peerLiveness(l, hb, now, timing);
      if (lv.alive) {
        alive.set(l.node, lv);
        speakers.push({ node: l.node, subnets: l.subnets });
      } else dead++;
    }
    if (this.lease.acquired) {
      alive.set(this.o.node, { alive: true, reason: "Lease" });
      speakers.push({ node: this.o.node, subnets: this.subnets });
    }
    this.m.peers.set({ state: "alive" }, alive.size - (this.lease.acquired ? 1 : 0));
    this.m.peers.set({ state: "dead" }, dead);
    const aliveKey = [...alive.keys()].sort().join(",");
    if (aliveKey !== this.aliveKey) {
      if (this.aliveKey !== "") {
        const before = new Set(this.aliveKey.split(","));
        const changes = [...alive.entries()].filter(([n]) => !before.has(n)).map(([n, l]) => `+${n}(${l.reason})`);
        for (const n of before) if (!alive.has(n)) changes.push(`-${n}(${this.leases.has(n) ? peerLiveness(this.leases.get(n), this.heartbeats.get(n), now, timing).reason : "NoLease"})`);
        this.log.info({ changes, alive: [...alive.keys()] }, "speaker membership changed");
      }
      this.aliveKey = aliveKey;
      this.markUrgent();
      // The status writer cleans departed Services for nodes that are gone.
      this.announceDirty = true;
    }
    this.alive = alive;
    this.allocator.setActive(this.leaseSurelyHeld(now) && elect(alive.keys(), ALLOCATOR_KEY) === this.o.node);
    if (apiHealthy) this.knownMembers = Math.max(alive.size, 1);
    const isolatedNow = isolated(apiHealthy, heard, this.knownMembers);

    // Configuration changes are planned at most once per three plan durations, so a burst of
    // Service writes cannot keep the loop busy; liveness and link changes are planned at once.
    const planDue = this.planUrgent || now - this.lastPlanAt >= 3 * this.lastPlanMs;
    if (this.dirty && planDue && this.sources.isSynced()) {
      this.dirty = false;
      this.planUrgent = false;
      this.plan = planAddresses(this.view(speakers));
      this.lastPlanAt = performance.now();
      this.lastPlanMs = this.lastPlanAt - now;
      this.planVersion++;
      this.m.refused.set(this.plan.refusals.length);
      for (const a of this.plan.addresses) {
        const prev = this.lastOwners.get(a.ip);
        if (this.lastOwners.has(a.ip) && prev !== a.owner?.node) this.m.electionChanges.inc();
        this.lastOwners.set(a.ip, a.owner?.node);
      }
    }

    // Claims of live peers with fresh heartbeats.
    const peerClaims = new Map<string, string[]>();
    for (const [node, hb] of this.heartbeats) {
      const l = this.leases.get(node);
      if (!alive.has(node) || l === undefined || hb.incarnation !== l.incarnation || now - hb.lastAtMs >= this.t.heartbeatTimeoutMs) continue;
      for (const ip of hb.claims) peerClaims.set(ip, [...(peerClaims.get(ip) ?? []), node]);
    }
    const settled = apiHealthy && now - this.heartbeatStartedAt >= this.t.heartbeatTimeoutMs;
    const decision = decideOwnership({
      self: this.o.node,
      plan: this.plan,
      apiHealthy,
      isolated: isolatedNow,
      settled,
      previous: this.owned,
      peerClaims,
      linksDown: this.linksDown,
    });
    this.waiting = decision.waiting;
    this.m.waiting.set(decision.waiting.length);
    this.apply(decision.owned, isolatedNow);

    if (apiHealthy) {
      this.publishNodeSubnets();
      if (this.announceDirty) {
        this.announceDirty = false;
        this.syncAnnouncedBy();
        this.cleanDeparted();
      }
      if (elect(alive.keys(), STATUS_WRITER_KEY) === this.o.node && (this.statusSyncedVersion !== this.planVersion || now - this.statusSyncedAt > this.t.resyncMs)) {
        this.statusSyncedVersion = this.planVersion;
        this.statusSyncedAt = now;
        void this.syncStatus();
      }
    }
  }

  private view(speakers: SpeakerView[]): ClusterView {
    const src = this.sources;
    const sources = { nodes: src.nodes.list(), endpointSlices: src.endpointSlices.list(), services: this.ourServices(), pools: src.pools.list(), advertisements: src.advertisements.list() };
    return clusterView({ ...sources, namespace: (name) => src.namespaces.get(name), speakers }, (s) => this.claimOf(s));
  }

  /** Sharing profile and claim order of a Service, cached by resourceVersion. */
  private claimOf(s: k8s.V1Service): Pick<ServiceView, "sharing" | "claim" | "inCluster"> {
    const uid = s.metadata?.uid ?? `${s.metadata?.namespace}/${s.metadata?.name}`;
    const rv = s.metadata?.resourceVersion ?? "";
    const cached = this.claims.get(uid);
    if (cached !== undefined && cached.rv === rv) return cached.value;
    const value = serviceClaim(s);
    this.claims.set(uid, { rv, value });
    if (this.claims.size > 2 * this.ourServices().length + 100) this.claims.clear();
    return value;
  }

  /** The Services l2lb serves, recomputed only after a Service changed (every tick reads them several times). */
  private ourServices(): k8s.V1Service[] {
    if (this.served === undefined) this.served = this.sources.services.list().filter((s) => isOurs(s, this.o.defaultClass ?? false));
    return this.served;
  }

  /** The plan's addresses by IP, built once per plan (gaining many addresses at once must not search the plan for each). */
  private addressPlans(): ReadonlyMap<string, AddressPlan> {
    if (this.addressIndex.version !== this.planVersion) {
      this.addressIndex = { version: this.planVersion, map: new Map(this.plan.addresses.map((a) => [a.ip, a])) };
    }
    return this.addressIndex.map;
  }

  private servicesOf(ip: string): EventTarget[] {
    return (this.addressPlans().get(ip)?.services ?? []).map((k) => this.serviceTarget(k)).filter((x): x is EventTarget => x !== undefined);
  }

  private serviceTarget(key: string): EventTarget | undefined {
    const [namespace, name] = key.split("/") as [string, string];
    const s = this.sources.services.get(name, namespace);
    if (s === undefined) return undefined;
    return { kind: "Service", apiVersion: "v1", namespace, name, uid: s.metadata?.uid };
  }

  // ---- outputs ---------------------------------------------------------------------------

  private apply(next: Map<string, Owned>, isolatedNow: boolean): void {
    const prev = this.owned;
    const same = next.size === prev.size && [...next].every(([ip, o]) => prev.get(ip)?.interfaces.join() === o.interfaces.join());
    if (same || performance.now() < this.applyRetryAt) return;
    const list: OwnedAddress[] = [...next.values()].map((o) => ({ ip: o.ip, interfaces: o.interfaces, ...(o.gratuitous ? { gratuitous: o.gratuitous } : {}) }));
    try {
      this.o.dataPlane.setOwned(list);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error({ err: message }, "data plane refused the owned set; retrying in 5 s");
      this.applyRetryAt = performance.now() + 5000;
      for (const ip of next.keys()) if (!prev.has(ip)) for (const s of this.servicesOf(ip)) this.events.emit(s, "Warning", "AnnounceFailed", `${this.o.node} cannot announce ${ip}: ${message}`);
      return;
    }
    this.owned = next;
    this.ownedVersion++;
    this.heartbeat.setClaims([...next.keys()]);
    this.announceDirty = true;
    for (const [ip, o] of prev) {
      if (next.has(ip)) continue;
      this.m.ownershipChanges.inc({ change: "released" });
      for (const i of o.interfaces) this.m.announced.remove({ ip, interface: i });
      this.log.info({ ip, isolated: isolatedNow || undefined }, "released");
    }
    for (const [ip, o] of next) {
      const p = prev.get(ip);
      for (const i of p?.interfaces ?? []) if (!o.interfaces.includes(i)) this.m.announced.remove({ ip, interface: i });
      for (const i of o.interfaces) this.m.announced.set({ ip, interface: i }, 1);
      if (p !== undefined) continue;
      this.m.ownershipChanges.inc({ change: "gained" });
      this.log.info({ ip, interfaces: o.interfaces }, "announcing");
      for (const s of this.servicesOf(ip)) {
        this.events.emit(s, "Normal", "Announcing", `announcing ${ip} from node ${this.o.node} on ${o.interfaces.join(", ")}`);
      }
    }
  }

  private publishNodeSubnets(): void {
    const value = JSON.stringify(this.subnets);
    const node = this.sources.nodes.get(this.o.node);
    if (node === undefined || this.inflight.has("node")) return;
    const current = node.metadata?.annotations?.[NODE_SUBNETS_ANNOTATION];
    if (current === value || this.nodePublished === value) return;
    this.inflight.add("node");
    withTimeout(
      this.core.patchNode({ name: this.o.node, body: { metadata: { annotations: { [NODE_SUBNETS_ANNOTATION]: value } } } }, mergePatch()),
      5000,
      "node patch",
    )
      .then(() => {
        this.nodePublished = value;
        this.m.statusWrites.inc({ kind: "node", result: "ok" });
      })
      .catch((err: unknown) => {
        this.m.statusWrites.inc({ kind: "node", result: "error" });
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, "cannot publish node subnets");
      })
      .finally(() => this.inflight.delete("node"));
  }

  /** Owner side of `l2lb.dev/announced-by`: entries of the addresses this node announces. */
  private syncAnnouncedBy(): void {
    if (this.writtenOn.size > 2 * this.ourServices().length + 100) this.writtenOn.clear();
    if (this.announcedChecked.size > 2 * this.ourServices().length + 100) this.announcedChecked.clear();
    for (const s of this.ourServices()) {
      const key = `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;
      // Unchanged Service, plan and owned set since it was last found right: nothing to check.
      const checked = `${s.metadata?.resourceVersion}|${this.planVersion}|${this.ownedVersion}`;
      if (this.announcedChecked.get(key) === checked) continue;
      if (this.announcedByWrite(s) === undefined) this.announcedChecked.set(key, checked);
      else this.queueServiceWrite(s);
    }
  }

  /** This node's `announced-by` entries for an l2lb Service, if the annotation does not hold them yet. */
  private announcedByWrite(s: k8s.V1Service): ServiceWrite | undefined {
    const key = `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;
    const mine = new Map<string, string[]>();
    for (const ip of this.plan.serviceAddresses.get(key) ?? []) {
      const o = this.owned.get(ip);
      if (o) mine.set(ip, o.interfaces);
    }
    const current = s.metadata?.annotations?.[ANNOTATIONS.announcedBy];
    let next = updateAnnouncedBy(current, this.o.node, mine);
    if (next !== undefined && elect(this.alive.keys(), STATUS_WRITER_KEY) === this.o.node) {
      const stale = this.staleAnnouncedBy(key, next);
      if (stale.size > 0) next = updateAnnouncedBy(next, "\u0000", new Map(), stale);
    }
    return next === current ? undefined : { kind: "announced-by", value: next };
  }

  /**
   * Status writer: the `announced-by` entries of a Service for addresses nobody announces any more
   * (owner crashed, Local Service lost its endpoints, address withdrawn).
   */
  private staleAnnouncedBy(key: string, ann: string | undefined): Set<string> {
    const byIp = this.addressPlans();
    const drop = new Set<string>();
    if (!ann) return drop;
    const valid = new Set(this.plan.serviceAddresses.get(key) ?? []);
    for (const part of ann.split(",")) {
      const ip = part.split("=")[0]?.trim() ?? "";
      const who = part.split("=")[1]?.split("/")[0] ?? "";
      if (!valid.has(ip) || byIp.get(ip)?.owner === undefined || !this.alive.has(who)) drop.add(ip);
    }
    return drop;
  }

  /**
   * Services that left l2lb (another type or class) but still carry `announced-by`: this node
   * removes its own entries and the ingress entries of those addresses; the status writer does
   * the same for entries of nodes that are no longer alive. One write per pass (ingress first),
   * each on the Service's resourceVersion; the informer's update brings the next pass. Also
   * what a restarted speaker finds from before.
   */
  private cleanDeparted(): void {
    const steps = new Set<string>();
    for (const s of this.sources.services.list()) {
      const step = this.departureWrite(s);
      if (step === undefined) continue;
      const service = `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;
      const key = `${service}|${step.kind}|${step.ips.join()}`;
      steps.add(key);
      if (!this.departing.has(key)) this.log.info({ service, ips: step.ips, remove: step.kind }, "service left l2lb: removing its marks");
      this.queueServiceWrite(s);
    }
    this.departing = steps;
  }

  /** The next step of removing l2lb's marks from a Service that left l2lb, if this node is responsible for one. */
  private departureWrite(s: k8s.V1Service): (ServiceWrite & { ips: string[] }) | undefined {
    if (isOurs(s, this.o.defaultClass ?? false)) return undefined;
    const ann = s.metadata?.annotations?.[ANNOTATIONS.announcedBy];
    if (ann === undefined) return undefined;
    const writer = elect(this.alive.keys(), STATUS_WRITER_KEY) === this.o.node;
    const responsible = (node: string): boolean => node === this.o.node || (writer && !this.alive.has(node));
    const step = departureStep(ann, s.status?.loadBalancer?.ingress as IngressEntry[] | undefined, responsible);
    if (step === undefined) return undefined;
    return step.kind === "ingress" ? { kind: "ingress", ingress: step.ingress, ips: step.ips } : { kind: "announced-by", value: step.value, ips: step.ips };
  }

  /**
   * Queues a Service for the work queue of Service writes: a few at a time, at most one per
   * Service, each failure retried with growing backoff (a rejected or overloaded API server is not
   * hit again on every tick). A Service waiting out a retry is not brought forward.
   */
  private queueServiceWrite(s: k8s.V1Service): void {
    const key = `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;
    // Our last write was made on this very version: the cache has not caught up with it yet, and a
    // write on the same version could only conflict. The informer's update brings the next pass.
    if (s.metadata?.resourceVersion !== undefined && this.writtenOn.get(key) === s.metadata.resourceVersion) return;
    if (!this.serviceWrites.isBackingOff(key)) this.serviceWrites.add(key);
  }

  /**
   * The work queue's handler: what the Service needs is computed when its turn comes, from the
   * cache as it is then, and written on that resourceVersion (a write computed at queueing time
   * would be stale by then, and conflict, in a burst).
   */
  private async writeService(key: string): Promise<Outcome> {
    const [namespace, name] = key.split("/") as [string, string];
    const s = this.sources.services.get(name, namespace);
    const base = s?.metadata?.resourceVersion;
    if (s === undefined || (base !== undefined && this.writtenOn.get(key) === base)) return "done";
    const w = isOurs(s, this.o.defaultClass ?? false) ? this.announcedByWrite(s) : this.departureWrite(s);
    if (w === undefined) return "done";
    try {
      await withTimeout(this.sendServiceWrite(namespace, name, base, w), 5000, `service ${w.kind} patch`);
      this.m.statusWrites.inc({ kind: w.kind, result: "ok" });
      if (base !== undefined) this.writtenOn.set(key, base);
      return "done";
    } catch (err) {
      this.m.statusWrites.inc({ kind: w.kind, result: "error" });
      // 409: the Service changed first; its update in the informer brings the next pass.
      if ((err as { code?: number }).code === 409) return "done";
      const message = err instanceof Error ? err.message : String(err);
      const failure = w.kind === "ingress" ? "cannot remove ingress of a departed service" : "cannot write announced-by";
      if (this.serviceWrites.failuresOf(key) === 0) this.log.warn({ service: key, err: message }, `${failure}; retrying with backoff`);
      else this.log.debug({ service: key, err: message }, `${failure} again`);
      return "retry";
    }
  }

  private sendServiceWrite(namespace: string, name: string, resourceVersion: string | undefined, w: ServiceWrite): Promise<unknown> {
    if (w.kind === "ingress") {
      return this.core.patchNamespacedServiceStatus({ name, namespace, body: { metadata: { resourceVersion }, status: { loadBalancer: { ingress: w.ingress } } } }, mergePatch());
    }
    return this.core.patchNamespacedService({ name, namespace, body: { metadata: { resourceVersion, annotations: { [ANNOTATIONS.announcedBy]: w.value ?? null } } } }, mergePatch());
  }

  /** Status writer: ingress, refusals, no-owner warnings, stale announced-by entries, pool usage. */
  private async syncStatus(): Promise<void> {
    if (this.inflight.has("status")) {
      this.statusSyncedVersion = -1;
      return;
    }
    this.inflight.add("status");
    try {
      const plan = this.plan;
      const ingressWrites: { key: string; target: EventTarget; want: ReturnType<typeof desiredIngress>; announce: boolean }[] = [];
      for (const s of this.ourServices()) {
        const key = serviceKey({ namespace: s.metadata?.namespace ?? "", name: s.metadata?.name ?? "" });
        const target = this.serviceTarget(key);
        if (target === undefined) continue;
        const want = desiredIngress(plan, key);
        // Without an assignment the ingress is not l2lb's to write: it may be a previous
        // implementation's, which the allocator keeps when it migrates the Service (the allocator
        // clears what it releases itself).
        const assigned = s.metadata?.annotations?.[ANNOTATIONS.assignedIps] !== undefined;
        // The allocator already told an in-cluster Service its address (IPAllocated): no second event.
        const announce = s.metadata?.annotations?.[ANNOTATIONS.allocatedBy] !== ALLOCATED_IN_CLUSTER;
        if (assigned && !sameIngress(s.status?.loadBalancer?.ingress, want)) ingressWrites.push({ key, target, want, announce });
        // announced-by entries of addresses nobody announces any more (owner crashed, Local
        // Service lost its endpoints, address withdrawn).
        if (this.staleAnnouncedBy(key, s.metadata?.annotations?.[ANNOTATIONS.announcedBy]).size > 0) this.queueServiceWrite(s);
      }
      await runLimited(ingressWrites, STATUS_WRITES_IN_FLIGHT, (w) => this.writeIngress(w.key, w.target, w.want, w.announce));
      // Refusals: once per (service, address, reason) while it lasts.
      const now = new Set<string>();
      for (const r of plan.refusals) {
        const k = `${r.service}|${r.ip}|${r.reason}`;
        now.add(k);
        if (this.reported.has(k)) continue;
        const target = this.serviceTarget(r.service);
        if (target) this.events.emit(target, "Warning", r.reason === "Conflict" ? EVENT_REASONS.addressConflict : "AddressRefused", r.message);
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
            const t = this.serviceTarget(k);
            if (t) this.events.emit(t, "Warning", a.noOwnerReason, msg);
          }
          this.noOwnerReported.set(a.ip, a.noOwnerReason);
        } else if (a.noOwnerReason === undefined) this.noOwnerReported.delete(a.ip);
      }
      await this.syncPools(plan);
    } finally {
      this.inflight.delete("status");
    }
  }

  private async patchPoolCondition(name: string, condition: PoolCondition): Promise<void> {
    const pool = this.sources.pools.get(name);
    const current = ((pool?.status ?? {}) as { conditions?: PoolCondition[] }).conditions?.find((c) => c.type === condition.type);
    const lastTransitionTime = current?.status === condition.status && current.lastTransitionTime ? current.lastTransitionTime : new Date().toISOString();
    await withTimeout(
      this.custom.patchClusterCustomObjectStatus(
        { group: API_GROUP, version: API_VERSION, plural: KINDS.addressPool.plural, name, body: { apiVersion: API_GROUP_VERSION, kind: KINDS.addressPool.kind, status: { conditions: [{ ...condition, lastTransitionTime }] } } },
        mergePatch(),
      ),
      5000,
      "pool condition patch",
    );
  }

  private async writeIngress(key: string, target: EventTarget, want: ReturnType<typeof desiredIngress>, announce: boolean): Promise<void> {
    try {
      await withTimeout(
        this.core.patchNamespacedServiceStatus({ name: target.name, namespace: target.namespace as string, body: { status: { loadBalancer: { ingress: want } } } }, mergePatch()),
        5000,
        "service status patch",
      );
      this.m.statusWrites.inc({ kind: "ingress", result: "ok" });
      if (announce && want.length > 0) this.events.emit(target, "Normal", "AddressAssigned", `external address ${want.map((w) => w.ip).join(", ")}`);
    } catch (err) {
      this.m.statusWrites.inc({ kind: "ingress", result: "error" });
      this.statusSyncedVersion = -1;
      this.log.warn({ service: key, err: err instanceof Error ? err.message : String(err) }, "cannot write service status");
    }
  }

  private async syncPools(plan: Plan): Promise<void> {
    const objects = this.sources.pools.list();
    const pools = objects.map(poolOf);
    const usage = poolUsage(plan, pools);
    for (const p of objects) {
      const name = p.metadata?.name ?? "";
      const want = usage.get(name) as PoolUsage;
      const cur = (p.status ?? {}) as Partial<PoolUsage>;
      if (cur.assigned === want.assigned && cur.announced === want.announced && cur.services === want.services && cur.addresses === want.addresses) continue;
      try {
        await withTimeout(
          this.custom.patchClusterCustomObjectStatus(
            { group: API_GROUP, version: API_VERSION, plural: KINDS.addressPool.plural, name, body: { apiVersion: API_GROUP_VERSION, kind: KINDS.addressPool.kind, status: want } },
            mergePatch(),
          ),
          5000,
          "pool status patch",
        );
        this.m.statusWrites.inc({ kind: "pool", result: "ok" });
      } catch (err) {
        this.m.statusWrites.inc({ kind: "pool", result: "error" });
        this.statusSyncedVersion = -1;
        this.log.warn({ pool: name, err: err instanceof Error ? err.message : String(err) }, "cannot write pool status");
      }
    }
  }
}
