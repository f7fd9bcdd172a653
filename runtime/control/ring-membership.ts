// Ring membership: liveness whose cost grows with N, not N² (runtime/control/README.md).
//
//  - Member record (`l2lb-member-<node>`, a Lease): written when this speaker joins or its
//    heartbeat endpoint or subnets change, deleted when it leaves or is declared dead. Every
//    speaker watches these, so the API server sends N events per membership change, none when
//    idle.
//  - Speaker Lease (`l2lb-speaker-<node>`): still renewed every second, but watched by nobody.
//    Each heartbeat carries the resourceVersion of the sender's last successful renewal.
//  - Heartbeats go to the RING_FANOUT ring successors (ring.ts); each node monitors its
//    predecessors. When a predecessor's heartbeats stopped and the renewal it last reported is
//    older than a renew period and the grace (liveness.ts, the same two signals as before), the
//    monitor reads its Lease once: a newer renewal keeps it alive, an unchanged one is the
//    verdict — the monitor deletes the member record (precondition: the record it saw), and
//    every speaker re-plans on the delete event.
//  - Before answering for an address, a node asks the peers that might still answer it (ring.ts
//    `plausibleHolders`) and waits until each has answered since, not claiming it — or stayed
//    silent for a heartbeat timeout, the time after which a silent peer's claims expire anyway.
import type * as k8s from "@kubernetes/client-node";
import { MEMBER_LABEL, MEMBER_PREFIX, NODE_SUBNETS_ANNOTATION } from "../../provider/core/model/contract.ts";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import { parsePublishedSubnets } from "../../provider/core/model/published.ts";
import type { SpeakerView } from "../election/plan.ts";
import { withTimeout } from "./clock.ts";
import { formatEndpoint, parseEndpoint, type HeartbeatMessage, type HeartbeatPeer } from "./heartbeat.ts";
import { LEASE_ANNOTATIONS, LeaseKeeper, leaseName } from "./lease.ts";
import { isolated, peerLiveness, type Liveness } from "./liveness.ts";
import { keeperOptions, Membership, type Members, type MembershipOptions, type WantedAddress } from "./membership.ts";
import { plausibleHolders, predecessors, ringOrder, successors } from "./ring.ts";

interface LiveSet {
  version: number;
  selfAlive: boolean;
  selfSubnets: PublishedSubnet[];
  alive: Map<string, Liveness>;
  speakers: SpeakerView[];
  /** Its changes were logged and reported once. */
  noted: boolean;
}

interface MemberState {
  resourceVersion: string;
  incarnation: string;
  renewIntervalMs: number;
  durationMs: number;
  subnets: PublishedSubnet[];
  endpoint: { host: string; port: number } | undefined;
}

/** What this node knows of a predecessor's renewals. */
interface Monitor {
  /** The last renewal's resourceVersion seen (heartbeat or read). */
  renewal: string;
  /** When it was first seen, local clock. */
  observedAtMs: number;
  reading: boolean;
  lastReadAt: number;
  /** The renew period its latest heartbeat carried (undefined: its member record's). */
  periodMs?: number | undefined;
}

/** A peer that asked this node keeps receiving its heartbeats this long, so a release reaches it at once. */
const FOLLOW_MS = 2000;

/** A speaker with nothing at stake renews its Lease this many renew periods apart (below the Lease duration). */
export const IDLE_RENEW_FACTOR = 3;

/** Nothing at stake for this long before the renewals stretch. */
export const IDLE_AFTER_MS = 10_000;

function isStatus(err: unknown, code: number): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}

export function memberName(node: string): string {
  return `${MEMBER_PREFIX}${node}`;
}

