// Membership: who is alive, from the two signals (liveness.ts). The parts both designs share:
// this node's Lease (lease.ts) and heartbeat endpoint (heartbeat.ts), the heartbeats heard from
// peers (stamped with the local clock), the API health and settle rules, and the answer bound.
// How peers are observed differs: every peer's Lease watched and heartbeats to everyone
// (mesh-membership.ts), or member records watched, heartbeats to ring neighbours and Leases read
// on suspicion (ring-membership.ts).
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import type { SpeakerView } from "../election/plan.ts";
import type { Clock } from "./clock.ts";
import { claimsMayInclude, type ClaimsPart } from "./claims.ts";
import type { HeartbeatMessage, HeartbeatTransport } from "./heartbeat.ts";
import type { LeaseApi } from "./kube-api.ts";
import { LeaseKeeper, type LeaseKeeperOptions } from "./lease.ts";
import type { Liveness } from "./liveness.ts";
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

export interface HeartbeatState {
  lastAtMs: number;
  incarnation: string;
  leaving: boolean;
  /** Its claims as its latest message that told them said (claims.ts: all, or those cut to this node's filter). */
  claims: ClaimsPart;
  /** When that message arrived (local clock). */
  claimsAtMs: number;
  /** When the latest query this peer answered was sent (-Infinity before any): its claims are no older. */
  answeredSince: number;
  /** The interest version that query carried (claims.ts): the addresses the answer covers. */
  answeredInterest: number;
  /** When the latest heartbeat this peer acknowledged was sent (-Infinity before any). */
  ackedSentAt: number;
  /** How long a silence of this peer means a missed heartbeat: its latest message's pace (heartbeatTimeoutOf). */
  timeoutMs: number;
}

/** The slowest pace a heartbeat may announce (ring-membership.ts stretches by 3). */
const MAX_PACE = 10;

/** One evaluation of every speaker's liveness. */
export interface Members {
  /** Live speakers, this node included once its Lease is held. */
  alive: Map<string, Liveness>;
  /** The election's view of them. */
  speakers: SpeakerView[];
  /** The set of live speakers differs from the previous evaluation. */
  changed: boolean;
  /** A speaker left it (its addresses need an owner now); otherwise only speakers joined. */
  left: boolean;
  /** Without the API server and without a heard majority (liveness.ts `isolated`). */
  isolated: boolean;
  /** A peer declared this node dead since the last evaluation (it was away): recheck what it owns. */
  declaredDead?: boolean;
}

/** An address this node was elected for and does not answer yet (or must recheck). */
export interface WantedAddress {
  ip: string;
  /** Its candidates, best first. */
  candidates: string[];
  /** Its owner in the previous plan that changed it. */
  previousOwner: string | undefined;
  /** Answered already, kept only if every plausible holder answers (back from an absence): a silent one never stops blocking. */
  owned?: boolean;
}

/** What this node's Lease keepers (its speaker Lease, its member record) share. */
export function keeperOptions(o: MembershipOptions): LeaseKeeperOptions {
  return {
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
  };
}

export abstract class Membership {
  readonly lease: LeaseKeeper;
  readonly heartbeat: HeartbeatTransport;
  protected readonly o: MembershipOptions;
  protected readonly t: MembershipTiming;
  protected readonly heartbeats = new Map<string, HeartbeatState>();
  private aliveKey = "";
  private heartbeatStartedAt = Infinity;

  constructor(o: MembershipOptions) {
    this.o = o;
    this.t = o.timing;
    this.heartbeat = o.heartbeat;
    this.lease = new LeaseKeeper({
      ...keeperOptions(o),
      onRenew: (s, ok) => {
        o.metrics.leaseRenew.observe({ result: ok ? "ok" : "error" }, s);
        if (ok) this.heartbeat.setRenewal(this.lease.resourceVersion);
        else o.metrics.leaseFailures.inc();
      },
    });
    this.heartbeat.on("message", (m) => this.onHeartbeat(m));
    this.heartbeat.on("rejected", () => o.metrics.hbRejected.inc());
  }

