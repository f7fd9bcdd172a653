import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addressPoolCrd } from "../../provider/core/model/crds.ts";
import { planAddresses } from "../election/plan.ts";
import type { ClusterView } from "../election/plan.ts";
import { elect } from "../election/rank.ts";
import { publishedSubnets } from "./announcer.ts";
import { isOurs } from "./cluster-view.ts";
import { Heartbeat, decodeHeartbeat, encodeHeartbeat, formatEndpoint, parseEndpoint, type HeartbeatMessage } from "./heartbeat.ts";
import { isolated, peerLiveness, type HeartbeatObservation, type LeaseObservation } from "./liveness.ts";
import { decideOwnership, type Owned, type OwnershipInput } from "./ownership.ts";
import { poolCondition } from "../allocator/pool-status.ts";
import { departureStep, desiredIngress, parseAnnouncedBy, poolUsage, sameIngress, updateAnnouncedBy } from "./status.ts";

const T = { heartbeatTimeoutMs: 700, graceMs: 300 };
const lease = (observedAtMs: number, incarnation = "i1"): LeaseObservation => ({ observedAtMs, renewIntervalMs: 1000, durationMs: 5000, incarnation });
const hb = (lastAtMs: number, incarnation = "i1", leaving = false): HeartbeatObservation => ({ lastAtMs, incarnation, leaving });

describe("peer liveness", () => {
  // [name, lease, heartbeat, now, alive, reason]
  const table: [string, LeaseObservation | undefined, HeartbeatObservation | undefined, number, boolean, string][] = [
    ["no lease (never, or deleted on graceful shutdown)", undefined, hb(10_000), 10_000, false, "NoLease"],
    ["fresh heartbeat", lease(10_000), hb(10_000), 10_100, true, "Heartbeat"],
    ["fresh heartbeat keeps a peer whose lease expired alive (it lost the API, still answers)", lease(0), hb(59_900), 60_000, true, "Heartbeat"],
    ["heartbeat silent, renewal not yet missed", lease(10_000), hb(10_000), 10_800, true, "Lease"],
    ["heartbeat silent and renewal missed: quick path", lease(10_000), hb(10_000), 11_301, false, "HeartbeatAndRenewalMissed"],
    ["renewal missed but heartbeat fresh (slow API)", lease(10_000), hb(11_500), 11_600, true, "Heartbeat"],
    ["leaving heartbeat, lease still renewed recently", lease(10_000), hb(10_050, "i1", true), 10_100, true, "Lease"],
    ["leaving heartbeat and renewal missed", lease(10_000), hb(10_050, "i1", true), 11_400, false, "Leaving"],
    ["never heard heartbeats: lease within duration", lease(10_000), undefined, 14_900, true, "Lease"],
    ["never heard heartbeats: lease expired (slow path)", lease(10_000), undefined, 15_001, false, "LeaseExpired"],
    ["heartbeats of an older incarnation do not count", lease(10_000, "i2"), hb(14_000, "i1"), 14_100, true, "Lease"],
    ["older incarnation, lease expired", lease(10_000, "i2"), hb(15_000, "i1"), 15_100, false, "LeaseExpired"],
  ];
  for (const [name, l, h, now, alive, reason] of table) {
    it(name, () => assert.deepEqual(peerLiveness(l, h, now, T), { alive, reason }));
  }
  it("isolation: only without the API server and without a heard majority", () => {
    const table: [boolean, number, number, boolean][] = [
      [true, 0, 3, false],
      [false, 2, 3, false],
      [false, 1, 3, false],
      [false, 0, 3, true],
      [false, 0, 1, false],
      [false, 0, 2, true],
      [false, 1, 4, true],
      [false, 2, 4, false],
    ];
    for (const [api, heard, members, want] of table) assert.equal(isolated(api, heard, members), want, `${api} ${heard}/${members}`);
  });
});

