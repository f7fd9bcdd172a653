import type { AllocationInput, PlanResult } from "./types.ts";

/** Plans the allocation (implementation lands in the next commit; the signature is final). */
export function planAllocation(input: AllocationInput): PlanResult {
  void input;
  throw new Error("planAllocation is not implemented yet");
}