  /** Publishes the heartbeat endpoint (when known), starts heartbeats and renewals. */
  abstract start(endpointHost: string | undefined, port: number): Promise<void>;
  /** Graceful leave: a leaving heartbeat with no claims, then this node's objects deleted. */
  abstract stop(): Promise<void>;
  abstract setSubnets(subnets: PublishedSubnet[]): void;
  /** A Lease was added, updated or deleted; false when it is none this design watches. */
  abstract onLease(verb: "add" | "update" | "delete", l: k8s.V1Lease): boolean;
  /** Liveness of every speaker, as of `now`; `selfSubnets` are this node's. */
  abstract evaluate(now: number, apiHealthy: boolean, selfSubnets: PublishedSubnet[]): Members;
  /**
   * (Re)gained the API server, or back from an absence: every peer gets a full observation
   * window from now, so a renewal this node could not see never counts as missed.
   */
  abstract resetObservations(now: number): void;
  /** The incarnation a live peer's heartbeats must carry; undefined for no known peer. */
  protected abstract incarnationOf(node: string): string | undefined;
  /** How many peers might take over from this node. */
  protected abstract peerCount(): number;

  /**
   * ip → peers to hear from before answering it; empty where every peer's claims are heard
   * anyway (mesh). `wanted` is only read when {@link asksBeforeGaining}.
   */
  unconfirmed(_now: number, _wanted: readonly WantedAddress[]): Map<string, string[]> {
    return new Map();
  }

  /** Whether {@link unconfirmed} needs the wanted addresses. */
  get asksBeforeGaining(): boolean {
    return false;
  }

  protected markHeartbeatsStarted(): void {
    this.heartbeatStartedAt = this.o.clock.now();
  }

  setClaims(claims: string[]): void {
    this.heartbeat.setClaims(claims);
  }

  /** This node's own renewals succeed (it may gain addresses). */
  apiHealthy(now: number): boolean {
    const period = Math.max(this.lease.renewIntervalMs, this.lease.lastOkIntervalMs);
    return this.lease.acquired && now - this.lease.lastOkAt < period * 2 + this.t.graceMs;
  }

  /**
   * Whether this node answers, is elected for or waits for an address, or holds a role: a ring
   * member with nothing at stake renews its Lease less often (ring-membership.ts).
   */
  setStake(_atStake: boolean, _now: number): void {}

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
   * Back from an absence (a frozen process): listen to the peers for one heartbeat timeout before
   * claiming anything, and give each a full observation window from now.
   */
  listenAgain(now: number): void {
    this.heartbeatStartedAt = now;
    this.resetObservations(now);
  }

  /** The peers that watch this node's heartbeats (and may declare it dead). */
  protected abstract monitors(): string[];

  /**
   * The earliest local time a peer could declare this node dead (liveness.ts). It needs the
   * renewal this node last made unchanged for a renew period and the grace since it first saw it
   * — no earlier than it was sent, so no clock sync is needed — and, if it ever heard this node,
   * its heartbeats silent for a heartbeat timeout. Only heartbeats a monitor acknowledged are
   * known to have reached it (a lost one does not delay its verdict), so the heartbeat term is
   * the earliest, over the monitors, of the last acknowledged heartbeat's send time plus the
   * timeout; a monitor that never acknowledged one leaves the renewal term alone. While renewals
   * fail (an API outage) the acknowledgements keep the bound moving: fail-static goes on while
   * the monitors hear this node, and ends, without waiting for the isolation rule, when they stop
   * hearing it (its own sending is cut). Nobody can take over before any peer exists.
   *
   * A node that answers nothing may count its slowed heartbeats' longer timeout
   * ({@link slowPace}) and its Lease's current, possibly stretched, renew period: the bound then
   * only tells it whether it was away, and its acknowledgements and renewals come that much less
   * often (counting one second, a successor that died left its bound on its renewals for only 1.3 s
   * of every 3, and it counted itself away). Once it answers, the one-period rules hold again.
   */
  earliestTakeover(now: number, answering: boolean): number {
    if (this.peerCount() === 0) return Infinity;
    const period = answering ? this.t.renewIntervalMs : Math.max(this.t.renewIntervalMs, this.lease.renewIntervalMs);
    const renewal = this.lease.lastOkSentAt + period + this.t.graceMs;
    const monitors = this.monitors();
    const timeout = this.t.heartbeatTimeoutMs * (answering ? 1 : this.slowPace(now));
    let heard = monitors.length > 0 ? Infinity : -Infinity;
    for (const m of monitors) {
      const hb = this.heartbeats.get(m);
      const acked = hb !== undefined && hb.incarnation === this.incarnationOf(m) ? hb.ackedSentAt : -Infinity;
      heard = Math.min(heard, acked + timeout);
    }
    return Math.max(heard, renewal);
  }

  /** How many times slower than the interval this node's heartbeats were lately sent (ring-membership.ts `setStake`). */
  protected slowPace(_now: number): number {
    return 1;
  }

