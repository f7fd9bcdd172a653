// The announcer: decides what this node answers for (ownership.ts, from the plan and the safety
// rules) and drives the data plane declaratively — the whole owned set at once, retried after a
// refusal. Also what the data plane tells back: interfaces up or down and the subnets this node
// publishes from them.
import type { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { formatCidr, subnetOf } from "../../provider/core/ip/index.ts";
import type { PublishedSubnet } from "../../provider/core/model/contract.ts";
import type { DataPlaneEvents, EligibleInterface, OwnedAddress } from "../dataplane/types.ts";
import type { Plan } from "../election/plan.ts";
import type { Clock } from "./clock.ts";
import type { EventSink, EventTarget } from "./events.ts";
import type { ControlMetrics } from "./metrics.ts";
import { decideOwnership, sameList, type Owned } from "./ownership.ts";

/** What the controller needs from the data plane (the real one, or a fake in tests). */
export interface DataPlaneLike extends EventEmitter<DataPlaneEvents> {
  setOwned(addresses: OwnedAddress[]): void;
  interfaces(): EligibleInterface[];
  /** Answer for `ms` more milliseconds, until the next confirmation (dataplane.ts `answerFor`). */
  answerFor(ms: number): void;
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

export interface AnnouncerOptions {
  node: string;
  dataPlane: DataPlaneLike;
  clock: Clock;
  logger: Logger;
  metrics: ControlMetrics;
  events: EventSink;
  /** The Services of an address, as event targets. */
  servicesOf: (ip: string) => EventTarget[];
  /** The owned set changed (the data plane took it). */
  onOwnedChanged: (owned: ReadonlyMap<string, Owned>, previous: ReadonlyMap<string, Owned>) => void;
}

/** One round of the announcer's inputs. */
export interface AnnounceInput {
  plan: Plan;
  apiHealthy: boolean;
  isolated: boolean;
  settled: boolean;
  peerClaims: ReadonlyMap<string, readonly string[]>;
  /** ip → peers to hear from before gaining it (ownership.ts). */
  unconfirmed?: ReadonlyMap<string, readonly string[]>;
  /** This node was away (frozen): keep no address a live peer claims (ownership.ts). */
  recheck?: boolean;
}

/** Same addresses on the same interfaces (entries are usually the very same objects: ownership.ts). */
function sameOwned(prev: ReadonlyMap<string, Owned>, next: ReadonlyMap<string, Owned>): boolean {
  if (prev.size !== next.size) return false;
  for (const [ip, o] of next) {
    const p = prev.get(ip);
    if (p === o) continue;
    if (p === undefined || !sameList(p.interfaces, o.interfaces)) return false;
  }
  return true;
}

export class Announcer {
  private readonly o: AnnouncerOptions;
  private owned = new Map<string, Owned>();
  private readonly linksDown = new Set<string>();
  private subnets: PublishedSubnet[] = [];
  waiting: { ip: string; holders: string[] }[] = [];
  private applyRetryAt = -Infinity;
  /**
   * The plan of the last round whose decision was complete (ownership.ts) and is what the data
   * plane holds; forgotten when a link changes or everything is released. While the plan stays the
   * same, a round decides nothing new. The loop runs ten times a second; deciding every owned
   * address each time cost a node answering 10,000 addresses about 40 % of a core.
   */
  private steadyPlan: Plan | undefined;

  constructor(o: AnnouncerOptions) {
    this.o = o;
  }

  /** Addresses this node answers for. */
  current(): ReadonlyMap<string, Owned> {
    return this.owned;
  }

  /** The subnets this node publishes (up, selected interfaces). */
  publishedSubnets(): PublishedSubnet[] {
    return this.subnets;
  }

  /** An interface's link went up or down. */
  linkChanged(name: string, up: boolean): void {
    this.steadyPlan = undefined;
    if (up) this.linksDown.delete(name);
    else this.linksDown.add(name);
    this.o.logger.info({ interface: name, up }, up ? "link up" : "link down: giving up addresses on it");
  }

  /** Reads the interfaces again; true when the published subnets changed. */
  refreshSubnets(): boolean {
    let interfaces: EligibleInterface[] = [];
    try {
      interfaces = this.o.dataPlane.interfaces();
    } catch (err) {
      this.o.logger.warn({ err: String(err) }, "cannot read interfaces");
    }
    const next = publishedSubnets(interfaces.map((i) => (this.linksDown.has(i.name) ? { ...i, up: false } : i)));
    if (JSON.stringify(next) === JSON.stringify(this.subnets)) return false;
    this.subnets = next;
    this.o.logger.info({ subnets: next }, "published subnets changed");
    return true;
  }

  /** Decides the owned set for this round and hands it to the data plane. */
  announce(input: AnnounceInput): void {
    if (input.apiHealthy && input.recheck !== true && input.plan === this.steadyPlan) return;
    const decision = decideOwnership({ self: this.o.node, previous: this.owned, linksDown: this.linksDown, ...input });
    this.waiting = decision.waiting;
    this.o.metrics.waiting.set(decision.waiting.length);
    const applied = this.apply(decision.owned, input.isolated);
    this.steadyPlan = decision.complete && applied ? input.plan : undefined;
  }

  /** Every address of `plan` answered, and nothing about them changed since it was decided. */
  answersAll(plan: Plan): boolean {
    return plan === this.steadyPlan && this.owned.size === plan.addresses.length;
  }

  /** Stops answering for everything (graceful shutdown); returns what was answered. */
  releaseAll(): string[] {
    const had = [...this.owned.keys()];
    this.owned = new Map();
    this.steadyPlan = undefined;
    try {
      this.o.dataPlane.setOwned([]);
    } catch (err) {
      this.o.logger.warn({ err: String(err) }, "data plane release failed");
    }
    this.o.metrics.announced.reset();
    return had;
  }

  /** Hands `next` to the data plane unless it holds the same; true when it holds `next` afterwards. */
  private apply(next: Map<string, Owned>, isolatedNow: boolean): boolean {
    const { logger: log, metrics: m, node } = this.o;
    const prev = this.owned;
    if (sameOwned(prev, next)) return true;
    if (this.o.clock.now() < this.applyRetryAt) return false;
    const list: OwnedAddress[] = [...next.values()].map((o) => ({ ip: o.ip, interfaces: o.interfaces, ...(o.gratuitous ? { gratuitous: o.gratuitous } : {}) }));
    try {
      this.o.dataPlane.setOwned(list);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.error({ err: message }, "data plane refused the owned set; retrying in 5 s");
      this.applyRetryAt = this.o.clock.now() + 5000;
      for (const ip of next.keys()) if (!prev.has(ip)) for (const s of this.o.servicesOf(ip)) this.o.events.emit(s, "Warning", "AnnounceFailed", `${node} cannot announce ${ip}: ${message}`);
      return false;
    }
    this.owned = next;
    this.o.onOwnedChanged(next, prev);
    for (const [ip, o] of prev) {
      if (next.has(ip)) continue;
      m.ownershipChanges.inc({ change: "released" });
      for (const i of o.interfaces) m.announced.remove({ ip, interface: i });
      log.info({ ip, isolated: isolatedNow || undefined }, "released");
    }
    for (const [ip, o] of next) {
      const p = prev.get(ip);
      for (const i of p?.interfaces ?? []) if (!o.interfaces.includes(i)) m.announced.remove({ ip, interface: i });
      for (const i of o.interfaces) m.announced.set({ ip, interface: i }, 1);
      if (p !== undefined) continue;
      m.ownershipChanges.inc({ change: "gained" });
      log.info({ ip, interfaces: o.interfaces }, "announcing");
      for (const s of this.o.servicesOf(ip)) {
        this.o.events.emit(s, "Normal", "Announcing", `announcing ${ip} from node ${node} on ${o.interfaces.join(", ")}`);
      }
    }
    return true;
  }
}
