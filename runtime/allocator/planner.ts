// How the allocator runs `planAllocation`: in a worker thread in the speaker (the event loop keeps
// heartbeats and renewals on time), or in-process for tests and tools. Either way the planner keeps
// a PlanSession between plans: a plan places again only the Services that may decide differently.
import { Worker } from "node:worker_threads";
import { PlanSession } from "../../provider/core/allocation/index.ts";
import type { AllocationFailure, AllocationInput, SessionOutcomes, ServiceOutcome } from "../../provider/core/allocation/index.ts";
import { applyReply, requestFor, type PlanReply, type SentState } from "./planner-protocol.ts";

/** A plan as the allocator reads it: every Service's outcome (a map valid until the next plan), pool usage, refusals, warnings. */
export type AllocatorPlan = AllocationFailure | (Omit<Extract<SessionOutcomes, { ok: true }>, "outcomes" | "touched"> & { outcomes: ReadonlyMap<string, ServiceOutcome> });

export interface Planner {
  plan(input: AllocationInput): Promise<AllocatorPlan>;
  close(): Promise<void>;
}

/** Plans on the calling thread, with a session of its own. */
export function inProcessPlanner(): Planner {
  const session = new PlanSession();
  return {
    plan: async (input) => {
      const plan = session.outcomes(input);
      if (!plan.ok) return plan;
      const { touched: _touched, ...rest } = plan;
      return rest;
    },
    close: async () => {},
  };
}

interface Reply {
  id: number;
  reply?: PlanReply;
  error?: string;
}

/** How long the planner thread is kept after its last plan: its heap (the session: every unit, its addresses and outcome) is let go with it. */
export const PLANNER_IDLE_MS = 10_000;

/**
 * One worker thread, started on first use, one plan at a time (the allocator never asks for two).
 * Only what changed crosses to the thread and back (planner-protocol.ts): copying 10,000 Services
 * each way cost more than planning the few that changed. The thread exits after
 * {@link PLANNER_IDLE_MS} without a plan: holding 10,000 Services, its heap is tens of MB the
 * speaker does not need between bursts; starting it again takes about 50 ms and one full plan.
 */
export function workerPlanner(idleMs = PLANNER_IDLE_MS): Planner {
  let worker: Worker | undefined;
  let sent: SentState | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let nextId = 0;
  const waiting = new Map<number, { resolve: (r: AllocatorPlan) => void; reject: (e: Error) => void }>();
  const failAll = (err: Error): void => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
    worker = undefined;
  };
  const retire = (): void => {
    const w = worker;
    worker = undefined;
    sent = undefined; // what the thread held goes with it (the next thread gets everything)
    if (w !== undefined) void w.terminate();
  };
  const start = (): Worker => {
    // The sources run as .ts (type stripping), the package as compiled .js: the worker is the sibling file.
    const file = new URL(import.meta.url.endsWith(".ts") ? "./plan-worker.ts" : "./plan-worker.js", import.meta.url);
    const w = new Worker(file);
    sent = undefined;
    w.on("message", ({ id, reply, error }: Reply) => {
      const pending = waiting.get(id);
      if (pending === undefined) return;
      waiting.delete(id);
      if (waiting.size === 0) idleTimer = setTimeout(retire, idleMs).unref();
      if (reply !== undefined && sent !== undefined) pending.resolve(applyReply(sent, reply));
      else pending.reject(new Error(`the planner failed: ${error ?? "no result"}`));
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
      const promise = new Promise<AllocatorPlan>((resolve, reject) => waiting.set(id, { resolve, reject }));
      const { request, state } = requestFor(sent, input);
      sent = state;
      worker.postMessage({ id, request });
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