  protected onHeartbeat(m: HeartbeatMessage): void {
    this.o.metrics.hbReceived.inc();
    const prev = this.heartbeats.get(m.node);
    const same = prev !== undefined && prev.incarnation === m.incarnation;
    const now = this.o.clock.now();
    const answeredSince = Math.max(same ? prev.answeredSince : -Infinity, m.askedAt ?? -Infinity);
    const answeredInterest = Math.max(same ? prev.answeredInterest : 0, m.askedInterest ?? 0);
    const ackedSentAt = Math.max(same ? prev.ackedSentAt : -Infinity, m.ackedSentAt ?? -Infinity);
    const told = m.claims !== undefined ? { claims: m.claims, ...(m.claimsCut !== undefined ? { cut: m.claimsCut } : {}) } : undefined;
    const claims = told ?? (same ? prev.claims : NO_CLAIMS);
    const claimsAtMs = told !== undefined ? now : same ? prev.claimsAtMs : -Infinity;
    this.heartbeats.set(m.node, { lastAtMs: now, incarnation: m.incarnation, leaving: m.leaving, claims, claimsAtMs, answeredSince, answeredInterest, ackedSentAt, timeoutMs: this.heartbeatTimeoutOf(m) });
    const changedClaims = prev === undefined || prev.leaving !== m.leaving || prev.incarnation !== m.incarnation || (told !== undefined && !sameClaims(prev.claims, told));
    if (changedClaims) this.o.onClaimsChanged(m.leaving);
  }

  /**
   * A message carrying a stretched renew period announces heartbeats up to that many times
   * slower than the renew period (ring-membership.ts `setStake`): its sender is judged silent
   * only after the heartbeat timeout times that factor.
   */
  private heartbeatTimeoutOf(m: HeartbeatMessage): number {
    if (m.renewPeriodMs === undefined) return this.t.heartbeatTimeoutMs;
    const pace = Math.min(MAX_PACE, Math.max(1, m.renewPeriodMs / this.t.renewIntervalMs));
    return this.t.heartbeatTimeoutMs * pace;
  }

  /** A fresh heartbeat of `node` in the incarnation its record names, not leaving. */
  protected heardFresh(node: string, now: number): boolean {
    const hb = this.heartbeats.get(node);
    return hb !== undefined && hb.incarnation === this.incarnationOf(node) && now - hb.lastAtMs < hb.timeoutMs && !hb.leaving;
  }

  /** Records the live set, logging what changed (`reasonOf` a departure): who joined or left. */
  protected noteAlive(alive: ReadonlyMap<string, Liveness>, reasonOf: (node: string) => string): Pick<Members, "changed" | "left"> {
    const aliveKey = [...alive.keys()].sort().join(",");
    if (aliveKey === this.aliveKey) return { changed: false, left: false };
    const before = new Set(this.aliveKey === "" ? [] : this.aliveKey.split(","));
    const changes = [...alive.entries()].filter(([n]) => !before.has(n)).map(([n, l]) => `+${n}(${l.reason})`);
    let left = false;
    for (const n of before) {
      if (alive.has(n)) continue;
      left = true;
      changes.push(`-${n}(${reasonOf(n)})`);
    }
    if (this.aliveKey !== "") this.o.logger.info({ changes: changes.length > 20 ? changes.length : changes, alive: alive.size > 20 ? alive.size : [...alive.keys()] }, "speaker membership changed");
    this.aliveKey = aliveKey;
    return { changed: true, left };
  }

  /** ip → live peers whose fresh heartbeat (of the incarnation in their record) claims it. */
  peerClaims(now: number, alive: ReadonlyMap<string, Liveness>): Map<string, string[]> {
    const peerClaims = new Map<string, string[]>();
    for (const [node, hb] of this.heartbeats) {
      if (!alive.has(node) || hb.incarnation !== this.incarnationOf(node) || now - hb.claimsAtMs >= this.t.heartbeatTimeoutMs) continue;
      for (const ip of hb.claims.claims) {
        const peers = peerClaims.get(ip);
        if (peers === undefined) peerClaims.set(ip, [node]);
        else peers.push(node);
      }
    }
    return peerClaims;
  }

  /** `node`'s latest answer left `ip` out only because it was cut short (claims.ts): count it as claimed. */
  protected claimUnknown(node: string, ip: string): boolean {
    const part = this.heartbeats.get(node)?.claims;
    return part?.cut !== undefined && claimsMayInclude(part, ip);
  }
}

const NO_CLAIMS: ClaimsPart = { claims: [] };

function sameClaims(a: ClaimsPart, b: ClaimsPart): boolean {
  return a.cut === b.cut && a.claims.length === b.claims.length && a.claims.every((ip, i) => ip === b.claims[i]);
}
