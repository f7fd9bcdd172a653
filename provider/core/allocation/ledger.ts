/**
 * The ledger of holdings: which addresses are taken during one allocation, by which units, from
 * which pool, and under which sharing key — and MetalLB's rule for whether one more unit may join
 * the holders of an address. It belongs to one `planAllocation` call and only grows.
 */
import type { Address, Family } from "../ip/index.ts";
import { FirstFit } from "./pools.ts";
import type { CompiledPool, Exclusions } from "./pools.ts";
import { describeBackend } from "./requests.ts";
import { isGroup } from "./units.ts";
import type { Unit } from "./units.ts";

/** The units holding one address, and the pool it came from. */
export interface Holding {
  pool: string;
  units: Unit[];
}

export class Ledger {
  private readonly holdings = new Map<Family, Map<bigint, Holding>>([
    [4, new Map()],
    [6, new Map()],
  ]);
  /** Sharing key → pool → family → addresses first taken under that key. */
  private readonly byKey = new Map<string, Map<string, Map<Family, bigint[]>>>();
  /** First-fit cursors by pool and family. */
  private readonly fitters = new Map<string, FirstFit>();
  /** The phase each holder was placed in: holders of an address are kept in (phase, id) order, the order a plan places them in. */
  private readonly ranks = new Map<Unit, number>();
  private readonly ex: Exclusions;

  constructor(ex: Exclusions) {
    this.ex = ex;
  }

  /** Who holds the address, or `undefined` when it is free. */
  holding(family: Family, value: bigint): Holding | undefined {
    return this.held(family).get(value);
  }

  /** Records that `unit` holds `ips`, taken from `pool` in placement phase `rank`. */
  take(unit: Unit, pool: string, ips: readonly Address[], rank = 0): void {
    this.ranks.set(unit, rank);
    for (const a of ips) {
      const h = this.held(a.family).get(a.value);
      if (h === undefined) {
        this.held(a.family).set(a.value, { pool, units: [unit] });
        if (unit.sharingKey !== undefined) this.keyed(unit.sharingKey, pool, a.family).push(a.value);
        continue;
      }
      let at = h.units.length;
      while (at > 0 && this.placedAfter(h.units[at - 1] as Unit, unit)) at--;
      h.units.splice(at, 0, unit);
    }
  }

  /** Lets go of what `unit` held (a plan kept across changes: the unit changed or is gone). */
  release(unit: Unit, ips: readonly Address[]): void {
    for (const a of ips) {
      const h = this.held(a.family).get(a.value);
      if (h === undefined) continue;
      h.units = h.units.filter((u) => u !== unit);
      if (h.units.length > 0) continue;
      this.held(a.family).delete(a.value);
      // Holders of one address share one sharing key, so the last one's is the address's.
      if (unit.sharingKey !== undefined) {
        const list = this.keyed(unit.sharingKey, h.pool, a.family);
        list.splice(list.indexOf(a.value), 1);
      }
    }
    this.ranks.delete(unit);
    this.fitters.clear();
  }

  /** The phase `unit` was placed in, if it holds anything. */
  rankOf(unit: Unit): number | undefined {
    return this.ranks.get(unit);
  }

  /** Forgets the first-fit cursors: the next search starts at each pool's first address again. */
  resetCursors(): void {
    this.fitters.clear();
  }

  /** Whether a holder of one of `ips` placed after `unit` in a plan's order may not share with it. */
  conflictsWithLater(unit: Unit, ips: readonly Address[], rank: number): boolean {
    for (const a of ips) {
      for (const h of this.holding(a.family, a.value)?.units ?? []) {
        if (h !== unit && this.placedAfter(h, unit, rank) && pairRefusal(unit, h) !== undefined) return true;
      }
    }
    return false;
  }

  private placedAfter(a: Unit, b: Unit, bRank = this.ranks.get(b) ?? 0): boolean {
    const ra = this.ranks.get(a) ?? 0;
    return ra > bRank || (ra === bRank && a.id > b.id);
  }

  /** The lowest address of the family in the pool that is usable and nobody holds. */
  lowestFree(pool: CompiledPool, family: Family): bigint | undefined {
    const k = `${pool.name}\u0000${family}`;
    let ff = this.fitters.get(k);
    if (ff === undefined) {
      const held = this.held(family);
      ff = new FirstFit(pool, family, this.ex, (v) => held.has(v));
      this.fitters.set(k, ff);
    }
    return ff.peek();
  }

  /** Addresses of the family in the pool first taken by a unit with this sharing key. */
  takenUnderKey(sharingKey: string, pool: string, family: Family): readonly bigint[] {
    return this.byKey.get(sharingKey)?.get(pool)?.get(family) ?? [];
  }

  /** Distinct addresses held, by pool. */
  usedByPool(): Map<string, number> {
    const used = new Map<string, number>();
    for (const held of this.holdings.values()) for (const h of held.values()) used.set(h.pool, (used.get(h.pool) ?? 0) + 1);
    return used;
  }

  private held(family: Family): Map<bigint, Holding> {
    return this.holdings.get(family) as Map<bigint, Holding>;
  }

  private keyed(sharingKey: string, pool: string, family: Family): bigint[] {
    let pools = this.byKey.get(sharingKey);
    if (pools === undefined) this.byKey.set(sharingKey, (pools = new Map()));
    let families = pools.get(pool);
    if (families === undefined) pools.set(pool, (families = new Map()));
    let list = families.get(family);
    if (list === undefined) families.set(family, (list = []));
    return list;
  }
}

/** Why `unit` may not join the holders of an address, or `undefined` when it may (MetalLB's sharing rules). */
export function sharingRefusal(unit: Unit, holding: Holding | undefined): string | undefined {
  if (holding === undefined) return undefined;
  for (const h of holding.units) {
    if (h === unit) continue;
    const refusal = pairRefusal(unit, h);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/** Why `unit` may not share an address with the holder `h`. */
function pairRefusal(unit: Unit, h: Unit): string | undefined {
  const who = h.object;
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
  return undefined;
}

/** Why `unit` may not hold every one of `ips`, or `undefined` when it may. */
export function refusalForAll(ledger: Ledger, unit: Unit, ips: readonly Address[], describe: (a: Address, refusal: string) => string = (_a, r) => r): string | undefined {
  for (const a of ips) {
    const r = sharingRefusal(unit, ledger.holding(a.family, a.value));
    if (r !== undefined) return describe(a, r);
  }
  return undefined;
}

export const SHARING_FIX =
  "give the Services the same sharing key (metallb.io/allow-shared-ip or l2lb.dev/sharing-key) with compatible traffic policies and distinct ports, or request another address";
