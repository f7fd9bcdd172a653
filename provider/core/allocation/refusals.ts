/**
 * Request validation under `isolateServiceProblems`: which Services and shared-IP groups are
 * refused for their problems, and the units left to place — exactly those of an input without
 * the refused ones.
 */
import type { AllocationMemo } from "./memo.ts";
import type { AllocationInput, ConfigProblem, ServiceOutcome } from "./types.ts";
import { sortProblems } from "./results.ts";
import { readServices, readUnits, ServiceProblems } from "./units.ts";
import type { PoolContext, RefusalCause, Unit } from "./units.ts";

/** The units to place, and the Services refused on the way. */
export interface UnitsAndRefusals {
  units: Unit[];
  /** Every problem of a Service or group. */
  found: ServiceProblems;
  /** Refused Service keys (only under isolation; without it any problem fails the allocation). */
  refused: Map<string, RefusalCause>;
}

/**
 * Reads the Services and groups into units. Under isolation this runs in rounds: the Services and
 * groups with problems are refused (a group with the Services it claimed) and what is left is
 * read again, until a round finds no problem — so the units placed are exactly those of an input
 * without the refused Services and groups. Every round refuses at least one more Service or
 * group, so it ends; as the rules stand, the second round finds nothing new.
 */
export function readRefusingBadServices(input: AllocationInput, ctx: PoolContext, isolate: boolean, memo?: AllocationMemo): UnitsAndRefusals {
  const found = new ServiceProblems();
  const services = readServices(input.services ?? [], found, memo);
  const refused = new Map<string, RefusalCause>();
  for (const key of found.services.keys()) refused.set(key, undefined);
  const skippedGroups = new Set<string>();
  for (;;) {
    const round = new ServiceProblems();
    const remaining = new Map([...services].filter(([key]) => !refused.has(key)));
    const { units, members } = readUnits(remaining, input.sharedIpGroups ?? [], refused, skippedGroups, ctx, round, memo);
    found.merge(round);
    if (!isolate || round.isEmpty()) return { units, found, refused };
    for (const key of round.services.keys()) refused.set(key, undefined);
    for (const group of round.groups.keys()) {
      skippedGroups.add(group);
      for (const key of members.get(group) ?? []) if (!refused.has(key)) refused.set(key, group);
    }
  }
}

/** The `{ error }` of every refused Service: its own problems, or its group's. */
export function refusedOutcomes(read: UnitsAndRefusals): Record<string, ServiceOutcome> {
  const out: Record<string, ServiceOutcome> = {};
  const sentences = (list: readonly ConfigProblem[] | undefined): string => sortProblems(list ?? []).map((p) => p.message).join(" ");
  for (const [key, group] of read.refused) {
    out[key] = {
      error: group === undefined ? sentences(read.found.services.get(key)) : `Service "${key}" is in ${group}, which is invalid: ${sentences(read.found.groups.get(group))}`,
    };
  }
  return out;
}
