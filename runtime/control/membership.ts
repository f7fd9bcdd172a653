// Membership: who is alive, from the two signals (liveness.ts). Holds this node's side of both —
// its Lease (lease.ts) and its heartbeat endpoint (heartbeat.ts) — and what it observed of its
// peers' Leases (through the informer) and heartbeats, each stamped with the local clock.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { NODE_SUBNETS_ANNOTATION, SPEAKER_LEASE_PREFIX } from "../../provider/core/model/contract.ts";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import { parsePublishedSubnets } from "../../provider/core/model/published.ts";
import type { SpeakerView } from "../election/plan.ts";
import type { Clock } from "./clock.ts";
import { formatEndpoint, parseEndpoint, type HeartbeatMessage, type HeartbeatTransport } from "./heartbeat.ts";
import type { LeaseApi } from "./kube-api.ts";
import { LEASE_ANNOTATIONS, LeaseKeeper } from "./lease.ts";
import { isolated, peerLiveness, type Liveness } from "./liveness.ts";
import type { ControlMetrics } from "./metrics.ts";

export interface MembershipTiming {
  renewIntervalMs: number;
  leaseDurationSeconds: number;
  graceMs: number;
  heartbeatTimeoutMs: number;
}

export interface MembershipOptions {
  node: string;
  namespace: string;
  holder: string;
  incarnation: string;
  timing: MembershipTiming;
  api: LeaseApi;
  heartbeat: HeartbeatTransport;
  clock: Clock;
  logger: Logger;
  metrics: ControlMetrics;
  /** A peer's heartbeat changed its claims or said it leaves. */
  onClaimsChanged: (leaving: boolean) => void;
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

/** One evaluation of every speaker's liveness. */
export interface Members {
  /** Live speakers, this node included once its Lease is held. */
  alive: Map<string, Liveness>;
  /** The election's view of them. */
  speakers: SpeakerView[];
  /** The set of live speakers differs from the previous evaluation. */
  changed: boolean;
  /** Without the API server and without a heard majority (liveness.ts `isolated`). */
  isolated: boolean;
}

export class Membership {
  readonly lease: LeaseKeeper;
  readonly heartbeat: HeartbeatTransport;
  private readonly o: MembershipOptions;
  private readonly t: MembershipTiming;
  private readonly leases = new Map<string, LeaseState>();
  private readonly heartbeats = new Map<string, HeartbeatState>();
  private aliveKey = "";
  private knownMembers = 1;
  private heartbeatStartedAt = Infinity;

  constructor(o: MembershipOptions) {
    this.o = o;
    this.t = o.timing;
    this.lease = new LeaseKeeper({
      api: o.api,
      clock: o.clock,
      namespace: o.namespace,
      node: o.node,
      holder: o.holder,
      incarnation: o.incarnation,
      heartbeatEndpoint: undefined,
      renewIntervalMs: o.timing.renewIntervalMs,
      durationSeconds: o.timing.leaseDurationSeconds,
      logger: o.logger,
      onRenew: (s, ok) => {
        o.metrics.leaseRenew.observe({ result: ok ? "ok" : "error" }, s);
        if (!ok) o.metrics.leaseFailures.inc();
      },
    });
    this.heartbeat = o.heartbeat;
    this.heartbeat.on("message", (m) => this.onHeartbeat(m));
    this.heartbeat.on("rejected", () => o.metrics.hbRejected.inc());
  }

  /** Publishes the heartbeat endpoint (when known) on the Lease, starts heartbeats, then renewals. */
  async start(endpointHost: string | undefined, port: number): Promise<void> {
    if (endpointHost !== undefined) this.lease.setHeartbeatEndpoint(formatEndpoint(endpointHost, port));
    await this.heartbeat.start();
    this.heartbeatStartedAt = this.o.clock.now();
    this.lease.start();
  }

  /** Graceful leave: a leaving heartbeat with no claims, then the Lease deleted. */
  async stop(): Promise<void> {
    await this.heartbeat.stop(true);
    await this.lease.release();
  }

  setSubnets(subnets: PublishedSubnet[]): void {
    this.lease.setSubnets(subnets);
  }

  setClaims(claims: string[]): void {
    this.heartbeat.setClaims(claims);
  }

