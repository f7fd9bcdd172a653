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
 *    becomes dual-stack keeps its IPv4 address).
 *
 * Why first-fit rather than hash placement: it gives the addresses people expect from MetalLB and
 * OpenELB (the first Service gets the first address), packs pools densely, and with the sticky
 * phase it already has the property hash placement is usually chosen for — adding or removing a
 * Service never moves another one. Its cost is O(services × log + exclusions): a per-pool,
 * per-family cursor only moves forward, so no pool is ever enumerated.
 */
import { familyName, formatAddress, tryParseAddress } from "../ip/index.ts";
import type { Address, Family } from "../ip/index.ts";
import { admitRefusal, compileExclusions, compilePools, exclusionReason, FirstFit } from "./pools.ts";
import type { CompiledPool } from "./pools.ts";
import { describeBackend, ipSetKey } from "./requests.ts";
import type { AllocationInput, Assignment, Change, ConfigProblem, PlanResult, PoolUsage, ServiceOutcome } from "./types.ts";
import { cmp, describePools, isGroup, memberRefusedBy, poolContext, readServices, readUnits, ServiceProblems } from "./units.ts";
import type { PoolContext, RefusalCause, Unit } from "./units.ts";

interface Holding {
  pool: string;
  units: Unit[];
}

function describeUnit(u: Unit): string {
  return u.object;
}

/** Why `unit` may not join the holders of an address, or `undefined` when it may (MetalLB's sharing rules). */
function sharingRefusal(unit: Unit, holding: Holding | undefined): string | undefined {
  if (holding === undefined) return undefined;
  for (const h of holding.units) {
    if (h === unit) continue;
    const who = describeUnit(h);
    if (isGroup(h) || isGroup(unit)) {
      return `it is used by ${who}${isGroup(h) ? ", and a shared-IP group's address is reserved for its members" : ""}`;
    }
    if (unit.sharingKey === undefined) return `it is used by ${who}, and this Service has no sharing key`;
    if (h.sharingKey === undefined) return `it is used by ${who}, which has no sharing key`;
    if (h.sharingKey !== unit.sharingKey) return `it is used by ${who} with sharing key "${h.sharingKey}", not "${unit.sharingKey}"`;
    if (h.backendKey !== unit.backendKey) {
      return `it is used by ${who} with ${describeBackend(h.backendKey)}, but this Service has ${describeBackend(unit.backendKey)}`;
    }
    const theirs = new Set(h.ports);
    const clash = unit.ports.filter((p) => theirs.has(p));
    if (clash.length > 0) return `it is used by ${who}, which also uses ${clash.join(", ")}`;
  }
  return undefined;
}

function fixForRefusal(): string {
  return "give the Services the same sharing key (metallb.io/allow-shared-ip or l2lb.dev/sharing-key) with compatible traffic policies and distinct ports, or request another address";
}

export function planAllocation(input: AllocationInput): PlanResult {
  const configProblems: ConfigProblem[] = [];
  const ex = compileExclusions(input.nodeSubnets ?? [], input.nodeAddresses ?? [], configProblems);
  const ctx = poolContext(compilePools(input.pools ?? [], ex, configProblems), ex, input.namespaceLabels ?? {});
  const isolate = input.isolateServiceProblems === true && configProblems.length === 0;
  const read = readRefusingBadServices(input, ctx, isolate);
  if (!isolate && (configProblems.length > 0 || !read.found.isEmpty())) {
    return { ok: false, problems: sortProblems([...configProblems, ...read.found.all()]) };
  }
  const previous = input.previous ?? {};
  const allocation = allocate(read.units, ctx, previous);
  const { outcomes, reasons } = outcomesOf(read.units, allocation, previous);
  Object.assign(outcomes, refusedOutcomes(read));
  const services: Record<string, ServiceOutcome> = {};
  for (const k of Object.keys(outcomes).sort(cmp)) services[k] = outcomes[k] as ServiceOutcome;
  return {
    ok: true,
    services,
    pools: poolUsage(ctx, allocation),
    changes: changesOf(services, previous, reasons),
    refused: sortProblems(read.found.all()),
  };
}

/** The units to place, and the Services refused on the way. */
interface UnitsAndRefusals {
  units: Unit[];
  /** Every problem of a Service or group. */
  found: ServiceProblems;
  /** Refused Service keys (only under isolation; without it any problem fails the plan). */
  refused: Map<string, RefusalCause>;
}

