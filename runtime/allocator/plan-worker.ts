// Runs the planner off the speaker's event loop: a plan over thousands of Services takes long
// enough to delay heartbeats and lease renewals, which peers would read as this node failing.
import { parentPort } from "node:worker_threads";
import { planAllocation } from "../../provider/core/allocation/index.ts";
import type { AllocationInput } from "../../provider/core/allocation/index.ts";

parentPort?.on("message", ({ id, input }: { id: number; input: AllocationInput }) => {
  try {
    parentPort?.postMessage({ id, result: planAllocation(input) });
  } catch (err) {
    parentPort?.postMessage({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
