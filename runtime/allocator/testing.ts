// Fakes for the allocator's fast tests: a cluster held in memory whose API applies merge patches
// with resourceVersion checks like the API server, and a clock whose timers run when told.
import type * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { EventSink, EventTarget } from "../control/events.ts";
import type { Clock } from "../control/work-queue.ts";
import { InClusterAllocator, type AllocatorApi, type AllocatorOptions } from "./allocator.ts";
import type { ClusterObject, ClusterSnapshot } from "./cluster-input.ts";
import type { PoolCondition } from "./pool-status.ts";

export class FakeClock implements Clock {
  private t = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward, running due timers in order and letting their promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = [...this.timers.entries()].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
    }
    this.t = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

export interface RecordedEvent {
  target: EventTarget;
  type: string;
  reason: string;
  message: string;
}

export class FakeEvents implements EventSink {
  readonly list: RecordedEvent[] = [];
  emit(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): void {
    this.list.push({ target, type, reason, message });
  }
  of(name: string, reason?: string): RecordedEvent[] {
    return this.list.filter((e) => e.target.name === name && (reason === undefined || e.reason === reason));
  }
}

type PoolObject = ClusterObject & { status?: { conditions?: PoolCondition[] } };

/** An in-memory cluster: what the informers would hold, and an API that writes into it. */
export class FakeCluster implements AllocatorApi {
  services = new Map<string, k8s.V1Service>();
  pools: PoolObject[] = [];
  advertisements: ClusterObject[] = [{ metadata: { name: "all" }, spec: {} }];
  namespaces: k8s.V1Namespace[] = [{ metadata: { name: "default" } }];
  nodes: k8s.V1Node[] = [];
  private rv = 1;
  serviceWrites = 0;
  /** Makes the next N service writes fail with this HTTP code. */
  failNext: { count: number; code: number } = { count: 0, code: 500 };

  /** While set, what the informers show: the API's writes are not seen yet. */
  private frozen: Map<string, k8s.V1Service> | undefined;

  /** Makes the cache lag: it keeps showing the Services as they are now. */
  freezeCache(): void {
    this.frozen = new Map(this.services);
  }

  thawCache(): void {
    this.frozen = undefined;
  }

  snapshot(): ClusterSnapshot {
    return { services: [...(this.frozen ?? this.services).values()], pools: this.pools, advertisements: this.advertisements, namespaces: this.namespaces, nodes: this.nodes };
  }

  addService(name: string, spec: Partial<k8s.V1ServiceSpec> = {}, annotations: Record<string, string> = {}, namespace = "default", created = "2026-01-01T00:00:00Z"): k8s.V1Service {
    const s: k8s.V1Service = {
      metadata: { name, namespace, annotations, resourceVersion: String(this.rv++), uid: `uid-${namespace}-${name}`, creationTimestamp: new Date(created) },
      spec: { type: "LoadBalancer", loadBalancerClass: "l2lb.dev/layer2", ports: [{ port: 80, protocol: "TCP" }], ...spec },
    };
    this.services.set(`${namespace}/${name}`, s);
    return s;
  }

  addPool(name: string, addresses: string[], created = "2026-01-01T00:00:00Z", extra: Record<string, unknown> = {}): void {
    this.pools.push({ metadata: { name, creationTimestamp: created }, spec: { addresses, ...extra } });
  }

  get(key: string): k8s.V1Service | undefined {
    return (this.frozen ?? this.services).get(key);
  }

  async patchServiceAnnotations(namespace: string, name: string, resourceVersion: string | undefined, annotations: Record<string, string | null>): Promise<void> {
    await Promise.resolve();
    this.serviceWrites++;
    if (this.failNext.count > 0) {
      this.failNext.count--;
      throw Object.assign(new Error(`HTTP ${this.failNext.code}`), { code: this.failNext.code });
    }
    const s = this.services.get(`${namespace}/${name}`);
    if (s === undefined) throw Object.assign(new Error("not found"), { code: 404 });
    if (resourceVersion !== undefined && resourceVersion !== s.metadata?.resourceVersion) throw Object.assign(new Error("conflict"), { code: 409 });
    const next = { ...(s.metadata?.annotations ?? {}) };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete next[k];
      else next[k] = v;
    }
    this.services.set(`${namespace}/${name}`, { ...s, metadata: { ...s.metadata, annotations: next, resourceVersion: String(this.rv++) } });
  }

  async patchServiceIngress(namespace: string, name: string, ingress: k8s.V1LoadBalancerIngress[]): Promise<void> {
    await Promise.resolve();
    const s = this.services.get(`${namespace}/${name}`);
    if (s === undefined) throw Object.assign(new Error("not found"), { code: 404 });
    this.services.set(`${namespace}/${name}`, { ...s, metadata: { ...s.metadata, resourceVersion: String(this.rv++) }, status: { loadBalancer: { ingress } } });
  }

  async patchPoolCondition(name: string, condition: PoolCondition): Promise<void> {
    await Promise.resolve();
    const p = this.pools.find((x) => x.metadata?.name === name);
    if (p === undefined) throw Object.assign(new Error("not found"), { code: 404 });
    p.status = { ...(p.status ?? {}), conditions: [condition] };
  }

  /** The assignment annotation of every Service that has one. */
  assignments(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, s] of this.services) {
      const v = s.metadata?.annotations?.["l2lb.dev/load-balancer-ips"];
      if (v !== undefined) out[k] = v;
    }
    return out;
  }
}

export function makeAllocator(cluster: FakeCluster, options: Partial<AllocatorOptions> = {}): { allocator: InClusterAllocator; clock: FakeClock; events: FakeEvents; registry: Registry } {
  const clock = new FakeClock();
  const events = new FakeEvents();
  const registry = new Registry();
  const allocator = new InClusterAllocator({
    api: cluster,
    events,
    logger: pino({ level: "silent" }),
    registry,
    defaultClass: false,
    snapshot: () => cluster.snapshot(),
    lookupService: (namespace, name) => cluster.get(`${namespace}/${name}`),
    clock,
    ...options,
  });
  return { allocator, clock, events, registry };
}