/**
 * Reads the Services and groups into units. Under isolation this runs in rounds: the Services and
 * groups with problems are refused (a group with the Services it claimed) and what is left is
 * read again, until a round finds no problem — so the units placed are exactly those of an input
 * without the refused Services and groups. Every round refuses at least one more Service or
 * group, so it ends; as the rules stand, the second round finds nothing new.
 */
function readRefusingBadServices(input: AllocationInput, ctx: PoolContext, isolate: boolean): UnitsAndRefusals {
  const found = new ServiceProblems();
  const services = readServices(input.services ?? [], found);
  const refused = new Map<string, RefusalCause>();
  for (const key of found.services.keys()) refused.set(key, undefined);
  const skippedGroups = new Set<string>();
  for (;;) {
    const round = new ServiceProblems();
    const remaining = new Map([...services].filter(([key]) => !refused.has(key)));
    const { units, members } = readUnits(remaining, input.sharedIpGroups ?? [], refused, skippedGroups, ctx, round);
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
function refusedOutcomes(read: UnitsAndRefusals): Record<string, ServiceOutcome> {
  const out: Record<string, ServiceOutcome> = {};
  const sentences = (list: readonly ConfigProblem[] | undefined): string => sortProblems(list ?? []).map((p) => p.message).join(" ");
  for (const [key, group] of read.refused) {
    out[key] = {
      error: group === undefined ? sentences(read.found.services.get(key)) : `Service "${key}" is in ${group}, which is invalid: ${sentences(read.found.groups.get(group))}`,
    };
  }
  return out;
}

/** What the three phases decided for every unit. */
interface Allocation {
  placed: Map<Unit, { pool: string; ips: Address[] }>;
  /** Why a unit's previous assignment was not kept (or partly released). */
  reasons: Map<Unit, string>;
  errors: Map<Unit, string>;
  holdings: Map<Family, Map<bigint, Holding>>;
}

/** The three phases: sticky previous assignments, requested addresses, first-fit. */
function allocate(units: readonly Unit[], ctx: PoolContext, previous: Record<string, Assignment>): Allocation {
  const holdings = new Map<Family, Map<bigint, Holding>>([
    [4, new Map()],
    [6, new Map()],
  ]);
  /** sharing key → pool → family → addresses held under that key. */
  const byKey = new Map<string, Map<string, Map<Family, bigint[]>>>();
  const fitters = new Map<string, FirstFit>();
  const fitter = (pool: CompiledPool, f: Family): FirstFit => {
    const k = `${pool.name}\u0000${f}`;
    let ff = fitters.get(k);
    if (ff === undefined) {
      const held = holdings.get(f) as Map<bigint, Holding>;
      ff = new FirstFit(pool, f, ctx.ex, (v) => held.has(v));
      fitters.set(k, ff);
    }
    return ff;
  };
  const placed = new Map<Unit, { pool: string; ips: Address[] }>();
  const reasons = new Map<Unit, string>();
  const errors = new Map<Unit, string>();

  const place = (u: Unit, pool: string, ips: Address[]): void => {
    for (const a of ips) {
      const held = holdings.get(a.family) as Map<bigint, Holding>;
      let h = held.get(a.value);
      if (h === undefined) {
        h = { pool, units: [] };
        held.set(a.value, h);
        if (u.sharingKey !== undefined) {
          let p = byKey.get(u.sharingKey);
          if (p === undefined) byKey.set(u.sharingKey, (p = new Map()));
          let f = p.get(pool);
          if (f === undefined) p.set(pool, (f = new Map()));
          let list = f.get(a.family);
          if (list === undefined) f.set(a.family, (list = []));
          list.push(a.value);
        }
      }
      h.units.push(u);
    }
    placed.set(u, { pool, ips });
  };

  // Phase 1: sticky previous assignments.
  for (const u of units) {
    const own = u.members
      .map((m) => previous[m.key])
      .filter((p): p is Assignment => p !== undefined && p !== null && typeof p === "object" && Array.isArray(p.ips));
    if (own.length === 0) continue;
    // A group first tries the union of its members' previous addresses (one per family, the first
    // member's winning), so a dual-stack member keeps both even when a single-stack one sorts first.
    const candidates: Assignment[] = own.length > 1 ? [mergePrevious(own), ...own] : own;
    let lastReason: string | undefined;
    for (const prev of candidates) {
      const checked = checkPrevious(u, prev);
      if (typeof checked === "string") {
        lastReason ??= checked;
        continue;
      }
      const refusal = checked.ips.map((a) => sharingRefusal(u, holdings.get(a.family)!.get(a.value))).find((r) => r !== undefined);
      if (refusal !== undefined) {
        lastReason ??= `${checked.ips.map(formatAddress).join(", ")} can no longer be shared: ${refusal} (the Service that sorts first keeps the address)`;
        continue;
      }
      place(u, checked.pool, checked.ips);
      if (checked.note !== undefined) reasons.set(u, checked.note);
      break;
    }
    if (!placed.has(u) && lastReason !== undefined) reasons.set(u, lastReason);
  }

  // Phase 2: explicitly requested addresses.
  for (const u of units) {
    if (placed.has(u) || u.requestedIps === undefined) continue;
    const range = ctx.index.find(u.requestedIps[0]!.family, u.requestedIps[0]!.value)!;
    const pool = ctx.byName.get(range.pool) as CompiledPool;
    const refusal = u.requestedIps
      .map((a) => {
        const r = sharingRefusal(u, holdings.get(a.family)!.get(a.value));
        return r === undefined ? undefined : `${formatAddress(a)} is taken: ${r}`;
      })
      .find((r) => r !== undefined);
    if (refusal !== undefined) {
      errors.set(u, `${u.object} cannot get its requested address: ${refusal}; ${fixForRefusal()}.`);
      continue;
    }
    place(u, pool.name, u.requestedIps);
  }

  // Phase 3: automatic assignment, first-fit over pools in a total order.
  const autoOrder = ctx.pools
    .filter((p) => p.autoAssign)
    .sort((a, b) => {
      if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
      if (a.pinned) {
        const pa = a.priority === 0 ? Number.POSITIVE_INFINITY : a.priority;
        const pb = b.priority === 0 ? Number.POSITIVE_INFINITY : b.priority;
        if (pa !== pb) return pa - pb;
      }
      return cmp(a.name, b.name);
    });
  for (const u of units) {
    if (placed.has(u) || errors.has(u)) continue;
    let candidates: CompiledPool[];
    if (u.requestedPool !== undefined) {
      const pool = ctx.byName.get(u.requestedPool) as CompiledPool;
      candidates = [pool];
    } else {
      candidates = autoOrder.filter((p) => memberRefusedBy(p, u, ctx) === undefined);
    }
    if (candidates.length === 0) {
      errors.set(
        u,
        `${u.object} got no address: no auto-assigning pool serves it (${describePools(ctx)}); add a pool whose serviceAllocation admits it, or request a pool or an address.`,
      );
      continue;
    }
    let done = false;
    const shortages: { pool: CompiledPool; lacking: Family[] }[] = [];
    for (const pool of candidates) {
      const fams = u.wanted.filter((f) => pool.families.has(f));
      const picks: Address[] = [];
      for (const f of fams) {
        const v = pickAddress(u, pool, f);
        if (v !== undefined) picks.push({ family: f, value: v });
      }
      const missing = u.required.filter((f) => !picks.some((a) => a.family === f));
      if (missing.length === 0 && picks.length > 0) {
        place(u, pool.name, picks);
        done = true;
        break;
      }
      // Messages are built only if every pool fails: exhausted pools are common and cheap to skip.
      shortages.push({ pool, lacking: missing.length > 0 ? missing : u.wanted });
    }
    if (!done) {
      const text = shortages
        .map(({ pool, lacking }) => `pool "${pool.name}" has ${lacking.map((f) => (pool.families.has(f) ? `no free ${familyName(f)} address` : `no ${familyName(f)} range`)).join(" and ")}`)
        .join("; ");
      errors.set(u, `${u.object} got no address: ${text}; add addresses to a pool, free some, or request another pool.`);
    }
  }

  function pickAddress(u: Unit, pool: CompiledPool, f: Family): bigint | undefined {
    const held = holdings.get(f) as Map<bigint, Holding>;
    for (const v of u.hints.get(f) ?? []) {
      const range = ctx.index.find(f, v);
      if (range === undefined || range.pool !== pool.name) continue;
      if (exclusionReason(pool, range, v, ctx.ex) !== undefined) continue;
      if (sharingRefusal(u, held.get(v)) === undefined) return v;
    }
    let best = fitter(pool, f).peek();
    if (u.sharingKey !== undefined) {
      for (const v of byKey.get(u.sharingKey)?.get(pool.name)?.get(f) ?? []) {
        if ((best === undefined || v < best) && sharingRefusal(u, held.get(v)) === undefined) best = v;
      }
    }
    return best;
  }

  /** Validates a previous assignment for a unit: the addresses to keep, or why none can be kept. */
  function checkPrevious(u: Unit, prev: Assignment): { pool: string; ips: Address[]; note?: string } | string {
    const ips: Address[] = [];
    if (!Array.isArray(prev.ips) || prev.ips.length === 0) return "the previous assignment lists no address";
    let poolName: string | undefined;
    for (const text of prev.ips) {
      const a = tryParseAddress(String(text).trim());
      if (a === undefined) return `the previous address "${String(text)}" is not an address`;
      const range = ctx.index.find(a.family, a.value);
      if (range === undefined) return `${formatAddress(a)} is no longer in any pool`;
      const pool = ctx.byName.get(range.pool) as CompiledPool;
      const why = exclusionReason(pool, range, a.value, ctx.ex);
      if (why !== undefined) return `${formatAddress(a)} can no longer be used: ${why}`;
      const refused = memberRefusedBy(pool, u, ctx);
      if (refused !== undefined) return `pool "${pool.name}" no longer serves it: ${admitRefusal(pool, refused.svc, ctx.nsLabels)}`;
      if (poolName !== undefined && poolName !== pool.name) return `its previous addresses now lie in two pools ("${poolName}" and "${pool.name}")`;
      poolName = pool.name;
      if (!ips.some((x) => x.family === a.family)) ips.push(a);
      // Individually valid: a hint for the auto phase.
      const list = u.hints.get(a.family) ?? [];
      if (!list.includes(a.value)) list.push(a.value);
      u.hints.set(a.family, list);
    }
    const pool = ctx.byName.get(poolName!) as CompiledPool;
    if (u.requestedIps !== undefined && ipSetKey(u.requestedIps) !== ipSetKey(ips)) {
      return `it now requests ${u.requestedIps.map(formatAddress).join(", ")}`;
    }
    if (u.requestedPool !== undefined && u.requestedPool !== pool.name) return `it now requests pool "${u.requestedPool}"`;
    if (u.requestedIps === undefined && u.requestedPool === undefined && !pool.autoAssign) {
      return `pool "${pool.name}" does not auto-assign and the Service no longer requests it`;
    }
    const kept = ips.filter((a) => u.wanted.includes(a.family));
    const dropped = ips.filter((a) => !u.wanted.includes(a.family));
    const missing = u.required.filter((f) => !kept.some((a) => a.family === f));
    if (missing.length > 0) return `it now requires an ${missing.map(familyName).join(" and an ")} address too`;
    if (kept.length === 0) return `it no longer takes ${ips.map((a) => familyName(a.family)).join(" or ")} addresses`;
    kept.sort((a, b) => u.wanted.indexOf(a.family) - u.wanted.indexOf(b.family));
    const out: { pool: string; ips: Address[]; note?: string } = { pool: pool.name, ips: kept };
    if (dropped.length > 0) out.note = `${dropped.map(formatAddress).join(", ")} released: it no longer takes ${dropped.map((a) => familyName(a.family)).join(" or ")} addresses`;
    return out;
  }

  return { placed, reasons, errors, holdings };
}

/** Each member's outcome, and why its addresses changed (by Service key). */
function outcomesOf(units: readonly Unit[], allocation: Allocation, previous: Record<string, Assignment>): { outcomes: Record<string, ServiceOutcome>; reasons: Map<string, string> } {
  const { placed, errors } = allocation;
  const outcomes: Record<string, ServiceOutcome> = {};
  const serviceReason = new Map<string, string>();
  for (const u of units) {
    const got = placed.get(u);
    const reason = allocation.reasons.get(u);
    for (const m of u.members) {
      if (reason !== undefined) serviceReason.set(m.key, reason);
      if (got === undefined) {
        const error = errors.get(u) ?? `${u.object} got no address.`;
        // A group member's error names the member first, then the group's reason.
        outcomes[m.key] = { error: u.members.length > 1 || isGroup(u) ? `${m.object} is in ${u.object}, which has no address: ${error}` : error };
        continue;
      }
      const mine = got.ips.filter((a) => m.wanted.includes(a.family)).sort((a, b) => m.wanted.indexOf(a.family) - m.wanted.indexOf(b.family));
      const missing = m.required.filter((f) => !mine.some((a) => a.family === f));
      if (mine.length === 0 || missing.length > 0) {
        outcomes[m.key] = {
          error: `${m.object} got no address: its ${u.object} received ${got.ips.map(formatAddress).join(", ")} from pool "${got.pool}", which has no ${(missing.length > 0 ? missing : m.wanted).map(familyName).join(" or ")} address for it; make the group's pool dual-stack or change the Service's ipFamilies.`,
        };
        continue;
      }
      outcomes[m.key] = { ips: mine.map(formatAddress), pool: got.pool };
      const prev = previous[m.key];
      if (reason === undefined && isGroup(u) && prev && Array.isArray(prev.ips) && !sameSet(prev.ips.map(String), mine.map(formatAddress))) {
        serviceReason.set(m.key, `it joined ${u.object}, which uses ${got.ips.map(formatAddress).join(", ")}`);
      }
    }
  }
  return { outcomes, reasons: serviceReason };
}

function poolUsage(ctx: PoolContext, allocation: Allocation): Record<string, PoolUsage> {
  const used = new Map<string, number>();
  for (const held of allocation.holdings.values()) for (const h of held.values()) used.set(h.pool, (used.get(h.pool) ?? 0) + 1);
  const usage: Record<string, PoolUsage> = {};
  for (const p of ctx.pools) usage[p.name] = { size: p.size, used: used.get(p.name) ?? 0 };
  return usage;
}

/** One change per Service in the plan or in `previous`, sorted by key. */
function changesOf(services: Record<string, ServiceOutcome>, previous: Record<string, Assignment>, reasons: ReadonlyMap<string, string>): Change[] {
  const changes: Change[] = [];
  const keys = new Set([...Object.keys(services), ...Object.keys(previous)]);
  for (const key of [...keys].sort(cmp)) {
    const now = services[key];
    const prev = previous[key];
    const from = prev && Array.isArray(prev.ips) ? prev.ips.map(String) : undefined;
    if (now === undefined) {
      changes.push({ service: key, kind: "released", ...(from ? { from } : {}), reason: "the Service no longer exists" });
      continue;
    }
    if ("error" in now) {
      if (from && from.length > 0) changes.push({ service: key, kind: "released", from, reason: reasons.get(key) ?? now.error });
      else changes.push({ service: key, kind: "new", reason: now.error });
      continue;
    }
    if (!from || from.length === 0) {
      changes.push({ service: key, kind: "new", to: now.ips });
      continue;
    }
    if (sameSet(from, now.ips)) changes.push({ service: key, kind: "unchanged", from, to: now.ips });
    else changes.push({ service: key, kind: "moved", from, to: now.ips, reason: reasons.get(key) ?? "its previous assignment could not be kept" });
  }
  return changes;
}

function sortProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const sorted = [...problems].sort((a, b) => cmp(a.object, b.object) || cmp(a.field, b.field) || cmp(a.message, b.message));
  return dedupe(sorted);
}

/** One address per family from several previous assignments, the first one's winning. */
function mergePrevious(list: readonly Assignment[]): Assignment {
  const ips: string[] = [];
  const families = new Set<number>();
  for (const p of list) {
    for (const text of p.ips) {
      const a = tryParseAddress(String(text).trim());
      if (a === undefined || families.has(a.family)) continue;
      families.add(a.family);
      ips.push(String(text));
    }
  }
  return { ips, pool: list[0]?.pool ?? "" };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === b.length && a.every((x, i) => x === b[i])) return true; // the common case: canonical text, same order
  const norm = (l: readonly string[]): string =>
    l
      .map((t) => {
        const p = tryParseAddress(String(t).trim());
        return p ? formatAddress(p) : t;
      })
      .sort()
      .join(",");
  return norm(a) === norm(b);
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.object}\u0000${p.field}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
