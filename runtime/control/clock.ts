// The clock every part of the control plane reads: monotonic time and timers, injected so the
// controller runs against a fake clock in tests (runtime/allocator/testing.ts `FakeClock`).
export interface Clock {
  /** Monotonic milliseconds (performance.now() in production). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Wall-clock milliseconds since the epoch (Lease times); default Date.now(). */
  wallNow?(): number;
}

/** The wall clock of `clock` (Date.now() when it has none). */
export function wallNow(clock: Clock): number {
  return clock.wallNow?.() ?? Date.now();
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  wallNow: () => Date.now(),
};

/** Rejects with "`what` timed out after `ms` ms" when `p` has not settled by then. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, clock: Clock = realClock): Promise<T> {
  let timer: unknown;
  const t = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clock.clearTimeout(timer));
}

/** Resolves after `ms` on `clock`. */
export function sleep(ms: number, clock: Clock = realClock): Promise<void> {
  return new Promise((r) => clock.setTimeout(r, ms));
}
