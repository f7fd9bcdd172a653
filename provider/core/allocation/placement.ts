/**
 * Placement: the three phases that give each unit its addresses, in the order of the units —
 * (1) sticky previous assignments, (2) explicitly requested addresses, (3) first-fit over the
 * pools in a total order, trying a unit's still-valid previous addresses first.
 */
import { familyName, formatAddress } from "../ip/index.ts";
import type { Address, Family } from "../ip/index.ts";
import type { AllocationMemo, PreviousReading } from "./memo.ts";
import { Ledger, refusalForAll, sharingRefusal, SHARING_FIX } from "./ledger.ts";
import { exclusionReason } from "./pools.ts";
import type { CompiledPool } from "./pools.ts";
import { hintsOf, keepable, previousCandidates, readPrevious } from "./previous.ts";
import type { Hints, PreviousRead } from "./previous.ts";
import type { Assignment } from "./types.ts";
import { cmp, describePools, memberRefusedBy } from "./units.ts";
import type { PoolContext, Unit } from "./units.ts";

/** The addresses a unit got, and their pool. */
export interface Placement {
  pool: string;
  ips: Address[];
}

/** What the three phases decided for every unit. */
export interface Decisions {
  placed: ReadonlyMap<Unit, Placement>;
  /** Why a unit's previous assignment was not kept (or partly released). */
  reasons: ReadonlyMap<Unit, string>;
  errors: ReadonlyMap<Unit, string>;
  /** The holdings after every phase. */
  ledger: Ledger;
}

/** One allocation under way (or, in a PlanSession, kept from one plan to the next). */
export interface Run {
  ctx: PoolContext;
  ledger: Ledger;
  placed: Map<Unit, Placement>;
  reasons: Map<Unit, string>;
  errors: Map<Unit, string>;
  hints: Map<Unit, Hints>;
  memo: AllocationMemo | undefined;
  /** The phase under way: 1 sticky, 2 requested, 3 first-fit. */
  phase: 1 | 2 | 3;
  /**
   * Set when the ledger may hold units that sort after the one being placed in phase 1 (a session
   * placing only what changed): keeping an address one of them may not share is then what a plan
   * from scratch would decide differently, and {@link NotIncremental} is thrown.
   */
  incremental: boolean;
}

/** A change a session cannot place without planning everything again. */
export class NotIncremental extends Error {}

export function newRun(ctx: PoolContext, memo: AllocationMemo | undefined, incremental = false): Run {
  return { ctx, ledger: new Ledger(ctx.ex), placed: new Map(), reasons: new Map(), errors: new Map(), hints: new Map(), memo, phase: 1, incremental };
}

/** Places the units (sorted by id) in three phases: sticky previous assignments, requested addresses, first-fit. */
export function placeUnits(units: readonly Unit[], ctx: PoolContext, previous: Readonly<Record<string, Assignment>>, memo?: AllocationMemo): Decisions {
  const run = newRun(ctx, memo);
  placeInPhases(run, units, previous);
  return { placed: run.placed, reasons: run.reasons, errors: run.errors, ledger: run.ledger };
}

/** The three phases over `units` (sorted by id), adding to what `run` already holds. */
export function placeInPhases(run: Run, units: readonly Unit[], previous: Readonly<Record<string, Assignment>>): void {
  run.phase = 1;
  for (const u of units) keepPrevious(run, u, previous);
  run.phase = 2;
  for (const u of units) if (!run.placed.has(u) && u.requestedIps !== undefined) grantRequest(run, u, u.requestedIps);
  run.phase = 3;
  const order = autoAssignOrder(run.ctx);
  for (const u of units) if (!run.placed.has(u) && !run.errors.has(u)) placeFirstFit(run, u, order);
}

function place(run: Run, u: Unit, pool: string, ips: Address[]): void {
  run.ledger.take(u, pool, ips, run.phase);
  run.placed.set(u, { pool, ips });
}

/**
 * Phase 1: the unit keeps the first of its previous assignments that is still valid and still
 * shareable with the units placed before it; otherwise the first reason is recorded, and the
 * individually valid previous addresses become its hints.
 */
function keepPrevious(run: Run, u: Unit, previous: Readonly<Record<string, Assignment>>): void {
  const reads: PreviousRead[] = [];
  let firstReason: string | undefined;
  for (const prev of previousCandidates(u, previous)) {
    const { read, kept } = readingOf(run, u, prev);
    reads.push(read);
    if (typeof kept === "string") {
      firstReason ??= kept;
      continue;
    }
    if (run.incremental && run.ledger.conflictsWithLater(u, kept.ips, 1)) throw new NotIncremental(`${u.object} may keep an address a unit placed after it holds`);
    const refusal = refusalForAll(run.ledger, u, kept.ips);
    if (refusal !== undefined) {
      firstReason ??= `${kept.ips.map(formatAddress).join(", ")} can no longer be shared: ${refusal} (the Service that sorts first keeps the address)`;
      continue;
    }
    place(run, u, kept.pool, kept.ips);
    if (kept.note !== undefined) run.reasons.set(u, kept.note);
    return;
  }
  if (firstReason !== undefined) run.reasons.set(u, firstReason);
  run.hints.set(u, hintsOf(reads));
}

function readingOf(run: Run, u: Unit, prev: Assignment): PreviousReading {
  const compute = (): PreviousReading => {
    const read = readPrevious(u, prev, run.ctx);
    return { read, kept: keepable(u, read) };
  };
  return run.memo === undefined ? compute() : run.memo.reading(u, prev, compute);
}

