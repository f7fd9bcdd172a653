/**
 * The allocator: pure, deterministic IP assignment for LoadBalancer Services.
 *
 * ```ts
 * import { planAllocation, planToJson } from "./provider/core/allocation/index.ts";
 * const result = planAllocation({ pools, services, previous });
 * if (!result.ok) for (const p of result.problems) console.error(p.message);
 * else console.log(JSON.stringify(planToJson(result)));
 * ```
 *
 * - `planAllocation(input: AllocationInput): AllocationResult` — `{ ok: false, problems: ConfigProblem[] }`
 *   when the configuration is invalid (each problem has `object`, `field` and a `message` naming
 *   the object and the fix), else `{ ok: true, services, pools, changes, refused, warnings }` where
 *   `services` maps `"<ns>/<name>"` to `{ ips, pool }` or `{ error }`, `pools` maps a pool name
 *   to `{ size: bigint, used: number }`, and `changes` lists new / moved / released / unchanged
 *   services relative to `input.previous`. With `isolateServiceProblems: true`, a Service's (or
 *   group's) problems refuse only that Service (or the group's members): they are listed in
 *   `refused`, and the rest is planned as if the refused ones were absent. `warnings` are sentences
 *   about what is valid but probably not meant (a node's own address inside a pool). The former
 *   type names `PlanResult`, `PlanSuccess`, `PlanFailure` remain as aliases.
 * - `usablePools(pools, nodeSubnets?, nodeAddresses?)`: `{ usable, setAside }` — admits pools one
 *   at a time, oldest first, setting aside each pool that is invalid on its own or together with
 *   those admitted before it.
 * - `planToJson(result)`: the JSON form printed by `l2lb plan -o json` (sizes as decimal strings).
 *
 * No I/O, no clock, no randomness: the same input (in any order) gives the same result.
 */
export type * from "./types.ts";
export { planAllocation } from "./plan.ts";
export { AllocationMemo } from "./memo.ts";
export { PlanSession, type SessionOutcomes } from "./session.ts";
export { planToJson, sizeToString } from "./json.ts";
export { usablePools } from "./usable.ts";
export { withPlannedAnnotations } from "./requests.ts";
