// Which addresses this node answers for, from the plan and the safety rules. Pure.
//
// Safety (at most one announcer per address outside a bounded hand-over window):
//  - Gain only with the API server: a node whose own Lease renewals fail never takes a new
//    address (it cannot see its peers' Leases, the arbiter).
//  - Break before make: never start answering for an address that a live peer's latest
//    heartbeat says it answers. The peer sees the same plan, releases, and says so in its
//    next heartbeat (sent at once on every change), so a planned hand-over costs one datagram.
//    Where heartbeats go only to ring neighbours, the peers that might answer it (ring.ts
//    `plausibleHolders`) are asked first and must have been heard since (`unconfirmed`).
//  - Fail-static: without the API server keep exactly what is owned — minus addresses whose
//    interfaces went down, and everything when isolated (see liveness.ts `isolated`).
//  - Back from an absence (a frozen process, ownership.ts `recheck`): an address a live peer
//    now claims was taken over meanwhile; it is given up and, if the plan still says so, gained
//    again the usual way, after the peer releases it.
//  - Link down on the announcing interface gives the address up on that interface; with no
//    interface left, the address is released (and the node stops publishing that subnet, so
//    its peers elect another owner).
import { sameGratuitous } from "../../provider/core/allocation/advertisement.ts";
import type { GratuitousSettings } from "../../provider/core/model/pool.ts";
import type { Plan } from "../election/plan.ts";

export interface Owned {
  ip: string;
  interfaces: string[];
  gratuitous?: GratuitousSettings;
}

export interface OwnershipInput {
  self: string;
  plan: Plan;
  apiHealthy: boolean;
  isolated: boolean;
  /** Claiming is allowed (informers synced, own Lease held, peers heard for one heartbeat timeout). */
  settled: boolean;
  previous: ReadonlyMap<string, Owned>;
  /** ip → live peers whose latest heartbeat claims it. */
  peerClaims: ReadonlyMap<string, readonly string[]>;
  /** ip → live peers that might answer it and have not been heard since it was wanted (ring.ts). */
  unconfirmed?: ReadonlyMap<string, readonly string[]>;
  /** Interfaces whose link is down. */
  linksDown: ReadonlySet<string>;
  /** This node was away: previously owned addresses that a live peer claims are not kept. */
  recheck?: boolean;
}

export interface OwnershipDecision {
  owned: Map<string, Owned>;
  /** Addresses this node won but waits for a peer to release. */
  waiting: { ip: string; holders: string[] }[];
  /**
   * The API server answers, and every address this node is elected for is owned or has every
   * interface down: the same plan, owned set and links decide the same again, whatever the time
   * and the peers' claims (they count only for addresses not yet owned, or after an absence).
   */
  complete: boolean;
}

function upInterfaces(interfaces: string[], down: ReadonlySet<string>): string[] {
  return down.size === 0 ? interfaces : interfaces.filter((i) => !down.has(i));
}

/** Same names in the same order. */
export const sameList = (a: readonly string[], b: readonly string[]): boolean => a === b || (a.length === b.length && a.every((x, i) => x === b[i]));

/**
 * The entry for an owned address: the previous one when nothing about it changed. Decided every
 * tick for every owned address, fresh objects would be garbage ten times a second (at 10,000
 * addresses, most of the speaker's garbage collection), and `Announcer` compares by identity first.
 */
function ownedEntry(previous: Owned | undefined, ip: string, interfaces: string[], gratuitous: GratuitousSettings | undefined): Owned {
  if (previous !== undefined && sameList(previous.interfaces, interfaces) && sameGratuitous(previous.gratuitous, gratuitous)) return previous;
  return { ip, interfaces, ...(gratuitous ? { gratuitous } : {}) };
}

function holdersOf(input: OwnershipInput, ip: string): string[] {
  const holders = new Set([...(input.peerClaims.get(ip) ?? []), ...(input.unconfirmed?.get(ip) ?? [])]);
  holders.delete(input.self);
  return [...holders];
}

/** Owned before and still this node's to keep. */
function kept(input: OwnershipInput, ip: string): boolean {
  return input.previous.has(ip) && !(input.recheck === true && holdersOf(input, ip).length > 0);
}

export function decideOwnership(input: OwnershipInput): OwnershipDecision {
  const owned = new Map<string, Owned>();
  const waiting: { ip: string; holders: string[] }[] = [];
  if (!input.apiHealthy) {
    if (input.isolated) return { owned, waiting, complete: false };
    for (const [ip, o] of input.previous) {
      if (!kept(input, ip)) continue;
      const interfaces = upInterfaces(o.interfaces, input.linksDown);
      if (interfaces.length > 0) owned.set(ip, interfaces === o.interfaces ? o : { ...o, interfaces });
    }
    return { owned, waiting, complete: false };
  }
  let complete = true;
  for (const a of input.plan.addresses) {
    if (a.owner?.node !== input.self) continue;
    const interfaces = upInterfaces(a.owner.interfaces, input.linksDown);
    if (interfaces.length === 0) continue;
    const entry = ownedEntry(input.previous.get(a.ip), a.ip, interfaces, a.gratuitous);
    if (kept(input, a.ip)) {
      owned.set(a.ip, entry);
      continue;
    }
    complete = false; // gained now: decided by time and the peers' claims
    if (!input.settled) continue;
    const holders = holdersOf(input, a.ip);
    if (holders.length > 0) {
      waiting.push({ ip: a.ip, holders: [...holders] });
      continue;
    }
    owned.set(a.ip, entry);
  }
  return { owned, waiting, complete };
}