export class RingMembership extends Membership {
  /** This node's member record. */
  readonly member: LeaseKeeper;
  private readonly members = new Map<string, MemberState>();
  private readonly watched = new Map<string, Monitor>();
  private readonly followers = new Map<string, number>();
  /** ip → since when it is wanted, and the interest version whose filter first carried it (claims.ts). */
  private readonly wantedSince = new Map<string, { since: number; interest: number }>();
  private asked = new Set<string>();
  private ring: string[] = [];
  private predecessors: string[] = [];
  private ringDirty = true;
  /** Bumped on every change of `members`. */
  private membersVersion = 0;
  private view: LiveSet = { version: -1, selfAlive: false, selfSubnets: [], alive: new Map(), speakers: [], noted: false };
  private targetsKey = "";
  private knownPredecessors = 0;
  private declaredDead = false;
  private lastRecordAttempt = -Infinity;
  private verdictsFrom = -Infinity;
  private stopping = false;
  /** Since when nothing is at stake (undefined: something is). */
  private idleSince: number | undefined;
  /** When the heartbeats started carrying the stretched period (undefined: they carry none). */
  private stretchAnnouncedAt: number | undefined;
  /** Until when a heartbeat sent at the slow pace may be the latest a monitor acknowledged (Infinity: slowed now). */
  private slowUntil = -Infinity;

  constructor(o: MembershipOptions) {
    super(o);
    this.member = new LeaseKeeper({
      ...keeperOptions(o),
      logger: o.logger.child({ record: "member" }),
      object: { name: memberName(o.node), label: MEMBER_LABEL },
    });
  }

  /** The speaker Lease exists before the member record, so a monitor never reads a missing one. */
  async start(endpointHost: string | undefined, port: number): Promise<void> {
    if (endpointHost !== undefined) this.member.setHeartbeatEndpoint(formatEndpoint(endpointHost, port));
    await this.heartbeat.start();
    this.markHeartbeatsStarted();
    this.lease.start();
    await this.lease.renewNow();
    if (this.lease.acquired) await this.member.renewNow();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.heartbeat.stop(true);
    await this.member.release();
    await this.lease.release();
  }

  setSubnets(subnets: PublishedSubnet[]): void {
    this.member.setSubnets(subnets);
  }

  /**
   * Back from an API outage (or an absence): every predecessor gets a full observation window,
   * and no verdict is given for a lease duration, since a peer's first renewal after the outage
   * may still be waiting out the timeout of one sent during it.
   */
  resetObservations(now: number): void {
    for (const m of this.watched.values()) m.observedAtMs = now;
    this.verdictsFrom = now + this.t.leaseDurationSeconds * 1000;
  }

  protected monitors(): string[] {
    return successors(this.ring, this.o.node);
  }

  protected incarnationOf(node: string): string | undefined {
    return this.members.get(node)?.incarnation;
  }

  protected peerCount(): number {
    return this.members.size;
  }

  override get asksBeforeGaining(): boolean {
    return true;
  }

  onLease(verb: "add" | "update" | "delete", l: k8s.V1Lease): boolean {
    const name = l.metadata?.name ?? "";
    if (!name.startsWith(MEMBER_PREFIX)) return false;
    const node = name.slice(MEMBER_PREFIX.length);
    if (node === this.o.node) {
      this.onOwnRecord(verb, l);
      return true;
    }
    if (verb === "delete") this.members.delete(node);
    else this.members.set(node, this.memberState(l));
    this.ringDirty = true;
    this.membersVersion++;
    return true;
  }

  private memberState(l: k8s.V1Lease): MemberState {
    const a = l.metadata?.annotations ?? {};
    const durationMs = (l.spec?.leaseDurationSeconds ?? 15) * 1000;
    return {
      resourceVersion: l.metadata?.resourceVersion ?? "",
      incarnation: a[LEASE_ANNOTATIONS.incarnation] ?? l.spec?.holderIdentity ?? "",
      renewIntervalMs: Number(a[LEASE_ANNOTATIONS.renewIntervalMs] ?? "") || durationMs,
      durationMs,
      subnets: parsePublishedSubnets(a[NODE_SUBNETS_ANNOTATION]),
      endpoint: parseEndpoint(a[LEASE_ANNOTATIONS.heartbeat]),
    };
  }

  /** This node's record deleted by a peer's verdict: it was away; write it again. */
  private onOwnRecord(verb: "add" | "update" | "delete", l: k8s.V1Lease): void {
    if (verb !== "delete" || this.stopping || !this.member.acquired) return;
    // A delete event carries the resourceVersion of the deletion; the uid names the object.
    if (l.metadata?.uid !== this.member.uid) return;
    this.o.logger.warn("a peer declared this speaker dead (its member record was deleted): rejoining");
    this.declaredDead = true;
    void this.member.rewrite();
  }

