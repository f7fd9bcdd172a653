// What crosses between the allocator and its planner thread: after the first plan, only the
// Services that changed (by object: the informer replaces an object when the Service changes),
// the previous assignments that changed, and back only the outcomes that changed. Both sides keep
// the rest. Pure.
import type { AllocationInput, Assignment, ConfigProblem, ServiceOutcome, ServiceRequest, SessionOutcomes } from "../../provider/core/allocation/index.ts";
import { sameAssignment } from "./decisions.ts";
import type { AllocatorPlan } from "./planner.ts";

/** The input without its Services and previous assignments, and those as changes to the ones sent before. */
export interface PlanRequest {
  rest: Omit<AllocationInput, "services" | "previous">;
  /** All Services and previous assignments (a first request, or one the thread cannot apply as a change). */
  whole?: { services: ServiceRequest[]; previous: Record<string, Assignment> };
  upserts?: ServiceRequest[];
  removed?: string[];
  /** Previous assignments set (an assignment) or dropped (`null`). */
  previous?: Record<string, Assignment | null>;
}

export type PlanReply =
  | { ok: false; problems: ConfigProblem[] }
  | (Omit<Extract<SessionOutcomes, { ok: true }>, "outcomes" | "touched"> & { outcomes: Record<string, ServiceOutcome>; gone: string[]; whole: boolean });

/** The allocator's side: what the thread holds, and the outcomes it last reported. */
export interface SentState {
  services: Map<string, ServiceRequest>;
  previous: Map<string, Assignment>;
  outcomes: Map<string, ServiceOutcome>;
}

const keyOf = (s: ServiceRequest): string => `${s?.namespace || "default"}/${s?.name}`;

/** The request for `input`, sending only what changed since `sent` (everything when there is no `sent`). */
export function requestFor(sent: SentState | undefined, input: AllocationInput): { request: PlanRequest; state: SentState } {
  const { services: list = [], previous = {}, ...rest } = input;
  const services = new Map(list.map((s) => [keyOf(s), s]));
  const assignments = new Map(Object.entries(previous));
  const state = { services, previous: assignments, outcomes: sent?.outcomes ?? new Map<string, ServiceOutcome>() };
  // Two Services with one key: only the whole list keeps the planner's "defined twice" refusal.
  if (sent === undefined || services.size !== list.length) return { request: { rest, whole: { services: [...list], previous } }, state };
  const upserts = [...services].filter(([k, s]) => sent.services.get(k) !== s).map(([, s]) => s);
  const removed = [...sent.services.keys()].filter((k) => !services.has(k));
  const changed: Record<string, Assignment | null> = {};
  for (const [k, a] of assignments) if (!sameAssignment(sent.previous.get(k), a)) changed[k] = a;
  for (const k of sent.previous.keys()) if (!assignments.has(k)) changed[k] = null;
  return { request: { rest, upserts, removed, previous: changed }, state };
}

/** The thread's side: what it holds after `request`, as the plan's input. */
export function applyRequest(held: { services: Map<string, ServiceRequest>; previous: Record<string, Assignment> }, request: PlanRequest): AllocationInput {
  if (request.whole !== undefined) {
    held.services = new Map(request.whole.services.map((s) => [keyOf(s), s]));
    held.previous = { ...request.whole.previous };
    return { ...request.rest, services: request.whole.services, previous: held.previous };
  }
  for (const k of request.removed ?? []) held.services.delete(k);
  for (const s of request.upserts ?? []) held.services.set(keyOf(s), s);
  for (const [k, a] of Object.entries(request.previous ?? {})) {
    if (a === null) delete held.previous[k];
    else held.previous[k] = a;
  }
  return { ...request.rest, services: [...held.services.values()], previous: held.previous };
}

/** The thread's side: the reply to a plan, with the outcomes that differ from those `reported` (updated). */
export function replyOf(plan: SessionOutcomes, reported: Map<string, ServiceOutcome>, whole: boolean): PlanReply {
  if (!plan.ok) return plan;
  const { outcomes: all, touched, ...rest } = plan;
  if (whole) reported.clear();
  const outcomes: Record<string, ServiceOutcome> = {};
  for (const k of touched ?? all.keys()) {
    const o = all.get(k);
    if (o === undefined || sameOutcome(reported.get(k), o)) continue;
    outcomes[k] = o;
    reported.set(k, o);
  }
  const gone = [...reported.keys()].filter((k) => !all.has(k));
  for (const k of gone) reported.delete(k);
  return { ...rest, ok: true, outcomes, gone, whole };
}

/** The allocator's side: the whole plan, from the reply and the outcomes reported before. */
export function applyReply(sent: SentState, reply: PlanReply): AllocatorPlan {
  if (!reply.ok) return reply;
  const { outcomes, gone, whole, ...rest } = reply;
  if (whole) sent.outcomes.clear();
  for (const k of gone) sent.outcomes.delete(k);
  for (const [k, o] of Object.entries(outcomes)) sent.outcomes.set(k, o);
  return { ...rest, outcomes: sent.outcomes };
}

function sameOutcome(a: ServiceOutcome | undefined, b: ServiceOutcome): boolean {
  if (a === b) return true;
  if (a === undefined) return false;
  if ("error" in a || "error" in b) return "error" in a && "error" in b && a.error === b.error;
  return sameAssignment(a, b);
}
