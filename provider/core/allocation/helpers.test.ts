/** Helpers shared by the allocator's tests (not part of the public API). */
import assert from "node:assert/strict";
import type { AddressPool, AddressPoolSpec } from "../model/pool.ts";
import { planAllocation } from "./plan.ts";
import type { AllocationInput, ConfigProblem, PlanSuccess, ServiceRequest } from "./types.ts";

export function pool(name: string, addresses: string[], extra: Partial<AddressPoolSpec> = {}): AddressPool {
  return { name, spec: { addresses, ...extra } };
}

export function svc(key: string, extra: Partial<ServiceRequest> = {}): ServiceRequest {
  const [namespace, name] = key.split("/") as [string, string];
  return { namespace, name, ...extra };
}

export function plan(input: AllocationInput): PlanSuccess {
  const r = planAllocation(input);
  if (!r.ok) assert.fail(`expected a valid configuration, got:\n${r.problems.map((p) => p.message).join("\n")}`);
  return r;
}

export function problems(input: AllocationInput): ConfigProblem[] {
  const r = planAllocation(input);
  if (r.ok) assert.fail(`expected configuration problems, got a plan: ${JSON.stringify(r.services)}`);
  return r.problems;
}

export function ips(r: PlanSuccess, key: string): string[] {
  const o = r.services[key];
  if (o === undefined) assert.fail(`no outcome for ${key}`);
  if ("error" in o) assert.fail(`${key} failed: ${o.error}`);
  return o.ips;
}

export function poolOf(r: PlanSuccess, key: string): string {
  const o = r.services[key];
  if (o === undefined || "error" in o) assert.fail(`${key} has no assignment`);
  return o.pool;
}

export function errorOf(r: PlanSuccess, key: string): string {
  const o = r.services[key];
  if (o === undefined || !("error" in o)) assert.fail(`${key} was expected to fail, got ${JSON.stringify(o)}`);
  return o.error;
}

/** The previous-assignments map of a plan (what `--state` feeds back). */
export function stateOf(r: PlanSuccess): NonNullable<AllocationInput["previous"]> {
  const out: NonNullable<AllocationInput["previous"]> = {};
  for (const [k, v] of Object.entries(r.services)) if (!("error" in v)) out[k] = { ips: [...v.ips], pool: v.pool };
  return out;
}
