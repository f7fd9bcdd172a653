/**
 * Which pools an allocator that runs inside the cluster may use. There, one bad pool must not
 * stop the others: it is set aside, with its problems, and the rest keep serving.
 */
import type { Family } from "../ip/index.ts";
import type { AddressPool } from "../model/pool.ts";
import { compileExclusions, compilePools, overlapProblem } from "./pools.ts";
import type { CompiledPool, Exclusions, PoolRange } from "./pools.ts";
import type { ConfigProblem, UsablePools } from "./types.ts";

/**
 * Sets bad pools aside. Pure: the same arguments always give the same answer.
 *
 * The rule: pools are admitted one at a time, in the order given — the caller orders them oldest
 * first (by `creationTimestamp`, then name). A pool is set aside, with its problems, when
 * - it is invalid on its own: no or an invalid name, a bad range or CIDR, host bits in a CIDR, a
 *   range that mixes families or starts after it ends, two of its own ranges overlapping, a bad
 *   `serviceAllocation`, or — when `nodeSubnets` are known — a range outside every node subnet;
 * - it has the name of an earlier pool (the older one keeps the name);
 * - one of its ranges overlaps a range of a pool admitted earlier (the problem names that pool).
 *
 * A pool admitted earlier is therefore never affected by a later one, and the admitted pools
 * together are a valid configuration for `planAllocation` with the same node subnets and
 * addresses. Malformed `nodeSubnets` and `nodeAddresses` entries are ignored here (they set no
 * pool aside); `planAllocation` reports them.
 *
 * Cost: each pool is compiled once, and each of its ranges is looked up among the admitted ones
 * by binary search — O(ranges × log ranges) in all.
 */
export function usablePools(pools: readonly AddressPool[], nodeSubnets?: readonly string[], nodeAddresses?: readonly string[]): UsablePools {
  const ex = compileExclusions(nodeSubnets ?? [], nodeAddresses ?? [], []);
  const admitted = new AdmittedRanges();
  const names = new Set<string>();
  const out: UsablePools = { usable: [], setAside: [] };
  pools.forEach((pool, i) => {
    const name = typeof pool?.name === "string" ? pool.name : "";
    const { compiled, problems } = compileAlone(pool, name, i, ex, names);
    if (name) names.add(name);
    if (compiled !== undefined && problems.length === 0) problems.push(...admitted.overlaps(compiled));
    if (compiled === undefined || problems.length > 0) {
      out.setAside.push({ pool: name || `#${i + 1}`, problems });
      return;
    }
    admitted.add(compiled);
    out.usable.push(pool);
  });
  return out;
}

/** The pool compiled on its own, and its own problems (a name already taken is one of them). */
function compileAlone(pool: AddressPool, name: string, i: number, ex: Exclusions, earlierNames: ReadonlySet<string>): { compiled?: CompiledPool; problems: ConfigProblem[] } {
  if (!name) {
    const object = `AddressPool #${i + 1}`;
    return { problems: [{ object, field: "metadata.name", message: `${object} has no name; give it a metadata.name.` }] };
  }
  const problems: ConfigProblem[] = [];
  const compiled = compilePools([pool], ex, problems)[0];
  if (earlierNames.has(name)) {
    problems.push({
      object: `AddressPool "${name}"`,
      field: "metadata.name",
      message: `AddressPool "${name}" has the name of an older pool; rename it (or remove one of the two).`,
    });
  }
  return compiled === undefined ? { problems } : { compiled, problems };
}

/** The ranges of the pools admitted so far, per family, sorted; they never overlap each other. */
class AdmittedRanges {
  private readonly byFamily = new Map<Family, PoolRange[]>([
    [4, []],
    [6, []],
  ]);

  /** One problem per range of `pool` that overlaps an admitted range. */
  overlaps(pool: CompiledPool): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    for (const r of pool.ranges) {
      const list = this.list(r.family);
      const other = list[firstEndingAtOrAfter(list, r.first)];
      if (other !== undefined && other.first <= r.last) problems.push(overlapProblem(r, other));
    }
    return problems;
  }

  add(pool: CompiledPool): void {
    for (const r of pool.ranges) {
      const list = this.list(r.family);
      list.splice(firstEndingAtOrAfter(list, r.first), 0, r);
    }
  }

  private list(family: Family): PoolRange[] {
    return this.byFamily.get(family) as PoolRange[];
  }
}

/** Index of the first range whose last address is ≥ `value` (ranges sorted and disjoint). */
function firstEndingAtOrAfter(list: readonly PoolRange[], value: bigint): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as PoolRange).last < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