const NODES = ["node-a", "node-b", "node-c"];
function planFor(ips: string[], speakers = NODES): ReturnType<typeof planAddresses> {
  const view: ClusterView = {
    nodes: NODES.map((name) => ({ name, labels: {}, networkUnavailable: false })),
    speakers: speakers.map((node) => ({ node, subnets: [{ interface: "eth0", cidr: "192.0.2.0/24", address: "192.0.2.7" }] })),
    services: ips.map((ip, i) => ({ namespace: "default", name: `s${i}`, labels: {}, namespaceLabels: {}, assigned: ip, local: false, endpointNodes: new Set<string>() })),
    pools: [{ name: "lan", spec: { addresses: ["192.0.2.100-192.0.2.199"] } }],
    advertisements: [{ name: "all", spec: {} }],
  };
  return planAddresses(view);
}
/** An address whose winner among NODES is `node`. */
function ipWonBy(node: string, among = NODES): string {
  for (let i = 100; i < 200; i++) if (elect(among, `192.0.2.${i}`) === node) return `192.0.2.${i}`;
  throw new Error("none");
}

describe("ownership", () => {
  const ipA = ipWonBy("node-a");
  const ipB = ipWonBy("node-b");
  const base = (over: Partial<OwnershipInput>): OwnershipInput => ({
    self: "node-a",
    plan: planFor([ipA, ipB]),
    apiHealthy: true,
    isolated: false,
    settled: true,
    previous: new Map(),
    peerClaims: new Map(),
    linksDown: new Set(),
    ...over,
  });
  const owned = (...ips: string[]): Map<string, Owned> => new Map(ips.map((ip) => [ip, { ip, interfaces: ["eth0"] }]));

  it("claims what it wins and nothing else", () => {
    const d = decideOwnership(base({}));
    assert.deepEqual([...d.owned.keys()], [ipA]);
    assert.deepEqual(d.owned.get(ipA)?.interfaces, ["eth0"]);
  });
  it("break before make: waits while a live peer still claims the address", () => {
    const d = decideOwnership(base({ peerClaims: new Map([[ipA, ["node-c"]]]) }));
    assert.deepEqual([...d.owned.keys()], []);
    assert.deepEqual(d.waiting, [{ ip: ipA, holders: ["node-c"] }]);
  });
  it("keeps an address already owned even if a peer claims it too (the peer releases: it lost)", () => {
    const d = decideOwnership(base({ previous: owned(ipA), peerClaims: new Map([[ipA, ["node-c"]]]) }));
    assert.deepEqual([...d.owned.keys()], [ipA]);
  });
  it("does not claim before it has settled", () => {
    assert.equal(decideOwnership(base({ settled: false })).owned.size, 0);
    assert.deepEqual([...decideOwnership(base({ settled: false, previous: owned(ipA) })).owned.keys()], [ipA]);
  });
  it("releases what it no longer wins", () => {
    const d = decideOwnership(base({ previous: owned(ipA, ipB) }));
    assert.deepEqual([...d.owned.keys()], [ipA]);
  });
  it("fail-static: without the API keeps exactly what it owns, gains nothing", () => {
    const d = decideOwnership(base({ apiHealthy: false, previous: owned(ipB), plan: planFor([ipA, ipB]) }));
    assert.deepEqual([...d.owned.keys()], [ipB]);
  });
  it("isolated (no API, no majority heard): releases everything", () => {
    assert.equal(decideOwnership(base({ apiHealthy: false, isolated: true, previous: owned(ipA) })).owned.size, 0);
  });
  it("link down gives the address up, with or without the API", () => {
    assert.equal(decideOwnership(base({ previous: owned(ipA), linksDown: new Set(["eth0"]) })).owned.size, 0);
    assert.equal(decideOwnership(base({ apiHealthy: false, previous: owned(ipA), linksDown: new Set(["eth0"]) })).owned.size, 0);
  });
  it("back from an absence (recheck): gives up what a live peer took meanwhile, keeps the rest, with or without the API", () => {
    const claims = new Map([[ipA, ["node-c"]]]);
    const d = decideOwnership(base({ recheck: true, previous: owned(ipA), peerClaims: claims }));
    assert.deepEqual([...d.owned.keys()], []);
    assert.deepEqual(d.waiting, [{ ip: ipA, holders: ["node-c"] }], "gained back the usual way once the peer lets go");
    assert.deepEqual([...decideOwnership(base({ recheck: true, previous: owned(ipA) })).owned.keys()], [ipA], "nobody took it");
    assert.deepEqual([...decideOwnership(base({ recheck: true, apiHealthy: false, previous: owned(ipA, ipB), peerClaims: claims })).owned.keys()], [ipB]);
  });
  it("takes over when the former winner is no longer a candidate", () => {
    const ip = ipWonBy("node-b");
    const plan = planFor([ip], ["node-a", "node-c"]);
    const winner = plan.addresses[0]?.owner?.node as string;
    const d = decideOwnership(base({ self: winner, plan }));
    assert.deepEqual([...d.owned.keys()], [ip]);
  });
});

