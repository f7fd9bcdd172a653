// How the allocator runs `planAllocation`: in a worker thread in the speaker (the event loop keeps
// heartbeats and renewals on time), or in-process for tests and tools.
import { Worker } from "node:worker_threads";
import { planAllocation } from "../../provider/core/allocation/index.ts";
import type { AllocationInput, PlanResult } from "../../provider/core/allocation/index.ts";

export interface Planner {
  plan(input: AllocationInput): Promise<PlanResult>;
  close(): Promise<void>;
}

export const inProcessPlanner: Planner = {
  plan: async (input) => planAllocation(input),
  close: async () => {},
};

interface Reply {
  id: number;
  result?: PlanResult;
  error?: string;
}

/** How long the planner thread is kept after its last plan: its heap (the last input and result) is let go with it. */
export const PLANNER_IDLE_MS = 10_000;

/**
 * One worker thread, started on first use, one plan at a time (the allocator never asks for two).
 * The thread exits after {@link PLANNER_IDLE_MS} without a plan: holding 10,000 Services, its heap
 * is tens of MB the speaker does not need between bursts; starting it again takes about 50 ms.
 */
export function workerPlanner(idleMs = PLANNER_IDLE_MS): Planner {
  let worker: Worker | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let nextId = 0;
  const waiting = new Map<number, { resolve: (r: PlanResult) => void; reject: (e: Error) => void }>();
  const failAll = (err: Error): void => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
    worker = undefined;
  };
  const retire = (): void => {
    const w = worker;
    worker = undefined;
    if (w !== undefined) void w.terminate();
  };
  const start = (): Worker => {
    // The sources run as .ts (type stripping), the package as compiled .js: the worker is the sibling file.
    const file = new URL(import.meta.url.endsWith(".ts") ? "./plan-worker.ts" : "./plan-worker.js", import.meta.url);
    const w = new Worker(file);
    w.on("message", (reply: Reply) => {
      const pending = waiting.get(reply.id);
      if (pending === undefined) return;
      waiting.delete(reply.id);
      if (waiting.size === 0) idleTimer = setTimeout(retire, idleMs).unref();
      if (reply.result !== undefined) pending.resolve(reply.result);
      else pending.reject(new Error(`the planner failed: ${reply.error ?? "no result"}`));
    });
    w.on("error", (err) => {
      if (worker === w) failAll(err);
    });
    w.on("exit", (code) => {
      if (worker === w) failAll(new Error(`the planner thread exited (code ${code})`));
    });
    w.unref();
    return w;
  };
  return {
    plan(input) {
      clearTimeout(idleTimer);
      worker ??= start();
      const id = nextId++;
      const promise = new Promise<PlanResult>((resolve, reject) => waiting.set(id, { resolve, reject }));
      worker.postMessage({ id, input });
      return promise;
    },
    async close() {
      clearTimeout(idleTimer);
      const w = worker;
      worker = undefined;
      if (w !== undefined) await w.terminate();
    },
  };
}
