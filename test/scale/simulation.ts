// Discrete-event simulation of the speakers' ring liveness protocol at thousands of nodes. Pure:
// virtual time only, every random choice from one seeded PRNG, so a seed replays exactly.
//
// What is modelled (test/scale/README.md, "Simulation (5,000 nodes)"), as implemented in
// runtime/control (ring-membership.ts, membership.ts, heartbeat.ts, controller.ts,
// ownership.ts): member records watched by every node, one liveness Lease per node renewed every
// second, heartbeats to the RING_FANOUT ring successors (plus the peers asked and the followers),
// acknowledged by their receivers, monitors that read the Lease (GET) before a verdict (deleting
// the member record), the election by rank over each node's own view, break before make
// (`unconfirmed`: queries to the plausible holders), the answer deadline (`earliestTakeover`),
// absences (a passed deadline, a resume, a verdict on oneself), isolation, fail-static, graceful
// leave, and renewals stretched when nothing is at stake (ring-membership.ts `setStake`: the
// period carried in heartbeats, monitors judging by it, heartbeats slowed with the renewals, and
// the answer bound of a node answering nothing counting the stretched period and pace). The
// decisions are the repo's own pure functions (peerLiveness, isolated,
// plausibleHolders); ring and rank orders are computed once for the whole cluster and restricted
// to each node's view, which gives the same order as ringOrder/orderByRank of that view (checked
// in simulation.test.ts).
import { mulberry32 } from "../random.ts";
import { isolated, peerLiveness, type HeartbeatObservation, type LeaseObservation, type LivenessTiming } from "../../runtime/control/liveness.ts";
import { RING_FANOUT, plausibleHolders, ringOrder } from "../../runtime/control/ring.ts";
import { IDLE_AFTER_MS, IDLE_RENEW_FACTOR } from "../../runtime/control/ring-membership.ts";
import { rank } from "../../runtime/election/rank.ts";

// ---------------------------------------------------------------------------------------------
// Configuration

export interface Timing {
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  renewIntervalMs: number;
  graceMs: number;
  leaseDurationMs: number;
  tickMs: number;
  answerMarginMs: number;
  /** A peer that sent a query receives this node's heartbeats this long (ring-membership.ts FOLLOW_MS). */
  followMs: number;
}

export interface SimConfig {
  nodes: number;
  addresses: number;
  seed: number;
  /** Independent loss probability of every datagram (heartbeats, acknowledgements, queries, answers). */
  loss: number;
  timing: Timing;
  watchDelayMs: readonly [number, number];
  apiRttMs: readonly [number, number];
  datagramDelayMs: readonly [number, number];
  /** A request to an unreachable API server fails after this long. */
  apiTimeoutMs: number;
  /**
   * A SIGKILLed speaker's answers last until its answer deadline (true: the worst case, as if
   * something outside the process kept answering) or stop at the kill (false).
   */
  killedAnswersUntilDeadline: boolean;
  /**
   * The answer deadline's heartbeat term from acknowledged heartbeats (membership.ts
   * `earliestTakeover`, true: as implemented) or, as before the fix, from the last heartbeat sent
   * (false: `max(lastSent + timeout, renewal term)`; only to show the flaw in a test).
   */
  ackDeadline: boolean;
  /**
   * `resetObservations` as implemented (true): on regaining the API and after an absence, every
   * predecessor gets a full observation window and no verdict is given for a lease duration.
   * False: neither (only to show the false verdicts after an API outage in a test).
   */
  resetObservations: boolean;
  /**
   * The read as before e0ccf70 (false: as implemented, a read is judged against the renewal known
   * when it started, and no verdict if a heartbeat brought a newer one meanwhile). True: the
   * read's renewal is compared with the one known when it returns, which a heartbeat carrying that
   * same renewal may have updated meanwhile: an unchanged-looking renewal, and a verdict on a live
   * node (only to show the race in a test).
   */
  oldRead: boolean;
  /**
   * Answers as before e0ccf70 (false: as implemented, an answer to a query also acknowledges it,
   * heartbeat.ts `SendLog.stamp`). True: only plain acknowledgements move the answer deadline, so
   * a successor that is also asked (it gets queries, not heartbeats) stops moving it.
   */
  oldAnswers: boolean;
  /**
   * The recheck as before e0ccf70 (false: as implemented, owned addresses are asked about from the
   * first listening tick after an absence and kept at the recheck if every plausible holder
   * answered since then without claiming them; a silent holder never stops blocking an owned
   * one). True: they are asked about only at the recheck, so every one with a plausible holder is
   * given up (and, without the API server, not taken back).
   */
  oldRecheck: boolean;
  /**
   * Renewals stretched when nothing is at stake (true: as implemented, ring-membership.ts
   * `setStake`): a node that answers, is elected for and waits for no address for IDLE_AFTER_MS
   * carries the period renewIntervalMs × IDLE_RENEW_FACTOR in its datagrams, and renews at that
   * period once every ring successor acknowledged a heartbeat sent since; at stake again it stops
   * carrying it and renews at once, then every renewIntervalMs. Monitors judge a missed renewal
   * (and space their reads) by the period the peer's latest datagram carried. False: every node
   * renews every renewIntervalMs (the model before this was added).
   */
  stretch: boolean;
  /**
   * With `stretch`: the heartbeats slow down with the renewals, by IDLE_RENEW_FACTOR (true: as
   * implemented since c26dca7). Receivers count a peer whose latest datagram carried the
   * stretched period silent only after that many heartbeat timeouts (membership.ts
   * `heartbeatTimeoutOf`), and a node answering nothing counts its own slow pace in its answer
   * bound (`earliestTakeover`, `slowPace`). False: as at 150b470, heartbeats every
   * heartbeatIntervalMs whatever the renewals, one heartbeat timeout everywhere (only to show the
   * answer pauses it gave idle nodes under loss).
   */
  slowHeartbeats: boolean;
  /**
   * With `stretch`: the renewal term of the answer bound as before 0223986 (false: as
   * implemented, a node answering nothing counts its Lease's current, possibly stretched, renew
   * period, membership.ts `earliestTakeover`). True: one renewIntervalMs whatever the period, so
   * for 1.7 s of every 3 s an idle node's bound rests on its successors' acknowledgements alone,
   * and one that dies or freezes makes it count itself away (only to show that flaw).
   */
  oldIdleDeadline: boolean;
}

export const DEFAULT_TIMING: Timing = {
  heartbeatIntervalMs: 200,
  heartbeatTimeoutMs: 700,
  renewIntervalMs: 1000,
  graceMs: 300,
  leaseDurationMs: 5000,
  tickMs: 100,
  answerMarginMs: 50,
  followMs: 2000,
};

