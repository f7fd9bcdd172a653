import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planAllocation } from "./plan.ts";
import type { AllocationInput, ServiceRequest, SharedIpGroup } from "./types.ts";
import { errorOf, ips, plan, pool, problems, stateOf, svc } from "./helpers.test.ts";

const pools = [pool("p", ["10.0.0.1-10.0.0.9"]), pool("q", ["10.0.1.1-10.0.1.9"], { autoAssign: false })];
const good = (key: string, port = 80): ServiceRequest => svc(key, { ports: [{ port }] });

function isolated(input: Omit<AllocationInput, "pools"> & { pools?: AllocationInput["pools"] }): ReturnType<typeof plan> {
  return plan({ pools, ...input, isolateServiceProblems: true });
}

/** [title, the bad Service, the field of its problem, its message] — each refuses only that Service. */
const serviceCases: [string, ServiceRequest, string, RegExp][] = [
  ["malformed annotation", svc("default/bad", { annotations: { "metallb.io/loadBalancerIPs": "10.0.0.999" } }), 'metadata.annotations["metallb.io/loadBalancerIPs"]', /"10\.0\.0\.999" is not an IPv4 or IPv6 address/],
  ["request outside every pool", svc("default/bad", { loadBalancerIP: "192.0.2.1" }), "spec.loadBalancerIP", /requests 192\.0\.2\.1, which is in no address pool/],
  ["unknown requested pool", svc("default/bad", { annotations: { "metallb.io/address-pool": "nope" } }), 'metadata.annotations["metallb.io/address-pool"]', /requests pool "nope", which does not exist/],
  ["bad port", svc("default/bad", { ports: [{ port: 0 }] }), "spec.ports[0].port", /a port is a whole number from 1 to 65535/],
  ["requested address that cannot be handed out", svc("default/bad", { loadBalancerIP: "10.0.0.5" }), "spec.loadBalancerIP", /cannot be handed out: it is a node's own address/],
];

describe("isolateServiceProblems", () => {
  it("is off by default: any Service problem fails the plan, and a valid plan refuses nothing", () => {
    const bad = svc("default/bad", { annotations: { "metallb.io/address-pool": "nope" } });
    assert.match(problems({ pools, services: [good("default/a"), bad] })[0]!.message, /requests pool "nope"/);
    assert.deepEqual(plan({ pools, services: [good("default/a")] }).refused, []);
    assert.deepEqual(isolated({ services: [good("default/a")] }).refused, []);
  });

  for (const [title, bad, field, message] of serviceCases) {
    it(`${title}: only that Service is refused, the others are planned as if it were absent`, () => {
      const others = [good("default/a"), good("default/c"), good("x/z")];
      const r = isolated({ services: [bad, ...others], nodeAddresses: ["10.0.0.5"] });
      assert.equal(r.refused.length, 1);
      assert.deepEqual([r.refused[0]!.object, r.refused[0]!.field], ['Service "default/bad"', field]);
      assert.match(r.refused[0]!.message, message);
      assert.equal(errorOf(r, "default/bad"), r.refused[0]!.message);
      const without = plan({ pools, services: others, nodeAddresses: ["10.0.0.5"] });
      assert.deepEqual({ ...r.services, "default/bad": undefined }, { ...without.services, "default/bad": undefined });
      assert.deepEqual(r.pools, without.pools);
      assert.deepEqual(r.changes.find((c) => c.service === "default/bad"), { service: "default/bad", kind: "new", reason: r.refused[0]!.message });
    });
  }

  it("joins every problem of a Service into its error, in a stable order", () => {
    const bad = svc("default/bad", { ports: [{ port: 0 }], externalTrafficPolicy: "Global" as "Cluster" });
    const r = isolated({ services: [bad, good("default/a")] });
    assert.deepEqual(
      r.refused.map((p) => p.field),
      ["spec.externalTrafficPolicy", "spec.ports[0].port"],
    );
    assert.equal(errorOf(r, "default/bad"), r.refused.map((p) => p.message).join(" "));
    assert.deepEqual(ips(r, "default/a"), ["10.0.0.1"]);
  });

  it("refuses both definitions of a Service defined twice", () => {
    const r = isolated({ services: [good("default/a"), good("default/twice", 80), good("default/twice", 81)] });
    assert.match(errorOf(r, "default/twice"), /^Service "default\/twice" is defined twice; remove one of the definitions\.$/);
    assert.deepEqual(ips(r, "default/a"), ["10.0.0.1"]);
    assert.equal(r.pools.p?.used, 1);
  });

  it("keeps a Service without a usable name in refused only", () => {
    const nameless = { namespace: "default", name: "" } as ServiceRequest;
    const badNamespace = { namespace: 7, name: "n" } as unknown as ServiceRequest;
    const r = isolated({ services: [good("default/a"), nameless, badNamespace] });
    assert.deepEqual(
      r.refused.map((p) => p.object),
      ['Service "n"', "Service #2"],
    );
    assert.deepEqual(Object.keys(r.services), ["default/a"]);
    assert.deepEqual(r.changes.map((c) => c.service), ["default/a"]);
  });

  it("still fails on a pool, node subnet or node address problem, listing the Services' problems too", () => {
    const bad = svc("default/bad", { annotations: { "metallb.io/address-pool": "nope" } });
    for (const broken of [
      { pools: [...pools, pool("overlap", ["10.0.0.9"])] },
      { pools, nodeSubnets: ["10.0.0.0/99"] },
      { pools, nodeAddresses: ["node-a"] },
    ]) {
      const r = planAllocation({ services: [good("default/a"), bad], ...broken, isolateServiceProblems: true });
      assert.equal(r.ok, false, JSON.stringify(broken));
      assert.ok(!r.ok && r.problems.some((p) => p.object === 'Service "default/bad"'));
    }
  });

  it("releases the address of a refused Service, with the reason, and moves nobody else", () => {
    const previous = { "default/bad": { ips: ["10.0.0.1"], pool: "p" }, "default/a": { ips: ["10.0.0.2"], pool: "p" } };
    const bad = svc("default/bad", { annotations: { "metallb.io/address-pool": "nope" } });
    const r = isolated({ services: [bad, good("default/a"), good("default/b")], previous });
    assert.deepEqual(r.changes, [
      { service: "default/a", kind: "unchanged", from: ["10.0.0.2"], to: ["10.0.0.2"] },
      { service: "default/b", kind: "new", to: ["10.0.0.1"] },
      { service: "default/bad", kind: "released", from: ["10.0.0.1"], reason: errorOf(r, "default/bad") },
    ]);
    const again = isolated({ services: [bad, good("default/a"), good("default/b")], previous: stateOf(r) });
    assert.deepEqual(again.services, r.services);
    assert.deepEqual(again.refused, r.refused);
    assert.deepEqual(
      again.changes.map((c) => c.kind),
      ["unchanged", "unchanged", "new"],
    );
  });
});

describe("isolateServiceProblems with shared-IP groups", () => {
  const web = (services: string[], extra: Partial<SharedIpGroup> = {}): SharedIpGroup => ({ name: "web", services, ...extra });

  it("refuses every member of an invalid group, naming the group, and plans the rest", () => {
    const r = isolated({ services: [good("default/a"), good("default/b"), good("default/c")], sharedIpGroups: [web(["default/a", "default/b"])] });
    assert.equal(r.refused.length, 1);
    assert.equal(r.refused[0]!.object, 'SharedIpGroup "web"');
    for (const m of ["default/a", "default/b"]) {
      assert.equal(errorOf(r, m), `Service "${m}" is in SharedIpGroup "web", which is invalid: ${r.refused[0]!.message}`);
    }
    assert.deepEqual(ips(r, "default/c"), ["10.0.0.1"]);
  });

  it("refuses a group with an unknown pool or an address outside every pool", () => {
    for (const extra of [{ pool: "nope" }, { ip: "192.0.2.1" }]) {
      const r = isolated({ services: [good("default/a", 80), good("default/b", 81), good("default/c")], sharedIpGroups: [web(["default/a", "default/b"], extra)] });
      assert.deepEqual(r.refused.map((p) => p.object), ['SharedIpGroup "web"'], JSON.stringify(extra));
      assert.match(errorOf(r, "default/a"), /is in SharedIpGroup "web", which is invalid: SharedIpGroup "web" requests/);
      assert.deepEqual(ips(r, "default/c"), ["10.0.0.1"]);
    }
  });

  it("refuses a group listing an invalid Service: that Service has its own error, the others name the group", () => {
    const bad = svc("default/bad", { ports: [{ port: 0 }] });
    const r = isolated({ services: [good("default/a"), bad, good("default/c", 81)], sharedIpGroups: [web(["default/a", "default/bad"])] });
    assert.match(errorOf(r, "default/bad"), /^Service "default\/bad" has port 0/);
    assert.match(errorOf(r, "default/a"), /^Service "default\/a" is in SharedIpGroup "web", which is invalid: SharedIpGroup "web" lists Service "default\/bad", which is invalid \(its own problems say why\); fix the Service or remove it from the group\.$/);
    assert.deepEqual(ips(r, "default/c"), ["10.0.0.1"]);
  });

  it("between two groups listing one Service, the one whose name sorts last is refused, whatever the input order", () => {
    const services = [good("default/a", 80), good("default/b", 81), good("default/c", 82)];
    const groups: SharedIpGroup[] = [
      { name: "second", services: ["default/a", "default/c"] },
      { name: "first", services: ["default/a", "default/b"] },
    ];
    const one = isolated({ services, sharedIpGroups: groups });
    const two = isolated({ services: [...services].reverse(), sharedIpGroups: [...groups].reverse() });
    assert.deepEqual(one, two);
    assert.deepEqual(one.refused.map((p) => p.object), ['SharedIpGroup "second"']);
    assert.match(errorOf(one, "default/c"), /is in SharedIpGroup "second", which is invalid: .*lists Service "default\/a", which is already in SharedIpGroup "first"/);
    assert.deepEqual(ips(one, "default/a"), ips(one, "default/b"));
  });

  it("refuses both definitions of a group defined twice, and a later group listing one of their members", () => {
    // "dup" is defined twice, so its members a and x are refused; "web" lists a too, so it is refused, and with it b.
    const groups: SharedIpGroup[] = [
      { name: "dup", services: ["default/a"] },
      { name: "dup", services: ["default/x"] },
      { name: "web", services: ["default/a", "default/b"] },
    ];
    const services = ["default/a", "default/b", "default/c", "default/x"].map((k, i) => good(k, 80 + i));
    const r = isolated({ services, sharedIpGroups: groups });
    assert.deepEqual([...new Set(r.refused.map((p) => p.object))], ['SharedIpGroup "dup"', 'SharedIpGroup "web"']);
    assert.match(errorOf(r, "default/a"), /is in SharedIpGroup "dup", which is invalid: SharedIpGroup "dup" is defined twice/);
    assert.match(errorOf(r, "default/x"), /is in SharedIpGroup "dup"/);
    assert.match(errorOf(r, "default/b"), /is in SharedIpGroup "web", which is invalid: .*lists Service "default\/a", which is already in SharedIpGroup "dup"/);
    assert.deepEqual(ips(r, "default/c"), ["10.0.0.1"]);
    const without = plan({ pools, services: [good("default/c", 82)] });
    assert.deepEqual(r.pools, without.pools);
  });
});
