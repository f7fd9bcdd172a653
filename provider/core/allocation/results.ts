/**
 * The results of an allocation, from what the placement decided: each Service's outcome, the
 * usage of each pool, the changes relative to the previous assignments, and the warnings.
 */
import { familyName, formatAddress, tryParseAddress } from "../ip/index.ts";
import type { Ledger } from "./ledger.ts";
import type { AllocationMemo } from "./memo.ts";
import type { Decisions, Placement } from "./placement.ts";
import type { ParsedService } from "./requests.ts";
import type { Assignment, Change, ConfigProblem, PoolUsage, ServiceOutcome } from "./types.ts";
import { cmp, isGroup } from "./units.ts";
import type { PoolContext, Unit } from "./units.ts";

/** Each member's outcome, and why its addresses changed (by Service key). */
export function outcomesOf(
  units: readonly Unit[],
  decisions: Decisions,
  previous: Readonly<Record<string, Assignment>>,
  memo?: AllocationMemo,
): { outcomes: Record<string, ServiceOutcome>; reasons: Map<string, string> } {
  const outcomes: Record<string, ServiceOutcome> = {};
  const reasons = new Map<string, string>();
  for (const u of units) {
    const got = decisions.placed.get(u);
    const reason = decisions.reasons.get(u);
    for (const m of u.members) {
      if (reason !== undefined) reasons.set(m.key, reason);
      const compute = (): ServiceOutcome => memberOutcome(u, m, got, decisions.errors.get(u));
      const outcome = memo !== undefined && got !== undefined && u.members.length === 1 && !isGroup(u) ? memo.outcome(got.ips, compute) : compute();
      outcomes[m.key] = outcome;
      const joined = got !== undefined && "ips" in outcome ? joinReason(u, got, outcome.ips, previous[m.key]) : undefined;
      if (reason === undefined && joined !== undefined) reasons.set(m.key, joined);
    }
  }
  return { outcomes, reasons };
}

/** A member's addresses (those of its families from its unit's), or why it has none. */
function memberOutcome(u: Unit, m: ParsedService, got: Placement | undefined, unitError: string | undefined): ServiceOutcome {
  if (got === undefined) {
    const error = unitError ?? `${u.object} got no address.`;
    // A group member's error names the member first, then the group's reason.
    return { error: u.members.length > 1 || isGroup(u) ? `${m.object} is in ${u.object}, which has no address: ${error}` : error };
  }
  const mine = got.ips.filter((a) => m.wanted.includes(a.family)).sort((a, b) => m.wanted.indexOf(a.family) - m.wanted.indexOf(b.family));
  const missing = m.required.filter((f) => !mine.some((a) => a.family === f));
  if (mine.length === 0 || missing.length > 0) {
    return {
      error: `${m.object} got no address: its ${u.object} received ${got.ips.map(formatAddress).join(", ")} from pool "${got.pool}", which has no ${(missing.length > 0 ? missing : m.wanted).map(familyName).join(" or ")} address for it; make the group's pool dual-stack or change the Service's ipFamilies.`,
    };
  }
  return { ips: mine.map(formatAddress), pool: got.pool };
}

/** Why a group member's addresses changed although its group kept its own: it joined the group. */
function joinReason(u: Unit, got: Placement, mine: readonly string[], prev: Assignment | undefined): string | undefined {
  if (!isGroup(u) || !prev || !Array.isArray(prev.ips) || sameSet(prev.ips.map(String), mine)) return undefined;
  return `it joined ${u.object}, which uses ${got.ips.map(formatAddress).join(", ")}`;
}

/** Size and distinct addresses in use of every pool, by name. */
export function poolUsage(ctx: PoolContext, ledger: Ledger): Record<string, PoolUsage> {
  const used = ledger.usedByPool();
  const usage: Record<string, PoolUsage> = {};
  for (const p of ctx.pools) usage[p.name] = { size: p.size, used: used.get(p.name) ?? 0 };
  return usage;
}

/** One change per Service in the allocation or in `previous`, sorted by key. */
export function changesOf(services: Readonly<Record<string, ServiceOutcome>>, previous: Readonly<Record<string, Assignment>>, reasons: ReadonlyMap<string, string>): Change[] {
  const keys = new Set([...Object.keys(services), ...Object.keys(previous)]);
  return [...keys].sort(cmp).map((key) => changeOf(key, services[key], previous[key], reasons.get(key)));
}

function changeOf(service: string, now: ServiceOutcome | undefined, prev: Assignment | undefined, reason: string | undefined): Change {
  const from = prev && Array.isArray(prev.ips) ? prev.ips.map(String) : undefined;
  if (now === undefined) return { service, kind: "released", ...(from ? { from } : {}), reason: "the Service no longer exists" };
  if ("error" in now) {
    if (from && from.length > 0) return { service, kind: "released", from, reason: reason ?? now.error };
    return { service, kind: "new", reason: now.error };
  }
  if (!from || from.length === 0) return { service, kind: "new", to: now.ips };
  if (sameSet(from, now.ips)) return { service, kind: "unchanged", from, to: now.ips };
  return { service, kind: "moved", from, to: now.ips, reason: reason ?? "its previous assignment could not be kept" };
}

/**
 * A node's own address inside a pool is never handed out, and the pool still lists it: valid,
 * but probably not meant (the pool is one address smaller than it looks). By pool, then address;
 * the range is named by its text, not its position, so the order of the input does not matter.
 */
export function warningsOf(ctx: PoolContext): string[] {
  const found: { pool: string; text: string }[] = [];
  for (const a of ctx.ex.nodeAddresses) {
    const range = ctx.index.find(a.family, a.value);
    if (range === undefined) continue;
    found.push({
      pool: range.pool,
      text:
        `AddressPool "${range.pool}" lists ${formatAddress(a)} (in its range ${range.text}), a node's own address, ` +
        `which is never handed out; remove it from the pool (split the range around it) so the pool lists only addresses Services may get.`,
    });
  }
  return found.sort((x, y) => cmp(x.pool, y.pool)).map((w) => w.text);
}

/** Sorted by object, field and message, each once. */
export function sortProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const sorted = [...problems].sort((a, b) => cmp(a.object, b.object) || cmp(a.field, b.field) || cmp(a.message, b.message));
  const seen = new Set<string>();
  return sorted.filter((p) => {
    const k = `${p.object}\u0000${p.field}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The same addresses, in any order and spelling. */
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
