import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AddressPlan, Plan } from "../election/plan.ts";
import type { Owned } from "./ownership.ts";
import { ServiceStamps } from "./service-stamps.ts";

const address = (ip: string, services: string[], owner = "node-a"): AddressPlan => ({ ip, pool: "lan", services, candidates: [{ node: owner, interfaces: ["eth0"] }], owner: { node: owner, interfaces: ["eth0"] } });
const planOf = (addresses: AddressPlan[]): Plan => {
  const serviceAddresses = new Map<string, string[]>();
  for (const a of addresses) for (const k of a.services) serviceAddresses.set(k, [...(serviceAddresses.get(k) ?? []), a.ip]);
  return { addresses, refusals: [], serviceAddresses };
};
const byIp = (p: Plan): Map<string, AddressPlan> => new Map(p.addresses.map((a) => [a.ip, a]));
const owned = (ip: string): Owned => ({ ip, interfaces: ["eth0"] }) as Owned;

/** The Services whose stamp moved across `change`. */
function moved(stamps: ServiceStamps, keys: string[], change: () => void): string[] {
  const before = keys.map((k) => stamps.of(k));
  change();
  return keys.filter((k, i) => stamps.of(k) !== before[i]);
}

describe("ServiceStamps", () => {
  const keys = ["ns/a", "ns/b", "ns/c", "ns/d"];
  const a = address("192.0.2.1", ["ns/a"]);
  const b = address("192.0.2.2", ["ns/b"]);
  const c = address("192.0.2.3", ["ns/c"]);
  const before = planOf([a, b, c]);

  const cases: [string, Plan, string[]][] = [
    ["same address objects: nothing moves", planOf([a, b, c]), []],
    ["an address's plan replaced (new owner): its Services", planOf([a, address("192.0.2.2", ["ns/b"], "node-b"), c]), ["ns/b"]],
    ["a Service joins an address: both Services", planOf([a, address("192.0.2.2", ["ns/b", "ns/d"]), c]), ["ns/b", "ns/d"]],
    ["an address leaves the plan: its Service", planOf([a, b]), ["ns/c"]],
    ["a new address of a new Service: that Service", planOf([a, b, c, address("192.0.2.4", ["ns/d"])]), ["ns/d"]],
  ];
  for (const [what, after, want] of cases) {
    it(`new plan, ${what}`, () => {
      const stamps = new ServiceStamps();
      assert.deepEqual(moved(stamps, keys, () => stamps.planChanged(before, byIp(before), after)), want);
    });
  }

  it("owned set: the Services of addresses gained, lost or with other interfaces", () => {
    const stamps = new ServiceStamps();
    const one = owned("192.0.2.1");
    const prev = new Map([["192.0.2.1", one], ["192.0.2.2", owned("192.0.2.2")]]);
    const next = new Map([["192.0.2.1", one], ["192.0.2.3", owned("192.0.2.3")]]);
    assert.deepEqual(moved(stamps, keys, () => stamps.ownedChanged(prev, next, byIp(before))), ["ns/b", "ns/c"]);
  });

  it("touchAll moves every stamp, including Services never stamped", () => {
    const stamps = new ServiceStamps();
    stamps.touch(["ns/a"]);
    assert.deepEqual(moved(stamps, keys, () => stamps.touchAll()), keys);
  });
});
