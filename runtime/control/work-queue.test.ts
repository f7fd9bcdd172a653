import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeClock } from "../allocator/testing.ts";
import fc from "fast-check";
import { backoffDelay, WorkQueue, type Outcome } from "./work-queue.ts";

describe("work queue", () => {
  it("processes a key once however often it is added before it runs", async () => {
    const clock = new FakeClock();
    const seen: string[] = [];
    const q = new WorkQueue({ clock, concurrency: 1, handler: async (k) => (seen.push(k), "done") });
    q.add("x");
    q.add("a");
    q.add("a");
    q.add("b");
    await clock.advance(1);
    assert.deepEqual(seen, ["x", "a", "b"]);
  });

  it("backs off per key exponentially up to the cap, while other keys flow", async () => {
    const clock = new FakeClock();
    const attempts: number[] = [];
    const q = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 400, jitter: 0, handler: async (k): Promise<Outcome> => (k === "bad" ? (attempts.push(clock.now()), "retry") : "done") });
    q.add("bad");
    await clock.advance(2000);
    assert.deepEqual(attempts.slice(0, 6), [0, 100, 300, 700, 1100, 1500]);
    assert.equal(q.failuresOf("bad") >= 5, true);
    q.stop();
  });

  it("spreads each retry delay by at most the jitter around the doubling, capped", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (failures, r) => {
        const exact = Math.min(30_000, 100 * 2 ** (failures - 1));
        const d = backoffDelay(failures, { baseDelayMs: 100, maxDelayMs: 30_000, jitter: 0.1, random: () => r });
        assert.ok(d >= Math.floor(exact * 0.9) && d <= Math.ceil(exact * 1.1), `${failures}: ${d} vs ${exact}`);
      }),
    );
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 30_000, jitter: 0.1, random: Math.random })));
    assert.ok(spread.size > 5, "delays of speakers failing together differ");
  });

  it("runs a key added while it is being processed once more afterwards", async () => {
    const clock = new FakeClock();
    let runs = 0;
    let q: WorkQueue | undefined = undefined;
    q = new WorkQueue({
      clock,
      handler: async () => {
        runs++;
        if (runs === 1) q?.add("k");
        return "done";
      },
    });
    q.add("k");
    await clock.advance(1);
    assert.equal(runs, 2);
  });

  it("limits concurrency", async () => {
    const clock = new FakeClock();
    let running = 0;
    let peak = 0;
    const q = new WorkQueue({
      clock,
      concurrency: 3,
      handler: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setImmediate(r));
        running--;
        return "done";
      },
    });
    for (let i = 0; i < 20; i++) q.add(`k${i}`);
    await clock.advance(1);
    assert.equal(peak, 3);
    assert.equal(q.size, 0);
  });

  it("tells a key that waits out its retry delay from one that is queued or done", async () => {
    const clock = new FakeClock();
    let fail = true;
    const q = new WorkQueue({ clock, baseDelayMs: 100, handler: async (): Promise<Outcome> => (fail ? "retry" : "done") });
    q.add("k");
    await clock.advance(1);
    assert.equal(q.isBackingOff("k"), true);
    fail = false;
    await clock.advance(200);
    assert.equal(q.isBackingOff("k"), false);
    assert.equal(q.failuresOf("k"), 0);
  });
});