  /** This node's own renewals succeed (it may gain addresses). */
  apiHealthy(now: number): boolean {
    return this.lease.acquired && now - this.lease.lastOkAt < this.t.renewIntervalMs * 2 + this.t.graceMs;
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
  leaseSurelyHeld(now: number): boolean {
    return this.lease.acquired && now - this.lease.lastOkSentAt < this.t.leaseDurationSeconds * 1000 - this.t.renewIntervalMs;
  }

  /** Claiming is allowed: the API is healthy and peers were listened to for one heartbeat timeout. */
  settled(now: number, apiHealthy: boolean): boolean {
    return apiHealthy && now - this.heartbeatStartedAt >= this.t.heartbeatTimeoutMs;
  }

  /**
   * (Re)gained the API server: every peer gets a full observation window from now, so a renewal
   * this node could not see while cut off never counts as missed.
   */
  resetObservations(now: number): void {
    for (const l of this.leases.values()) l.observedAtMs = now;
  }

  /**
   * Back from an absence (a frozen process): listen to the peers for one heartbeat timeout before
   * claiming anything, and give each a full observation window from now.
   */
  listenAgain(now: number): void {
    this.heartbeatStartedAt = now;
    this.resetObservations(now);
  }

  /**
   * The earliest local time at which a peer could declare this node dead (liveness.ts): a peer
   * that has heard this incarnation's heartbeats needs them silent for a heartbeat timeout and a
   * renewal missed; one that never heard them waits for the Lease to expire. A peer observes a
   * heartbeat or a renewal no earlier than it was sent, so the bound holds without synchronised
   * clocks. Nobody can take over before any peer exists.
   */
  earliestTakeover(): number {
    const peers = this.leases.size - (this.leases.has(this.o.node) ? 1 : 0);
    if (peers === 0) return Infinity;
    const sentAt = this.heartbeat.lastSentAt;
    const renewal = this.lease.lastOkSentAt + (sentAt === -Infinity ? this.t.leaseDurationSeconds * 1000 : this.t.renewIntervalMs + this.t.graceMs);
    return Math.max(sentAt + this.t.heartbeatTimeoutMs, renewal);
  }

  /** A speaker Lease was added, updated or deleted; false when the object is no speaker Lease. */
  onLease(verb: "add" | "update" | "delete", l: k8s.V1Lease): boolean {
    const name = l.metadata?.name ?? "";
    if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return false;
    const node = name.slice(SPEAKER_LEASE_PREFIX.length);
    if (verb === "delete") {
      this.leases.delete(node);
      return true;
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
      observedAtMs: changed ? this.o.clock.now() : (prev as LeaseState).observedAtMs,
      incarnation,
      renewIntervalMs: Number(a[LEASE_ANNOTATIONS.renewIntervalMs] ?? "") || (l.spec?.leaseDurationSeconds ?? 15) * 1000,
      durationMs: (l.spec?.leaseDurationSeconds ?? 15) * 1000,
      subnets: parsePublishedSubnets(a[NODE_SUBNETS_ANNOTATION]),
      endpoint: parseEndpoint(a[LEASE_ANNOTATIONS.heartbeat]),
    });
    this.heartbeat.setPeers(
      [...this.leases.values()].filter((x) => x.endpoint !== undefined).map((x) => ({ node: x.node, host: (x.endpoint as { host: string }).host, port: (x.endpoint as { port: number }).port })),
    );
    return true;
  }

  private onHeartbeat(m: HeartbeatMessage): void {
    this.o.metrics.hbReceived.inc();
    const prev = this.heartbeats.get(m.node);
    this.heartbeats.set(m.node, { lastAtMs: this.o.clock.now(), incarnation: m.incarnation, leaving: m.leaving, claims: m.claims });
    const changedClaims = prev === undefined || prev.leaving !== m.leaving || prev.claims.join() !== m.claims.join() || prev.incarnation !== m.incarnation;
    if (changedClaims) this.o.onClaimsChanged(m.leaving);
  }

  /** Liveness of every speaker with a Lease, as of `now`; `selfSubnets` are this node's. */
  evaluate(now: number, apiHealthy: boolean, selfSubnets: PublishedSubnet[]): Members {
    const timing = { heartbeatTimeoutMs: this.t.heartbeatTimeoutMs, graceMs: this.t.graceMs };
    const self = this.o.node;
    const alive = new Map<string, Liveness>();
    const speakers: SpeakerView[] = [];
    let heard = 0;
    let dead = 0;
    for (const l of this.leases.values()) {
      if (l.node === self) continue;
      const hb = this.heartbeats.get(l.node);
      if (hb && hb.incarnation === l.incarnation && now - hb.lastAtMs < this.t.heartbeatTimeoutMs && !hb.leaving) heard++;
      const lv = peerLiveness(l, hb, now, timing);
      if (lv.alive) {
        alive.set(l.node, lv);
        speakers.push({ node: l.node, subnets: l.subnets });
      } else dead++;
    }
    if (this.lease.acquired) {
      alive.set(self, { alive: true, reason: "Lease" });
      speakers.push({ node: self, subnets: selfSubnets });
    }
    this.o.metrics.peers.set({ state: "alive" }, alive.size - (this.lease.acquired ? 1 : 0));
    this.o.metrics.peers.set({ state: "dead" }, dead);
    const aliveKey = [...alive.keys()].sort().join(",");
    const changed = aliveKey !== this.aliveKey;
    if (changed) {
      if (this.aliveKey !== "") {
        const before = new Set(this.aliveKey.split(","));
        const changes = [...alive.entries()].filter(([n]) => !before.has(n)).map(([n, l]) => `+${n}(${l.reason})`);
        for (const n of before) if (!alive.has(n)) changes.push(`-${n}(${this.leases.has(n) ? peerLiveness(this.leases.get(n), this.heartbeats.get(n), now, timing).reason : "NoLease"})`);
        this.o.logger.info({ changes, alive: [...alive.keys()] }, "speaker membership changed");
      }
      this.aliveKey = aliveKey;
    }
    if (apiHealthy) this.knownMembers = Math.max(alive.size, 1);
    return { alive, speakers, changed, isolated: isolated(apiHealthy, heard, this.knownMembers) };
  }

  /** ip → live peers whose fresh heartbeat (of the incarnation in their Lease) claims it. */
  peerClaims(now: number, alive: ReadonlyMap<string, Liveness>): Map<string, string[]> {
    const peerClaims = new Map<string, string[]>();
    for (const [node, hb] of this.heartbeats) {
      const l = this.leases.get(node);
      if (!alive.has(node) || l === undefined || hb.incarnation !== l.incarnation || now - hb.lastAtMs >= this.t.heartbeatTimeoutMs) continue;
      for (const ip of hb.claims) peerClaims.set(ip, [...(peerClaims.get(ip) ?? []), node]);
    }
    return peerClaims;
  }
}
