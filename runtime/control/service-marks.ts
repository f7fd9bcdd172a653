// The marks this node leaves on Services, and takes back: its entries of `l2lb.dev/announced-by`
// for the addresses it announces (the status writer also drops entries nobody announces any
// more), and — once a Service left l2lb — the ingress and `announced-by` entries it is
// responsible for (status.ts `departureStep`). Every write goes through one keyed work queue with
// backoff, computed when its turn comes, on the Service's resourceVersion.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { ANNOTATIONS } from "../../provider/core/model/contract.ts";
import type { Clock } from "./clock.ts";
import { withTimeout } from "./clock.ts";
import { isOurs, type ClusterCache } from "./cluster-view.ts";
import type { WriteApi } from "./kube-api.ts";
import type { ControlMetrics } from "./metrics.ts";
import type { ControlState } from "./state.ts";
import { departureStep, parseAnnouncedBy, updateAnnouncedBy, type IngressEntry } from "./status.ts";
import { WorkQueue, type Outcome } from "./work-queue.ts";

/**
 * Service writes (announced-by, departed ingress) in flight at once. A node owning thousands of
 * addresses after a burst has as many marks to write, each about a second at a busy API server:
 * 8 at a time left them trailing minutes behind the assignments.
 */
const SERVICE_WRITES_IN_FLIGHT = 32;

/** A write a Service needs from this node: its `announced-by` value (undefined removes it) or, once it left l2lb, its ingress. */
type ServiceWrite = { kind: "announced-by"; value: string | undefined } | { kind: "ingress"; ingress: IngressEntry[] };

export interface ServiceMarksOptions {
  state: ControlState;
  cache: ClusterCache;
  api: WriteApi;
  clock: Clock;
  logger: Logger;
  metrics: ControlMetrics;
}

const keyOf = (s: k8s.V1Service): string => `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`;

export class ServiceMarks {
  private readonly o: ServiceMarksOptions;
  /** resourceVersion each Service had when this node last wrote it (announced-by, departed ingress). */
  private readonly writtenOn = new Map<string, string>();
  /**
   * Per cached Service object (a new object per resourceVersion), its key and its stamp
   * (service-stamps.ts) when its `announced-by` was last found right. Keyed by the object, it
   * needs no key text per Service per pass and lets go of an entry with its object.
   */
  private readonly announcedChecked = new WeakMap<k8s.V1Service, { key: string; stamp: number }>();
  /** Cached Service objects with nothing to remove (still ours, or no `announced-by`): facts of the object itself. */
  private readonly notDeparted = new WeakSet<k8s.V1Service>();
  /** Removals from departed Services under way (logged once each). */
  private departing = new Set<string>();
  /** Writes to Services (announced-by, departed ingress): one keyed queue with backoff. */
  readonly queue: WorkQueue;

  constructor(o: ServiceMarksOptions) {
    this.o = o;
    this.queue = new WorkQueue({ handler: (key) => this.write(key), concurrency: SERVICE_WRITES_IN_FLIGHT, clock: o.clock });
  }

  /** One pass over the Services: `announced-by` of ours, marks left on departed ones. */
  sync(): void {
    this.syncAnnouncedBy();
    this.cleanDeparted();
  }

  stop(): void {
    this.queue.stop();
  }

  /** Owner side of `l2lb.dev/announced-by`: entries of the addresses this node announces. */
  private syncAnnouncedBy(): void {
    const services = this.o.cache.ourServices();
    if (this.writtenOn.size > 2 * services.length + 100) this.writtenOn.clear();
    const { state } = this.o;
    for (const s of services) {
      // Unchanged Service, and nothing it depends on moved since it was last found right.
      const checked = this.announcedChecked.get(s);
      if (checked !== undefined && state.serviceStamp(checked.key) === checked.stamp) continue;
      const key = keyOf(s);
      const stamp = state.serviceStamp(key);
      if (this.announcedByWrite(s) !== undefined) this.enqueue(s);
      else this.announcedChecked.set(s, { key, stamp });
    }
  }

  /** This node's `announced-by` entries for an l2lb Service, if the annotation does not hold them yet. */
  private announcedByWrite(s: k8s.V1Service): ServiceWrite | undefined {
    const { state } = this.o;
    const key = keyOf(s);
    const mine = new Map<string, string[]>();
    const owned = state.owned();
    for (const ip of state.plan().serviceAddresses.get(key) ?? []) {
      const o = owned.get(ip);
      if (o) mine.set(ip, o.interfaces);
    }
    const current = s.metadata?.annotations?.[ANNOTATIONS.announcedBy];
    let next = updateAnnouncedBy(current, state.node, mine);
    if (next !== undefined && state.isStatusWriter()) {
      const stale = this.staleAnnouncedBy(key, next);
      if (stale.size > 0) next = updateAnnouncedBy(next, "\u0000", new Map(), stale);
    }
    return next === current ? undefined : { kind: "announced-by", value: next };
  }

