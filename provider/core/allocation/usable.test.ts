import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AddressPool } from "../model/pool.ts";
import { planAllocation } from "./plan.ts";
import { usablePools } from "./usable.ts";
import { pool } from "./helpers.test.ts";

const names = (list: readonly AddressPool[]): string[] => list.map((p) => p.name);

/** [title, the pool, node subnets, field, message] — a pool set aside for its own problem. */
const ownProblems: [string, AddressPool, string[] | undefined, string, RegExp][] = [
  ["not an address", pool("bad", ["10.0.0.256"]), undefined, "spec.addresses[0]", /neither an address, a CIDR nor a first-last range/],
  ["host bits in a CIDR", pool("bad", ["10.0.0.1/24"]), undefined, "spec.addresses[0]", /host bits set; write the network as 10\.0\.0\.0\/24/],
  ["a range that mixes families", pool("bad", ["10.0.0.1-2001:db8::1"]), undefined, "spec.addresses[0]", /mixes IPv4 and IPv6/],
  ["a range that starts after it ends", pool("bad", ["10.0.0.9-10.0.0.1"]), undefined, "spec.addresses[0]", /starts after it ends/],
  ["two of its own ranges overlapping", pool("bad", ["10.0.0.0/24", "10.0.0.7"]), undefined, "spec.addresses[1]", /overlaps its own spec\.addresses\[0\]/],
  ["no addresses", pool("bad", []), undefined, "spec.addresses", /has no addresses/],
  ["an invalid name", pool("Bad_Name", ["10.0.0.1"]), undefined, "metadata.name", /has an invalid name/],
  ["a flag that is not a boolean", { name: "bad", spec: { addresses: ["10.0.0.1"], autoAssign: "yes" as unknown as boolean } }, undefined, "spec.autoAssign", /write true or false/],
  ["a bad serviceAllocation", pool("bad", ["10.0.0.1"], { serviceAllocation: { priority: -2 } }), undefined, "spec.serviceAllocation.priority", /whole number ≥ 0/],
  ["outside every node subnet", pool("bad", ["192.168.1.10"]), ["10.0.0.0/16"], "spec.addresses[0]", /lies outside every node subnet \(the node subnets are 10\.0\.0\.0\/16\)/],
  ["an IPv6 range when only IPv4 node subnets are known", pool("bad", ["2001:db8::1"]), ["10.0.0.0/16"], "spec.addresses[0]", /no IPv6 node subnet is known/],
];

