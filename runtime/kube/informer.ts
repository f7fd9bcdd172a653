// A list-then-watch cache of one kind, as client-go's reflector keeps it: list (in pages of
// 500), then watch from the list's resourceVersion with bookmarks; a watch that ends cleanly is
// opened again from the last resourceVersion seen, one that reports 410 Gone lists again. Any
// other failure is reported once through `error` and the informer stops: its owner restarts it
// (sources.ts, with backoff), which lists again.
import type { KubernetesObject } from "@kubernetes/client-node";
import { ApiError, type KubeClient, type WatchEvent, type WatchHandle } from "./client.ts";

export type InformerVerb = "add" | "update" | "delete";
type ObjectHandler<T> = (obj: T) => void;

interface ListPage<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

export interface InformerOptions<T> {
  labelSelector?: string;
  /** Applied to every object before it is cached and handed on (e.g. dropping fields never read). */
  transform?: (obj: T) => void;
  /** A watch with no event (bookmarks included) for this long is taken as lost. Default: a minute past its server-side timeout. */
  idleTimeoutMs?: number;
}

const PAGE_SIZE = 500;

function keyOf(obj: KubernetesObject): string {
  const meta = obj.metadata;
  return meta?.namespace ? `${meta.namespace}/${meta.name}` : (meta?.name ?? "");
}

export class Informer<T extends KubernetesObject> {
  private readonly objects = new Map<string, T>();
  private readonly handlers = { add: [] as ObjectHandler<T>[], update: [] as ObjectHandler<T>[], delete: [] as ObjectHandler<T>[], error: [] as ((err: unknown) => void)[] };
  private resourceVersion = "";
  private current: WatchHandle | undefined;
  private running = false;
  private readonly client: KubeClient;
  private readonly path: string;
  private readonly opts: InformerOptions<T>;

  constructor(client: KubeClient, path: string, opts: InformerOptions<T> = {}) {
    this.client = client;
    this.path = path;
    this.opts = opts;
  }

  on(verb: InformerVerb, handler: ObjectHandler<T>): void;
  on(verb: "error", handler: (err: unknown) => void): void;
  on(verb: InformerVerb | "error", handler: ObjectHandler<T> | ((err: unknown) => void)): void {
    (this.handlers[verb] as unknown[]).push(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    const all = [...this.objects.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** Lists, then keeps watching in the background. Rejects (and reports `error`) when the list fails. */
  async start(): Promise<void> {
    this.running = true;
    try {
      await this.relist();
    } catch (err) {
      this.fail(err);
      throw err;
    }
    void this.watchLoop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.current?.abort();
    this.current = undefined;
  }

  private query(extra: Record<string, string>): string {
    const params = new URLSearchParams(extra);
    if (this.opts.labelSelector) params.set("labelSelector", this.opts.labelSelector);
    return `${this.path}?${params.toString()}`;
  }

  private async relist(): Promise<void> {
    const seen = new Map<string, T>();
    let page: ListPage<T>;
    let token: string | undefined;
    do {
      page = await this.client.request<ListPage<T>>("GET", this.query({ limit: String(PAGE_SIZE), ...(token ? { continue: token } : {}) }));
      for (const item of page.items ?? []) {
        this.opts.transform?.(item);
        seen.set(keyOf(item), item);
      }
      token = page.metadata?.continue || undefined;
    } while (token !== undefined);
    if (!this.running) return;
    this.resourceVersion = page.metadata?.resourceVersion ?? "";
    const before = new Map(this.objects);
    this.objects.clear();
    for (const [key, obj] of seen) this.objects.set(key, obj);
    for (const [key, obj] of seen) {
      const old = before.get(key);
      if (old === undefined) this.emit("add", obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit("update", obj);
    }
    for (const [key, obj] of before) if (!seen.has(key)) this.emit("delete", obj);
  }

  private async watchLoop(): Promise<void> {
    while (this.running) {
      // A server-side timeout spread over 5–10 minutes, as client-go does, so watches do not all end at once.
      const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
      const query = { watch: "1", allowWatchBookmarks: "true", resourceVersion: this.resourceVersion, timeoutSeconds: String(timeoutSeconds) };
      const handle = this.client.watch<T>(this.query(query), (e) => this.apply(e), this.opts.idleTimeoutMs ?? (timeoutSeconds + 60) * 1000);
      this.current = handle;
      try {
        await handle.done;
      } catch (err) {
        if (!this.running) return;
        if (err instanceof ApiError && err.code === 410) {
          if (await this.relistOrFail()) continue;
          return;
        }
        this.fail(err);
        return;
      }
    }
  }

  private async relistOrFail(): Promise<boolean> {
    try {
      await this.relist();
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  private apply(event: WatchEvent<T>): void {
    if (!this.running) return;
    if (event.type === "ERROR") {
      const status = event.object as { code?: number; message?: string; reason?: string };
      throw new ApiError(status.code ?? 0, `watch ${this.path}: ${status.message ?? "error event"}`, status.reason);
    }
    const obj = event.object;
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (event.type === "BOOKMARK") return;
    const key = keyOf(obj);
    if (event.type === "DELETED") {
      this.objects.delete(key);
      this.emit("delete", obj);
      return;
    }
    this.opts.transform?.(obj);
    const known = this.objects.has(key);
    this.objects.set(key, obj);
    this.emit(known ? "update" : "add", obj);
  }

  private emit(verb: InformerVerb, obj: T): void {
    for (const h of this.handlers[verb]) h(obj);
  }

  private fail(err: unknown): void {
    this.running = false;
    this.current?.abort();
    for (const h of this.handlers.error) h(err);
  }
}
