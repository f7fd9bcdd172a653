// What crosses between the allocator and its planner thread: after the first plan, only the
// Services that changed (by object: the informer replaces an object when the Service changes) and
// the outcomes that changed. Both sides keep the rest. Pure.
import type { AllocationInput, AllocationResult, AllocationSuccess, ConfigProblem, ServiceOutcome, ServiceRequest } from "../../provider/core/allocation/index.ts";
import type { AllocatorPlan } from "./planner.ts";

/** The input without its Services, and the Services as a change to the ones sent before. */
export interface PlanRequest {
  rest: Omit<AllocationInput, "services">;
  /** All Services (a first request, or one the thread cannot apply as a change). */
  services?: ServiceRequest[];
  upserts?: ServiceRequest[];
  removed?: string[];
}

export type PlanReply =
  | { ok: false; problems: ConfigProblem[] }
  | (Omit<AllocationSuccess, "changes" | "services"> & { ok: true; outcomes: Record<string, ServiceOutcome>; gone: string[]; whole: boolean });

/** The allocator's side: what the thread holds, and the outcomes it last reported. */
export interface SentState {
  services: Map<string, ServiceRequest>;
  outcomes: Map<string, ServiceOutcome>;
}

const keyOf = (s: ServiceRequest): string => `${s?.namespace || "default"}/${s?.name}`;

/** The request for `input`, sending only what changed since `sent` (everything when there is no `sent`). */
export function requestFor(sent: SentState | undefined, input: AllocationInput): { request: PlanRequest; state: SentState } {
  const { services: list = [], ...rest } = input;
  const services = new Map(list.map((s) => [keyOf(s), s]));
  const outcomes = sent?.outcomes ?? new Map<string, ServiceOutcome>();
  // Two Services with one key: only the whole list keeps the planner's "defined twice" refusal.
  if (sent === undefined || services.size !== list.length) return { request: { rest, services: [...list] }, state: { services, outcomes } };
  const upserts = [...services].filter(([k, s]) => sent.services.get(k) !== s).map(([, s]) => s);
  const removed = [...sent.services.keys()].filter((k) => !services.has(k));
  return { request: { rest, upserts, removed }, state: { services, outcomes } };
}

/** The thread's side: the Services it holds after `request`. */
export function applyRequest(held: Map<string, ServiceRequest>, request: PlanRequest): ServiceRequest[] {
  if (request.services !== undefined) {
    held.clear();
    for (const s of request.services) held.set(keyOf(s), s);
    return request.services;
  }
  for (const k of request.removed ?? []) held.delete(k);
  for (const s of request.upserts ?? []) held.set(keyOf(s), s);
  return [...held.values()];
}

/** The thread's side: the reply to a plan, with the outcomes that differ from those `reported` (updated). */
export function replyOf(plan: AllocationResult, reported: Map<string, ServiceOutcome>, whole: boolean): PlanReply {
  if (!plan.ok) return plan;
  const { services, changes: _changes, ...rest } = plan;
  if (whole) reported.clear();
  const outcomes: Record<string, ServiceOutcome> = {};
  for (const [k, o] of Object.entries(services)) {
    if (sameOutcome(reported.get(k), o)) continue;
    outcomes[k] = o;
    reported.set(k, o);
  }
  const gone = [...reported.keys()].filter((k) => !(k in services));
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
  const services: Record<string, ServiceOutcome> = {};
  for (const k of [...sent.outcomes.keys()].sort()) services[k] = sent.outcomes.get(k) as ServiceOutcome;
  return { ...rest, services };
}

function sameOutcome(a: ServiceOutcome | undefined, b: ServiceOutcome): boolean {
  if (a === b) return true;
  if (a === undefined) return false;
  if ("error" in a || "error" in b) return "error" in a && "error" in b && a.error === b.error;
  return a.pool === b.pool && a.ips.length === b.ips.length && a.ips.every((ip, i) => ip === b.ips[i]);
}
