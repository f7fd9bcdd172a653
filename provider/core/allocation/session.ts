/**
 * Planning again after a few changes without placing every Service again: the in-cluster
 * allocator plans after every batch of changes, and with 10,000 Services nearly all of them keep
 * what they have.
 *
 * A session keeps the last plan's placement (its ledger, each unit's addresses, errors and
 * outcome). The next plan places again only the units that may decide differently: those whose
 * request object or previous assignment changed, and every unit the last plan did not keep in
 * the sticky phase (new, moved, refused by a holder, or without an address: one freed address
 * may change any of theirs). The others keep their sticky holdings untouched — a plan from
 * scratch would keep them too, since nothing they were checked against changed — except when a
 * unit placed again may keep an address that a later-sorting kept unit may not share: the plan
 * from scratch would then move the later one, so the session plans everything again. It also
 * plans everything again when the configuration (pools, node subnets and addresses, namespace
 * labels) changes, and leaves inputs with shared-IP groups or without `isolateServiceProblems`
 * to `planAllocation`.
 *
 * `session.plan(input)` equals `planAllocation(input)` for any sequence of inputs (session.test.ts
 * checks that over random sequences). Requests are recognised by object: pass the same object for
 * an unchanged Service, and never modify one after passing it.
 */
import { AllocationMemo, assignmentKey } from "./memo.ts";
import { compiledConfig, configKey, planAllocation, successOf } from "./plan.ts";
import { newRun, NotIncremental, placeInPhases, type Run } from "./placement.ts";
import { readRefusingBadServices, refusedOutcomes, type UnitsAndRefusals } from "./refusals.ts";
import { outcomesOf, poolUsage, sortProblems, warningsOf } from "./results.ts";
import type { AllocationFailure, AllocationInput, AllocationResult, AllocationSuccess, Assignment, ServiceOutcome } from "./types.ts";
import type { PoolContext, Unit } from "./units.ts";

/** What the last plan decided, kept for the next. */
interface Kept {
  configKey: string;
  run: Run;
  units: Map<string, Unit>;
  /** Each unit's previous assignment as text (`null`: not plain text, so always placed again). */
  previousKeys: Map<string, string | null | undefined>;
  /** The units kept in the sticky phase. */
  sticky: Set<Unit>;
  outcomes: Map<string, ServiceOutcome>;
  reasons: Map<string, string>;
}

/** A plan as a session's outcomes: every Service's, and which ones this plan may have changed. */
export type SessionOutcomes =
  | AllocationFailure
  | (Omit<AllocationSuccess, "services" | "changes"> & {
      outcomes: ReadonlyMap<string, ServiceOutcome>;
      /** The Services whose outcome this plan may have changed; `undefined`: any. */
      touched: ReadonlySet<string> | undefined;
    });

type Planned =
  | { kind: "whole"; result: AllocationResult }
  | { kind: "incremental"; ctx: PoolContext; read: UnitsAndRefusals; kept: Kept; previous: Readonly<Record<string, Assignment>>; touched: Set<string> };

export class PlanSession {
  private readonly memo = new AllocationMemo();
  private kept: Kept | undefined;
  /** How the last plan was made: `incremental` (with the number of Services placed again or gone) or `whole` (and why). */
  lastPlan: { kind: "incremental"; touched: number } | { kind: "whole"; why: string } = { kind: "whole", why: "first plan" };

  /** The plan of `input`: exactly `planAllocation(input)`. */
  plan(input: AllocationInput): AllocationResult {
    const p = this.planned(input);
    if (p.kind === "whole") return p.result;
    return successOf(p.ctx, p.kept.run.ledger, p.read, p.kept.outcomes, p.kept.reasons, p.previous);
  }

  /** The same plan as outcomes, without assembling the whole result (the change list, a sorted record of every Service). */
  outcomes(input: AllocationInput): SessionOutcomes {
    const p = this.planned(input);
    if (p.kind === "whole") {
      if (!p.result.ok) return p.result;
      const { services, changes: _changes, ...rest } = p.result;
      return { ...rest, outcomes: new Map(Object.entries(services)), touched: undefined };
    }
    const outcomes = new Map(p.kept.outcomes);
    for (const [k, o] of Object.entries(refusedOutcomes(p.read))) {
      outcomes.set(k, o);
      p.touched.add(k);
    }
    return { ok: true, outcomes, touched: p.touched, pools: poolUsage(p.ctx, p.kept.run.ledger), refused: sortProblems(p.read.found.all()), warnings: warningsOf(p.ctx) };
  }

