// Which pools the in-cluster allocator may use. A pool that is invalid only together with others
// (it overlaps an older pool, lies outside every node subnet, or no advertisement announces it)
// is set aside with a reason; the others keep serving. Pure.
import { usablePools } from "../../provider/allocation/index.ts";
import type { AddressPool, L2Advertisement } from "../../provider/model/pool.ts";
import { advertisementSelectsPool } from "../election/plan.ts";

export type SetAsideReason = "Invalid" | "NotAdvertised";

export interface SetAsidePool {
  pool: string;
  reason: SetAsideReason;
  /** Full sentences naming the pool, what is wrong and the fix. */
  message: string;
}

export interface PoolSelection {
  usable: AddressPool[];
  setAside: SetAsidePool[];
}

/** `pools` oldest first: an older pool is never set aside because of a newer one. */
export function selectPools(pools: readonly AddressPool[], advertisements: readonly L2Advertisement[], nodeSubnets: string[] | undefined, nodeAddresses: string[]): PoolSelection {
  const setAside: SetAsidePool[] = [];
  const advertised: AddressPool[] = [];
  for (const pool of pools) {
    if (advertisements.some((a) => advertisementSelectsPool(a, pool))) advertised.push(pool);
    else {
      setAside.push({
        pool: pool.name,
        reason: "NotAdvertised",
        message: `AddressPool "${pool.name}" is not used: no L2Advertisement announces it, so no node would answer for its addresses; create an L2Advertisement that lists it in ipAddressPools or selects its labels.`,
      });
    }
  }
  const checked = usablePools(advertised, nodeSubnets, nodeAddresses);
  for (const s of checked.setAside) {
    setAside.push({ pool: s.pool, reason: "Invalid", message: `AddressPool "${s.pool}" is not used: ${s.problems.map((p) => p.message).join(" ")}` });
  }
  return { usable: checked.usable, setAside: setAside.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0)) };
}
