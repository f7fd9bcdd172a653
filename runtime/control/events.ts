// Kubernetes events about Services (and pools), deduplicated like client-go's recorder: the
// same (object, type, reason, message) within `aggregateWindowMs` bumps `count` on the existing
// event instead of creating a new one. It remembers the last `MAX_REMEMBERED` events, the least
// recently seen forgotten first (a forgotten duplicate becomes a new event, which is harmless):
// a burst of thousands of Services must not make every event cost a walk over all the others.
import type { Logger } from "pino";
import { realClock, withTimeout, type Clock } from "./clock.ts";
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

interface Remembered {
  name: string;
  namespace: string;
  count: number;
  at: number;
}

export class EventRecorder implements EventSink {
  private readonly api: EventApi;
  private readonly clock: Clock;
  /** By key, least recently seen first. */
  private readonly seen = new Map<string, Remembered>();
  private readonly component = "l2lb-speaker";
  private readonly node: string;
  private readonly logger: Logger;
  private readonly aggregateWindowMs: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(api: EventApi, node: string, logger: Logger, aggregateWindowMs = 10 * 60_000, clock: Clock = realClock) {
    this.api = api;
    this.clock = clock;
    this.node = node;
    this.logger = logger;
    this.aggregateWindowMs = aggregateWindowMs;
  }

  emit(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): void {
    this.logger.info({ event: reason, type, object: `${target.kind}/${target.namespace ? target.namespace + "/" : ""}${target.name}` }, message);
    this.queue = this.queue.then(() => this.write(target, type, reason, message)).catch(() => {});
  }

  /** How many events are remembered for aggregation. */
  get remembered(): number {
    return this.seen.size;
  }

  private remember(key: string, entry: Remembered): void {
    this.seen.delete(key);
    this.seen.set(key, entry);
    while (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value as string);
  }

  /** Resolves when every event emitted so far was written (or failed). */
  flush(): Promise<void> {
    return this.queue;
  }

  private async write(target: EventTarget, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    // Events about cluster-scoped objects (pools) must live in "default": the API server refuses any other namespace for them.
    const namespace = target.namespace ?? "default";
    const key = [target.kind, namespace, target.name, target.uid ?? "", type, reason, message].join("\u0000");
    const now = new Date();
    const prev = this.seen.get(key);
    try {
      if (prev !== undefined && Date.now() - prev.at < this.aggregateWindowMs) {
        prev.count++;
        prev.at = Date.now();
        this.remember(key, prev);
        await withTimeout(this.api.patchEvent(prev.namespace, prev.name, { count: prev.count, lastTimestamp: now.toISOString() }), 5000, "event patch", this.clock);
        return;
      }
      const name = `${target.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
      await withTimeout(
        this.api.createEvent(namespace, {
          metadata: { name, namespace },
          involvedObject: { kind: target.kind, apiVersion: target.apiVersion, namespace: target.namespace, name: target.name, uid: target.uid },
          type,
          reason,
          message,
          count: 1,
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
      this.remember(key, { name, namespace, count: 1, at: Date.now() });
    } catch (err) {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), reason }, "event not recorded");
    }
  }
}
