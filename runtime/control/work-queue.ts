// One keyed work queue with per-key exponential backoff and jitter, the way client-go's rate-limited
// workqueue is used by controllers: a key is queued at most once, processed by one worker at a
// time, and a failed key is retried after a growing delay while other keys keep flowing. The
// handler reads the current desired state itself, so a retry always writes what is wanted now.
import { realClock, type Clock } from "./clock.ts";

export { realClock, type Clock } from "./clock.ts";

/** What a handler tells the queue about one key. */
export type Outcome = "done" | "retry";

export interface WorkQueueOptions {
  handler: (key: string) => Promise<Outcome>;
  clock?: Clock;
  /** Keys processed at once. Default 8. */
  concurrency?: number;
  /** First retry delay; doubles per failure of the same key. Default 100 ms. */
  baseDelayMs?: number;
  /** Cap of the retry delay. Default 30 s. */
  maxDelayMs?: number;
  /** Each delay is spread by up to ± this fraction, so keys (and speakers) failing together do not retry in step. Default 0.1. */
  jitter?: number;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
}

/** The delay before retry `failures` (1 for the first): doubling from `base` up to `max`, spread by ± `jitter`. */
export function backoffDelay(failures: number, o: { baseDelayMs: number; maxDelayMs: number; jitter: number; random: () => number }): number {
  const delay = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (failures - 1));
  return Math.round(delay * (1 + o.jitter * (2 * o.random() - 1)));
}

export class WorkQueue {
  private readonly o: Required<Omit<WorkQueueOptions, "clock">> & { clock: Clock };
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  /** Keys added again while being processed: run once more afterwards. */
  private readonly again = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, unknown>();
  private stopped = false;

  constructor(options: WorkQueueOptions) {
    this.o = { concurrency: 8, baseDelayMs: 100, maxDelayMs: 30_000, jitter: 0.1, random: Math.random, clock: realClock, ...options };
  }

  /** Queues `key` now (a pending retry is brought forward). */
  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.again.add(key);
      return;
    }
    const t = this.timers.get(key);
    if (t !== undefined) {
      this.o.clock.clearTimeout(t);
      this.timers.delete(key);
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  /** The key failed and waits out its retry delay. */
  isBackingOff(key: string): boolean {
    return this.timers.has(key);
  }

  /** Failures in a row of a key (0 when its last attempt succeeded). */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Keys waiting, running or backing off. */
  get size(): number {
    return this.queued.size + this.active.size + this.timers.size;
  }

  /** Drops every queued key and pending retry; running handlers finish. */
  clear(): void {
    for (const t of this.timers.values()) this.o.clock.clearTimeout(t);
    this.timers.clear();
    this.ready.length = 0;
    this.queued.clear();
    this.again.clear();
    this.failures.clear();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private pump(): void {
    while (!this.stopped && this.active.size < this.o.concurrency && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      this.queued.delete(key);
      this.active.add(key);
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    let outcome: Outcome;
    try {
      outcome = await this.o.handler(key);
    } catch {
      outcome = "retry";
    }
    this.active.delete(key);
    if (outcome === "done") this.failures.delete(key);
    if (this.again.delete(key)) this.add(key);
    else if (outcome === "retry") this.retryLater(key);
    this.pump();
  }

  private retryLater(key: string): void {
    if (this.stopped) return;
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delay = backoffDelay(n, this.o);
    this.timers.set(
      key,
      this.o.clock.setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, delay),
    );
  }
}

/** Runs `fn` over `items`, at most `limit` at a time; resolves when all have settled. */
export async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item).catch(() => {});
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
