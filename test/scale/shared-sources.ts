// Informers for many controller instances in one process (README "Scale harness (kwok)"): every
// kind but the speakers' liveness records is listed and watched ONCE per process and fanned out
// to each instance, as if each had its own informer; the liveness kinds (the speaker Leases, and
// whatever else the real `Sources` watches beyond the six cluster kinds — the ring's member
// records) are listed and watched by every instance on its own connection, exactly as a speaker
// does. Liveness load is what the benchmark measures; 500 copies of the Node and Service caches
// would only measure this 2-core machine.
//
// Both halves are the real `Sources` (runtime/control/sources.ts), so label selectors, paths and
// slimming follow the speaker; only the informers to start are chosen here, through the class's
// private `all`/`synced` fields (see `internals`). A `kinds` option on `Sources` would remove that.
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeClient } from "../../runtime/kube/client.ts";
import type { Informer } from "../../runtime/kube/informer.ts";
import { Sources, type ClusterSource, type SourceFactory, type SourceKind, type SourcesOptions } from "../../runtime/control/sources.ts";

type OnChange = SourcesOptions["onChange"];
type AnyInformer = Informer<k8s.KubernetesObject>;

/** The kinds shared by the instances of a process; every other kind is per instance. */
export const SHARED_KINDS: ReadonlySet<SourceKind> = new Set(["service", "endpointslice", "node", "namespace", "pool", "advertisement"]);

interface SourcesInternals {
  all: [SourceKind, AnyInformer][];
  synced: Set<SourceKind>;
  /** Lists and watches one kind, and marks it synced once listed (restarts with backoff after a failure). */
  startOne(kind: SourceKind, informer: AnyInformer): Promise<void>;
}

/** The informers of a `Sources`, the kinds that listed, and how it starts one (private members of the class). */
function internals(s: Sources): SourcesInternals {
  const i = s as unknown as Partial<SourcesInternals>;
  if (!Array.isArray(i.all) || !(i.synced instanceof Set) || typeof i.startOne !== "function") {
    throw new Error("runtime/control/sources.ts changed: Sources has no `all`/`synced`/`startOne` any more (test/scale/shared-sources.ts)");
  }
  return i as SourcesInternals;
}

/** Starts `s`'s informers of the shared kinds (or the others) as `Sources.start` does, so they count as synced. */
function startInformers(s: Sources, shared: boolean): Promise<void> {
  const i = internals(s);
  return Promise.all(informersOf(s, shared).map(([k, informer]) => i.startOne.call(s, k, informer))).then(() => {});
}

function informersOf(s: Sources, shared: boolean): [SourceKind, AnyInformer][] {
  return internals(s).all.filter(([k]) => SHARED_KINDS.has(k) === shared);
}

/** A per-instance source the worker can stop abruptly (no graceful leave). */
export interface InstanceSource extends ClusterSource {
  /** Stops this instance's own informers and its share of the process's, at once. */
  abort(): Promise<void>;
}

/** The process-wide half: one informer per shared kind, fanned out to the subscribed instances. */
export class SharedInformers {
  private readonly sources: Sources;
  private readonly listeners = new Set<OnChange>();
  private started: Promise<void> | undefined;

  constructor(client: KubeClient, namespace: string, logger: Logger) {
    this.sources = new Sources({ client, namespace, logger, onChange: (kind, verb, obj) => this.fanOut(kind, verb, obj) });
  }

  private fanOut(kind: SourceKind, verb: "add" | "update" | "delete", obj: k8s.KubernetesObject): void {
    if (!SHARED_KINDS.has(kind)) return;
    for (const l of this.listeners) l(kind, verb, obj);
  }

  get cache(): Sources {
    return this.sources;
  }

  start(): Promise<void> {
    this.started ??= startInformers(this.sources, true);
    return this.started;
  }

  isSynced(): boolean {
    const synced = internals(this.sources).synced;
    return [...SHARED_KINDS].every((k) => synced.has(k));
  }

  /** Subscribes `onChange`, first replaying an add for every cached object (an informer's initial list). */
  subscribe(onChange: OnChange): () => void {
    for (const [kind, informer] of informersOf(this.sources, true)) {
      for (const o of informer.list()) onChange(kind, "add", o);
    }
    this.listeners.add(onChange);
    return () => this.listeners.delete(onChange);
  }

  async stop(): Promise<void> {
    await Promise.all(informersOf(this.sources, true).map(([, i]) => i.stop().catch(() => {})));
  }

  /** The SourceFactory of one instance; `onSource` receives what it built (for an abrupt stop). */
  factory(client: KubeClient, onSource: (s: InstanceSource) => void): SourceFactory {
    return (o) => {
      const s = this.instanceSource(new Sources({ ...o, client }), o.onChange);
      onSource(s);
      return s;
    };
  }

  /** `own`'s per-instance informers, the shared caches for the other kinds. */
  private instanceSource(own: Sources, onChange: OnChange): InstanceSource {
    const shared = this.sources;
    let unsubscribe: (() => void) | undefined;
    const ownInformers = informersOf(own, false);
    const stopOwn = async (): Promise<void> => {
      unsubscribe?.();
      unsubscribe = undefined;
      await own.stop();
    };
    // Inherit from the instance's own Sources (its leases, and any kind added later), override the shared caches.
    const s = Object.create(own) as InstanceSource & Record<string, unknown>;
    Object.assign(s, {
      services: shared.services,
      endpointSlices: shared.endpointSlices,
      nodes: shared.nodes,
      namespaces: shared.namespaces,
      pools: shared.pools,
      advertisements: shared.advertisements,
    });
    Object.defineProperty(s, "lastError", { get: () => own.lastError ?? shared.lastError });
    s.start = async () => {
      await this.start();
      unsubscribe = this.subscribe(onChange);
      await startInformers(own, false);
    };
    s.isSynced = () => this.isSynced() && ownInformers.every(([k]) => internals(own).synced.has(k));
    s.stop = stopOwn;
    s.abort = stopOwn;
    return s;
  }
}
