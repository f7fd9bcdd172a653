import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { AddressPool, L2Advertisement } from "../../provider/core/model/pool.ts";
import {
  EXCLUDE_LABEL,
  allowedInterfaces,
  elect,
  endpointNodes,
  globMatches,
  parseAssigned,
  planAddresses,
  rank,
  selectorMatches,
} from "./index.ts";
import type { ClusterView, NodeView, ServiceView, SpeakerView } from "./index.ts";

const node = (name: string, labels: Record<string, string> = {}, networkUnavailable = false): NodeView => ({ name, labels, networkUnavailable });
const speaker = (n: string, subnets: [string, string][] = [["eth0", "192.0.2.0/24"]]): SpeakerView => ({
  node: n,
  subnets: subnets.map(([iface, cidr]) => ({ interface: iface, cidr, address: cidr.replace(/0\/\d+$/, "7") })),
});
const svc = (name: string, assigned: string, extra: Partial<ServiceView> = {}): ServiceView => ({
  namespace: "default",
  name,
  labels: {},
  namespaceLabels: {},
  assigned,
  local: false,
  endpointNodes: new Set(),
  ...extra,
});
const pool = (name: string, addresses: string[], extra: Partial<AddressPool["spec"]> = {}, labels?: Record<string, string>): AddressPool => ({
  name,
  ...(labels ? { labels } : {}),
  spec: { addresses, ...extra },
});
const ad = (name: string, spec: L2Advertisement["spec"] = {}): L2Advertisement => ({ name, spec });

const NODES = ["node-a", "node-b", "node-c", "node-d"];
function view(over: Partial<ClusterView> = {}): ClusterView {
  return {
    nodes: NODES.map((n) => node(n)),
    speakers: NODES.map((n) => speaker(n)),
    services: [],
    pools: [pool("lan", ["192.0.2.100-192.0.2.199", "2001:db8::100/120"])],
    advertisements: [ad("all")],
    ...over,
  };
}
function bestOf(nodes: string[], ip: string): string {
  return [...nodes].sort((a, b) => (rank(a, ip) < rank(b, ip) ? -1 : 1))[0] as string;
}

const PINNED_RANKS = [7535776944804718, 3521201118837055, 2983104765187110];

describe("rank", () => {
  it("is a 53-bit integer, fixed for a (node, key) pair: every speaker and version elects alike", () => {
    // Pinned: a change of the function moves owners during a rolling upgrade.
    assert.deepEqual([rank("node-a", "192.0.2.10"), rank("node-b", "192.0.2.10"), rank("node-a", "2001:db8::1")], PINNED_RANKS);
    fc.assert(fc.property(fc.string(), fc.string(), (n, k) => assert.ok(Number.isSafeInteger(rank(n, k)) && rank(n, k) >= 0)));
  });
  it("spreads 3,000 addresses over 10 nodes evenly (each wins 300 ± 60)", () => {
    const nodes = Array.from({ length: 10 }, (_, i) => `node-${i}`);
    const wins = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const w = elect(nodes, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`) as string;
      wins.set(w, (wins.get(w) ?? 0) + 1);
    }
    for (const n of nodes) assert.ok(Math.abs((wins.get(n) ?? 0) - 300) <= 60, `${n} wins ${wins.get(n) ?? 0}: ${[...wins.values()].join(", ")}`);
  });
  it("moves only the departed node's addresses when a node leaves (rendezvous)", () => {
    const nodes = Array.from({ length: 8 }, (_, i) => `node-${i}`);
    for (let i = 0; i < 500; i++) {
      const ip = `192.0.2.${i % 256}#${i}`;
      const before = elect(nodes, ip) as string;
      const after = elect(nodes.filter((n) => n !== "node-3"), ip);
      if (before !== "node-3") assert.equal(after, before, ip);
    }
  });
  it("elects the lowest rank and ignores order and duplicates", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/), { minLength: 1, maxLength: 8 }), fc.ipV4(), (nodes, ip) => {
        const winner = elect(nodes, ip);
        assert.equal(winner, elect([...nodes].reverse().concat(nodes), ip));
        for (const n of nodes) assert.ok(rank(winner as string, ip) <= rank(n, ip));
      }),
    );
  });
  it("returns undefined without candidates", () => {
    assert.equal(elect([], "192.0.2.1"), undefined);
  });
});