describe("heartbeat", () => {
  const m: HeartbeatMessage = { node: "node-a", incarnation: "x1", seq: 7, claims: ["192.0.2.10"], leaving: false };
  it("round-trips with and without a key", () => {
    assert.deepEqual(decodeHeartbeat(encodeHeartbeat(m)), m);
    const key = Buffer.from("secret");
    assert.deepEqual(decodeHeartbeat(encodeHeartbeat({ ...m, leaving: true }, key), key), { ...m, leaving: true });
  });
  it("rejects a wrong key, a missing MAC, tampering and junk", () => {
    const key = Buffer.from("secret");
    assert.equal(decodeHeartbeat(encodeHeartbeat(m, Buffer.from("other")), key), undefined);
    assert.equal(decodeHeartbeat(encodeHeartbeat(m), key), undefined);
    const tampered = Buffer.from(encodeHeartbeat(m, key).toString().replace("192.0.2.10", "192.0.2.11"));
    assert.equal(decodeHeartbeat(tampered, key), undefined);
    assert.equal(decodeHeartbeat(Buffer.from("{}")), undefined);
    assert.equal(decodeHeartbeat(Buffer.from("not json")), undefined);
  });
  it("exchanges datagrams over loopback and drops replays", async () => {
    const key = Buffer.from("k");
    const a = new Heartbeat({ node: "a", incarnation: "ia", port: 0, intervalMs: 50, key, bindAddress: "127.0.0.1" });
    const b = new Heartbeat({ node: "b", incarnation: "ib", port: 0, intervalMs: 50, key, bindAddress: "127.0.0.1" });
    await a.start();
    await b.start();
    const portOf = (h: Heartbeat): number => h.localPort(4) as number;
    const got: HeartbeatMessage[] = [];
    let rejected = 0;
    b.on("message", (msg) => got.push(msg));
    b.on("rejected", () => rejected++);
    a.setPeers([{ node: "b", host: "127.0.0.1", port: portOf(b) }]);
    a.setClaims(["192.0.2.10"]);
    await new Promise((r) => setTimeout(r, 180));
    await a.stop(true);
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(got.length >= 2, `got ${got.length}`);
    assert.deepEqual(got[0]?.claims, ["192.0.2.10"]);
    assert.equal(got.at(-1)?.leaving, true);
    assert.deepEqual(got.at(-1)?.claims, []);
    // Replaying the first datagram is ignored.
    const { createSocket } = await import("node:dgram");
    const s = createSocket("udp4");
    const first = got[0] as HeartbeatMessage;
    await new Promise<void>((r) => s.send(encodeHeartbeat(first, key), portOf(b), "127.0.0.1", () => r()));
    await new Promise((r) => setTimeout(r, 30));
    s.close();
    assert.equal(rejected, 1);
    await b.stop(false);
  });
});