  protected override onHeartbeat(m: HeartbeatMessage): void {
    super.onHeartbeat(m);
    const now = this.o.clock.now();
    if (m.query !== undefined) this.followers.set(m.node, now + FOLLOW_MS);
    // An answer may be the last one an address waits for: decide now, not on the next tick.
    if (m.askedAt !== undefined && this.wantedSince.size > 0) this.o.onClaimsChanged(false);
    const mon = this.watched.get(m.node);
    if (mon === undefined || m.incarnation !== this.incarnationOf(m.node)) return;
    mon.periodMs = m.renewPeriodMs;
    if (m.renewal !== undefined && m.renewal !== mon.renewal) {
      mon.renewal = m.renewal;
      mon.observedAtMs = now;
    }
  }

  /**
   * Renewals stretched when nothing is at stake: a speaker that answers, is elected for or waits
   * for no address and holds no role renews its Lease IDLE_RENEW_FACTOR times less often, once
   * that has lasted IDLE_AFTER_MS. Its monitors judge a missed renewal by the period its latest
   * heartbeat carries, so the period they use is never below the real one: the heartbeats carry
   * the longer period before the renewals stretch (until every monitor has acknowledged one of
   * them), and the renewals shorten — with one at once — when the heartbeats stop carrying it.
   * A monitor with an older period only judges later. No API write publishes the period (a
   * member-record write before every election delayed a new Service's address by a tick).
   * Its heartbeats slow down by the same factor with the renewals (its monitors allow that much
   * longer a silence while the period is carried) and speed up, with one at once, with them.
   */
  override setStake(atStake: boolean, now: number): void {
    const base = this.t.renewIntervalMs;
    if (atStake || this.stopping) {
      this.idleSince = undefined;
      this.stretchAnnouncedAt = undefined;
      this.heartbeat.setRenewPeriod(undefined);
      if (this.slowUntil === Infinity) {
        this.heartbeat.setPace(1);
        // Heartbeats sent slowly may still be the latest some monitor acknowledged.
        this.slowUntil = now + this.t.heartbeatTimeoutMs * IDLE_RENEW_FACTOR;
      }
      if (this.lease.renewIntervalMs !== base) this.lease.setRenewInterval(base);
      return;
    }
    this.idleSince ??= now;
    if (now - this.idleSince < IDLE_AFTER_MS) return;
    const idle = base * IDLE_RENEW_FACTOR;
    if (this.stretchAnnouncedAt === undefined) {
      this.stretchAnnouncedAt = now;
      this.heartbeat.setRenewPeriod(idle);
      return;
    }
    if (this.lease.renewIntervalMs !== idle && this.monitorsHeardSince(this.stretchAnnouncedAt)) {
      this.lease.setRenewInterval(idle);
      this.heartbeat.setPace(IDLE_RENEW_FACTOR);
      this.slowUntil = Infinity;
    }
  }

  protected override slowPace(now: number): number {
    return now < this.slowUntil ? IDLE_RENEW_FACTOR : 1;
  }

  /** Every monitor acknowledged a heartbeat sent after `since`. */
  private monitorsHeardSince(since: number): boolean {
    return this.monitors().every((m) => {
      const hb = this.heartbeats.get(m);
      return hb !== undefined && hb.incarnation === this.incarnationOf(m) && hb.ackedSentAt > since;
    });
  }

  evaluate(now: number, apiHealthy: boolean, selfSubnets: PublishedSubnet[]): Members {
    if (this.ringDirty) this.rebuildRing(now);
    this.keepRecord(now);
    const { alive, speakers } = this.liveSet(selfSubnets);
    const preds = this.predecessors;
    const heard = preds.filter((p) => this.heardFresh(p, now)).length;
    if (apiHealthy) {
      this.knownPredecessors = preds.length;
      for (const p of preds) this.watchOver(p, now);
    }
    this.pruneFollowers(now);
    const change = this.view.noted ? { changed: false, left: false } : this.noteAlive(alive, () => "MemberDeleted");
    this.view.noted = true;
    const declaredDead = this.declaredDead;
    this.declaredDead = false;
    return { alive, speakers, ...change, isolated: isolated(apiHealthy, heard, this.knownPredecessors + 1), declaredDead };
  }

