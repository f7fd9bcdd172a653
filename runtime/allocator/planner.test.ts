import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { planAllocation } from "../../provider/core/allocation/index.ts";
import type { AllocationInput } from "../../provider/core/allocation/index.ts";
import { workerPlanner } from "./planner.ts";

describe("worker planner", () => {
  it("gives exactly the in-process result, bigints included, for consecutive plans", async () => {
    const planner = workerPlanner();
    try {
      for (const n of [3, 300]) {
        const input: AllocationInput = {
          pools: [{ name: "v6", spec: { addresses: ["2001:db8::/64", "192.0.2.0/24"] } }],
          services: Array.from({ length: n }, (_, i) => ({ namespace: "default", name: `s${i}`, ipFamilies: i % 2 ? ["IPv6"] : ["IPv4"] })),
          isolateServiceProblems: true,
        };
        assert.deepEqual(await planner.plan(input), planAllocation(input));
      }
    } finally {
      await planner.close();
    }
  });

  it("lets its thread go when idle, and starts a new one for the next plan", async () => {
    const planner = workerPlanner(50);
    const input: AllocationInput = { pools: [{ name: "p", spec: { addresses: ["192.0.2.0/24"] } }], services: [{ namespace: "default", name: "a", ipFamilies: ["IPv4"] }], isolateServiceProblems: true };
    // The process's OS threads (Linux): a worker thread is one of them.
    const threads = (): number => Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
    try {
      assert.deepEqual(await planner.plan(input), planAllocation(input));
      const busy = threads();
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(threads() < busy, `the idle thread exited (${busy} threads before, ${threads()} after)`);
      assert.deepEqual(await planner.plan(input), planAllocation(input), "a plan after the thread exited");
    } finally {
      await planner.close();
    }
  });
});