describe("usablePools", () => {
  it("admits every pool of a valid configuration, in the order given", () => {
    const pools = [pool("z", ["10.0.2.0/24"]), pool("a", ["10.0.0.0/25", "2001:db8::/120"]), pool("m", ["10.0.0.128/25"])];
    assert.deepEqual(usablePools(pools, ["10.0.0.0/16", "2001:db8::/64"]), { usable: pools, setAside: [] });
    assert.deepEqual(usablePools([]), { usable: [], setAside: [] });
  });

  for (const [title, bad, subnets, field, message] of ownProblems) {
    it(`sets aside a pool with ${title}, and keeps the others`, () => {
      const before = pool("before", ["10.0.1.0/24"]);
      const after = pool("after", ["10.0.3.0/24"]);
      const r = usablePools([before, bad, after], subnets);
      assert.deepEqual(names(r.usable), ["before", "after"]);
      assert.equal(r.setAside.length, 1);
      assert.equal(r.setAside[0]!.pool, bad.name);
      const hit = r.setAside[0]!.problems.find((p) => p.field === field && message.test(p.message));
      assert.ok(hit, JSON.stringify(r.setAside[0]!.problems));
      assert.ok(hit.message.startsWith(`AddressPool "${bad.name}" `), "the message names the pool first");
    });
  }

  it("sets aside a pool without a name, naming it by position", () => {
    const r = usablePools([pool("a", ["10.0.0.1"]), { name: "", spec: { addresses: ["10.0.0.2"] } }]);
    assert.deepEqual(r.setAside, [{ pool: "#2", problems: [{ object: "AddressPool #2", field: "metadata.name", message: "AddressPool #2 has no name; give it a metadata.name." }] }]);
  });

  it("sets aside a pool overlapping an older one, naming it; the older one keeps serving", () => {
    const older = pool("older", ["10.0.0.0/24", "2001:db8::/120"]);
    const newer = pool("newer", ["10.0.5.1", "2001:db8::80-2001:db8::90"]);
    const r = usablePools([older, newer]);
    assert.deepEqual(names(r.usable), ["older"]);
    assert.deepEqual(r.setAside, [
      {
        pool: "newer",
        problems: [
          {
            object: 'AddressPool "newer"',
            field: "spec.addresses[1]",
            message:
              'AddressPool "newer" spec.addresses[1] (2001:db8::80-2001:db8::90) overlaps AddressPool "older" spec.addresses[1] (2001:db8::/120); an address may belong to one range of one pool only — shrink or remove one of them.',
          },
        ],
      },
    ]);
    assert.deepEqual(names(usablePools([newer, older]).usable), ["newer"], "the order given decides who keeps the addresses");
  });

  it("finds an overlap with any admitted range, and admits touching ranges", () => {
    const admitted = [pool("a", ["10.0.0.0/26"]), pool("b", ["10.0.0.128/26"]), pool("c", ["10.0.1.0/24"])];
    const probe = (addresses: string[]): string[] => usablePools([...admitted, pool("x", addresses)]).setAside.flatMap((s) => s.problems.map((p) => p.message.match(/overlaps AddressPool "(\w)"/)?.[1] ?? p.message));
    assert.deepEqual(probe(["10.0.0.64-10.0.0.127"]), [], "between a and b");
    assert.deepEqual(probe(["10.0.0.63"]), ["a"]);
    assert.deepEqual(probe(["10.0.0.100-10.0.0.128"]), ["b"]);
    assert.deepEqual(probe(["10.0.0.0/8"]), ["a"], "a wide range overlapping several names the lowest");
    assert.deepEqual(probe(["10.0.2.0/24", "10.0.1.255"]), ["c"]);
  });

  it("sets aside a pool named like an older one, even when the older one was set aside", () => {
    const r = usablePools([pool("p", ["10.0.0.1"]), pool("p", ["10.0.0.2"]), pool("q", ["10.0.0.256"]), pool("q", ["10.0.0.3"])]);
    assert.deepEqual(names(r.usable), ["p"]);
    assert.deepEqual(
      r.setAside.map((s) => [s.pool, s.problems.map((p) => p.field)]),
      [
        ["p", ["metadata.name"]],
        ["q", ["spec.addresses[0]"]],
        ["q", ["metadata.name"]],
      ],
    );
    assert.match(r.setAside[0]!.problems[0]!.message, /^AddressPool "p" has the name of an older pool; rename it/);
  });

  it("does not reserve the addresses of a pool set aside", () => {
    const r = usablePools([pool("a", ["10.0.0.0/24"]), pool("b", ["10.0.0.5", "10.0.1.0/24"]), pool("c", ["10.0.1.0/25"])]);
    assert.deepEqual(names(r.usable), ["a", "c"]);
  });

  it("ignores malformed node subnets and node addresses", () => {
    const pools = [pool("a", ["10.0.0.10-10.0.0.20"]), pool("b", ["192.168.9.1"])];
    const r = usablePools(pools, ["10.0.0.0/24", "10.0.0.0/99", "nonsense"], ["node-a", "10.0.0.15"]);
    assert.deepEqual(names(r.usable), ["a"]);
    assert.deepEqual(r.setAside.map((s) => s.pool), ["b"]);
    assert.deepEqual(names(usablePools(pools, ["nonsense"]).usable), ["a", "b"], "no valid subnet: pools are not checked against subnets");
  });

  it("never lets a later pool change the fate of an earlier one, and what it admits plans without a pool problem", () => {
    const pools = [
      pool("a", ["10.0.0.0/24"]),
      pool("b", ["10.0.0.128/25"]),
      pool("c", ["10.0.1.0/24", "10.0.0.1"]),
      pool("d", ["10.0.2.1-10.0.2.9", "2001:db8::/120"]),
      pool("e", ["2001:db8::ff", "10.0.3.0/24"]),
      pool("f", ["10.0.3.0/25"]),
      pool("g", ["10.0.4.1"]),
    ];
    const full = usablePools(pools, ["10.0.0.0/16", "2001:db8::/64"]);
    assert.deepEqual(names(full.usable), ["a", "d", "f", "g"], "b and c overlap a, e overlaps d, and f takes what e would have had");
    for (let k = 0; k <= pools.length; k++) {
      const prefix = usablePools(pools.slice(0, k), ["10.0.0.0/16", "2001:db8::/64"]);
      assert.deepEqual(names(prefix.usable), names(full.usable).filter((n) => n < String.fromCharCode(97 + k)));
    }
    const planned = planAllocation({ pools: full.usable, services: [], nodeSubnets: ["10.0.0.0/16", "2001:db8::/64"] });
    assert.equal(planned.ok, true);
  });

  it("stays cheap with hundreds of pools", () => {
    const pools = Array.from({ length: 400 }, (_, i) => pool(`p${i}`, [`10.${i >> 8}.${i & 255}.0/25`, `10.${i >> 8}.${i & 255}.${i % 2 === 0 ? 128 : 100}/${i % 2 === 0 ? 25 : 30}`]));
    const started = performance.now();
    const r = usablePools(pools);
    const elapsed = performance.now() - started;
    assert.equal(r.usable.length, 200);
    assert.equal(r.setAside.length, 200);
    assert.ok(elapsed < 2000, `400 pools took ${elapsed.toFixed(0)} ms`);
  });
});
