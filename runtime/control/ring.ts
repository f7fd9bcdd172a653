// Who watches whom, and whom to ask before taking an address: the ring of live members. Pure.
//
// Every member sends its heartbeats to its `fanout` successors on a ring of the live members
// (ordered by a hash of the node name, so nodes with neighbouring names — one rack — do not
// watch only each other) and monitors its `fanout` predecessors. Heartbeat traffic per node
// is then `fanout` datagrams per period whatever the cluster size, and every member is watched
// by `fanout` others, so one lost monitor never leaves a node unwatched.
//
// A node about to answer for an address asks first whoever might still answer it: the owner of
// its previous plan and the next live candidates below it in the address's ranking (a node
// ranked below answers only while its view misses this node — a join, or a return after a
// verdict — and then believes itself the first live candidate). Nodes ranked above it that it
// counts as dead were declared so by the two signals, after their own answer deadline passed.
import { rank } from "../election/rank.ts";

/** Heartbeat successors (and monitored predecessors) per node. */
export const RING_FANOUT = 3;

/** Live candidates below this node asked before it takes an address. */
export const HOLDER_DEPTH = 2;

const RING_KEY = "l2lb.dev/ring";

/** The members in ring order: by rank for a fixed key, ties by name. */
export function ringOrder(members: Iterable<string>): string[] {
  const list = [...new Set(members)].map((node) => ({ node, r: rank(node, RING_KEY) }));
  list.sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  return list.map((x) => x.node);
}

function neighbours(ring: readonly string[], self: string, fanout: number, step: 1 | -1): string[] {
  const at = ring.indexOf(self);
  if (at < 0) return [];
  const out: string[] = [];
  for (let i = 1; i <= Math.min(fanout, ring.length - 1); i++) out.push(ring[(at + step * i + ring.length * fanout) % ring.length] as string);
  return out;
}

/** The members `self` sends its heartbeats to. */
export function successors(ring: readonly string[], self: string, fanout = RING_FANOUT): string[] {
  return neighbours(ring, self, fanout, 1);
}

/** The members `self` monitors (they send their heartbeats to it). */
export function predecessors(ring: readonly string[], self: string, fanout = RING_FANOUT): string[] {
  return neighbours(ring, self, fanout, -1);
}

/**
 * Whom `self` asks before answering for an address it was elected for: the owner in its
 * previous plan, and the next `depth` live candidates below it (candidates best first).
 */
export function plausibleHolders(candidates: readonly string[], self: string, alive: ReadonlySet<string>, previousOwner: string | undefined, depth = HOLDER_DEPTH): string[] {
  const out = new Set<string>();
  if (previousOwner !== undefined && previousOwner !== self && alive.has(previousOwner)) out.add(previousOwner);
  const at = candidates.indexOf(self);
  for (let i = at + 1, n = 0; at >= 0 && i < candidates.length && n < depth; i++) {
    const c = candidates[i] as string;
    if (!alive.has(c)) continue;
    out.add(c);
    n++;
  }
  return [...out];
}
