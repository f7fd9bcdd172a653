// Deterministic, stateless owner election: every speaker that sees the same candidates for an
// address elects the same node, without talking to the others.

/** The murmur3 finaliser: every input bit flips each output bit with probability about ½. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Rank of `node` for `key` (an address, or any other election key): a 53-bit hash of
 * `node + "#" + key` (two FNV-1a lanes, each finalised by murmur3's mixer). Lower ranks win.
 * Keyed by address (not by Service), so every Service sharing an address elects the same node
 * and a shared address never splits. Not cryptographic, and need not be: it only has to spread
 * owners evenly and be the same everywhere. Written out rather than SHA-256 because a plan ranks
 * every (speaker, address) pair — 500,000 at 500 nodes and 1,000 addresses, about 2 s of
 * SHA-256 on one core, for every speaker at every membership change (README "Speaker control
 * plane" has the figures).
 */
export function rank(node: string, key: string): number {
  // Hashed as the one text `node + "#" + key`, without building it: a plan ranks every pair.
  lanes[0] = 0x811c9dc5;
  lanes[1] = 0x9e3779b9;
  feed(node);
  feedChar(HASH_SEP);
  feed(key);
  return finish();
}

/** The 53-bit hash {@link rank} uses, of any text (e.g. a change signature kept as a number). */
export function hash53(s: string): number {
  lanes[0] = 0x811c9dc5;
  lanes[1] = 0x9e3779b9;
  feed(s);
  return finish();
}

/** The two FNV-1a lanes of the hash being computed (one thread, no re-entry). */
const lanes = new Int32Array(2);
const HASH_SEP = "#".charCodeAt(0);

function feedChar(c: number): void {
  lanes[0] = Math.imul((lanes[0] as number) ^ c, 0x01000193);
  lanes[1] = Math.imul((lanes[1] as number) ^ c, 0x5bd1e995);
}

function feed(s: string): void {
  for (let i = 0; i < s.length; i++) feedChar(s.charCodeAt(i));
}

function finish(): number {
  const a = lanes[0] as number;
  const b = lanes[1] as number;
  const high = mix32(a ^ Math.imul(b, 0x27d4eb2d)) & 0x1fffff;
  const low = mix32((b + Math.imul(a, 0x165667b1)) | 0);
  return high * 0x1_0000_0000 + low;
}

/** Candidates ordered best first: by rank, ties (never seen in practice) by node name. */
export function orderByRank<T extends { node: string }>(candidates: readonly T[], key: string): T[] {
  const ranked = candidates.map((c) => ({ c, r: rank(c.node, key) }));
  ranked.sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : a.c.node < b.c.node ? -1 : a.c.node > b.c.node ? 1 : 0));
  return ranked.map((x) => x.c);
}

/** Inserts `candidate` into `ordered` (best first, as {@link orderByRank} orders) at its place. */
export function insertByRank<T extends { node: string }>(ordered: T[], candidate: T, key: string): void {
  const r = rank(candidate.node, key);
  let lo = 0;
  let hi = ordered.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const other = (ordered[mid] as T).node;
    const ro = rank(other, key);
    if (ro < r || (ro === r && other < candidate.node)) lo = mid + 1;
    else hi = mid;
  }
  ordered.splice(lo, 0, candidate);
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