  /**
   * Status writer: the `announced-by` entries of a Service for addresses nobody announces any more
   * (owner crashed, Local Service lost its endpoints, address withdrawn).
   */
  staleAnnouncedBy(key: string, ann: string | undefined): Set<string> {
    const { state } = this.o;
    const byIp = state.addressPlans();
    const alive = state.alive();
    const drop = new Set<string>();
    if (!ann) return drop;
    const valid = new Set(state.plan().serviceAddresses.get(key) ?? []);
    for (const [ip, announcer] of parseAnnouncedBy(ann)) {
      const node = announcer.split("/")[0] ?? "";
      if (!valid.has(ip) || byIp.get(ip)?.owner === undefined || !alive.has(node)) drop.add(ip);
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
    for (const s of this.o.cache.source.services.list()) {
      if (this.notDeparted.has(s)) continue;
      if (s.metadata?.annotations?.[ANNOTATIONS.announcedBy] === undefined || isOurs(s, this.o.state.defaultClass)) {
        this.notDeparted.add(s);
        continue;
      }
      const step = this.departureWrite(s);
      if (step === undefined) continue;
      const service = keyOf(s);
      const key = `${service}|${step.kind}|${step.ips.join()}`;
      steps.add(key);
      if (!this.departing.has(key)) this.o.logger.info({ service, ips: step.ips, remove: step.kind }, "service left l2lb: removing its marks");
      this.enqueue(s);
    }
    this.departing = steps;
  }

  /** The next step of removing l2lb's marks from a Service that left l2lb, if this node is responsible for one. */
  private departureWrite(s: k8s.V1Service): (ServiceWrite & { ips: string[] }) | undefined {
    const { state } = this.o;
    if (isOurs(s, state.defaultClass)) return undefined;
    const ann = s.metadata?.annotations?.[ANNOTATIONS.announcedBy];
    if (ann === undefined) return undefined;
    const writer = state.isStatusWriter();
    const alive = state.alive();
    const responsible = (node: string): boolean => node === state.node || (writer && !alive.has(node));
    const step = departureStep(ann, s.status?.loadBalancer?.ingress as IngressEntry[] | undefined, responsible);
    if (step === undefined) return undefined;
    return step.kind === "ingress" ? { kind: "ingress", ingress: step.ingress, ips: step.ips } : { kind: "announced-by", value: step.value, ips: step.ips };
  }

  /**
   * Queues a Service for the work queue of Service writes: a few at a time, at most one per
   * Service, each failure retried with growing backoff (a rejected or overloaded API server is not
   * hit again on every tick). A Service waiting out a retry is not brought forward.
   */
  enqueue(s: k8s.V1Service): void {
    const key = keyOf(s);
    // Our last write was made on this very version: the cache has not caught up with it yet, and a
    // write on the same version could only conflict. The informer's update brings the next pass.
    if (s.metadata?.resourceVersion !== undefined && this.writtenOn.get(key) === s.metadata.resourceVersion) return;
    if (!this.queue.isBackingOff(key)) this.queue.add(key);
  }

  /**
   * The work queue's handler: what the Service needs is computed when its turn comes, from the
   * cache as it is then, and written on that resourceVersion (a write computed at queueing time
   * would be stale by then, and conflict, in a burst).
   */
  private async write(key: string): Promise<Outcome> {
    const { metrics: m, logger: log } = this.o;
    const [namespace, name] = key.split("/") as [string, string];
    const s = this.o.cache.source.services.get(name, namespace);
    const base = s?.metadata?.resourceVersion;
    if (s === undefined || (base !== undefined && this.writtenOn.get(key) === base)) return "done";
    const w = isOurs(s, this.o.state.defaultClass) ? this.announcedByWrite(s) : this.departureWrite(s);
    if (w === undefined) return "done";
    try {
      await withTimeout(this.send(namespace, name, base, w), 5000, `service ${w.kind} patch`, this.o.clock);
      m.statusWrites.inc({ kind: w.kind, result: "ok" });
      if (base !== undefined) this.writtenOn.set(key, base);
      return "done";
    } catch (err) {
      m.statusWrites.inc({ kind: w.kind, result: "error" });
      // 409: the Service changed first; its update in the informer brings the next pass.
      if ((err as { code?: number }).code === 409) return "done";
      const message = err instanceof Error ? err.message : String(err);
      const failure = w.kind === "ingress" ? "cannot remove ingress of a departed service" : "cannot write announced-by";
      if (this.queue.failuresOf(key) === 0) log.warn({ service: key, err: message }, `${failure}; retrying with backoff`);
      else log.debug({ service: key, err: message }, `${failure} again`);
      return "retry";
    }
  }

  private send(namespace: string, name: string, resourceVersion: string | undefined, w: ServiceWrite): Promise<void> {
    if (w.kind === "ingress") return this.o.api.patchServiceIngress(namespace, name, resourceVersion, w.ingress);
    return this.o.api.patchServiceAnnotations(namespace, name, resourceVersion, { [ANNOTATIONS.announcedBy]: w.value ?? null });
  }
}