export function simConfig(overrides: Partial<SimConfig> = {}): SimConfig {
  return {
    nodes: 5000,
    addresses: 1000,
    seed: 1,
    loss: 0.05,
    timing: DEFAULT_TIMING,
    watchDelayMs: [5, 60],
    apiRttMs: [2, 20],
    datagramDelayMs: [0.1, 2],
    apiTimeoutMs: 1000,
    killedAnswersUntilDeadline: true,
    ackDeadline: true,
    resetObservations: true,
    oldRead: false,
    oldAnswers: false,
    oldRecheck: false,
    stretch: true,
    slowHeartbeats: true,
    oldIdleDeadline: false,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------
// Seeded PRNG and event queue

export { mulberry32 } from "../random.ts";

/** Event kinds (numbers: the queue holds tens of millions of events). */
/** Event kinds (numbers: the queue holds tens of millions of events). */
const Ev = Object.freeze({
  Tick: 0,
  Renew: 1,
  RenewDone: 2,
  Datagram: 3,
  GetApplied: 4,
  GetDone: 5,
  DeleteApplied: 6,
  CreateApplied: 7,
  Watch: 8,
  Expire: 9,
  Action: 10,
  HeartbeatTimer: 11,
} as const);

/** Datagram types (the `d` of a Datagram event). */
const Dg = Object.freeze({ Plain: 0, Leaving: 1, Query: 2, Answer: 3, Ack: 4 } as const);

/** Bit of a Datagram event's `d`: the datagram carries the stretched renew period (heartbeat.ts `p`). */
const CARRIES_PERIOD = 8;

/** A steady run's warm-up when renewals stretch: the idle nodes stretched before the window opens. */
export const STRETCH_WARMUP_MS = IDLE_AFTER_MS + 3000;

interface SimEvent {
  t: number;
  seq: number;
  kind: number;
  /** The node the event happens at (receiver, timer owner). */
  node: number;
  /** The node's epoch when scheduled (timers of a frozen or dead process are dropped). */
  epoch: number;
  a: number;
  b: number;
  c: number;
  d: number;
  action: (() => void) | undefined;
  /** A datagram's claims (the sender's answered addresses when sent). */
  claims: ReadonlySet<number> | undefined;
}

/** Binary min-heap on (t, seq): ties in time resolve in scheduling order, so runs replay. */
class EventQueue {
  private heap: SimEvent[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(e: Omit<SimEvent, "seq">): void {
    const ev = e as SimEvent;
    ev.seq = this.seq++;
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as SimEvent;
      if (!before(ev, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = ev;
  }

  peekTime(): number {
    return this.heap[0]?.t ?? Infinity;
  }

  pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r] as SimEvent, h[l] as SimEvent) ? r : l;
      if (!before(h[c] as SimEvent, last)) break;
      h[i] = h[c] as SimEvent;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

function before(x: SimEvent, y: SimEvent): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}

// ---------------------------------------------------------------------------------------------
// Orders: ring and per-address candidate rank, computed once for all nodes

/** Node indices best first for `key`: the order of orderByRank over every node (rank.ts `rank`). */
export function candidateOrder(names: readonly string[], key: string): Int32Array {
  const ranks = names.map((n) => rank(n, key));
  const idx = Array.from(names, (_, i) => i);
  idx.sort((x, y) => {
    const rx = ranks[x] as number;
    const ry = ranks[y] as number;
    if (rx !== ry) return rx < ry ? -1 : 1;
    const nx = names[x] as string;
    const ny = names[y] as string;
    return nx < ny ? -1 : nx > ny ? 1 : 0;
  });
  return Int32Array.from(idx);
}

export function nodeName(i: number): string {
  return `node-${String(i).padStart(5, "0")}`;
}

export function addressName(a: number): string {
  return `10.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}`;
}

/**
 * Ring neighbours of `self` among the members of `view`, walking the cluster-wide ring order
 * (`step` 1: successors, -1: predecessors); [] when `self` is not in its own view, like
 * successors/predecessors of runtime/control/ring.ts.
 */
export function viewNeighbours(ring: Int32Array, ringPos: Int32Array, view: Uint8Array, self: number, fanout: number, step: 1 | -1): number[] {
  const out: number[] = [];
  if (view[self] !== 1) return out;
  const n = ring.length;
  const start = ringPos[self] as number;
  for (let k = 1; k < n && out.length < fanout; k++) {
    const x = ring[(((start + step * k) % n) + n) % n] as number;
    if (view[x] === 1) out.push(x);
  }
  return out;
}

/** A node's view as the ReadonlySet of names that plausibleHolders takes. */
class ViewSet implements ReadonlySet<string> {
  private readonly view: Uint8Array;
  private readonly ids: ReadonlyMap<string, number>;
  private readonly names: readonly string[];
  constructor(view: Uint8Array, ids: ReadonlyMap<string, number>, names: readonly string[]) {
    this.view = view;
    this.ids = ids;
    this.names = names;
  }
  has(name: string): boolean {
    const i = this.ids.get(name);
    return i !== undefined && this.view[i] === 1;
  }
  get size(): number {
    let n = 0;
    for (const v of this.view) n += v;
    return n;
  }
  *values(): SetIterator<string> {
    for (let i = 0; i < this.view.length; i++) if (this.view[i] === 1) yield this.names[i] as string;
  }
  keys(): SetIterator<string> {
    return this.values();
  }
  *entries(): SetIterator<[string, string]> {
    for (const v of this.values()) yield [v, v];
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.values();
  }
  forEach(cb: (value: string, key: string, set: ReadonlySet<string>) => void): void {
    for (const v of this.values()) cb(v, v, this);
  }
}

// ---------------------------------------------------------------------------------------------
// State

type ProcessState = "running" | "frozen" | "dead";

/** What a node heard last from a peer (membership.ts HeartbeatState): any datagram counts. */
interface Heard extends HeartbeatObservation {
  /** Its claims as its latest answer (or leaving datagram) told them: plain datagrams carry none (claims.ts). */
  claims: ReadonlySet<number>;
  claimsAtMs: number;
  /** Send time of the latest query of ours this peer answered (-Infinity before any). */
  answeredSince: number;
  /** Send time of the latest heartbeat of ours this peer acknowledged (-Infinity before any). */
  ackedSentAt: number;
  /** How long a silence of this peer means missed heartbeats: its latest datagram's pace (membership.ts `timeoutMs`). */
  timeoutMs: number;
}

/** A monitored predecessor (ring-membership.ts Monitor). */
interface Monitor {
  peer: number;
  lease: LeaseObservation;
  /** Lease resourceVersion last seen (-1: none yet). */
  rv: number;
  /** Version of the peer's member record in this node's view (the delete precondition). */
  recordVersion: number;
  /** The record version when the read in flight started. */
  readVersion: number;
  /** The renewal known when the read in flight started. */
  readRv: number;
  reading: boolean;
  lastReadAt: number;
  /**
   * The renew period the peer's latest datagram carried (undefined: its member record's,
   * renewIntervalMs); `lease.renewIntervalMs` is kept equal to `periodMs ?? renewIntervalMs`.
   */
  periodMs: number | undefined;
}

interface SimNodeState {
  id: number;
  name: string;
  state: ProcessState;
  epoch: number;
  incarnation: string;
  /** Member records seen (own included: its own record as the watch last showed it). */
  view: Uint8Array;
  /** Peers in the view (own record excluded): the peers that might take over. */
  peers: number;
  /** Version of each member record seen that changed since the start (else `initialRecord`). */
  seenVersion: Map<number, number>;
  plan: Int32Array;
  /** Addresses whose plan names this node (controller.ts `myPlan().addresses.length`). */
  elected: number;
  succ: number[];
  pred: number[];
  monitors: Map<number, Monitor>;
  heard: Map<number, Heard>;
  /** Addresses owned (the announcer's; claimed in datagrams). The data plane answers them unless `paused`. */
  answering: Set<number>;
  /** The data plane's answer deadline passed: it answers nothing until a tick confirms a new one. */
  paused: boolean;
  /** Snapshot of `answering` sent in datagrams (replaced on every change). */
  claims: ReadonlySet<number>;
  /** Elected (plan) and not answered. */
  wanted: Set<number>;
  /** When each wanted address became wanted (ring-membership.ts wantedSince). */
  wantedSince: Map<number, number>;
  previousOwner: Map<number, number>;
  /** Peers asked with every heartbeat (plausible holders of a wanted address). */
  asked: Set<number>;
  /** Peers that queried this node, heartbeat targets until then. */
  followers: Map<number, number>;
  lastHbSentAt: number;
  lastOkRenewalSentAt: number;
  /** Completion time of the last successful renewal (apiHealthy). */
  lastOkAt: number;
  /** The Lease's current renew period (lease.ts `renewIntervalMs`). */
  renewIntervalMs: number;
  /** The renew period in effect when the last successful renewal was sent (lease.ts `lastOkIntervalMs`). */
  lastOkIntervalMs: number;
  /** Bumped when the renew timer is replaced (lease.ts `loopGeneration`): older Renew events are dropped. */
  renewGeneration: number;
  /** When the last renewal was sent, and until when it is in flight (its response or its failure). */
  renewStartedAt: number;
  renewInFlightUntil: number;
  /** Renewals sent (requests, successful or not). */
  renewalsSent: number;
  /** Heartbeats sent (plain, queries, leaving: not acknowledgements or answers), per target. */
  heartbeatsSent: number;
  /** Since when nothing is at stake (undefined: something is; ring-membership.ts `idleSince`). */
  idleSince: number | undefined;
  /** When the datagrams started carrying the stretched period (undefined: they carry none). */
  stretchAnnouncedAt: number | undefined;
  /** The datagrams carry the stretched period (heartbeat.ts `setRenewPeriod`). */
  carriesPeriod: boolean;
  /** Heartbeats every heartbeatIntervalMs × this (heartbeat.ts `setPace`). */
  heartbeatPace: number;
  /** Bumped when the heartbeat timer is replaced (a new pace): older HeartbeatTimer events are dropped. */
  heartbeatGeneration: number;
  /** Until when a heartbeat sent at the slow pace may be the latest a monitor acknowledged (Infinity: slowed now; ring-membership.ts `slowUntil`). */
  slowUntil: number;
  apiWasHealthy: boolean;
  knownPredecessors: number;
  ownRv: number;
  /** The data plane answers until then (controller.ts answerUntil). */
  answerUntil: number;
  /** After an absence: listening until then (controller.ts rejoinUntil; -Infinity: not). */
  rejoinUntil: number;
  /** Heartbeats (re)started: settled 700 ms later. */
  listenFrom: number;
  verdictsFrom: number;
  isolated: boolean;
  /** Watch events held while the process is frozen or cut from the API server. */
  heldWatch: Array<[subject: number, version: number]>;
  lastWatchAt: number;
  left: boolean;
}

const NO_CLAIMS: ReadonlySet<number> = new Set();

export type VerdictKind = "killed" | "frozen" | "cut" | "false";

export interface VerdictRecord {
  t: number;
  by: number;
  peer: number;
  kind: VerdictKind;
}

export interface AnswerChange {
  t: number;
  node: number;
  address: number;
  start: boolean;
  why: string;
}

export interface SplitBrain {
  address: number;
  start: number;
  end: number;
  nodes: number[];
}

export interface Counters {
  /** Heartbeats sent (plain, queries, leaving). */
  heartbeatsSent: number;
  acksSent: number;
  queriesSent: number;
  answersSent: number;
  datagramsSent: number;
  apiRenewals: number;
  apiGets: number;
  apiDeletes: number;
  apiCreates: number;
  watchEvents: number;
  /** A node's answer deadline passed while it ran (or it resumed past it): it paused and listened. */
  absences: number;
  events: number;
}

export interface IsolationRecord {
  t: number;
  node: number;
  released: number;
}

export interface AbsenceRecord {
  t: number;
  node: number;
  /** Addresses it answered when its deadline passed. */
  answered: number;
  why: "deadline" | "declared-dead";
}

// ---------------------------------------------------------------------------------------------
// The simulation

export class Simulation {
  readonly config: SimConfig;
  readonly names: string[];
  readonly ids: Map<string, number>;
  now = 0;
  readonly counters: Counters = { heartbeatsSent: 0, acksSent: 0, queriesSent: 0, answersSent: 0, datagramsSent: 0, apiRenewals: 0, apiGets: 0, apiDeletes: 0, apiCreates: 0, watchEvents: 0, absences: 0, events: 0 };
  readonly verdicts: VerdictRecord[] = [];
  readonly answerLog: AnswerChange[] = [];
  readonly splitBrains: SplitBrain[] = [];
  readonly isolations: IsolationRecord[] = [];
  readonly absences: AbsenceRecord[] = [];
  readonly nodes: SimNodeState[];

  private readonly rnd: () => number;
  private readonly queue = new EventQueue();
  private readonly ring: Int32Array;
  private readonly ringPos: Int32Array;
  /** Per address: node indices best first, and each node's position in that order. */
  private readonly order: Int32Array[];
  private readonly orderPos: Int32Array[];
  private readonly candidateNames = new Map<number, string[]>();
  private readonly timing: LivenessTiming;
  /** The liveness timing with a slowed peer's longer heartbeat timeout. */
  private readonly slowTiming: LivenessTiming;
  /** API server state. */
  private readonly record: Int32Array;
  private readonly initialRecord: Int32Array;
  private recordCounter = 0;
  private readonly leaseRv: Int32Array;
  private rvCounter = 0;
  private apiDownAll = false;
  private readonly apiCut: Uint8Array;
  /** Per node: bit 1, its outgoing datagrams are lost; bit 2, its incoming ones. */
  private readonly datagramCut: Uint8Array;
  /** Links (from × nodes + to) whose datagrams are lost. */
  private readonly linkCut = new Set<number>();
  /** Data plane: who answers each address right now. */
  private readonly answerers: Set<number>[];
  private readonly openSplit = new Map<number, SplitBrain>();

  constructor(config: SimConfig) {
    this.config = config;
    const n = config.nodes;
    this.rnd = mulberry32(config.seed);
    this.timing = { heartbeatTimeoutMs: config.timing.heartbeatTimeoutMs, graceMs: config.timing.graceMs };
    this.slowTiming = { heartbeatTimeoutMs: config.timing.heartbeatTimeoutMs * IDLE_RENEW_FACTOR, graceMs: config.timing.graceMs };
    this.names = Array.from({ length: n }, (_, i) => nodeName(i));
    this.ids = new Map(this.names.map((s, i) => [s, i]));
    this.ring = Int32Array.from(ringOrder(this.names).map((s) => this.ids.get(s) as number));
    this.ringPos = new Int32Array(n);
    this.ring.forEach((node, pos) => (this.ringPos[node] = pos));
    this.order = [];
    this.orderPos = [];
    for (let a = 0; a < config.addresses; a++) {
      const o = candidateOrder(this.names, addressName(a));
      const p = new Int32Array(n);
      o.forEach((node, pos) => (p[node] = pos));
      this.order.push(o);
      this.orderPos.push(p);
    }
    this.record = new Int32Array(n);
    this.leaseRv = new Int32Array(n);
    this.apiCut = new Uint8Array(n);
    this.datagramCut = new Uint8Array(n);
    this.answerers = Array.from({ length: config.addresses }, () => new Set<number>());
    for (let i = 0; i < n; i++) {
      this.record[i] = ++this.recordCounter;
      this.leaseRv[i] = ++this.rvCounter;
    }
    this.initialRecord = Int32Array.from(this.record);
    const basePlan = Int32Array.from(this.order, (o) => o[0] as number);
    const elected = new Int32Array(n);
    for (const owner of basePlan) elected[owner] = (elected[owner] as number) + 1;
    this.nodes = this.names.map((name, id) => this.initialNode(id, name, basePlan, elected[id] as number));
    for (const node of this.nodes) this.startSteady(node);
  }

  // -- set-up: the cluster starts settled (everyone sees everyone, owners answering)

  private initialNode(id: number, name: string, basePlan: Int32Array, elected: number): SimNodeState {
    const t = this.config.timing;
    const view = new Uint8Array(this.config.nodes).fill(1);
    return {
      id,
      name,
      state: "running",
      epoch: 0,
      incarnation: "1",
      view,
      peers: this.config.nodes - 1,
      seenVersion: new Map(),
      plan: Int32Array.from(basePlan),
      elected,
      succ: viewNeighbours(this.ring, this.ringPos, view, id, RING_FANOUT, 1),
      pred: viewNeighbours(this.ring, this.ringPos, view, id, RING_FANOUT, -1),
      monitors: new Map(),
      heard: new Map(),
      answering: new Set(),
      paused: false,
      claims: NO_CLAIMS,
      wanted: new Set(),
      wantedSince: new Map(),
      previousOwner: new Map(),
      asked: new Set(),
      followers: new Map(),
      lastHbSentAt: 0,
      lastOkRenewalSentAt: 0,
      lastOkAt: 0,
      renewIntervalMs: t.renewIntervalMs,
      lastOkIntervalMs: t.renewIntervalMs,
      renewGeneration: 0,
      renewStartedAt: -Infinity,
      renewInFlightUntil: -Infinity,
      renewalsSent: 0,
      heartbeatsSent: 0,
      idleSince: undefined,
      stretchAnnouncedAt: undefined,
      carriesPeriod: false,
      heartbeatPace: 1,
      heartbeatGeneration: 0,
      slowUntil: -Infinity,
      apiWasHealthy: true,
      knownPredecessors: 0,
      ownRv: this.leaseRv[id] as number,
      answerUntil: 0,
      rejoinUntil: -Infinity,
      listenFrom: -Infinity,
      verdictsFrom: -Infinity,
      isolated: false,
      heldWatch: [],
      lastWatchAt: 0,
      left: false,
    };
  }

  private startSteady(node: SimNodeState): void {
    const t = this.config.timing;
    node.knownPredecessors = node.pred.length;
    for (const p of node.pred) {
      const m = this.newMonitor(node, p);
      m.rv = this.leaseRv[p] as number;
      node.heard.set(p, { lastAtMs: 0, incarnation: "1", leaving: false, claims: NO_CLAIMS, claimsAtMs: -Infinity, answeredSince: -Infinity, ackedSentAt: -Infinity, timeoutMs: t.heartbeatTimeoutMs });
    }
    for (let a = 0; a < this.config.addresses; a++) if (node.plan[a] === node.id) this.startAnswering(node, a, "initial");
    node.answerUntil = this.deadline(node, node.answering.size > 0);
    this.schedule(this.rnd() * t.tickMs, Ev.Tick, node, 0, 0, 0, 0);
    this.schedule(this.rnd() * t.heartbeatIntervalMs, Ev.HeartbeatTimer, node, 0, 0, 0, 0);
    this.schedule(this.rnd() * t.renewIntervalMs, Ev.Renew, node, 0, 0, 0, 0);
  }

  // -- driving

  /** Processes every event up to `t` (inclusive) and advances the clock to `t`. */
  runUntil(t: number): void {
    for (;;) {
      if (this.queue.peekTime() > t) break;
      const e = this.queue.pop() as SimEvent;
      this.now = e.t;
      this.counters.events++;
      this.dispatch(e);
    }
    this.now = t;
  }

  /** Runs `action` at virtual time `t` (scenario steps). */
  at(t: number, action: () => void): void {
    this.queue.push({ t, kind: Ev.Action, node: -1, epoch: 0, a: 0, b: 0, c: 0, d: 0, action, claims: undefined });
  }

  private schedule(t: number, kind: number, node: SimNodeState, a: number, b: number, c: number, d: number): void {
    this.queue.push({ t, kind, node: node.id, epoch: node.epoch, a, b, c, d, action: undefined, claims: undefined });
  }

  private uniform([lo, hi]: readonly [number, number]): number {
    return lo + this.rnd() * (hi - lo);
  }

  private dispatch(e: SimEvent): void {
    if (e.kind === Ev.Action) {
      (e.action as () => void)();
      return;
    }
    const node = this.nodes[e.node] as SimNodeState;
    switch (e.kind) {
      case Ev.Tick:
        if (this.isCurrentTimer(node, e)) this.tick(node);
        return;
      case Ev.Renew:
        if (this.isCurrentTimer(node, e) && e.a === node.renewGeneration) this.renew(node);
        return;
      case Ev.HeartbeatTimer:
        // The heartbeat endpoint's own timer (heartbeat.ts setInterval), independent of the tick.
        if (!this.isCurrentTimer(node, e) || e.a !== node.heartbeatGeneration) return;
        this.schedule(this.now + this.config.timing.heartbeatIntervalMs * node.heartbeatPace, Ev.HeartbeatTimer, node, node.heartbeatGeneration, 0, 0, 0);
        this.sendHeartbeat(node, false);
        return;
      case Ev.RenewDone:
        if (node.state === "running") this.renewDone(node, e.a, e.b, e.c);
        return;
      case Ev.Datagram:
        if (node.state === "running") this.receive(node, e.a, e.b, e.c, e.d & ~CARRIES_PERIOD, e.claims, (e.d & CARRIES_PERIOD) !== 0);
        return;
      case Ev.GetApplied:
        this.schedule(this.now + e.d, Ev.GetDone, node, e.a, this.leaseRv[e.a] as number, 0, 0);
        return;
      case Ev.GetDone:
        this.getDone(node, e.a, e.b, e.c === 1);
        return;
      case Ev.DeleteApplied:
        this.deleteApplied(node, e.a, e.b);
        return;
      case Ev.CreateApplied:
        this.createApplied(node);
        return;
      case Ev.Watch:
        this.receiveWatch(node, e.a, e.b);
        return;
      case Ev.Expire:
        // The data plane's deadline: unless a later tick extended it, the answers stop here.
        // A killed node's addresses are gone for good; a running or frozen one keeps them (the
        // announcer's), its data plane pauses until a tick confirms a new deadline.
        if (e.a !== node.answerUntil) return;
        if (node.state === "dead") this.stopAll(node, "killed-deadline");
        else this.pause(node, node.state === "frozen" ? "frozen-deadline" : "deadline");
        return;
    }
  }

  private isCurrentTimer(node: SimNodeState, e: SimEvent): boolean {
    return node.state === "running" && e.epoch === node.epoch;
  }

  // -- the control loop (controller.ts tick)

  private tick(node: SimNodeState): void {
    const t = this.config.timing;
    this.schedule(this.now + t.tickMs, Ev.Tick, node, 0, 0, 0, 0);
    this.evaluate(node);
  }

  /** One round of the control loop: absence, API health, liveness, ownership, answer deadline. */
  private evaluate(node: SimNodeState): void {
    const t = this.config.timing;
    const now = this.now;
    if (now >= node.answerUntil) this.noticeAbsence(node, "deadline");
    const healthy = this.apiHealthy(node);
    if (healthy && !node.apiWasHealthy) this.resetObservations(node);
    node.apiWasHealthy = healthy;

    // Membership: heard predecessors, the monitors' reads, isolation.
    let heard = 0;
    for (const p of node.pred) if (this.heardFresh(node, p)) heard++;
    if (healthy) {
      node.knownPredecessors = node.pred.length;
      for (const m of node.monitors.values()) this.watchOver(node, m);
    }
    for (const [f, until] of node.followers) if (until <= now) node.followers.delete(f);
    const isolatedNow = isolated(healthy, heard, node.knownPredecessors + 1);
    if (isolatedNow && !node.isolated) this.isolations.push({ t: now, node: node.id, released: node.answering.size });
    node.isolated = isolatedNow;

    // controller.ts tick: `setStake(atStake())` after the plan, before the announcer decides.
    this.setStake(node, node.answering.size > 0 || node.elected > 0 || node.wanted.size > 0);

    // Break before make (ring-membership.ts unconfirmed) and ownership (ownership.ts).
    const recheck = node.rejoinUntil !== -Infinity && now >= node.rejoinUntil;
    // controller.ts `rejoining`: while listening after an absence, owned addresses are asked about already.
    const rejoining = this.config.oldRecheck ? recheck : node.rejoinUntil !== -Infinity;
    const blocked = this.unconfirmed(node, rejoining);
    let changed = false;
    if (!healthy && isolatedNow) {
      changed = this.releaseAll(node, "isolated");
    } else {
      for (const a of [...node.answering]) {
        const release = (healthy && node.plan[a] !== node.id) || (recheck && (blocked.has(a) || this.peerClaims(node, a)));
        if (!release) continue;
        this.stopAnswering(node, a, node.plan[a] !== node.id ? "unelected" : "recheck");
        if (node.plan[a] === node.id) this.addWanted(node, a, node.id);
        changed = true;
      }
      // Gain only with the API, settled, and only what the data plane will answer at once.
      const settled = healthy && now - node.listenFrom >= t.heartbeatTimeoutMs && now >= node.rejoinUntil;
      if (settled && now < this.deadline(node, true)) {
        for (const a of [...node.wanted]) {
          if (blocked.has(a) || this.peerClaims(node, a)) continue;
          node.wanted.delete(a);
          this.startAnswering(node, a, "elected");
          changed = true;
        }
      }
    }
    if (changed) this.sendHeartbeat(node, false);

    // confirmAnswers: nothing while listening after an absence.
    if (now < node.rejoinUntil) return;
    node.rejoinUntil = -Infinity;
    node.answerUntil = this.deadline(node, node.answering.size > 0);
    if (node.paused && now < node.answerUntil) this.unpause(node);
    if (node.answerUntil < now + t.tickMs) this.schedule(Math.max(now, node.answerUntil), Ev.Expire, node, node.answerUntil, 0, 0, 0);
  }

  /**
   * controller.ts noticeAbsence: the answer deadline passed (or a peer's verdict on this node
   * arrived): pause, listen to the peers for a heartbeat timeout, reset the observations.
   */
  private noticeAbsence(node: SimNodeState, why: AbsenceRecord["why"]): void {
    if (node.rejoinUntil !== -Infinity) return;
    node.rejoinUntil = this.now + this.config.timing.heartbeatTimeoutMs;
    node.listenFrom = this.now;
    this.resetObservations(node);
    this.counters.absences++;
    this.absences.push({ t: this.now, node: node.id, answered: node.answering.size, why });
  }

  /** ring-membership.ts resetObservations. */
  private resetObservations(node: SimNodeState): void {
    if (!this.config.resetObservations) return;
    for (const m of node.monitors.values()) m.lease.observedAtMs = this.now;
    node.verdictsFrom = this.now + this.config.timing.leaseDurationMs;
  }

  /**
   * The answer deadline before the margin: membership.ts earliestTakeover. A node answering
   * nothing counts its Lease's current renew period in the renewal term (3000 ms once stretched;
   * not with `oldIdleDeadline`) and its slow pace (`slowPace`: IDLE_RENEW_FACTOR until
   * `slowUntil`) in the heartbeat term. "Answering" is the announcer's current set being
   * non-empty (controller.ts confirmAnswers), paused or not: `node.answering`.
   */
  earliestTakeover(node: SimNodeState, answering: boolean): number {
    const t = this.config.timing;
    if (node.peers === 0) return Infinity;
    if (!this.config.ackDeadline) return Math.max(node.lastHbSentAt + t.heartbeatTimeoutMs, node.lastOkRenewalSentAt + t.renewIntervalMs + t.graceMs);
    const period = answering || this.config.oldIdleDeadline ? t.renewIntervalMs : Math.max(t.renewIntervalMs, node.renewIntervalMs);
    const renewal = node.lastOkRenewalSentAt + period + t.graceMs;
    const timeout = t.heartbeatTimeoutMs * (answering || this.now >= node.slowUntil ? 1 : IDLE_RENEW_FACTOR);
    let heard = node.succ.length > 0 ? Infinity : -Infinity;
    for (const s of node.succ) {
      const acked = node.heard.get(s)?.ackedSentAt ?? -Infinity;
      heard = Math.min(heard, acked + timeout);
    }
    return Math.max(heard, renewal);
  }

  /** The deadline the data plane gets (controller.ts confirmAnswers), answering something or not. */
  private deadline(node: SimNodeState, answering: boolean): number {
    return this.earliestTakeover(node, answering) - this.config.timing.answerMarginMs;
  }

  /**
   * membership.ts apiHealthy: the last renewal succeeded within two renew periods and the grace,
   * the period being the longer of the current one and the one the last success was sent with.
   */
  private apiHealthy(node: SimNodeState): boolean {
    const period = Math.max(node.renewIntervalMs, node.lastOkIntervalMs);
    return this.now - node.lastOkAt < 2 * period + this.config.timing.graceMs;
  }

  /**
   * ring-membership.ts setStake, called at every round of the control loop. Nothing at stake for
   * IDLE_AFTER_MS: the datagrams carry the stretched period first, and the renewals stretch once
   * every ring successor (its monitors) acknowledged a heartbeat sent since. At stake: carry none,
   * and a shorter period renews at once (lease.ts setRenewInterval).
   */
  private setStake(node: SimNodeState, atStake: boolean): void {
    if (!this.config.stretch) return;
    const base = this.config.timing.renewIntervalMs;
    if (atStake) {
      node.idleSince = undefined;
      node.stretchAnnouncedAt = undefined;
      node.carriesPeriod = false;
      if (node.slowUntil === Infinity) {
        this.setPace(node, 1);
        // Heartbeats sent slowly may still be the latest some monitor acknowledged.
        node.slowUntil = this.now + this.config.timing.heartbeatTimeoutMs * IDLE_RENEW_FACTOR;
      }
      if (node.renewIntervalMs !== base) this.setRenewInterval(node, base);
      return;
    }
    node.idleSince ??= this.now;
    if (this.now - node.idleSince < IDLE_AFTER_MS) return;
    const idle = base * IDLE_RENEW_FACTOR;
    if (node.stretchAnnouncedAt === undefined) {
      node.stretchAnnouncedAt = this.now;
      node.carriesPeriod = true;
      return;
    }
    if (node.renewIntervalMs !== idle && this.monitorsHeardSince(node, node.stretchAnnouncedAt)) {
      this.setRenewInterval(node, idle);
      if (this.config.slowHeartbeats) {
        this.setPace(node, IDLE_RENEW_FACTOR);
        node.slowUntil = Infinity;
      }
    }
  }

  /**
   * heartbeat.ts setPace: the heartbeat timer restarts at the new pace; back to a faster one, a
   * heartbeat is sent at once.
   */
  private setPace(node: SimNodeState, factor: number): void {
    if (factor === node.heartbeatPace) return;
    const faster = factor < node.heartbeatPace;
    node.heartbeatPace = factor;
    node.heartbeatGeneration++;
    this.schedule(this.now + this.config.timing.heartbeatIntervalMs * factor, Ev.HeartbeatTimer, node, node.heartbeatGeneration, 0, 0, 0);
    if (faster) this.sendHeartbeat(node, false);
  }

  /** ring-membership.ts monitorsHeardSince: every ring successor acknowledged a heartbeat sent after `since`. */
  private monitorsHeardSince(node: SimNodeState, since: number): boolean {
    return node.succ.every((s) => (node.heard.get(s)?.ackedSentAt ?? -Infinity) > since);
  }

  /**
   * lease.ts setRenewInterval: a shorter period renews at once (or, with a renewal in flight,
   * shares it: the next one a period from now); a longer one applies from the next renewal on.
   * The code reads the period when a renewal completes, to time the next: a renewal in flight
   * when the period lengthens is followed a longer period after it was sent.
   */
  private setRenewInterval(node: SimNodeState, ms: number): void {
    const shorter = ms < node.renewIntervalMs;
    node.renewIntervalMs = ms;
    const inFlight = this.now < node.renewInFlightUntil;
    if (!shorter && !inFlight) return;
    node.renewGeneration++;
    if (!shorter) this.schedule(node.renewStartedAt + ms, Ev.Renew, node, node.renewGeneration, 0, 0, 0);
    else if (inFlight) this.schedule(this.now + ms, Ev.Renew, node, node.renewGeneration, 0, 0, 0);
    else this.renew(node);
  }

  /** membership.ts heardFresh: within the peer's own heartbeat timeout (its latest datagram's pace). */
  private heardFresh(node: SimNodeState, peer: number): boolean {
    const hb = node.heard.get(peer);
    return hb !== undefined && this.now - hb.lastAtMs < hb.timeoutMs && !hb.leaving;
  }

  /** A live peer's fresh datagram claims `a` (membership.ts peerClaims). */
  private peerClaims(node: SimNodeState, a: number): boolean {
    for (const [peer, hb] of node.heard) {
      if (node.view[peer] === 1 && this.now - hb.claimsAtMs < this.config.timing.heartbeatTimeoutMs && hb.claims.has(a)) return true;
    }
    return false;
  }

  /**
   * ring-membership.ts unconfirmed: the wanted addresses (and, while rejoining after an absence,
   * the owned ones: controller.ts wantedAddresses with `owned: true`) whose plausible holders have
   * not all answered a query sent since the address became wanted; a silent holder stops blocking
   * a not-owned address after a heartbeat timeout, an owned one never. Every plausible holder is
   * asked while the address is wanted.
   */
  private unconfirmed(node: SimNodeState, rejoining: boolean): Set<number> {
    const out = new Set<number>();
    const t = this.config.timing;
    if (node.wanted.size === 0 && node.wantedSince.size === 0 && node.asked.size === 0 && !rejoining) return out;
    const wanted = [...node.wanted];
    const owned = new Set<number>();
    if (rejoining) for (const a of node.answering) if (node.plan[a] === node.id) owned.add(a);
    wanted.push(...owned);
    const asked = new Set<number>();
    const view = new ViewSet(node.view, this.ids, this.names);
    const still = new Set<number>();
    for (const a of wanted) {
      still.add(a);
      let since = node.wantedSince.get(a);
      if (since === undefined) node.wantedSince.set(a, (since = this.now));
      const prev = node.previousOwner.get(a);
      const holders = plausibleHolders(this.candidates(a), node.name, view, prev === undefined || prev < 0 ? undefined : this.names[prev]);
      const ids = holders.map((s) => this.ids.get(s) as number);
      for (const h of ids) asked.add(h);
      if ((this.config.oldRecheck || !owned.has(a)) && this.now - since >= t.heartbeatTimeoutMs) continue;
      if (ids.some((h) => !((node.heard.get(h)?.answeredSince ?? -Infinity) >= since))) out.add(a);
    }
    for (const a of [...node.wantedSince.keys()]) if (!still.has(a)) node.wantedSince.delete(a);
    const newlyAsked = [...asked].filter((p) => !node.asked.has(p));
    node.asked = asked;
    // heartbeat.ts setPeers: a peer newly asked gets a query at once.
    for (const p of newlyAsked) this.sendTo(node, p, Dg.Query, this.now);
    return out;
  }

  /** ring-membership.ts watchOver: judged (and read at most once a period) by the period the peer's datagrams carry. */
  private watchOver(node: SimNodeState, m: Monitor): void {
    if (m.reading || node.view[m.peer] !== 1) return;
    const hb = node.heard.get(m.peer);
    const timing = hb === undefined || hb.timeoutMs === this.timing.heartbeatTimeoutMs ? this.timing : this.slowTiming;
    if (peerLiveness(m.lease, hb, this.now, timing).alive) return;
    const period = m.periodMs ?? this.config.timing.renewIntervalMs;
    if (this.now - m.lastReadAt < period || this.now < node.verdictsFrom) return;
    m.reading = true;
    m.lastReadAt = this.now;
    m.readVersion = m.recordVersion;
    m.readRv = m.rv;
    this.counters.apiGets++;
    this.apiRequest(node, (rtt) => this.schedule(this.now + rtt / 2, Ev.GetApplied, node, m.peer, 0, 0, rtt / 2), () => this.schedule(this.now, Ev.GetDone, node, m.peer, 0, 1, 0));
  }

  private getDone(node: SimNodeState, peer: number, rv: number, failed: boolean): void {
    const m = node.monitors.get(peer);
    if (m === undefined) return;
    m.reading = false;
    if (failed || node.state !== "running") return;
    if (this.config.oldRead) {
      // Before e0ccf70: compared with the renewal known when the read returns.
      if (rv !== m.rv) {
        this.observeRenewal(m, rv);
        return;
      }
    } else {
      // ring-membership.ts readAndJudge: a heartbeat brought a newer renewal during the read: alive.
      if (m.rv !== m.readRv) return;
      if (rv !== m.readRv) {
        this.observeRenewal(m, rv);
        return;
      }
    }
    // An unchanged renewal is the verdict (ring-membership.ts readAndJudge).
    this.counters.apiDeletes++;
    const version = m.readVersion;
    this.apiRequest(node, (rtt) => this.schedule(this.now + rtt / 2, Ev.DeleteApplied, node, peer, version, 0, 0), () => undefined);
  }

  private observeRenewal(m: Monitor, rv: number): void {
    m.rv = rv;
    m.lease.observedAtMs = this.now;
  }

  // -- API server

  /** Sends a request: `applied(rtt)` when reachable, else `failed` after the timeout. */
  private apiRequest(node: SimNodeState, applied: (rtt: number) => void, failed: () => void): void {
    if (this.apiDownAll || this.apiCut[node.id] === 1) {
      this.at(this.now + this.config.apiTimeoutMs, failed);
      return;
    }
    applied(this.uniform(this.config.apiRttMs));
  }

  /**
   * One renewal, the next one a period after it was sent (lease.ts `start`, with the period read
   * when it is sent; see setRenewInterval for a change while it is in flight).
   */
  private renew(node: SimNodeState): void {
    const interval = node.renewIntervalMs;
    this.schedule(this.now + interval, Ev.Renew, node, node.renewGeneration, 0, 0, 0);
    this.counters.apiRenewals++;
    node.renewalsSent++;
    const sentAt = this.now;
    node.renewStartedAt = sentAt;
    node.renewInFlightUntil = sentAt + this.config.apiTimeoutMs;
    this.apiRequest(
      node,
      (rtt) => {
        node.renewInFlightUntil = sentAt + rtt;
        this.at(this.now + rtt / 2, () => {
          this.leaseRv[node.id] = ++this.rvCounter;
          this.schedule(this.now + rtt / 2, Ev.RenewDone, node, sentAt, this.leaseRv[node.id] as number, interval, 0);
        });
      },
      () => undefined,
    );
  }

  private renewDone(node: SimNodeState, sentAt: number, rv: number, interval: number): void {
    if (sentAt <= node.lastOkRenewalSentAt) return;
    node.lastOkRenewalSentAt = sentAt;
    node.lastOkAt = this.now;
    node.lastOkIntervalMs = interval;
    node.ownRv = rv;
  }

  private deleteApplied(by: SimNodeState, peer: number, version: number): void {
    if (this.record[peer] !== version) return; // already deleted, or re-created since
    this.verdicts.push({ t: this.now, by: by.id, peer, kind: this.verdictKind(peer) });
    this.changeRecord(peer, 0);
  }

  private verdictKind(peer: number): VerdictKind {
    const p = this.nodes[peer] as SimNodeState;
    if (p.state === "dead") return "killed";
    if (p.state === "frozen") return "frozen";
    if (this.apiCut[peer] === 1 && ((this.datagramCut[peer] as number) & 1) === 1) return "cut";
    return "false";
  }

  private createApplied(node: SimNodeState): void {
    if (this.record[node.id] !== 0 || node.state === "dead") return;
    this.changeRecord(node.id, ++this.recordCounter);
  }

  private changeRecord(subject: number, version: number): void {
    this.record[subject] = version;
    for (const node of this.nodes) {
      if (node.state === "dead") continue;
      const at = Math.max(this.now + this.uniform(this.config.watchDelayMs), node.lastWatchAt);
      node.lastWatchAt = at;
      this.schedule(at, Ev.Watch, node, subject, version, 0, 0);
    }
  }

  private receiveWatch(node: SimNodeState, subject: number, version: number): void {
    if (node.state === "dead") return;
    if (node.state === "frozen" || this.apiCut[node.id] === 1 || this.apiDownAll) {
      node.heldWatch.push([subject, version]);
      return;
    }
    this.counters.watchEvents++;
    this.applyWatch(node, subject, version);
  }

  private deliverHeldWatch(node: SimNodeState): void {
    const held = node.heldWatch;
    node.heldWatch = [];
    for (const [subject, version] of held) {
      this.counters.watchEvents++;
      this.applyWatch(node, subject, version);
    }
  }

  // -- view, ring and plan

  private applyWatch(node: SimNodeState, subject: number, version: number): void {
    const present = version !== 0;
    node.seenVersion.set(subject, version);
    const m = node.monitors.get(subject);
    if (m !== undefined && present) m.recordVersion = version;
    if ((node.view[subject] === 1) === present) return;
    node.view[subject] = present ? 1 : 0;
    if (subject !== node.id) node.peers += present ? 1 : -1;
    if (subject === node.id && !present && !node.left) {
      // A peer's verdict on this node (ring-membership.ts onOwnRecord): answer nothing, listen, rejoin.
      this.noticeAbsence(node, "declared-dead");
      this.rejoin(node);
    }
    this.updateRing(node);
    this.updatePlan(node, subject, present);
    // controller.ts onChange: a delete is planned and acted on at once, an add at the next tick.
    if (!present && node.state === "running") this.evaluate(node);
  }

  private rejoin(node: SimNodeState): void {
    this.counters.apiCreates++;
    this.apiRequest(node, (rtt) => this.schedule(this.now + rtt / 2, Ev.CreateApplied, node, 0, 0, 0, 0), () => this.at(this.now, () => this.retryRejoin(node)));
  }

  private retryRejoin(node: SimNodeState): void {
    if (node.state === "running" && node.view[node.id] === 0 && this.record[node.id] === 0) this.rejoin(node);
    else if (node.state !== "dead" && this.record[node.id] === 0) this.at(this.now + 1000, () => this.retryRejoin(node));
  }

  /** The ring always holds the node itself (ring-membership.ts rebuildRing). */
  private updateRing(node: SimNodeState): void {
    const own = node.view[node.id] as number;
    node.view[node.id] = 1;
    node.succ = viewNeighbours(this.ring, this.ringPos, node.view, node.id, RING_FANOUT, 1);
    node.pred = viewNeighbours(this.ring, this.ringPos, node.view, node.id, RING_FANOUT, -1);
    node.view[node.id] = own;
    for (const peer of [...node.monitors.keys()]) if (!node.pred.includes(peer)) node.monitors.delete(peer);
    for (const p of node.pred) if (!node.monitors.has(p)) this.newMonitor(node, p);
  }

  /** A new predecessor gets a full observation window from now. */
  private newMonitor(node: SimNodeState, peer: number): Monitor {
    const t = this.config.timing;
    const m: Monitor = {
      peer,
      lease: { observedAtMs: this.now, renewIntervalMs: t.renewIntervalMs, durationMs: t.leaseDurationMs, incarnation: (this.nodes[peer]?.incarnation ?? "1") },
      rv: -1,
      recordVersion: node.seenVersion.get(peer) ?? (this.initialRecord[peer] as number),
      readVersion: 0,
      readRv: -1,
      reading: false,
      lastReadAt: -Infinity,
      periodMs: undefined,
    };
    node.monitors.set(peer, m);
    return m;
  }

  private updatePlan(node: SimNodeState, subject: number, added: boolean): void {
    const self = node.id;
    for (let a = 0; a < this.config.addresses; a++) {
      const pos = this.orderPos[a] as Int32Array;
      const old = node.plan[a] as number;
      let next = old;
      if (added) {
        if (old < 0 || (pos[subject] as number) < (pos[old] as number)) next = subject;
      } else if (old === subject) {
        next = this.firstAlive(node, a);
      }
      if (next === old) continue;
      node.plan[a] = next;
      if (old === self) {
        node.elected--;
        node.wanted.delete(a);
        node.previousOwner.delete(a);
      }
      if (next === self) node.elected++;
      if (next === self && !node.answering.has(a)) this.addWanted(node, a, old);
    }
  }

  private addWanted(node: SimNodeState, a: number, previousOwner: number): void {
    node.wanted.add(a);
    node.previousOwner.set(a, previousOwner);
  }

  private firstAlive(node: SimNodeState, a: number): number {
    for (const c of this.order[a] as Int32Array) if (node.view[c] === 1) return c;
    return -1;
  }

  private candidates(a: number): string[] {
    let c = this.candidateNames.get(a);
    if (c === undefined) {
      c = Array.from(this.order[a] as Int32Array, (i) => this.names[i] as string);
      this.candidateNames.set(a, c);
    }
    return c;
  }

  // -- data plane

  private startAnswering(node: SimNodeState, a: number, why: string): void {
    node.answering.add(a);
    node.claims = new Set(node.answering);
    if (!node.paused) this.dataPlaneStart(node, a, why);
  }

  private stopAnswering(node: SimNodeState, a: number, why: string): void {
    if (!node.answering.delete(a)) return;
    node.claims = new Set(node.answering);
    if (!node.paused) this.dataPlaneStop(node, a, why);
  }

  /** The answer deadline passed: the data plane stops answering, the addresses stay owned. */
  private pause(node: SimNodeState, why: string): void {
    if (node.paused) return;
    node.paused = true;
    for (const a of node.answering) this.dataPlaneStop(node, a, why);
  }

  /** A tick confirmed a new deadline: the data plane answers what is owned again. */
  private unpause(node: SimNodeState): void {
    node.paused = false;
    for (const a of node.answering) this.dataPlaneStart(node, a, "resumed");
  }

  private dataPlaneStart(node: SimNodeState, a: number, why: string): void {
    const set = this.answerers[a] as Set<number>;
    set.add(node.id);
    this.answerLog.push({ t: this.now, node: node.id, address: a, start: true, why });
    if (set.size >= 2 && !this.openSplit.has(a)) {
      const sb: SplitBrain = { address: a, start: this.now, end: NaN, nodes: [...set] };
      this.openSplit.set(a, sb);
      this.splitBrains.push(sb);
    } else if (set.size >= 2) {
      const sb = this.openSplit.get(a) as SplitBrain;
      for (const x of set) if (!sb.nodes.includes(x)) sb.nodes.push(x);
    }
  }

  private dataPlaneStop(node: SimNodeState, a: number, why: string): void {
    const set = this.answerers[a] as Set<number>;
    if (!set.delete(node.id)) return;
    this.answerLog.push({ t: this.now, node: node.id, address: a, start: false, why });
    const sb = this.openSplit.get(a);
    if (sb !== undefined && set.size < 2) {
      sb.end = this.now;
      this.openSplit.delete(a);
    }
  }

  private releaseAll(node: SimNodeState, why: string): boolean {
    if (node.answering.size === 0) return false;
    for (const a of [...node.answering]) {
      this.stopAnswering(node, a, why);
      // Still elected: taken again through break before make once allowed.
      if (node.plan[a] === node.id && node.state !== "dead") this.addWanted(node, a, node.id);
    }
    return true;
  }

  private stopAll(node: SimNodeState, why: string): void {
    if (this.releaseAll(node, why) && node.state === "running") this.sendHeartbeat(node, false);
  }

  /** Running nodes owning `a` (answering it, or paused with it). */
  owning(a: number): number[] {
    return this.nodes.filter((n) => n.state === "running" && n.answering.has(a)).map((n) => n.id);
  }

  /** Nodes answering `a` right now. */
  answeringNodes(a: number): number[] {
    return [...(this.answerers[a] as Set<number>)];
  }

  // -- datagrams (heartbeat.ts)

  /**
   * One datagram of `node` to `to`: its last renewal, `c` (a send time) and, on an answer or a
   * leaving datagram only, its claims. The code also tells a peer that asked within a minute, cut
   * to the peer's filter; the model tells it less, and a cut-short answer (claims.ts) counts as
   * claiming, which can only block.
   */
  private sendTo(node: SimNodeState, to: number, type: number, c: number): void {
    const k = this.counters;
    k.datagramsSent++;
    if (type === Dg.Ack) k.acksSent++;
    else if (type === Dg.Answer) k.answersSent++;
    else {
      k.heartbeatsSent++;
      node.heartbeatsSent++;
      if (type === Dg.Query) k.queriesSent++;
    }
    if (((this.datagramCut[node.id] as number) & 1) === 1 || ((this.datagramCut[to] as number) & 2) === 2) return;
    if (this.linkCut.size > 0 && this.linkCut.has(node.id * this.config.nodes + to)) return;
    if (this.rnd() < this.config.loss) return;
    const target = this.nodes[to] as SimNodeState;
    const d = node.carriesPeriod ? type | CARRIES_PERIOD : type;
    this.queue.push({ t: this.now + this.uniform(this.config.datagramDelayMs), kind: Ev.Datagram, node: to, epoch: target.epoch, a: node.id, b: node.ownRv, c, d, action: undefined, claims: type === Dg.Answer || type === Dg.Leaving ? node.claims : undefined });
  }

  /** A heartbeat to every target: the successors and followers, a query to each peer asked. */
  private sendHeartbeat(node: SimNodeState, leaving: boolean): void {
    node.lastHbSentAt = this.now;
    for (const s of node.succ) if (!node.asked.has(s)) this.sendTo(node, s, leaving ? Dg.Leaving : Dg.Plain, this.now);
    for (const f of node.followers.keys()) if (!node.asked.has(f) && !node.succ.includes(f)) this.sendTo(node, f, leaving ? Dg.Leaving : Dg.Plain, this.now);
    for (const q of node.asked) this.sendTo(node, q, leaving ? Dg.Leaving : Dg.Query, this.now);
  }

  /** heartbeat.ts SendLog.stamp: an acknowledgement, and an answer (its query was a heartbeat too). */
  private acknowledges(type: number): boolean {
    return type === Dg.Ack || (type === Dg.Answer && !this.config.oldAnswers);
  }

  private receive(node: SimNodeState, from: number, rv: number, c: number, type: number, told: ReadonlySet<number> | undefined, carriesPeriod: boolean): void {
    const prev = node.heard.get(from);
    const leaving = type === Dg.Leaving;
    const claims = told ?? prev?.claims ?? NO_CLAIMS;
    const changedClaims = prev === undefined || prev.leaving !== leaving || prev.claims !== claims;
    // membership.ts heartbeatTimeoutOf: a datagram carrying the stretched period announces heartbeats that much slower.
    const t = this.config.timing;
    const timeoutMs = carriesPeriod && this.config.slowHeartbeats ? t.heartbeatTimeoutMs * IDLE_RENEW_FACTOR : t.heartbeatTimeoutMs;
    if (prev === undefined) {
      node.heard.set(from, { lastAtMs: this.now, incarnation: "1", leaving, claims, claimsAtMs: told !== undefined ? this.now : -Infinity, answeredSince: type === Dg.Answer ? c : -Infinity, ackedSentAt: this.acknowledges(type) ? c : -Infinity, timeoutMs });
    } else {
      prev.timeoutMs = timeoutMs;
      prev.lastAtMs = this.now;
      prev.leaving = leaving;
      prev.claims = claims;
      if (told !== undefined) prev.claimsAtMs = this.now;
      if (type === Dg.Answer && c > prev.answeredSince) prev.answeredSince = c;
      if (this.acknowledges(type) && c > prev.ackedSentAt) prev.ackedSentAt = c;
    }
    const m = node.monitors.get(from);
    if (m !== undefined) {
      // ring-membership.ts onHeartbeat: the period of the latest datagram, whatever its kind.
      m.periodMs = carriesPeriod ? t.renewIntervalMs * IDLE_RENEW_FACTOR : undefined;
      m.lease.renewIntervalMs = m.periodMs ?? t.renewIntervalMs;
      if (rv !== m.rv && rv > m.rv) this.observeRenewal(m, rv);
    }
    if (type === Dg.Query) {
      node.followers.set(from, this.now + this.config.timing.followMs);
      this.sendTo(node, from, Dg.Answer, c);
    } else if (type === Dg.Plain) {
      this.sendTo(node, from, Dg.Ack, c);
    }
    // controller.ts onClaimsChanged: a tick at once while waiting for a holder, or on a leave; an
    // answer while an address is wanted too (ring-membership.ts onHeartbeat).
    if ((changedClaims || (type === Dg.Answer && node.wantedSince.size > 0)) && (node.wanted.size > 0 || leaving)) this.evaluate(node);
  }

  // -- scenario actions (call them from `at` or between runUntil calls)

  /** SIGKILL: the process is gone at once. */
  kill(id: number): void {
    const node = this.nodes[id] as SimNodeState;
    if (node.state === "dead") return;
    node.state = "dead";
    node.epoch++;
    node.wanted.clear();
    if (this.config.killedAnswersUntilDeadline) this.schedule(Math.max(this.now, node.answerUntil), Ev.Expire, node, node.answerUntil, 0, 0, 0);
    else this.stopAll(node, "killed");
  }

  /** SIGSTOP: no ticks, no sends, no receives; answers last until the answer deadline. */
  freeze(id: number): void {
    const node = this.nodes[id] as SimNodeState;
    if (node.state !== "running") return;
    node.state = "frozen";
    node.epoch++;
    this.schedule(Math.max(this.now, node.answerUntil), Ev.Expire, node, node.answerUntil, 0, 0, 0);
  }

  /** SIGCONT: catch up on the watch; the next tick finds the deadline passed (an absence). */
  resume(id: number): void {
    const node = this.nodes[id] as SimNodeState;
    if (node.state !== "frozen") return;
    node.state = "running";
    node.epoch++;
    if (this.apiCut[id] === 0 && !this.apiDownAll) this.deliverHeldWatch(node);
    this.schedule(this.now, Ev.Tick, node, 0, 0, 0, 0);
    this.schedule(this.now + this.rnd() * this.config.timing.heartbeatIntervalMs * node.heartbeatPace, Ev.HeartbeatTimer, node, node.heartbeatGeneration, 0, 0, 0);
    this.schedule(this.now, Ev.Renew, node, node.renewGeneration, 0, 0, 0);
  }

  /** Graceful leave: stop answering, a leaving heartbeat, delete the own member record. */
  leave(id: number): void {
    const node = this.nodes[id] as SimNodeState;
    if (node.state !== "running") return;
    node.left = true;
    node.wanted.clear();
    for (const a of [...node.answering]) this.stopAnswering(node, a, "leaving");
    this.sendHeartbeat(node, true);
    this.counters.apiDeletes++;
    this.apiRequest(
      node,
      (rtt) =>
        this.at(this.now + rtt / 2, () => {
          if (this.record[id] !== 0) this.changeRecord(id, 0);
        }),
      () => undefined,
    );
    node.state = "dead";
    node.epoch++;
  }

  /** Cuts (or restores) a node's datagrams, both directions or one. */
  setDatagramCut(id: number, cut: boolean, direction: "both" | "out" | "in" = "both"): void {
    this.datagramCut[id] = cut ? { both: 3, out: 1, in: 2 }[direction] : 0;
  }

  /** Cuts (or restores) the datagrams from one node to another. */
  setLinkCut(from: number, to: number, cut: boolean): void {
    const key = from * this.config.nodes + to;
    if (cut) this.linkCut.add(key);
    else this.linkCut.delete(key);
  }

  /** Cuts (or restores) a node's API server connection (requests fail, the watch is held). */
  setApiCut(id: number, cut: boolean): void {
    this.apiCut[id] = cut ? 1 : 0;
    const node = this.nodes[id] as SimNodeState;
    if (!cut && !this.apiDownAll && node.state === "running") this.deliverHeldWatch(node);
  }

  /** The API server down (or back) for everyone. */
  setApiDown(down: boolean): void {
    this.apiDownAll = down;
    if (down) return;
    for (const node of this.nodes) if (node.state === "running" && this.apiCut[node.id] === 0) this.deliverHeldWatch(node);
  }

  /** The node whose record the API holds, seen by `viewer`. */
  inView(viewer: number, subject: number): boolean {
    return (this.nodes[viewer] as SimNodeState).view[subject] === 1;
  }

  recordExists(id: number): boolean {
    return this.record[id] !== 0;
  }

  /** Addresses `id` answers now. */
  answers(id: number): number[] {
    const node = this.nodes[id] as SimNodeState;
    return node.paused ? [] : [...node.answering].sort((x, y) => x - y);
  }

  /** Running nodes that answer at least one address, in id order. */
  owners(): number[] {
    return this.nodes.filter((n) => n.state === "running" && !n.paused && n.answering.size > 0).map((n) => n.id);
  }

  isRunning(id: number): boolean {
    return (this.nodes[id] as SimNodeState).state === "running";
  }

  /** Ring neighbours of `id` in its own view (successors, predecessors). */
  neighbours(id: number): { succ: number[]; pred: number[] } {
    const n = this.nodes[id] as SimNodeState;
    return { succ: [...n.succ], pred: [...n.pred] };
  }

  /** Answers, is elected for or waits for an address (controller.ts `atStake`; no roles are modelled). */
  atStake(id: number): boolean {
    const n = this.nodes[id] as SimNodeState;
    return n.answering.size > 0 || n.elected > 0 || n.wanted.size > 0;
  }

  /**
   * What the node's pace is now: its Lease renew period, its heartbeat pace (heartbeats every
   * heartbeatIntervalMs × it), whether its datagrams carry the stretched period, when it last sent
   * its heartbeats to all its targets (its timer, a change of claims, a faster pace) and its last
   * renewal, and the heartbeats it sent so far (one per target; acknowledgements and answers not counted).
   */
  pacing(id: number): { renewPeriodMs: number; heartbeatPace: number; carriesPeriod: boolean; lastHeartbeatAt: number; lastRenewalSentAt: number; heartbeatsSent: number } {
    const n = this.nodes[id] as SimNodeState;
    return { renewPeriodMs: n.renewIntervalMs, heartbeatPace: n.heartbeatPace, carriesPeriod: n.carriesPeriod, lastHeartbeatAt: n.lastHbSentAt, lastRenewalSentAt: n.renewStartedAt, heartbeatsSent: n.heartbeatsSent };
  }

  /**
   * The period `viewer` judges its predecessor `peer` by (the one its latest datagram carried, or
   * the member record's); undefined when `viewer` does not monitor `peer`.
   */
  monitorPeriod(viewer: number, peer: number): number | undefined {
    const m = (this.nodes[viewer] as SimNodeState).monitors.get(peer);
    return m === undefined ? undefined : (m.periodMs ?? this.config.timing.renewIntervalMs);
  }

  /** Renewals the node sent so far (successful or not). */
  renewalsSent(id: number): number {
    return (this.nodes[id] as SimNodeState).renewalsSent;
  }

  /** The node counts its API as healthy now (membership.ts `apiHealthy`). */
  countsApiHealthy(id: number): boolean {
    return this.apiHealthy(this.nodes[id] as SimNodeState);
  }

  /** When the node's last successful renewal completed. */
  lastRenewalAt(id: number): number {
    return (this.nodes[id] as SimNodeState).lastOkAt;
  }

  /** The node's answer deadline as last confirmed to its data plane. */
  answerUntil(id: number): number {
    return (this.nodes[id] as SimNodeState).answerUntil;
  }

  snapshot(): Counters {
    return { ...this.counters };
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios: one seeded run, in phases

export interface ScenarioPlan {
  warmupMs: number;
  steadyMs: number;
  kills: number;
  killSpacingMs: number;
  freezeMs: number;
  /** Owners frozen (SIGSTOP) for freezeMs each, one every freezeSpacingMs. */
  freezes: number;
  freezeSpacingMs: number;
  partitionMs: number;
  outageMs: number;
  /** Quiet time after each disruptive phase before the next one. */
  settleMs: number;
}

export const DEFAULT_PLAN: ScenarioPlan = { warmupMs: 2000, steadyMs: 120_000, kills: 20, killSpacingMs: 1500, freezeMs: 10_000, freezes: 1, freezeSpacingMs: 500, partitionMs: 10_000, outageMs: 60_000, settleMs: 5000 };

export interface Window {
  from: number;
  to: number;
}

export interface SteadyReport extends Window {
  falseVerdicts: number;
  /** Heartbeats sent (queries included) per node per second. */
  heartbeatsPerNodePerSecond: number;
  acksPerNodePerSecond: number;
  /** Every datagram: heartbeats, acknowledgements, queries, answers. */
  datagramsPerNodePerSecond: number;
  /** Answer deadlines passed at running nodes (each a pause of at least a heartbeat timeout). */
  absences: number;
  /** Of those, at nodes that answered something when it passed. */
  ownerAbsences: number;
  apiRequestsPerNodePerSecond: number;
  /** Nodes at stake at the end of the window (answering, elected or waiting), and the others. */
  nodesAtStake: number;
  idleNodes: number;
  /** Renewals per node per second of the nodes at stake, and of the others. */
  renewalsAtStakePerNodePerSecond: number;
  renewalsIdlePerNodePerSecond: number;
  watchEventsPerSecond: number;
}

export interface HandOver {
  /** Kill (or leave, freeze, cut) → the verdict deleting the node's record (NaN: none). */
  verdictMs: number;
  /** Kill → the node's last answer stopped (its answer deadline). */
  stoppedMs: number;
  /** Per address it answered: the event → another node answering it (NaN: never). */
  newOwnerMs: number[];
}

export interface Freeze {
  node: number;
  handOver: HandOver;
  /** Split brains with the node while frozen (its answers outliving the verdict). */
  frozenSplitBrains: number;
  /** Split brains with the node after it resumed. */
  resumedSplitBrains: number;
  rejoined: boolean;
  /** Resume → the node answering again (NaN: never). */
  answersAgainMs: number;
}

export interface Cut {
  node: number;
  handOver: HandOver;
  /** Cut → the node released its addresses (NaN: never during the cut). */
  isolatedMs: number;
  isolatedBeforeNewOwner: boolean;
  /** Its answers stopped (deadline) before the verdict. */
  stoppedBeforeVerdict: boolean;
}

export interface Report {
  nodes: number;
  addresses: number;
  seed: number;
  loss: number;
  steady: SteadyReport;
  kills: HandOver[];
  leave: HandOver | undefined;
  freezes: Freeze[];
  partitionHeartbeats: { node: number; verdicts: number; gets: number };
  partitionBoth: Cut;
  /** Outgoing datagrams and the API server cut, incoming datagrams still arriving (broken egress). */
  partitionEgress: Cut;
  /** Watch events per second, cluster-wide, during the kill phase. */
  killWatchEventsPerSecond: number;
  outage: Window & {
    verdicts: number;
    answerChanges: number;
    releases: number;
    /** Running nodes whose answer deadline passed during the outage (they gave up what they answered). */
    absences: number;
    /** Addresses they answered when it passed. */
    absentAddresses: number;
    /** Addresses nobody answered just before the API server came back, and at the end of the window. */
    unansweredAtRecovery: number;
    unansweredAtEnd: number;
    /** Addresses no running node owned (paused or not) just before the API server came back: lost, not paused. */
    unownedAtRecovery: number;
  };
  /** Absences (answer deadline passed at a running node, or a verdict on it) in each phase. */
  absencesByPhase: Record<string, number>;
  /** Every interval in which two nodes answered one address. */
  splitBrains: Array<SplitBrain & { phase: string }>;
  /** The phases' time windows. */
  phaseWindows: Record<string, Window>;
  falseVerdicts: VerdictRecord[];
  events: number;
  endMs: number;
}

/** Runs every scenario of the benchmark in one simulated cluster. */
export function runScenarios(config: SimConfig, plan: ScenarioPlan = DEFAULT_PLAN): Report {
  const sim = new Simulation(config);
  const pick = mulberry32(config.seed ^ 0x5eed);
  const used = new Set<number>();
  const pickOwner = (): number => {
    const owners = sim.owners().filter((o) => !used.has(o));
    const o = owners[Math.floor(pick() * owners.length)];
    if (o === undefined) throw new Error("no owner left to pick");
    used.add(o);
    return o;
  };
  const phases: Array<{ name: string } & Window> = [];

  // Steady state.
  const t0 = plan.warmupMs;
  const t1 = t0 + plan.steadyMs;
  sim.runUntil(t0);
  const c0 = sim.snapshot();
  const renewals0 = Array.from(sim.nodes, (n) => n.renewalsSent);
  sim.runUntil(t1);
  const steady = steadyReport(sim, c0, sim.snapshot(), renewals0, { from: t0, to: t1 });
  phases.push({ name: "steady", from: 0, to: t1 });

  // SIGKILL of owners.
  const killed: Array<{ node: number; at: number; addresses: number[] }> = [];
  for (let i = 0; i < plan.kills; i++) {
    const at = t1 + i * plan.killSpacingMs;
    sim.at(at, () => {
      const node = pickOwner();
      killed.push({ node, at, addresses: sim.answers(node) });
      sim.kill(node);
    });
  }
  const t2 = t1 + plan.kills * plan.killSpacingMs + plan.settleMs;
  const watchBefore = sim.counters.watchEvents;
  sim.runUntil(t2);
  const killWatchEventsPerSecond = (sim.counters.watchEvents - watchBefore) / ((t2 - t1) / 1000);
  phases.push({ name: "kills", from: t1, to: t2 });

  // Graceful leave.
  let left: { node: number; addresses: number[] } | undefined;
  sim.at(t2, () => {
    const node = pickOwner();
    left = { node, addresses: sim.answers(node) };
    sim.leave(node);
  });
  const t3 = t2 + plan.settleMs;
  sim.runUntil(t3);
  phases.push({ name: "leave", from: t2, to: t3 });

  // SIGSTOP / SIGCONT of an owner.
  const frozen: Array<{ node: number; at: number; addresses: number[] }> = [];
  for (let i = 0; i < plan.freezes; i++) {
    const at = t3 + i * plan.freezeSpacingMs;
    sim.at(at, () => {
      const node = pickOwner();
      frozen.push({ node, at, addresses: sim.answers(node) });
      sim.freeze(node);
      sim.at(at + plan.freezeMs, () => sim.resume(node));
    });
  }
  const t4 = t3 + (plan.freezes - 1) * plan.freezeSpacingMs + plan.freezeMs + plan.settleMs;
  sim.runUntil(t4);
  phases.push({ name: "freeze", from: t3, to: t4 });

  // Partitions: heartbeats only, and heartbeats and API server.
  const hbCut = pickOwner();
  const bothCut = pickOwner();
  const bothCutAddresses = sim.answers(bothCut);
  const egressCut = pickOwner();
  const egressCutAddresses = sim.answers(egressCut);
  const getsBefore = sim.counters.apiGets;
  sim.at(t4, () => {
    sim.setDatagramCut(hbCut, true);
    sim.setDatagramCut(bothCut, true);
    sim.setApiCut(bothCut, true);
    sim.setDatagramCut(egressCut, true, "out");
    sim.setApiCut(egressCut, true);
  });
  sim.at(t4 + plan.partitionMs, () => {
    sim.setDatagramCut(hbCut, false);
    sim.setDatagramCut(bothCut, false);
    sim.setApiCut(bothCut, false);
    sim.setDatagramCut(egressCut, false);
    sim.setApiCut(egressCut, false);
  });
  const t5 = t4 + plan.partitionMs + plan.settleMs;
  sim.runUntil(t5);
  const partitionGets = sim.counters.apiGets - getsBefore;
  phases.push({ name: "partition", from: t4, to: t5 });

  // API server outage for everyone.
  sim.at(t5, () => sim.setApiDown(true));
  let unansweredAtRecovery = 0;
  const unanswered = (): number => Array.from({ length: config.addresses }, (_, a) => sim.answeringNodes(a).length).filter((x) => x === 0).length;
  let unownedAtRecovery = 0;
  sim.at(t5 + plan.outageMs, () => {
    unansweredAtRecovery = unanswered();
    unownedAtRecovery = Array.from({ length: config.addresses }, (_, a) => sim.owning(a).length).filter((x) => x === 0).length;
    sim.setApiDown(false);
  });
  const t6 = t5 + plan.outageMs + 2 * plan.settleMs;
  sim.runUntil(t6);
  const unansweredAtEnd = unanswered();
  phases.push({ name: "outage", from: t5, to: t6 });

  const inWindow = (t: number, w: Window): boolean => t >= w.from && t < w.to;
  const outageWindow = { from: t5, to: t6 };
  const freeze = (f: { node: number; at: number; addresses: number[] }): Freeze => {
    const resumedAt = f.at + plan.freezeMs;
    const again = sim.answerLog.find((x) => x.start && x.node === f.node && x.t > resumedAt);
    const splits = sim.splitBrains.filter((s) => s.nodes.includes(f.node) && s.start >= f.at && s.start < t4);
    return {
      node: f.node,
      handOver: { ...handOver(sim, f.node, f.at, f.addresses, t4), stoppedMs: lastStop(sim, f.node, f.at, resumedAt) },
      frozenSplitBrains: splits.filter((s) => s.start < resumedAt).length,
      resumedSplitBrains: splits.filter((s) => s.start >= resumedAt).length,
      rejoined: sim.recordExists(f.node),
      answersAgainMs: again === undefined ? NaN : again.t - resumedAt,
    };
  };
  const cut = (node: number, addresses: readonly number[]): Cut => {
    const h = { ...handOver(sim, node, t4, addresses, t5), stoppedMs: lastStop(sim, node, t4, t4 + plan.partitionMs) };
    const isolation = sim.isolations.find((x) => x.node === node && x.t >= t4 && x.t < t4 + plan.partitionMs);
    const isolatedMs = isolation === undefined ? NaN : isolation.t - t4;
    const firstNewOwner = Math.min(...h.newOwnerMs.filter((x) => !Number.isNaN(x)));
    return { node, handOver: h, isolatedMs, isolatedBeforeNewOwner: !Number.isNaN(isolatedMs) && isolatedMs < firstNewOwner, stoppedBeforeVerdict: Number.isNaN(h.verdictMs) || h.stoppedMs < h.verdictMs };
  };
  return {
    nodes: config.nodes,
    addresses: config.addresses,
    seed: config.seed,
    loss: config.loss,
    steady,
    kills: killed.map((k) => handOver(sim, k.node, k.at, k.addresses, t2)),
    leave: left === undefined ? undefined : handOver(sim, left.node, t2, left.addresses, t3),
    freezes: frozen.map(freeze),
    partitionHeartbeats: { node: hbCut, verdicts: sim.verdicts.filter((v) => v.peer === hbCut && v.t >= t4).length, gets: partitionGets },
    partitionBoth: cut(bothCut, bothCutAddresses),
    partitionEgress: cut(egressCut, egressCutAddresses),
    killWatchEventsPerSecond,
    outage: {
      ...outageWindow,
      verdicts: sim.verdicts.filter((v) => inWindow(v.t, outageWindow)).length,
      answerChanges: sim.answerLog.filter((x) => inWindow(x.t, outageWindow)).length,
      releases: sim.isolations.filter((x) => inWindow(x.t, outageWindow) && x.released > 0).length,
      absences: sim.absences.filter((x) => x.t >= t5 && x.t < t5 + plan.outageMs).length,
      absentAddresses: sim.answerLog.filter((x) => !x.start && x.why === "deadline" && x.t >= t5 && x.t < t5 + plan.outageMs).length,
      unansweredAtRecovery,
      unansweredAtEnd,
      unownedAtRecovery,
    },
    absencesByPhase: Object.fromEntries(phases.map((p) => [p.name, sim.absences.filter((x) => inWindow(x.t, p)).length])),
    splitBrains: sim.splitBrains.map((s) => ({ ...s, phase: phases.find((p) => inWindow(s.start, p))?.name ?? "?" })),
    phaseWindows: Object.fromEntries(phases.map((p) => [p.name, { from: p.from, to: p.to }])),
    falseVerdicts: sim.verdicts.filter((v) => v.kind === "false"),
    events: sim.counters.events,
    endMs: t6,
  };
}

function steadyReport(sim: Simulation, c0: Counters, c1: Counters, renewals0: readonly number[], w: Window): SteadyReport {
  const seconds = (w.to - w.from) / 1000;
  const perNode = (x: number): number => x / sim.config.nodes / seconds;
  const api = (c: Counters): number => c.apiRenewals + c.apiGets + c.apiDeletes + c.apiCreates;
  const renewals = { atStake: 0, idle: 0, nodesAtStake: 0, idleNodes: 0 };
  for (const n of sim.nodes) {
    const sent = n.renewalsSent - (renewals0[n.id] as number);
    if (sim.atStake(n.id)) {
      renewals.atStake += sent;
      renewals.nodesAtStake++;
    } else {
      renewals.idle += sent;
      renewals.idleNodes++;
    }
  }
  const perSecond = (x: number, nodes: number): number => (nodes === 0 ? NaN : x / nodes / seconds);
  return {
    ...w,
    falseVerdicts: sim.verdicts.filter((v) => v.t >= w.from && v.t < w.to && v.kind === "false").length,
    heartbeatsPerNodePerSecond: perNode(c1.heartbeatsSent - c0.heartbeatsSent),
    acksPerNodePerSecond: perNode(c1.acksSent - c0.acksSent),
    absences: c1.absences - c0.absences,
    ownerAbsences: sim.absences.filter((x) => x.t >= w.from && x.t < w.to && x.answered > 0).length,
    nodesAtStake: renewals.nodesAtStake,
    idleNodes: renewals.idleNodes,
    renewalsAtStakePerNodePerSecond: perSecond(renewals.atStake, renewals.nodesAtStake),
    renewalsIdlePerNodePerSecond: perSecond(renewals.idle, renewals.idleNodes),
    datagramsPerNodePerSecond: perNode(c1.datagramsSent - c0.datagramsSent),
    apiRequestsPerNodePerSecond: perNode(api(c1) - api(c0)),
    watchEventsPerSecond: (c1.watchEvents - c0.watchEvents) / seconds,
  };
}

/** `from` → the node's last answer stopped before `until` (NaN: none stopped). */
function lastStop(sim: Simulation, node: number, from: number, until: number): number {
  const stops = sim.answerLog.filter((x) => !x.start && x.node === node && x.t >= from && x.t < until);
  return stops.length === 0 ? NaN : Math.max(...stops.map((x) => x.t)) - from;
}

/** Times from `at` (the node killed, left, frozen or cut) to the verdict and to new owners. */
export function handOver(sim: Simulation, node: number, at: number, addresses: readonly number[], until: number): HandOver {
  const verdict = sim.verdicts.find((v) => v.peer === node && v.t >= at && v.t < until);
  return {
    verdictMs: verdict === undefined ? NaN : verdict.t - at,
    stoppedMs: lastStop(sim, node, at, until),
    newOwnerMs: addresses.map((a) => {
      const s = sim.answerLog.find((x) => x.start && x.address === a && x.node !== node && x.t >= at && x.t < until);
      return s === undefined ? NaN : s.t - at;
    }),
  };
}
