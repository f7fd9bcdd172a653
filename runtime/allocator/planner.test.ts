import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
});
