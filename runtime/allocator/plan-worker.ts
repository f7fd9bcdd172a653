// Runs the planner off the speaker's event loop: a plan over thousands of Services takes long
// enough to delay heartbeats and lease renewals, which peers would read as this node failing.
// It keeps the Services it was sent, the outcomes it reported and a plan session between plans.
import { parentPort } from "node:worker_threads";
import { PlanSession } from "../../provider/core/allocation/index.ts";
import type { Assignment, ServiceOutcome, ServiceRequest } from "../../provider/core/allocation/index.ts";
import { applyRequest, replyOf, type PlanRequest } from "./planner-protocol.ts";

const session = new PlanSession();
const held = { services: new Map<string, ServiceRequest>(), previous: {} as Record<string, Assignment> };
const reported = new Map<string, ServiceOutcome>();

parentPort?.on("message", ({ id, request }: { id: number; request: PlanRequest }) => {
  try {
    const plan = session.outcomes(applyRequest(held, request));
    parentPort?.postMessage({ id, reply: replyOf(plan, reported, request.whole !== undefined) });
  } catch (err) {
    parentPort?.postMessage({ id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
