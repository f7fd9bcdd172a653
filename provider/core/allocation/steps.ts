/**
 * Plans as computations that pause every few Services. A caller with nothing else to do runs one
 * to the end at once (`runAtOnce`); the speaker runs its plans on the event loop that also keeps
 * its heartbeats and answer deadline, so it resumes a plan in slices of a few milliseconds and lets
 * the loop turn between them. The core stays free of timers: it only says where it may pause.
 */

/** A computation that may pause (each `yield`) and finally returns a `T`. */
export type Steps<T> = Generator<void, T, void>;

/** Loop iterations between two pauses: a pause costs far less than this many Services' work. */
export const ITERATIONS_PER_PAUSE = 64;

/** Whether the loop counter `i` (counted from 1) is at a pause point. */
export function pauseAt(i: number): boolean {
  return i % ITERATIONS_PER_PAUSE === 0;
}

/** Runs `steps` to the end without pausing. */
export function runAtOnce<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}