describe("status", () => {
  it("ingress follows the valid addresses only", () => {
    const plan = planFor(["192.0.2.150", "192.0.2.1"]);
    assert.deepEqual(desiredIngress(plan, "default/s0"), [{ ip: "192.0.2.150" }]);
    assert.deepEqual(desiredIngress(plan, "default/s1"), []);
    assert.ok(sameIngress([{ ip: "192.0.2.150" }], [{ ip: "192.0.2.150" }]));
    assert.ok(!sameIngress(undefined, [{ ip: "192.0.2.150" }]));
    assert.ok(sameIngress(undefined, []));
  });
  it("announced-by: each owner updates its own entries", () => {
    const cur = "192.0.2.10=node-a/eth0,2001:db8::10=node-b/eth0";
    assert.deepEqual([...parseAnnouncedBy(cur)], [["192.0.2.10", "node-a/eth0"], ["2001:db8::10", "node-b/eth0"]]);
    assert.equal(updateAnnouncedBy(cur, "node-c", new Map([["192.0.2.10", ["eth1"]]])), "192.0.2.10=node-c/eth1,2001:db8::10=node-b/eth0");
    assert.equal(updateAnnouncedBy(cur, "node-b", new Map()), "192.0.2.10=node-a/eth0");
    assert.equal(updateAnnouncedBy("192.0.2.10=node-a/eth0", "node-a", new Map()), undefined);
    assert.equal(updateAnnouncedBy(cur, "\u0000", new Map(), new Set(["192.0.2.10"])), "2001:db8::10=node-b/eth0");
    assert.equal(updateAnnouncedBy(undefined, "node-a", new Map([["192.0.2.10", ["eth0", "eth1"]]])), "192.0.2.10=node-a/eth0+eth1");
  });
  it("a departed Service: each node removes its ingress entries first, then its announced-by entries", () => {
    const ann = "192.0.2.10=node-a/eth0,2001:db8::10=node-b/eth0";
    const ingress = [{ ip: "192.0.2.10" }, { ip: "2001:db8::10", ipMode: "VIP" }, { ip: "198.51.100.7" }, { hostname: "lb.example" }];
    const only = (node: string) => (n: string) => n === node;
    // node-a: the ingress entry of its address only; another implementation's entries stay.
    assert.deepEqual(departureStep(ann, ingress, only("node-a")), {
      kind: "ingress",
      ips: ["192.0.2.10"],
      ingress: [{ ip: "2001:db8::10", ipMode: "VIP" }, { ip: "198.51.100.7" }, { hostname: "lb.example" }],
    });
    // Once the ingress entry is gone: its announced-by entry, keeping node-b's.
    assert.deepEqual(departureStep(ann, [{ ip: "2001:db8::10" }], only("node-a")), { kind: "announced-by", ips: ["192.0.2.10"], value: "2001:db8::10=node-b/eth0" });
    assert.deepEqual(departureStep("192.0.2.10=node-a/eth0+eth1", undefined, only("node-a")), { kind: "announced-by", ips: ["192.0.2.10"], value: undefined });
    // Nothing of another node's (no race between speakers), nothing without entries.
    assert.equal(departureStep(ann, ingress, only("node-c")), undefined);
    assert.equal(departureStep(undefined, ingress, only("node-a")), undefined);
    assert.equal(departureStep("junk", ingress, () => true), undefined);
    // The status writer, responsible for a node that is gone as well as for itself.
    assert.deepEqual(departureStep(ann, [], (n) => n === "node-a" || n === "node-b"), { kind: "announced-by", ips: ["192.0.2.10", "2001:db8::10"], value: undefined });
  });
  it("l2lb serves LoadBalancer Services of its class only", () => {
    assert.ok(isOurs({ spec: { type: "LoadBalancer", loadBalancerClass: "l2lb.dev/layer2" } }));
    assert.ok(!isOurs({ spec: { type: "ClusterIP" } }));
    assert.ok(!isOurs({ spec: { type: "LoadBalancer", loadBalancerClass: "metallb.io/metallb" } }));
    assert.ok(!isOurs({ spec: { type: "LoadBalancer" } }));
  });
  it("pool usage counts assigned and announced addresses", () => {
    const plan = planFor(["192.0.2.150", "192.0.2.150", "192.0.2.151"], []);
    const u = poolUsage(plan, [{ name: "lan", spec: { addresses: ["192.0.2.100-192.0.2.199"] } }, { name: "empty", spec: { addresses: ["2001:db8::/64"] } }]);
    assert.deepEqual(u.get("lan"), { assigned: 2, announced: 0, services: 3, addresses: "100" });
    assert.deepEqual(u.get("empty"), { assigned: 0, announced: 0, services: 0, addresses: "18446744073709551616" });
  });
  it("the AddressPool CRD declares every status field the speaker writes, and its columns show them", () => {
    const plan = planFor(["192.0.2.150"], []);
    const written: Record<string, unknown> = { ...poolUsage(plan, [{ name: "lan", spec: { addresses: ["192.0.2.100-192.0.2.199"] } }]).get("lan"), conditions: [poolCondition(undefined)] };
    const version = addressPoolCrd.spec.versions[0];
    const schema = version?.schema.openAPIV3Schema.properties?.status;
    assert.equal(schema?.["x-kubernetes-preserve-unknown-fields"], undefined, "explicit, not dependent on the applying client keeping the flag");
    const declared = schema?.properties ?? {};
    assert.deepEqual(Object.keys(declared).sort(), Object.keys(written).sort(), "nothing pruned, nothing declared in vain");
    for (const [field, value] of Object.entries(written)) {
      assert.equal(declared[field]?.type, Array.isArray(value) ? "array" : typeof value === "number" ? "integer" : "string", field);
    }
    const columns = (version?.additionalPrinterColumns ?? []).filter((c) => c.jsonPath.startsWith(".status."));
    assert.deepEqual(columns.map((c) => [c.name, c.jsonPath, c.type]), [
      ["Total", ".status.addresses", "string"],
      ["Assigned", ".status.assigned", "integer"],
      ["Announced", ".status.announced", "integer"],
      ["Services", ".status.services", "integer"],
      ["Usable", '.status.conditions[?(@.type=="Usable")].status', "string"],
    ]);
    const conditionFields = declared.conditions?.items?.properties ?? {};
    assert.deepEqual(Object.keys(conditionFields).sort(), ["lastTransitionTime", ...Object.keys(poolCondition(undefined))].sort());
  });
  it("published subnets: up interfaces only, host bits cleared", () => {
    const s = publishedSubnets([
      { name: "eth0", ifindex: 2, mac: "02:00:00:00:00:01", up: true, addresses: [{ address: "192.0.2.11", prefixLength: 24 }, { address: "2001:db8:1::11", prefixLength: 64 }], subnets: [] },
      { name: "eth1", ifindex: 3, mac: "02:00:00:00:00:02", up: false, addresses: [{ address: "198.51.100.11", prefixLength: 24 }], subnets: [] },
    ]);
    assert.deepEqual(s, [
      { interface: "eth0", cidr: "192.0.2.0/24", address: "192.0.2.11" },
      { interface: "eth0", cidr: "2001:db8:1::/64", address: "2001:db8:1::11" },
    ]);
  });
  it("heartbeat endpoints", () => {
    assert.equal(formatEndpoint("2001:db8::1", 7473), "[2001:db8::1]:7473");
    assert.deepEqual(parseEndpoint("[2001:db8::1]:7473"), { host: "2001:db8::1", port: 7473 });
    assert.deepEqual(parseEndpoint("192.0.2.11:7473"), { host: "192.0.2.11", port: 7473 });
    assert.equal(parseEndpoint("junk"), undefined);
  });
});
