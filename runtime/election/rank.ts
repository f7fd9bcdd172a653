// Deterministic, stateless owner election: every speaker that sees the same candidates for an
// address elects the same node, without talking to the others.
import { createHash } from "node:crypto";

/**
 * Rank of `node` for `key` (an address, or any other election key): the SHA-256 of
 * `node + "#" + key` as lowercase hex. Lower ranks win. Keyed by address (not by Service), so
 * every Service sharing an address elects the same node and a shared address never splits.
 */
export function rank(node: string, key: string): string {
  const input = `${node}#${key}`;
  let r = ranks.get(input);
  if (r === undefined) {
    if (ranks.size >= 200_000) ranks.clear();
    ranks.set(input, (r = createHash("sha256").update(input).digest("hex")));
  }
  return r;
}

/** Ranks computed so far: every plan ranks the same (node, address) pairs again. */
const ranks = new Map<string, string>();

/** Candidates ordered best first: by rank, ties (never seen in practice) by node name. */
export function orderByRank<T extends { node: string }>(candidates: readonly T[], key: string): T[] {
  const ranked = candidates.map((c) => ({ c, r: rank(c.node, key) }));
  ranked.sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : a.c.node < b.c.node ? -1 : a.c.node > b.c.node ? 1 : 0));
  return ranked.map((x) => x.c);
}

/** The winner among `nodes` for `key`, or `undefined` when there is none. */
export function elect(nodes: Iterable<string>, key: string): string | undefined {
  const list = [...new Set(nodes)].map((node) => ({ node }));
  return orderByRank(list, key)[0]?.node;
}

/** Election key of the single speaker that writes shared status (ingress, pool usage, refusals). */
export const STATUS_WRITER_KEY = "l2lb.dev/status-writer";

/** Election key of the single speaker that assigns addresses to Services in the cluster. */
export const ALLOCATOR_KEY = "l2lb.dev/allocator";
