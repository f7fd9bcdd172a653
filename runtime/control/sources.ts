// Informers on everything the speaker reads: Services, EndpointSlices, Nodes, Namespaces, the
// l2lb custom resources and the speakers' member records (or, in mesh liveness, their Leases).
// Each informer restarts itself after an error (API server down, token expired...) from its
// last resource version, after a delay that doubles per failure in a row (0.5 s up to 5 s, with
// jitter, so a restarted API server is not hit by every speaker at once), so a speaker outlives
// any API outage without restarting.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeClient } from "../kube/client.ts";
import { Informer } from "../kube/informer.ts";
import { slimForCache, slimService } from "./slim.ts";
import { backoffDelay } from "./work-queue.ts";
import { API_GROUP, API_VERSION, KINDS, SPEAKER_LEASE_LABEL } from "../../provider/core/model/contract.ts";

export interface CustomObject extends k8s.KubernetesObject {
  spec?: unknown;
  status?: unknown;
}

export interface SourcesOptions {
  client: KubeClient;
  namespace: string;
  logger: Logger;
  /** Called (synchronously) on every add/update/delete of any watched object. */
  onChange: (kind: SourceKind, verb: "add" | "update" | "delete", obj: k8s.KubernetesObject) => void;
  /** Delay before an informer restarts after its first error; doubles per failure in a row, up to 5 s, ± 10 %. Default 500 ms. */
  restartDelayMs?: number;
  /** Label of the Leases watched: the member records (ring) or the speaker Leases (mesh). Default the latter. */
  leaseLabel?: string;
}

export type SourceKind = "service" | "endpointslice" | "node" | "namespace" | "pool" | "advertisement" | "lease";

type Cache<T extends k8s.KubernetesObject> = Informer<T>;

/** The informers' caches as the controller reads them: what `Sources` is, and what a fake provides. */
export interface ClusterSource {
  readonly services: k8s.ObjectCache<k8s.V1Service>;
  readonly endpointSlices: k8s.ObjectCache<k8s.V1EndpointSlice>;
  readonly nodes: k8s.ObjectCache<k8s.V1Node>;
  readonly namespaces: k8s.ObjectCache<k8s.V1Namespace>;
  readonly pools: k8s.ObjectCache<CustomObject>;
  readonly advertisements: k8s.ObjectCache<CustomObject>;
  readonly leases: k8s.ObjectCache<k8s.V1Lease>;
  /** The last watch error, for the log line that announces fail-static. */
  readonly lastError: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Every informer has listed successfully at least once. */
  isSynced(): boolean;
}

/** Builds the informers for a controller (its namespace, logger and change callback). */
export type SourceFactory = (options: Omit<SourcesOptions, "client" | "restartDelayMs">) => ClusterSource;

export class Sources implements ClusterSource {
  readonly services: Cache<k8s.V1Service>;
  readonly endpointSlices: Cache<k8s.V1EndpointSlice>;
  readonly nodes: Cache<k8s.V1Node>;
  readonly namespaces: Cache<k8s.V1Namespace>;
  readonly pools: Cache<CustomObject>;
  readonly advertisements: Cache<CustomObject>;
  readonly leases: Cache<k8s.V1Lease>;
  private readonly synced = new Set<SourceKind>();
  private readonly failing = new Set<SourceKind>();
  /** Restarts in a row of each informer since its last successful list. */
  private readonly restarts = new Map<SourceKind, number>();
  private readonly all: [SourceKind, Cache<k8s.KubernetesObject>][] = [];
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly opts: SourcesOptions;
  lastError: string | undefined;

  constructor(opts: SourcesOptions) {
    this.opts = opts;
    const ns = opts.namespace;
    const crPath = (plural: string) => `/apis/${API_GROUP}/${API_VERSION}/${plural}`;
    this.services = this.make("service", "/api/v1/services", undefined, slimService);
    this.endpointSlices = this.make("endpointslice", "/apis/discovery.k8s.io/v1/endpointslices");
    this.nodes = this.make("node", "/api/v1/nodes");
    this.namespaces = this.make("namespace", "/api/v1/namespaces");
    this.pools = this.make("pool", crPath(KINDS.addressPool.plural));
    this.advertisements = this.make("advertisement", crPath(KINDS.l2Advertisement.plural));
    this.leases = this.make("lease", `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, opts.leaseLabel ?? SPEAKER_LEASE_LABEL);
  }

  private make<T extends k8s.KubernetesObject>(kind: SourceKind, path: string, labelSelector?: string, slim: (obj: T) => void = slimForCache): Cache<T> {
    const informer = new Informer<T>(this.opts.client, path, { ...(labelSelector ? { labelSelector } : {}), transform: slim });
    informer.on("add", (o) => this.opts.onChange(kind, "add", o));
    informer.on("update", (o) => this.opts.onChange(kind, "update", o));
    informer.on("delete", (o) => this.opts.onChange(kind, "delete", o));
    informer.on("error", (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      this.lastError = `${kind}: ${message}`;
      // Warn once per outage; the retries every second are debug noise.
      if (this.failing.has(kind)) this.opts.logger.debug({ source: kind, err: message }, "watch failed again; restarting");
      else this.opts.logger.warn({ source: kind, err: message }, "watch failed; restarting");
      this.failing.add(kind);
      if (this.stopped) return;
      const n = (this.restarts.get(kind) ?? 0) + 1;
      this.restarts.set(kind, n);
      const delay = backoffDelay(n, { baseDelayMs: this.opts.restartDelayMs ?? 500, maxDelayMs: 5000, jitter: 0.1, random: Math.random });
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.stopped) void this.startOne(kind, informer as unknown as Cache<k8s.KubernetesObject>);
      }, delay);
      this.timers.add(t);
    });
    this.all.push([kind, informer as unknown as Cache<k8s.KubernetesObject>]);
    return informer;
  }

  async start(): Promise<void> {
    await Promise.all(this.all.map(([kind, i]) => this.startOne(kind, i)));
  }

  /** Lists and watches one kind; a failed list is reported by the informer's `error` and retried. */
  private async startOne(kind: SourceKind, informer: Cache<k8s.KubernetesObject>): Promise<void> {
    try {
      await informer.start();
    } catch {
      return;
    }
    this.synced.add(kind);
    this.restarts.delete(kind);
    if (this.failing.delete(kind)) this.opts.logger.info({ source: kind }, "watch resumed");
  }

  /** Every informer has listed successfully at least once. */
  isSynced(): boolean {
    return this.all.every(([k]) => this.synced.has(k));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.all.map(([, i]) => i.stop().catch(() => {})));
  }
}
