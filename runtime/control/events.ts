// Kubernetes events about Services (and pools), deduplicated like client-go's recorder: the
// same (object, type, reason, message) within `aggregateWindowMs` bumps `count` on the existing
// event instead of creating a new one. It remembers the last `MAX_REMEMBERED` events, the least
// recently seen forgotten first (a forgotten duplicate becomes a new event, which is harmless):
// a burst of thousands of Services must not make every event cost a walk over all the others.
// Writes go out `CONCURRENT_WRITES` at a time from a queue of at most `MAX_QUEUED` events (an
// event repeated while queued is written once, with its count); past that, new events are
// dropped and counted, as client-go's broadcaster drops them: in a burst of thousands of
// Services, an unbounded queue held every pending event in memory and wrote them minutes late.
import type { Logger } from "pino";
import { realClock, wallNow, withTimeout, type Clock } from "./clock.ts";
import type { EventApi } from "./kube-api.ts";

export interface EventTarget {
  kind: string;
  apiVersion: string;
  namespace?: string | undefined;
  name: string;
  uid?: string | undefined;
}

export interface EventSink {
  emit(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): void;
}

const MAX_REMEMBERED = 5000;
export const MAX_QUEUED = 1000;
const CONCURRENT_WRITES = 4;

interface Remembered {
  name: string;
  namespace: string;
  count: number;
  at: number;
}

interface Queued {
  target: EventTarget;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  /** Emitted this many times while queued. */
  times: number;
}

export interface EventRecorderOptions {
  aggregateWindowMs?: number;
  clock?: Clock;
  /** Called for each event dropped because the queue was full. */
  onDropped?: () => void;
}

export class EventRecorder implements EventSink {
  private readonly api: EventApi;
  private readonly clock: Clock;
  /** By key, least recently seen first. */
  private readonly seen = new Map<string, Remembered>();
  private readonly component = "l2lb-speaker";
  private readonly node: string;
  private readonly logger: Logger;
  private readonly opts: EventRecorderOptions;
  /** Waiting to be written, by key, oldest first. */
  private readonly queued = new Map<string, Queued>();
  private readonly writing = new Set<string>();
  private readonly idleWaiters: (() => void)[] = [];
  /** Events dropped because the queue was full. */
  dropped = 0;

  constructor(api: EventApi, node: string, logger: Logger, opts: EventRecorderOptions = {}) {
    this.api = api;
    this.clock = opts.clock ?? realClock;
    this.node = node;
    this.logger = logger;
    this.opts = opts;
  }

  emit(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): void {
    this.logger.info({ event: reason, type, object: `${target.kind}/${target.namespace ? target.namespace + "/" : ""}${target.name}` }, message);
    const key = [target.kind, target.namespace ?? "default", target.name, target.uid ?? "", type, reason, message].join("\u0000");
    const waiting = this.queued.get(key);
    if (waiting !== undefined) {
      waiting.times++;
      return;
    }
    if (this.queued.size >= MAX_QUEUED) {
      if (this.dropped++ === 0) this.logger.warn({ queued: this.queued.size }, "event queue full; dropping events until it drains");
      this.opts.onDropped?.();
      return;
    }
    this.queued.set(key, { target, type, reason, message, times: 1 });
    this.pump();
  }

  /** How many events are remembered for aggregation. */
  get remembered(): number {
    return this.seen.size;
  }

  /** Resolves when every event queued so far was written (or failed). */
  flush(): Promise<void> {
    if (this.queued.size === 0 && this.writing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    for (const [key, q] of this.queued) {
      if (this.writing.size >= CONCURRENT_WRITES) break;
      // One write per key at a time, so a repeat aggregates into the event the first one created.
      if (this.writing.has(key)) continue;
      this.queued.delete(key);
      this.writing.add(key);
      void this.write(key, q).finally(() => {
        this.writing.delete(key);
        this.pump();
        if (this.queued.size === 0 && this.writing.size === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private remember(key: string, entry: Remembered): void {
    this.seen.delete(key);
    this.seen.set(key, entry);
    while (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value as string);
  }

  private async write(key: string, q: Queued): Promise<void> {
    // Events about cluster-scoped objects (pools) must live in "default": the API server refuses any other namespace for them.
    const namespace = q.target.namespace ?? "default";
    const nowMs = wallNow(this.clock);
    const now = new Date(nowMs);
    const prev = this.seen.get(key);
    try {
      if (prev !== undefined && nowMs - prev.at < (this.opts.aggregateWindowMs ?? 10 * 60_000)) {
        prev.count += q.times;
        prev.at = nowMs;
        this.remember(key, prev);
        await withTimeout(this.api.patchEvent(prev.namespace, prev.name, { count: prev.count, lastTimestamp: now.toISOString() }), 5000, "event patch", this.clock);
        return;
      }
      const name = `${q.target.name}.${nowMs.toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
      const { target } = q;
      await withTimeout(
        this.api.createEvent(namespace, {
          metadata: { name, namespace },
          involvedObject: { kind: target.kind, apiVersion: target.apiVersion, namespace: target.namespace, name: target.name, uid: target.uid },
          type: q.type,
          reason: q.reason,
          message: q.message,
          count: q.times,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: this.component, host: this.node },
          reportingComponent: "l2lb.dev/speaker",
          reportingInstance: this.node,
        }),
        5000,
        "event create",
        this.clock,
      );
      this.remember(key, { name, namespace, count: q.times, at: nowMs });
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), reason: q.reason }, "event not recorded");
    }
  }
}
