// Runs the planner off the speaker's event loop: a plan over thousands of Services takes long
// enough to delay heartbeats and lease renewals, which peers would read as this node failing.
// It keeps the Services it was sent, the outcomes it reported and a memo between plans.
import { parentPort } from "node:worker_threads";
import { AllocationMemo, planAllocation } from "../../provider/core/allocation/index.ts";
import type { ServiceOutcome, ServiceRequest } from "../../provider/core/allocation/index.ts";
import { applyRequest, replyOf, type PlanRequest } from "./planner-protocol.ts";

const memo = new AllocationMemo();
const held = new Map<string, ServiceRequest>();
const reported = new Map<string, ServiceOutcome>();

parentPort?.on("message", ({ id, request }: { id: number; request: PlanRequest }) => {
  try {
    const services = applyRequest(held, request);
    const plan = planAllocation({ ...request.rest, services }, memo);
    parentPort?.postMessage({ id, reply: replyOf(plan, reported, request.services !== undefined) });
  } catch (err) {
    parentPort?.postMessage({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