/** Phase 2: the requested addresses when free or shareable; otherwise the holder keeps them and the unit gets an error. */
function grantRequest(run: Run, u: Unit, requested: Address[]): void {
  const first = requested[0] as Address;
  const pool = run.ctx.byName.get(run.ctx.index.find(first.family, first.value)!.pool) as CompiledPool;
  const refusal = refusalForAll(run.ledger, u, requested, (a, r) => `${formatAddress(a)} is taken: ${r}`);
  if (refusal !== undefined) {
    run.errors.set(u, `${u.object} cannot get its requested address: ${refusal}; ${SHARING_FIX}.`);
    return;
  }
  place(run, u, pool.name, requested);
}

/** Auto-assigning pools in the order first-fit tries them: pinned by priority (0 last), then plain; each tier by name. */
function autoAssignOrder(ctx: PoolContext): CompiledPool[] {
  const rank = (p: CompiledPool): number => (p.priority === 0 ? Number.POSITIVE_INFINITY : p.priority);
  return ctx.pools
    .filter((p) => p.autoAssign)
    .sort((a, b) => {
      if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
      if (a.pinned && rank(a) !== rank(b)) return rank(a) - rank(b);
      return cmp(a.name, b.name);
    });
}

/** Phase 3: the first pool (the requested one, or every auto-assigning pool that admits the unit) with the addresses it needs. */
function placeFirstFit(run: Run, u: Unit, order: readonly CompiledPool[]): void {
  const { ctx } = run;
  const candidates = u.requestedPool !== undefined ? [ctx.byName.get(u.requestedPool) as CompiledPool] : order.filter((p) => memberRefusedBy(p, u, ctx) === undefined);
  if (candidates.length === 0) {
    run.errors.set(
      u,
      `${u.object} got no address: no auto-assigning pool serves it (${describePools(ctx)}); add a pool whose serviceAllocation admits it, or request a pool or an address.`,
    );
    return;
  }
  const choice = choosePool(run, u, candidates);
  if ("pool" in choice) place(run, u, choice.pool.name, choice.picks);
  else run.errors.set(u, shortageMessage(u, choice.shortages));
}

interface Shortage {
  pool: CompiledPool;
  lacking: Family[];
}

/**
 * The first candidate pool that has an address of every family the unit requires (and of at
 * least one it wants). PreferDualStack requires none, but its primary family decides the pool: a
 * pool without a free address of that family is only a fallback, taken when no pool has one.
 */
function choosePool(run: Run, u: Unit, candidates: readonly CompiledPool[]): { pool: CompiledPool; picks: Address[] } | { shortages: Shortage[] } {
  const primary = u.required.length === 0 ? u.wanted[0] : undefined;
  let fallback: { pool: CompiledPool; picks: Address[] } | undefined;
  // Messages are built only if every pool fails: exhausted pools are common and cheap to skip.
  const shortages: Shortage[] = [];
  for (const pool of candidates) {
    const picks = picksIn(run, u, pool);
    const missing = u.required.filter((f) => !picks.some((a) => a.family === f));
    if (missing.length === 0 && picks.length > 0) {
      if (primary === undefined || picks[0]!.family === primary) return { pool, picks };
      fallback ??= { pool, picks };
      continue;
    }
    shortages.push({ pool, lacking: missing.length > 0 ? missing : u.wanted });
  }
  return fallback ?? { shortages };
}

function shortageMessage(u: Unit, shortages: readonly Shortage[]): string {
  const text = shortages
    .map(({ pool, lacking }) => `pool "${pool.name}" has ${lacking.map((f) => (pool.families.has(f) ? `no free ${familyName(f)} address` : `no ${familyName(f)} range`)).join(" and ")}`)
    .join("; ");
  return `${u.object} got no address: ${text}; add addresses to a pool, free some, or request another pool.`;
}

/** One address per wanted family the pool has, primary first; none for a family without a free one. */
function picksIn(run: Run, u: Unit, pool: CompiledPool): Address[] {
  const picks: Address[] = [];
  for (const f of u.wanted.filter((w) => pool.families.has(w))) {
    const v = pickAddress(run, u, pool, f);
    if (v !== undefined) picks.push({ family: f, value: v });
  }
  return picks;
}

/**
 * The address of family `f` the unit gets in `pool`: a still-valid previous address if one is
 * free or shareable, else the lowest of the lowest free address and the addresses taken under
 * the unit's sharing key that it may share.
 */
function pickAddress(run: Run, u: Unit, pool: CompiledPool, f: Family): bigint | undefined {
  const { ledger } = run;
  const hinted = (run.hints.get(u)?.get(f) ?? []).find((v) => hintUsable(run, u, pool, f, v));
  if (hinted !== undefined) return hinted;
  let best = ledger.lowestFree(pool, f);
  if (u.sharingKey === undefined) return best;
  for (const v of ledger.takenUnderKey(u.sharingKey, pool.name, f)) {
    if ((best === undefined || v < best) && sharingRefusal(u, ledger.holding(f, v)) === undefined) best = v;
  }
  return best;
}

function hintUsable(run: Run, u: Unit, pool: CompiledPool, f: Family, v: bigint): boolean {
  const range = run.ctx.index.find(f, v);
  if (range === undefined || range.pool !== pool.name) return false;
  if (exclusionReason(pool, range, v, run.ctx.ex) !== undefined) return false;
  return sharingRefusal(u, run.ledger.holding(f, v)) === undefined;
}
