import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { plausibleHolders, predecessors, ringOrder, successors, RING_FANOUT } from "./ring.ts";

const nodes = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), { minLength: 1, maxLength: 40 });

describe("ring of members", () => {
  it("orders the same members the same way, whatever order they come in", () => {
    fc.assert(fc.property(nodes, (ns) => assert.deepEqual(ringOrder([...ns].reverse()), ringOrder(ns))));
  });

  it("sends to at most three, and P hears from Q exactly when Q sends to P", () => {
    fc.assert(
      fc.property(nodes, (ns) => {
        const ring = ringOrder(ns);
        for (const p of ns) {
          const out = successors(ring, p);
          assert.equal(out.length, Math.min(RING_FANOUT, ns.length - 1));
          assert.ok(!out.includes(p));
          for (const q of ns) assert.equal(successors(ring, q).includes(p), predecessors(ring, p).includes(q), `${q} → ${p}`);
        }
      }),
    );
  });

  it("has every member monitored by min(3, N−1) others", () => {
    fc.assert(
      fc.property(nodes, (ns) => {
        const ring = ringOrder(ns);
        for (const p of ns) assert.equal(ns.filter((q) => successors(ring, q).includes(p)).length, Math.min(RING_FANOUT, ns.length - 1));
      }),
    );
  });

  it("knows no neighbours of a node outside the ring", () => {
    assert.deepEqual(successors(ringOrder(["a", "b"]), "z"), []);
    assert.deepEqual(predecessors(ringOrder(["a"]), "a"), []);
  });
});

describe("plausible holders of an address", () => {
  const alive = new Set(["a", "b", "c", "d", "e"]);
  const table: [string, string[], string, string | undefined, string[]][] = [
    ["the next two live candidates below", ["a", "b", "c", "d"], "a", undefined, ["b", "c"]],
    ["dead candidates skipped", ["a", "x", "b", "y", "c"], "a", undefined, ["b", "c"]],
    ["the previous owner too, when alive", ["b", "c", "d", "e"], "b", "a", ["a", "c", "d"]],
    ["a dead previous owner left out", ["b", "c", "d"], "b", "x", ["c", "d"]],
    ["nobody below the last candidate", ["c", "d", "a"], "a", undefined, []],
    ["not a candidate: only the previous owner", ["c", "d"], "a", "b", ["b"]],
  ];
  for (const [name, candidates, self, previous, want] of table) {
    it(name, () => assert.deepEqual(plausibleHolders(candidates, self, alive, previous), want));
  }
});
