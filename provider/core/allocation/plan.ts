/**
 * The allocator.
 *
 * ## Algorithm: first-fit in a total order, previous assignments first
 *
 * 1. **Validate** everything up front (pools, node subnets, Services, shared-IP groups, requested
 *    addresses and pools). Any problem makes the whole plan invalid: nothing half-applied. With
 *    `isolateServiceProblems`, a Service's or group's problems refuse only that Service (or the
 *    group's members), and the rest is planned exactly as if the refused ones were absent.
 * 2. Build **units**: a shared-IP group is one unit (its members land on one address per family);
 *    every other Service is a unit of its own. Units are processed in the order of their key
 *    (`namespace/name`, or `group:<name>`), never in input order, so the result is a function of
 *    the input *set*.
 * 3. **Sticky phase**: every unit whose previous assignment is still valid (address still in a pool
 *    that admits the Service, not excluded, family still wanted, request unchanged, pool still
 *    auto-assigning or still requested) keeps it. If two previous holders can no longer share,
 *    the one whose key sorts first keeps the address and the other is moved, with the reason.
 * 4. **Requested phase**: units that request explicit addresses get them if free or shareable
 *    under MetalLB's rules; otherwise the current holder wins and the unit gets an error naming
 *    the holder.
 * 5. **Auto phase**: the remaining units take, pool by pool in a total order — pinned pools
 *    (with a `serviceAllocation` that admits the Service) by `priority` (lower first, 0/unset
 *    last), then plain pools, each tier by name — the lowest usable address per family that is
 *    free or shareable. A unit's still-valid previous addresses are tried first (so a Service that
 *    becomes dual-stack keeps its IPv4 address). A PreferDualStack unit takes the first pool with a
 *    free address of its primary family (`spec.ipFamilies[0]`), plus one of the other family when
 *    that pool has it; a pool with only the other family is taken only when no pool has the primary.
 * 6. **Warnings**: what is valid but probably not meant (a node's own address inside a pool).
 *
 * Why first-fit rather than hash placement: it gives the addresses people expect from MetalLB and
 * OpenELB (the first Service gets the first address), packs pools densely, and with the sticky
 * phase it already has the property hash placement is usually chosen for — adding or removing a
 * Service never moves another one. Its cost is O(services × log + exclusions): a per-pool,
 * per-family cursor only moves forward, so no pool is ever enumerated.
 */
import type { AllocationMemo, CompiledConfig } from "./memo.ts";
import { compileExclusions, compilePools } from "./pools.ts";
import { placeUnits } from "./placement.ts";
import type { Ledger } from "./ledger.ts";
import { readRefusingBadServices, refusedOutcomes, type UnitsAndRefusals } from "./refusals.ts";
import { changesOf, outcomesOf, poolUsage, sortProblems, warningsOf } from "./results.ts";
import type { AllocationInput, AllocationResult, AllocationSuccess, Assignment, ConfigProblem, ServiceOutcome } from "./types.ts";
import { cmp, poolContext, type PoolContext } from "./units.ts";

/**
 * Allocates addresses to every Service, or says why the configuration is invalid. Pure: reads
 * `input` and modifies nothing in it. A caller planning again and again (the in-cluster
 * allocator) passes the same `memo` each time: the result is the same, computed mostly from cache.
 * The parts, in order: pools and exclusions (`pools.ts`), units and request validation (`units.ts`, `refusals.ts`), placement over a ledger of holdings
 * (`placement.ts`, `previous.ts`, `ledger.ts`), results (`results.ts`).
 */
export function planAllocation(input: AllocationInput, memo?: AllocationMemo): AllocationResult {
  const { ctx, problems } = compiledConfig(input, memo);
  const configProblems = [...problems];
  const isolate = input.isolateServiceProblems === true && configProblems.length === 0;
  const read = readRefusingBadServices(input, ctx, isolate, memo);
  if (!isolate && (configProblems.length > 0 || !read.found.isEmpty())) {
    return { ok: false, problems: sortProblems([...configProblems, ...read.found.all()]) };
  }
  const previous = input.previous ?? {};
  const decisions = placeUnits(read.units, ctx, previous, memo);
  const { outcomes, reasons } = outcomesOf(read.units, decisions, previous, memo);
  return successOf(ctx, decisions.ledger, read, Object.entries(outcomes), reasons, previous);
}

/** The whole result, from the placed units' outcomes (by Service key) and the refusals. */
export function successOf(
  ctx: PoolContext,
  ledger: Ledger,
  read: UnitsAndRefusals,
  outcomes: Iterable<[string, ServiceOutcome]>,
  reasons: ReadonlyMap<string, string>,
  previous: Readonly<Record<string, Assignment>>,
): AllocationSuccess {
  const all = new Map(outcomes);
  for (const [k, o] of Object.entries(refusedOutcomes(read))) all.set(k, o);
  const services: Record<string, ServiceOutcome> = {};
  for (const k of [...all.keys()].sort(cmp)) services[k] = all.get(k) as ServiceOutcome;
  return {
    ok: true,
    services,
    pools: poolUsage(ctx, ledger),
    changes: changesOf(services, previous, reasons),
    refused: sortProblems(read.found.all()),
    warnings: warningsOf(ctx),
  };
}

/** Pools and exclusions compiled, reused from the memo while they are the same. */
export function compiledConfig(input: AllocationInput, memo: AllocationMemo | undefined): CompiledConfig {
  const compile = (): CompiledConfig => {
    const problems: ConfigProblem[] = [];
    const ex = compileExclusions(input.nodeSubnets ?? [], input.nodeAddresses ?? [], problems);
    return { ctx: poolContext(compilePools(input.pools ?? [], ex, problems), ex, input.namespaceLabels ?? {}), problems };
  };
  const key = memo === undefined ? undefined : configKey(input);
  return key === undefined ? compile() : (memo as AllocationMemo).compiled(key, compile);
}

export function configKey(input: AllocationInput): string | undefined {
  try {
    return JSON.stringify([input.pools ?? [], input.nodeSubnets ?? [], input.nodeAddresses ?? [], input.namespaceLabels ?? {}]);
  } catch {
    return undefined; // not JSON (a cycle): compiled afresh, and its problems reported as usual
  }
}