  /**
   * The live set and the election's view of it, rebuilt only when the members, this node's own
   * standing or its subnets changed: every tick reads it, and at hundreds of nodes rebuilding it
   * ten times a second was most of an idle speaker's work.
   */
  private liveSet(selfSubnets: PublishedSubnet[]): LiveSet {
    const selfAlive = this.member.acquired && this.lease.acquired;
    const v = this.view;
    if (v.version === this.membersVersion && v.selfAlive === selfAlive && v.selfSubnets === selfSubnets) return v;
    const alive = new Map<string, Liveness>();
    const speakers: SpeakerView[] = [];
    for (const [node, m] of this.members) {
      alive.set(node, { alive: true, reason: "Member" });
      speakers.push({ node, subnets: m.subnets });
    }
    if (selfAlive) {
      alive.set(this.o.node, { alive: true, reason: "Lease" });
      speakers.push({ node: this.o.node, subnets: selfSubnets });
    }
    this.o.metrics.peers.set({ state: "alive" }, this.members.size);
    this.o.metrics.peers.set({ state: "dead" }, 0);
    this.view = { version: this.membersVersion, selfAlive, selfSubnets, alive, speakers, noted: false };
    return this.view;
  }

  /** Writes this node's member record while it has none (first write failed, or a verdict). */
  private keepRecord(now: number): void {
    if (this.member.acquired || !this.lease.acquired || this.stopping || now - this.lastRecordAttempt < this.t.renewIntervalMs) return;
    this.lastRecordAttempt = now;
    void this.member.renewNow();
  }

  private rebuildRing(now: number): void {
    this.ringDirty = false;
    this.ring = ringOrder([...this.members.keys(), this.o.node]);
    this.predecessors = predecessors(this.ring, this.o.node);
    const preds = new Set(this.predecessors);
    for (const p of this.watched.keys()) if (!preds.has(p)) this.watched.delete(p);
    // A new predecessor gets a full observation window from now (slow path until it is heard).
    for (const p of preds) if (!this.watched.has(p)) this.watched.set(p, { renewal: "", observedAtMs: now, reading: false, lastReadAt: -Infinity });
    this.updateTargets();
  }

  /** Reads a predecessor's Lease when both signals look missed; an unchanged renewal is the verdict. */
  private watchOver(node: string, now: number): void {
    const mon = this.watched.get(node);
    const m = this.members.get(node);
    if (mon === undefined || m === undefined || mon.reading) return;
    const period = mon.periodMs ?? m.renewIntervalMs;
    const observation = { observedAtMs: mon.observedAtMs, renewIntervalMs: period, durationMs: m.durationMs, incarnation: m.incarnation };
    const hb = this.heartbeats.get(node);
    const lv = peerLiveness(observation, hb, now, { heartbeatTimeoutMs: hb?.timeoutMs ?? this.t.heartbeatTimeoutMs, graceMs: this.t.graceMs });
    if (lv.alive || now - mon.lastReadAt < period || now < this.verdictsFrom) return;
    mon.reading = true;
    mon.lastReadAt = now;
    void this.readAndJudge(node, mon, m, lv.reason).finally(() => (mon.reading = false));
  }

  private async readAndJudge(node: string, mon: Monitor, m: MemberState, reason: string): Promise<void> {
    const timeout = Math.max(this.t.renewIntervalMs, 1000);
    // The renewal known when the read starts: a heartbeat may bring the same new one during the read.
    const known = mon.renewal;
    this.o.metrics.livenessReads.inc();
    let renewal: string | undefined;
    try {
      const lease = await withTimeout(this.o.api.readLease(this.o.namespace, leaseName(node)), timeout, "peer lease read", this.o.clock);
      renewal = lease.metadata?.resourceVersion ?? "";
    } catch (err) {
      if (!isStatus(err, 404)) return;
    }
    if (mon.renewal !== known) return; // a heartbeat brought a newer renewal meanwhile: alive
    if (renewal !== undefined && renewal !== known) {
      mon.renewal = renewal;
      mon.observedAtMs = this.o.clock.now();
      return;
    }
    await this.declareDead(node, m, reason);
  }

