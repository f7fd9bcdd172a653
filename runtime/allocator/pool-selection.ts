// Which pools the in-cluster allocator may use. A pool that is invalid only together with others
// (it overlaps an older pool, lies outside every node subnet, no advertisement announces it, or
// a range of it is on no subnet its advertisements can announce from) is set aside with a
// reason; the others keep serving. Pure.
import { usablePools } from "../../provider/core/allocation/index.ts";
import { advertisementSelectsPool, unannounceableEntries, type AnnouncingNode } from "../../provider/core/allocation/advertisement.ts";
import type { AddressPool, L2Advertisement } from "../../provider/core/model/pool.ts";

export type SetAsideReason = "Invalid" | "NotAdvertised" | "Unreachable";

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

/** Why no node would answer for (some of) the pool's addresses, or `undefined`. */
function announceProblem(pool: AddressPool, advertisements: readonly L2Advertisement[], nodes: readonly AnnouncingNode[]): SetAsidePool | undefined {
  if (!advertisements.some((a) => advertisementSelectsPool(a, pool))) {
    return {
      pool: pool.name,
      reason: "NotAdvertised",
      message: `AddressPool "${pool.name}" is not used: no L2Advertisement announces it, so no node would answer for its addresses; create an L2Advertisement that lists it in ipAddressPools or selects its labels.`,
    };
  }
  // Without published subnets nothing is known of the nodes' networks: nothing to hold against the pool.
  if (!nodes.some((n) => n.subnets.length > 0)) return undefined;
  const unreachable = unannounceableEntries(pool, advertisements, nodes);
  if (unreachable.length === 0) return undefined;
  return {
    pool: pool.name,
    reason: "Unreachable",
    message: `AddressPool "${pool.name}" is not used: ${unreachable.join(", ")} is on no subnet of an interface that its L2Advertisements let a selected node announce from; fix the advertisements' nodeSelectors or interfaces, or use addresses from those nodes' subnets.`,
  };
}

/** `pools` oldest first: an older pool is never set aside because of a newer one. `nodes`: every Node with the subnets its speaker published. */
export function selectPools(
  pools: readonly AddressPool[],
  advertisements: readonly L2Advertisement[],
  nodeSubnets: string[] | undefined,
  nodeAddresses: string[],
  nodes: readonly AnnouncingNode[],
): PoolSelection {
  const setAside: SetAsidePool[] = [];
  const announced: AddressPool[] = [];
  for (const pool of pools) {
    const problem = announceProblem(pool, advertisements, nodes);
    if (problem === undefined) announced.push(pool);
    else setAside.push(problem);
  }
  const checked = usablePools(announced, nodeSubnets, nodeAddresses);
  for (const s of checked.setAside) {
    setAside.push({ pool: s.pool, reason: "Invalid", message: `AddressPool "${s.pool}" is not used: ${s.problems.map((p) => p.message).join(" ")}` });
  }
  return { usable: checked.usable, setAside: setAside.sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0)) };
}