describe("selectors", () => {
  const cases: [string, Parameters<typeof selectorMatches>[0], Record<string, string>, boolean][] = [
    ["empty selects all", {}, { a: "1" }, true],
    ["matchLabels hit", { matchLabels: { zone: "a" } }, { zone: "a" }, true],
    ["matchLabels miss", { matchLabels: { zone: "a" } }, { zone: "b" }, false],
    ["In hit", { matchExpressions: [{ key: "zone", operator: "In", values: ["a", "b"] }] }, { zone: "b" }, true],
    ["In absent", { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }, {}, false],
    ["NotIn absent", { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, {}, true],
    ["NotIn hit", { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, { zone: "a" }, false],
    ["Exists", { matchExpressions: [{ key: "gpu", operator: "Exists" }] }, { gpu: "" }, true],
    ["DoesNotExist", { matchExpressions: [{ key: "gpu", operator: "DoesNotExist" }] }, { gpu: "" }, false],
  ];
  for (const [name, sel, labels, want] of cases) it(name, () => assert.equal(selectorMatches(sel, labels), want));

  const globs: [string, string, boolean][] = [
    ["eth*", "eth0", true],
    ["eth*", "veth0", false],
    ["en?s0", "enps0", true],
    ["en[op]s0", "enos0", true],
    ["en[!o]s0", "enos0", false],
    ["bond0.100", "bond0.100", true],
    ["bond0.100", "bond0x100", false],
  ];
  for (const [p, n, want] of globs) it(`glob ${p} ~ ${n} = ${want}`, () => assert.equal(globMatches(p, n), want));

  it("advertisement interfaces: names, globs, exclusions, can_reach", () => {
    const subnets = [
      { interface: "eth0", cidr: "192.0.2.0/24", address: "192.0.2.7" },
      { interface: "eth1", cidr: "198.51.100.0/24", address: "198.51.100.7" },
      { interface: "bond0.100", cidr: "203.0.113.0/24", address: "203.0.113.7" },
    ];
    assert.deepEqual([...allowedInterfaces(undefined, subnets)].sort(), ["bond0.100", "eth0", "eth1"]);
    assert.deepEqual([...allowedInterfaces(["eth*", "!eth1"], subnets)], ["eth0"]);
    assert.deepEqual([...allowedInterfaces(["can_reach:198.51.100.1"], subnets)], ["eth1"]);
    assert.deepEqual([...allowedInterfaces(["!eth0"], subnets)].sort(), ["bond0.100", "eth1"]);
  });
});

describe("endpointNodes", () => {
  it("ready endpoints; absent ready means ready; terminating excluded", () => {
    const got = endpointNodes([
      { nodeName: "a", conditions: { ready: true } },
      { nodeName: "b", conditions: {} },
      { nodeName: "c", conditions: { ready: false, serving: true, terminating: true } },
      { nodeName: "d", conditions: { ready: false } },
      { conditions: { ready: true } },
    ]);
    assert.deepEqual([...got].sort(), ["a", "b"]);
  });
  it("falls back to serving terminating endpoints when none is ready", () => {
    const got = endpointNodes([
      { nodeName: "c", conditions: { ready: false, serving: true, terminating: true } },
      { nodeName: "d", conditions: { ready: false, serving: false, terminating: true } },
    ]);
    assert.deepEqual([...got], ["c"]);
  });
});

describe("parseAssigned", () => {
  it("canonicalises, dedups and reports junk", () => {
    assert.deepEqual(parseAssigned(" 192.0.2.10, 2001:DB8:0::10 ,192.0.2.10,nope,"), {
      ips: ["192.0.2.10", "2001:db8::10"],
      invalid: ["nope"],
    });
    assert.deepEqual(parseAssigned(undefined), { ips: [], invalid: [] });
  });
});

describe("planAddresses", () => {
  it("elects the lowest-ranked live speaker", () => {
    const p = planAddresses(view({ services: [svc("web", "192.0.2.110")] }));
    assert.equal(p.addresses.length, 1);
    assert.equal(p.addresses[0]?.owner?.node, bestOf(NODES, "192.0.2.110"));
    assert.deepEqual(p.addresses[0]?.owner?.interfaces, ["eth0"]);
    assert.deepEqual(p.refusals, []);
  });

  it("services sharing an address are announced by one node", () => {
    const ip = "192.0.2.120";
    const services = ["a", "b", "c", "d", "e"].map((n) => svc(n, ip));
    const p = planAddresses(view({ services }));
    assert.equal(p.addresses.length, 1);
    assert.deepEqual(p.addresses[0]?.services, services.map((s) => `default/${s.name}`));
    assert.equal(p.addresses[0]?.owner?.node, bestOf(NODES, ip));
  });

  it("dual-stack: one election per address", () => {
    const p = planAddresses(view({ services: [svc("web", "192.0.2.130,2001:db8::130")], speakers: NODES.map((n) => speaker(n, [["eth0", "192.0.2.0/24"], ["eth0", "2001:db8::/64"]])) }));
    assert.deepEqual(p.addresses.map((a) => [a.ip, a.owner?.node]), [
      ["192.0.2.130", bestOf(NODES, "192.0.2.130")],
      ["2001:db8::130", bestOf(NODES, "2001:db8::130")],
    ]);
  });

  it("only nodes whose subnet contains the address are candidates", () => {
    const speakers = [
      speaker("node-a", [["eth0", "198.51.100.0/24"]]),
      speaker("node-b", [["eth0", "192.0.2.0/24"]]),
      speaker("node-c", [["eth1", "192.0.2.0/25"]]),
      speaker("node-d", [["eth0", "192.0.2.128/25"]]),
    ];
    const p = planAddresses(view({ speakers, services: [svc("web", "192.0.2.110")] }));
    assert.deepEqual(p.addresses[0]?.candidates.map((c) => c.node).sort(), ["node-b", "node-c"]);
    const none = planAddresses(view({ speakers: [speakers[0] as SpeakerView], services: [svc("web", "192.0.2.110")] }));
    assert.equal(none.addresses[0]?.owner, undefined);
    assert.equal(none.addresses[0]?.noOwnerReason, "NoSubnet");
  });

  it("excluded, NetworkUnavailable and dead nodes are never candidates", () => {
    const ip = "192.0.2.140";
    const winner = bestOf(NODES, ip);
    const table: [string, Partial<ClusterView>][] = [
      ["exclusion label", { nodes: NODES.map((n) => node(n, n === winner ? { [EXCLUDE_LABEL]: "" } : {})) }],
      ["NetworkUnavailable", { nodes: NODES.map((n) => node(n, {}, n === winner)) }],
      ["no live speaker", { speakers: NODES.filter((n) => n !== winner).map((n) => speaker(n)) }],
      ["node object gone", { nodes: NODES.filter((n) => n !== winner).map((n) => node(n)) }],
      ["advertisement nodeSelector", { nodes: NODES.map((n) => node(n, { role: n === winner ? "db" : "edge" })), advertisements: [ad("edge", { nodeSelectors: [{ matchLabels: { role: "edge" } }] })] }],
      ["advertisement interface", { speakers: NODES.map((n) => speaker(n, [[n === winner ? "eth1" : "eth0", "192.0.2.0/24"]])), advertisements: [ad("eth0", { interfaces: ["eth0"] })] }],
    ];
    for (const [name, over] of table) {
      const p = planAddresses(view({ services: [svc("web", ip)], ...over }));
      const owner = p.addresses[0]?.owner?.node;
      assert.ok(owner !== undefined, name);
      assert.notEqual(owner, winner, name);
      assert.equal(owner, bestOf(NODES.filter((n) => n !== winner), ip), name);
    }
  });

  it("Local policy: only nodes with a ready endpoint; none → nobody announces", () => {
    const ip = "192.0.2.150";
    const p = planAddresses(view({ services: [svc("web", ip, { local: true, endpointNodes: new Set(["node-c", "node-d"]) })] }));
    assert.deepEqual(p.addresses[0]?.candidates.map((c) => c.node).sort(), ["node-c", "node-d"]);
    assert.equal(p.addresses[0]?.owner?.node, bestOf(["node-c", "node-d"], ip));
    const none = planAddresses(view({ services: [svc("web", ip, { local: true, endpointNodes: new Set() })] }));
    assert.equal(none.addresses[0]?.owner, undefined);
    assert.equal(none.addresses[0]?.noOwnerReason, "NoReadyEndpoint");
    assert.deepEqual(none.serviceAddresses.get("default/web"), [ip], "the address stays assigned");
  });

  it("Local services sharing an address: a candidate serves every one of them", () => {
    const ip = "192.0.2.160";
    const p = planAddresses(view({
      services: [
        svc("tcp", ip, { local: true, endpointNodes: new Set(["node-a", "node-b", "node-c"]) }),
        svc("udp", ip, { local: true, endpointNodes: new Set(["node-b", "node-c", "node-d"]) }),
      ],
    }));
    assert.equal(p.addresses.length, 1);
    assert.deepEqual(p.addresses[0]?.candidates.map((c) => c.node).sort(), ["node-b", "node-c"]);
  });

  it("refuses addresses outside pools, in pools that do not serve the Service, or not advertised", () => {
    const pools = [
      pool("lan", ["192.0.2.100-192.0.2.199"]),
      pool("team", ["192.0.2.200/29"], { serviceAllocation: { namespaces: ["team"] } }),
      pool("labelled", ["192.0.2.210/31"], { serviceAllocation: { namespaceSelectors: [{ matchLabels: { tier: "gold" } }] } }),
      pool("dark", ["192.0.2.220/30"]),
    ];
    const advertisements = [ad("some", { ipAddressPools: ["lan", "team", "labelled"] })];
    const p = planAddresses(view({
      pools,
      advertisements,
      services: [
        svc("gateway", "192.0.2.1"),
        svc("intruder", "192.0.2.201"),
        svc("gold", "192.0.2.210", { namespaceLabels: { tier: "gold" } }),
        svc("silver", "192.0.2.211", { namespaceLabels: { tier: "silver" } }),
        svc("dark", "192.0.2.221"),
        svc("ok", "192.0.2.101"),
        svc("team", "192.0.2.202", { namespace: "team" }),
        svc("two", "192.0.2.102,192.0.2.103"),
        svc("junk", "192.0.2.300"),
      ],
    }));
    const reasons = Object.fromEntries(p.refusals.map((r) => [r.service, r.reason]));
    assert.deepEqual(reasons, {
      "default/gateway": "OutsidePools",
      "default/intruder": "PoolNotAllowed",
      "default/silver": "PoolNotAllowed",
      "default/dark": "NotAdvertised",
      "default/two": "DuplicateFamily",
      "default/junk": "InvalidAddress",
    });
    assert.deepEqual(p.addresses.map((a) => a.ip), ["192.0.2.101", "192.0.2.102", "192.0.2.202", "192.0.2.210"]);
    assert.ok(!p.addresses.some((a) => a.ip === "192.0.2.1"));
  });

  it("pool selection by advertisement label selectors; gratuitous settings follow the advertisement", () => {
    const p = planAddresses(view({
      pools: [pool("lan", ["192.0.2.96/28"], {}, { env: "prod" })],
      advertisements: [ad("b", { ipAddressPoolSelectors: [{ matchLabels: { env: "prod" } }], gratuitous: { count: 2 } }), ad("c", { ipAddressPoolSelectors: [{ matchLabels: { env: "dev" } }] })],
      services: [svc("web", "192.0.2.101")],
    }));
    assert.equal(p.addresses[0]?.pool, "lan");
    assert.deepEqual(p.addresses[0]?.gratuitous, { count: 2 });
  });

  it("every speaker computes the same plan whatever the order of its inputs", () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(NODES, { minLength: 0 }),
        fc.array(fc.integer({ min: 100, max: 199 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (live, octets, reverse) => {
          const services = octets.map((o, i) => svc(`s${i}`, `192.0.2.${o}`));
          const base = view({ speakers: live.map((n) => speaker(n)), services });
          const shuffled: ClusterView = reverse
            ? { ...base, speakers: [...base.speakers].reverse(), services: [...services].reverse(), nodes: [...base.nodes].reverse() }
            : base;
          const a = planAddresses(base);
          const b = planAddresses(shuffled);
          assert.deepEqual(a.addresses, b.addresses);
          for (const x of a.addresses) {
            assert.equal(x.owner?.node, live.length === 0 ? undefined : bestOf(live, x.ip));
          }
        },
      ),
    );
  });
});