  private planned(input: AllocationInput): Planned {
    if (input.isolateServiceProblems !== true || (input.sharedIpGroups?.length ?? 0) > 0) return this.whole(input, "shared-IP groups or no isolation");
    const key = configKey(input);
    const { ctx, problems } = compiledConfig(input, this.memo);
    if (key === undefined || problems.length > 0) return this.whole(input, "configuration problems");
    const read = readRefusingBadServices(input, ctx, true, this.memo);
    const previous = input.previous ?? {};
    let why = this.kept === undefined ? "first plan" : this.kept.configKey !== key ? "configuration changed" : undefined;
    let kept = why === undefined ? (this.kept as Kept) : fresh(key, ctx, this.memo);
    const touched = new Set<string>();
    try {
      update(kept, read.units, previous, this.memo, touched);
    } catch (err) {
      if (!(err instanceof NotIncremental)) throw err;
      why = err.message;
      kept = fresh(key, ctx, this.memo);
      update(kept, read.units, previous, this.memo, touched);
    }
    this.kept = kept;
    this.lastPlan = why === undefined ? { kind: "incremental", touched: touched.size } : { kind: "whole", why };
    return { kind: "incremental", ctx, read, kept, previous, touched };
  }

  private whole(input: AllocationInput, why: string): Planned {
    this.kept = undefined;
    this.lastPlan = { kind: "whole", why };
    return { kind: "whole", result: planAllocation(input, this.memo) };
  }
}

function fresh(configKey: string, ctx: PoolContext, memo: AllocationMemo): Kept {
  return { configKey, run: newRun(ctx, memo, true), units: new Map(), previousKeys: new Map(), sticky: new Set(), outcomes: new Map(), reasons: new Map() };
}

/** Places again what may decide differently (see the file comment); the keys of the Services placed again or gone go to `touched`. */
function update(kept: Kept, units: readonly Unit[], previous: Readonly<Record<string, Assignment>>, memo: AllocationMemo, touched: Set<string>): void {
  const current = new Map(units.map((u) => [u.id, u]));
  for (const [id, old] of kept.units) {
    if (current.get(id) === old) continue;
    forget(kept, old);
    for (const m of old.members) touched.add(m.key);
  }
  const again: Unit[] = [];
  for (const u of units) {
    const previousKey = previousKeyOf(previous[u.id]);
    if (kept.units.get(u.id) === u && kept.previousKeys.get(u.id) === previousKey && previousKey !== null && kept.sticky.has(u)) continue;
    forget(kept, u);
    kept.previousKeys.set(u.id, previousKey);
    again.push(u);
    for (const m of u.members) touched.add(m.key);
  }
  kept.units = current;
  kept.run.ledger.resetCursors();
  placeInPhases(kept.run, again, previous);
  for (const u of again) if (kept.run.ledger.rankOf(u) === 1) kept.sticky.add(u);
  const { outcomes, reasons } = outcomesOf(again, kept.run, previous, memo);
  for (const [k, o] of Object.entries(outcomes)) kept.outcomes.set(k, o);
  for (const [k, r] of reasons) kept.reasons.set(k, r);
}

/** Drops what the last plan decided for a unit. */
function forget(kept: Kept, u: Unit): void {
  const { run } = kept;
  const placement = run.placed.get(u);
  if (placement !== undefined) run.ledger.release(u, placement.ips);
  run.placed.delete(u);
  run.reasons.delete(u);
  run.errors.delete(u);
  run.hints.delete(u);
  kept.sticky.delete(u);
  kept.previousKeys.delete(u.id);
  for (const m of u.members) {
    kept.outcomes.delete(m.key);
    kept.reasons.delete(m.key);
  }
}

function previousKeyOf(prev: Assignment | undefined): string | null | undefined {
  return prev === undefined ? undefined : (assignmentKey(prev) ?? null);
}
