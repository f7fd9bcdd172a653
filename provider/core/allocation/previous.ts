/**
 * Previous assignments: which of them a unit may keep (the sticky phase), why the others cannot
 * be kept, and the addresses that are individually still valid — the *hints* the first-fit phase
 * tries before any other address. Nothing here modifies the previous assignments.
 */
import { familyName, formatAddress, tryParseAddress } from "../ip/index.ts";
import type { Address, Family } from "../ip/index.ts";
import { exactSize } from "../model/exact-size.ts";
import { admitRefusal, exclusionReason } from "./pools.ts";
import type { CompiledPool } from "./pools.ts";
import { ipSetKey } from "./requests.ts";
import type { Assignment } from "./types.ts";
import { memberRefusedBy } from "./units.ts";
import type { PoolContext, Unit } from "./units.ts";

/** Previous addresses that are individually still valid, by family, in the order first seen. */
export type Hints = ReadonlyMap<Family, readonly bigint[]>;

/** A previous assignment that may be kept: the addresses, their pool, and what was released. */
export interface Kept {
  pool: string;
  ips: Address[];
  /** Why part of it was released (a family the Service no longer takes). */
  note?: string;
}

/** The previous assignments a unit may try to keep, best first. */
export function previousCandidates(u: Unit, previous: Readonly<Record<string, Assignment>>): Assignment[] {
  const own = u.members
    .map((m) => previous[m.key])
    .filter((p): p is Assignment => p !== undefined && p !== null && typeof p === "object" && Array.isArray(p.ips));
  // A group first tries the union of its members' previous addresses (one per family, the first
  // member's winning), so a dual-stack member keeps both even when a single-stack one sorts first.
  return own.length > 1 ? [mergePrevious(own), ...own] : own;
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

/** A previous assignment read address by address, up to the first that cannot be kept. */
export interface PreviousRead {
  /** Every address before `stop` that is individually valid, in order (the hints). */
  valid: Address[];
  /** The pool they lie in. */
  pool?: CompiledPool;
  /** Why the assignment as a whole cannot be kept, when an address makes that plain. */
  stop?: string;
}

/** Reads a previous assignment for a unit, stopping at the first address that cannot be kept. */
export function readPrevious(u: Unit, prev: Assignment, ctx: PoolContext): PreviousRead {
  if (!Array.isArray(prev.ips) || prev.ips.length === 0) return { valid: [], stop: "the previous assignment lists no address" };
  const valid: Address[] = [];
  let pool: CompiledPool | undefined;
  for (const text of prev.ips) {
    const a = tryParseAddress(String(text).trim());
    if (a === undefined) return { valid, stop: `the previous address "${String(text)}" is not an address` };
    const range = ctx.index.find(a.family, a.value);
    if (range === undefined) return { valid, stop: `${formatAddress(a)} is no longer in any pool` };
    const here = ctx.byName.get(range.pool) as CompiledPool;
    const why = exclusionReason(here, range, a.value, ctx.ex);
    if (why !== undefined) return { valid, stop: `${formatAddress(a)} can no longer be used: ${why}` };
    const refused = memberRefusedBy(here, u, ctx);
    if (refused !== undefined) return { valid, stop: `pool "${here.name}" no longer serves it: ${admitRefusal(here, refused.svc, ctx.nsLabels)}` };
    if (pool !== undefined && pool !== here) return { valid, stop: `its previous addresses now lie in two pools ("${pool.name}" and "${here.name}")` };
    pool = here;
    valid.push(a);
  }
  return { valid: exactSize(valid), pool: pool as CompiledPool };
}

/** What of a previous assignment the unit may keep, or why it may keep none of it. */
export function keepable(u: Unit, read: PreviousRead): Kept | string {
  if (read.stop !== undefined) return read.stop;
  const pool = read.pool as CompiledPool;
  const ips = read.valid.filter((a, i) => read.valid.findIndex((b) => b.family === a.family) === i);
  const requestChange = changedRequest(u, pool, ips);
  if (requestChange !== undefined) return requestChange;
  const kept = ips.filter((a) => u.wanted.includes(a.family));
  const dropped = ips.filter((a) => !u.wanted.includes(a.family));
  const missing = u.required.filter((f) => !kept.some((a) => a.family === f));
  if (missing.length > 0) return `it now requires an ${missing.map(familyName).join(" and an ")} address too`;
  if (kept.length === 0) return `it no longer takes ${ips.map((a) => familyName(a.family)).join(" or ")} addresses`;
  kept.sort((a, b) => u.wanted.indexOf(a.family) - u.wanted.indexOf(b.family));
  const out: Kept = { pool: pool.name, ips: kept };
  if (dropped.length > 0) out.note = `${dropped.map(formatAddress).join(", ")} released: it no longer takes ${dropped.map((a) => familyName(a.family)).join(" or ")} addresses`;
  return out;
}

/** Why the unit's requests no longer match its previous addresses, or `undefined`. */
function changedRequest(u: Unit, pool: CompiledPool, ips: readonly Address[]): string | undefined {
  if (u.requestedIps !== undefined && ipSetKey(u.requestedIps) !== ipSetKey(ips)) {
    return `it now requests ${u.requestedIps.map(formatAddress).join(", ")}`;
  }
  if (u.requestedPool !== undefined && u.requestedPool !== pool.name) return `it now requests pool "${u.requestedPool}"`;
  if (u.requestedIps === undefined && u.requestedPool === undefined && !pool.autoAssign) {
    return `pool "${pool.name}" does not auto-assign and the Service no longer requests it`;
  }
  return undefined;
}

/** The hints of a unit: the individually valid addresses of its previous assignments, each once, in order. */
export function hintsOf(reads: readonly PreviousRead[]): Hints {
  const hints = new Map<Family, bigint[]>();
  for (const a of reads.flatMap((r) => r.valid)) {
    const list = hints.get(a.family) ?? [];
    if (!list.includes(a.value)) list.push(a.value);
    hints.set(a.family, list);
  }
  return hints;
}
