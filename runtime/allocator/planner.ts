// How the allocator runs `planAllocation`: on the speaker's event loop, in slices of a few
// milliseconds with a turn of the loop between them, so heartbeats, renewals and the answer
// deadline never wait for a whole plan. A PlanSession is kept between plans (a plan places again
// only the Services that may decide differently) until the allocator lets it go.
import { PlanSession } from "../../provider/core/allocation/index.ts";
import type { AllocationFailure, AllocationInput, SessionOutcomes, ServiceOutcome, Steps } from "../../provider/core/allocation/index.ts";

/** A plan as the allocator reads it: every Service's outcome (a map valid until the next plan), pool usage, refusals, warnings. */
export type AllocatorPlan = AllocationFailure | (Omit<Extract<SessionOutcomes, { ok: true }>, "outcomes" | "touched"> & { outcomes: ReadonlyMap<string, ServiceOutcome> });

export interface Planner {
  /** One plan at a time: the allocator never asks for two. */
  plan(input: AllocationInput): Promise<AllocatorPlan>;
  /** Lets go of what is kept between plans (with 10,000 Services, about 20 MB); the next plan places every Service. */
  forget(): void;
  /** Ends a plan in progress (it rejects) and every later one. */
  close(): Promise<void>;
}

/** What the planner did, for metrics and the benchmark. */
export interface PlannerStats {
  /** Turns given to the event loop in the middle of plans. */
  turns: number;
  /** The longest run of planning without a turn, ms. */
  longestSliceMs: number;
  /** How the last plan was made: placing only what may change, or everything (and why). */
  lastPlan: PlanSession["lastPlan"];
}

export interface SlicedPlannerOptions {
  /** Planning time between two turns of the event loop, ms. Default 8: well inside a 100 ms tick. */
  sliceMs?: number;
  /** Monotonic ms. Default performance.now(). */
  now?: () => number;
  /** Gives the event loop a turn. Default: the next setImmediate. */
  turn?: () => Promise<void>;
}

/**
 * Plans in-process, in slices. Planning in a worker thread kept the loop free too, but a second
 * V8 isolate with its own copy of every Service request and outcome cost about 50 MB of RSS at
 * 10,000 Services (README, "In-cluster allocation", memory).
 */
export function slicedPlanner(options: SlicedPlannerOptions = {}): Planner & { stats(): PlannerStats } {
  const { sliceMs = 8, now = () => performance.now(), turn = nextImmediate } = options;
  let session = new PlanSession();
  let closed = false;
  const stats: PlannerStats = { turns: 0, longestSliceMs: 0, lastPlan: session.lastPlan };
  const runSlices = async <T>(steps: Steps<T>): Promise<T> => {
    for (;;) {
      if (closed) throw new Error("the planner was closed in the middle of a plan");
      const start = now();
      const done = runSlice(steps, start + sliceMs, now);
      stats.longestSliceMs = Math.max(stats.longestSliceMs, now() - start);
      if (done !== undefined) return done.value;
      stats.turns++;
      await turn();
    }
  };
  return {
    async plan(input) {
      if (closed) throw new Error("the planner is closed");
      const planning = session;
      const plan = await runSlices(planning.outcomeSteps(input));
      stats.lastPlan = planning.lastPlan;
      if (!plan.ok) return plan;
      const { touched: _touched, ...rest } = plan;
      return rest;
    },
    forget() {
      session = new PlanSession();
    },
    async close() {
      closed = true;
    },
    stats: () => ({ ...stats }),
  };
}

/** Runs `steps` until they end (their value) or `deadline` passes at a pause (`undefined`). */
function runSlice<T>(steps: Steps<T>, deadline: number, now: () => number): { value: T } | undefined {
  for (;;) {
    const r = steps.next();
    if (r.done) return { value: r.value };
    if (now() >= deadline) return undefined;
  }
}

function nextImmediate(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
