// From a plan to what the in-cluster allocator writes. Pure.
import type { Assignment, ServiceOutcome } from "../../provider/core/allocation/index.ts";
import type { ServedService } from "./cluster-input.ts";

/** The assignment annotations a Service should carry: an assignment, or none (released). */
export type Desired = { kind: "assign"; assignment: Assignment } | { kind: "release"; reason: string };

export interface Decisions {
  /** Services whose annotations must change, by key. */
  writes: Map<string, Desired>;
  /** Services left without an address (or kept on a set-aside pool), with the sentence saying why. */
  failures: Map<string, string>;
}

export function sameAssignment(a: Assignment | undefined, b: Assignment | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.pool === b.pool && a.ips.length === b.ips.length && a.ips.every((ip, i) => ip === b.ips[i]);
}

/**
 * What to write. Stack-held Services are never written. A Service whose in-cluster addresses lie
 * in a pool that is only set aside (`setAsidePools`) keeps them: a pool applied before its
 * advertisement, or overlapping a newer one, must not renumber Services already using it.
 */
export function decide(served: readonly ServedService[], plan: { outcomes: ReadonlyMap<string, ServiceOutcome> }, setAsidePools: ReadonlySet<string>): Decisions {
  const writes = new Map<string, Desired>();
  const failures = new Map<string, string>();
  for (const s of served) {
    if (s.origin === "stack") continue;
    const outcome = plan.outcomes.get(s.key);
    if (outcome !== undefined && "ips" in outcome) {
      if (s.origin !== "in-cluster" || !sameAssignment(s.assigned, outcome)) writes.set(s.key, { kind: "assign", assignment: { ips: outcome.ips, pool: outcome.pool } });
      continue;
    }
    const reason = outcome?.error ?? `Service "${s.key}" got no address.`;
    failures.set(s.key, reason);
    if (s.origin !== "in-cluster") continue;
    if (s.assigned !== undefined && setAsidePools.has(s.assigned.pool)) continue;
    writes.set(s.key, { kind: "release", reason });
  }
  return { writes, failures };
}