  private async declareDead(node: string, m: MemberState, reason: string): Promise<void> {
    try {
      await withTimeout(this.o.api.deleteLease(this.o.namespace, memberName(node), m.resourceVersion), Math.max(this.t.renewIntervalMs, 1000), "member record delete", this.o.clock);
    } catch {
      // 404: another monitor was first; 409: the peer wrote its record again (it is back);
      // anything else: judged again on a later tick. The watch tells what happened.
      return;
    }
    this.o.metrics.verdicts.inc();
    this.o.logger.warn({ peer: node, reason }, "peer declared dead: its heartbeats stopped and its Lease was not renewed");
    if (this.members.get(node)?.resourceVersion !== m.resourceVersion) return;
    this.members.delete(node);
    this.ringDirty = true;
    this.membersVersion++;
    this.o.onClaimsChanged(true);
  }

  private pruneFollowers(now: number): void {
    let pruned = false;
    for (const [node, until] of this.followers) {
      if (until > now) continue;
      this.followers.delete(node);
      pruned = true;
    }
    if (pruned || this.followers.size > 0) this.updateTargets();
  }

  override unconfirmed(now: number, wanted: readonly WantedAddress[]): Map<string, string[]> {
    const self = this.o.node;
    const alive = new Set([...this.members.keys(), self]);
    const out = new Map<string, string[]>();
    const asked = new Set<string>();
    const still = new Set(wanted.map((w) => w.ip));
    for (const ip of this.wantedSince.keys()) if (!still.has(ip)) this.wantedSince.delete(ip);
    // The queries from now on carry a filter with every wanted address; an answer confirms an
    // address only if its query's filter carried it.
    const interest = this.heartbeat.setInterest(still);
    for (const w of wanted) {
      let since = this.wantedSince.get(w.ip);
      if (since === undefined) this.wantedSince.set(w.ip, (since = { since: now, interest }));
      const from = since;
      // Every plausible holder is asked for as long as the address is wanted, so the claims of
      // one that holds it stay fresh (peerClaims) until it lets go.
      const holders = plausibleHolders(w.candidates, self, alive, w.previousOwner);
      for (const p of holders) asked.add(p);
      // A peer silent for a heartbeat timeout stops blocking, as its claims would expire in the
      // mesh: its link may be down (it released then), or it is about to be declared dead.
      if (w.owned !== true && now - from.since >= this.t.heartbeatTimeoutMs) continue;
      const pending = holders.filter((p) => !this.heardSince(p, from) || this.claimUnknown(p, w.ip));
      if (pending.length > 0) out.set(w.ip, pending);
    }
    if (asked.size !== this.asked.size || [...asked].some((p) => !this.asked.has(p))) {
      this.asked = asked;
      this.updateTargets();
    }
    return out;
  }

  /**
   * `node` answered a query sent at or after `from.since` (a plain heartbeat may be an old one,
   * drained late) whose filter carried the address.
   */
  private heardSince(node: string, from: { since: number; interest: number }): boolean {
    const hb = this.heartbeats.get(node);
    return hb !== undefined && hb.answeredSince >= from.since && hb.answeredInterest >= from.interest && hb.incarnation === this.incarnationOf(node);
  }

  /** Heartbeat targets: the ring successors, the peers asked (with a query) and the followers. */
  private updateTargets(): void {
    const targets = new Map<string, boolean>();
    for (const n of successors(this.ring, this.o.node)) targets.set(n, false);
    for (const n of this.followers.keys()) targets.set(n, false);
    for (const n of this.asked) targets.set(n, true);
    const peers: HeartbeatPeer[] = [];
    for (const [node, query] of targets) {
      const endpoint = this.members.get(node)?.endpoint;
      if (endpoint !== undefined) peers.push({ node, host: endpoint.host, port: endpoint.port, ...(query ? { query } : {}) });
    }
    const key = peers.map((p) => `${p.node}${p.query ? "?" : ""}@${p.host}:${p.port}`).join(",");
    if (key === this.targetsKey) return;
    this.targetsKey = key;
    this.heartbeat.setPeers(peers);
  }
}
