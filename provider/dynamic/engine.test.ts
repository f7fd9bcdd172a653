import { test, describe } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { check, create, diff, nodeFacts, read, readNodesFromCluster, readServicesFromCluster, remove, update, UNKNOWN, STATE_VERSION } from "./engine.ts";
import type { NodeFacts, NodeReader, ServiceReader } from "./engine.ts";
import type { ServiceLike } from "./foreign-services.ts";
import { node, startFakeApiServer } from "../../test/pulumi/fake-apiserver.ts";

const POOL = { name: "first-pool", spec: { addresses: ["192.168.28.210-192.168.28.220"] } };
const nginx = { namespace: "default", name: "nginx", ports: [{ port: 80, protocol: "TCP" }] };
const base = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  identity: "lb",
  pools: [POOL],
  services: [nginx],
  nodeSubnets: ["192.168.28.0/24"],
  ...extra,
});
const never: NodeReader = async () => {
  throw new Error("the cluster must not be contacted");
};
const facts = (f: Partial<NodeFacts>): NodeReader => async () => ({ nodes: 0, publishing: 0, subnets: [], addresses: [], ...f });

describe("check", () => {
  test("allocates at check time, from explicit subnets, without contacting the cluster", async () => {
    const r = await check({}, base(), {}, never);
    assert.equal(r.failures, undefined);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.210" });
    assert.deepEqual(r.inputs.assignedPools, { "default/nginx": "first-pool" });
    assert.deepEqual(r.inputs.poolUsage, { "first-pool": { size: "11", used: 1 } });
    assert.match(String(r.inputs.subnetSource), /^explicit/);
    assert.deepEqual(r.inputs.nodeSubnetsUsed, ["192.168.28.0/24"]);
    assert.equal(r.inputs.stateVersion, STATE_VERSION);
    // Inputs are carried through unchanged.
    assert.deepEqual(r.inputs.pools, [POOL]);
  });

  test("a node's own address inside a pool: a warning on the sink and in the state, the allocation unchanged, no update by itself", async () => {
    const heard: string[] = [];
    const r = await check({}, base({ nodeAddresses: ["192.168.28.210"] }), {}, never, undefined, (w) => heard.push(w));
    assert.equal(r.failures, undefined);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.211" });
    const expected = [
      `AddressPool "first-pool" lists 192.168.28.210 (in its range 192.168.28.210-192.168.28.220), a node's own address, which is never handed out; remove it from the pool (split the range around it) so the pool lists only addresses Services may get.`,
    ];
    assert.deepEqual(heard, expected);
    assert.deepEqual(r.inputs.warnings, expected);
    assert.equal(diff(r.inputs, { ...r.inputs, warnings: undefined }).changes, false, "warnings alone never make an update");
    const quiet: string[] = [];
    const clean = await check({}, base(), {}, never, undefined, (w) => quiet.push(w));
    assert.deepEqual([quiet, clean.inputs.warnings], [[], undefined]);
  });

  test("the old assignment is sticky; a new service takes the next free address", async () => {
    const olds = { ...base(), assignments: { "default/nginx": "192.168.28.215" }, assignedPools: { "default/nginx": "first-pool" } };
    const web = { namespace: "default", name: "web", ports: [{ port: 8080 }] };
    const r = await check(olds, base({ services: [nginx, web] }), {}, never);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.215", "default/web": "192.168.28.210" });
  });

  test("an old assignment that became invalid moves, visibly", async () => {
    const olds = { ...base(), assignments: { "default/nginx": "192.168.28.215" }, assignedPools: { "default/nginx": "first-pool" } };
    const shrunk = { name: "first-pool", spec: { addresses: ["192.168.28.210-192.168.28.212"] } };
    const r = await check(olds, base({ pools: [shrunk] }), {}, never);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.210" });
    assert.equal(diff(olds, r.inputs).changes, true);
  });

  test("same inputs in another order give the same allocation", async () => {
    const a = { namespace: "default", name: "a" };
    const b = { namespace: "default", name: "b" };
    const one = await check({}, base({ services: [a, b, nginx] }), {}, never);
    const two = await check({}, base({ services: [nginx, b, a] }), {}, never);
    assert.deepEqual(one.inputs.assignments, two.inputs.assignments);
  });

  for (const [what, news] of [
    ["a pool", base({ pools: [{ name: "first-pool", spec: { addresses: [UNKNOWN] } }] })],
    ["a service's ports", base({ services: [{ ...nginx, ports: UNKNOWN }] })],
    ["the node subnets", base({ nodeSubnets: [UNKNOWN] })],
    ["the kubeconfig (no explicit subnets)", { identity: "lb", pools: [POOL], services: [nginx], kubeconfig: UNKNOWN }],
  ] as const) {
    test(`unknown ${what} makes every assignment unknown, never a guess`, async () => {
      const r = await check({}, news as Record<string, unknown>, {}, never);
      assert.equal(r.failures, undefined);
      for (const key of ["assignments", "assignedPools", "poolUsage", "subnetSource", "nodeSubnetsUsed"]) assert.equal(r.inputs[key], UNKNOWN, key);
    });
  }

  test("UNKNOWN is the engine's own marker", () => {
    assert.equal(UNKNOWN, pulumi.runtime.unknownValue);
  });

  test("subnets published by the speakers are used and named as the source", async () => {
    const r = await check({}, base({ nodeSubnets: undefined }), {}, facts({ nodes: 3, publishing: 2, subnets: ["192.168.28.0/24"], addresses: ["192.168.28.10"] }));
    assert.equal(r.failures, undefined);
    assert.match(String(r.inputs.subnetSource), /^speakers: published by 2 of 3 nodes/);
    assert.deepEqual(r.inputs.nodeSubnetsUsed, ["192.168.28.0/24"]);
  });

  test("a pool the nodes cannot reach fails check, naming the pool", async () => {
    const r = await check({}, base({ nodeSubnets: undefined }), {}, facts({ nodes: 2, publishing: 2, subnets: ["10.0.0.0/24"] }));
    assert.ok(r.failures && r.failures.length > 0, "expected failures");
    const f = r.failures[0]!;
    assert.match(f.property, /^pools\["first-pool"\]/);
    assert.match(f.reason, /first-pool/);
    assert.equal(r.inputs.assignments, undefined, "no allocation on failure");
  });

  test("before any speaker publishes, allocation proceeds and says the pools were not checked", async () => {
    const r = await check({}, base({ nodeSubnets: undefined }), {}, facts({ nodes: 3, publishing: 0, addresses: ["192.168.28.210"] }));
    assert.equal(r.failures, undefined);
    assert.match(String(r.inputs.subnetSource), /^none: no speaker has published subnets yet \(3 nodes\)/);
    // The node's own address is never handed out.
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.211" });
  });

  test("an unreachable cluster fails check on nodeSubnets with the fix", async () => {
    const r = await check({}, base({ nodeSubnets: undefined }), {}, async () => {
      throw new Error("connect ECONNREFUSED 127.0.0.1:6443");
    });
    assert.equal(r.failures?.length, 1);
    assert.equal(r.failures![0]!.property, "nodeSubnets");
    assert.match(r.failures![0]!.reason, /ECONNREFUSED/);
    assert.match(r.failures![0]!.reason, /set nodeSubnets/);
  });

  test("the credentials given as inputs win over the stack configuration", async () => {
    let seen: unknown;
    await check({}, base({ nodeSubnets: undefined, kubeconfig: "/input/kubeconfig" }), { kubeconfig: "/stack/kubeconfig", context: "ctx" }, async (c) => {
      seen = c;
      return { nodes: 0, publishing: 0, subnets: [], addresses: [] };
    });
    assert.deepEqual(seen, { kubeconfig: "/input/kubeconfig", context: "ctx" });
  });

  test("a shared-IP group with overlapping ports fails check, naming the group", async () => {
    const a = { namespace: "default", name: "nginx", ports: [{ port: 80 }] };
    const b = { namespace: "default", name: "nginx-2", ports: [{ port: 80 }] };
    const r = await check({}, base({ services: [a, b], sharedIpGroups: [{ name: "web", services: ["default/nginx", "default/nginx-2"] }] }), {}, never);
    assert.ok(r.failures && r.failures.length > 0);
    assert.ok(r.failures.some((f) => /web/.test(f.reason) && /80/.test(f.reason)), JSON.stringify(r.failures));
  });

  test("an exhausted pool fails check on the service that got nothing", async () => {
    const tiny = { name: "first-pool", spec: { addresses: ["192.168.28.210/32"] } };
    const web = { namespace: "default", name: "web" };
    const r = await check({}, base({ pools: [tiny], services: [nginx, web] }), {}, never);
    assert.ok(r.failures && r.failures.length === 1, JSON.stringify(r.failures));
    assert.equal(r.failures[0]!.property, 'services["default/web"]');
    assert.match(r.failures[0]!.reason, /Service "default\/web"/);
    assert.equal(r.failures[0]!.reason.split('"default/web"').length, 2, "the Service is named once");
  });

  test("malformed inputs give sentences, not exceptions", async () => {
    const r = await check({}, { identity: 3, pools: "x" }, {}, never);
    assert.deepEqual(
      r.failures?.map((f) => f.property),
      ["identity", "pools", "services"],
    );
  });
});

describe("Services outside the stack", () => {
  const contacted = (extra: Record<string, unknown> = {}): Record<string, unknown> => base({ nodeSubnets: undefined, ...extra });
  const speakers = facts({ nodes: 1, publishing: 1, subnets: ["192.168.28.0/24"], addresses: ["192.168.28.10"] });
  const listing =
    (...services: ServiceLike[]): ServiceReader =>
    async () =>
      services;
  const noServices = listing();
  /** A Service made by kubectl and assigned by the in-cluster allocator. */
  const inCluster = (namespace: string, name: string, ips: string, extra: { annotations?: Record<string, string>; ports?: unknown[] } = {}): ServiceLike => ({
    metadata: {
      namespace,
      name,
      annotations: { "l2lb.dev/load-balancer-ips": ips, "l2lb.dev/address-pool": "first-pool", "l2lb.dev/allocated-by": "cluster", ...extra.annotations },
    },
    spec: { type: "LoadBalancer", loadBalancerClass: "l2lb.dev/layer2", ports: extra.ports ?? [{ port: 80, protocol: "TCP" }] },
  });
  const legacy = inCluster("ops", "legacy", "192.168.28.210");
  const stateWith = (assignments: Record<string, string>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    ...contacted(extra),
    stateVersion: 1,
    assignments,
    assignedPools: Object.fromEntries(Object.keys(assignments).map((key) => [key, "first-pool"])),
    subnetSource: "speakers: published by 1 of 1 nodes (l2lb.dev/subnets)",
  });

  test("preview skips an address a kubectl-made Service holds", async () => {
    const r = await check({}, contacted(), {}, speakers, listing(legacy));
    assert.equal(r.failures, undefined);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.211" });
    assert.deepEqual(r.inputs.poolUsage, { "first-pool": { size: "11", used: 1 } }, "usage counts the stack's own addresses");
    assert.match(String(r.inputs.subnetSource), /^speakers: published by 1 of 1 nodes \(l2lb\.dev\/subnets\)$/, "the source reads as before");
    assert.equal(r.inputs.moveReasons, undefined);
  });

  test("a stack Service whose previous address a foreign Service took moves, naming the holder", async () => {
    const olds = stateWith({ "default/nginx": "192.168.28.215" });
    const r = await check(olds, contacted(), {}, speakers, listing(inCluster("ops", "legacy", "192.168.28.215")));
    assert.equal(r.failures, undefined);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.210" });
    assert.deepEqual(r.inputs.moveReasons, { "default/nginx": '192.168.28.215 is taken by Service "ops/legacy", assigned in the cluster' });
    assert.equal(diff(olds, r.inputs).changes, true);
  });

  test("a foreign Service with the same sharing key and distinct ports shares the address: no move", async () => {
    const shared = { "metallb.io/allow-shared-ip": "web" };
    const services = [{ ...nginx, annotations: shared }];
    const olds = stateWith({ "default/nginx": "192.168.28.215" }, { services });
    const keyed = contacted({ services });
    const https = inCluster("ops", "legacy", "192.168.28.215", { annotations: shared, ports: [{ port: 443, protocol: "TCP" }] });
    const r = await check(olds, keyed, {}, speakers, listing(https));
    assert.equal(r.failures, undefined);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.215" });
    assert.equal(r.inputs.moveReasons, undefined);
    assert.equal(diff(olds, r.inputs).changes, false);

    const http = inCluster("ops", "legacy", "192.168.28.215", { annotations: shared });
    const clash = await check(olds, keyed, {}, speakers, listing(http));
    assert.deepEqual(clash.inputs.assignments, { "default/nginx": "192.168.28.210" }, "the same port may not share");
  });

  test("a shared-IP group's address is never shared with a foreign Service", async () => {
    const shared = { "metallb.io/allow-shared-ip": "web" };
    const members = [
      { ...nginx, annotations: shared },
      { namespace: "default", name: "nginx-tls", ports: [{ port: 443 }], annotations: shared },
    ];
    const olds = stateWith({ "default/nginx": "192.168.28.215", "default/nginx-tls": "192.168.28.215" });
    const news = contacted({ services: members, sharedIpGroups: [{ name: "web", services: ["default/nginx", "default/nginx-tls"] }] });
    const r = await check(olds, news, {}, speakers, listing(inCluster("ops", "legacy", "192.168.28.215", { annotations: shared, ports: [{ port: 8080 }] })));
    assert.equal(r.failures, undefined);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.210", "default/nginx-tls": "192.168.28.210" });
  });

  test("foreign Services outside the stack's pools, malformed ones and the stack's own Services are ignored", async () => {
    const elsewhere = inCluster("ops", "elsewhere", "10.0.0.5");
    const garbled = inCluster("ops", "garbled", "not-an-address");
    const broken = inCluster("ops", "broken", "192.168.28.213", { ports: [{ port: 0 }] });
    const own = inCluster("default", "nginx", "192.168.28.210");
    const olds = stateWith({ "default/nginx": "192.168.28.210" });
    const r = await check(olds, contacted(), {}, speakers, listing(elsewhere, garbled, broken, own));
    assert.equal(r.failures, undefined);
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.210" });
  });

  test("a stack Service that fails, fails the preview exactly as without foreign Services", async () => {
    const bad = { ...nginx, annotations: { "metallb.io/loadBalancerIPs": "nope" } };
    const alone = await check({}, base({ services: [bad] }), {}, never);
    const beside = await check({}, contacted({ services: [bad] }), {}, speakers, listing(inCluster("ops", "legacy", "192.168.28.212")));
    assert.ok(alone.failures && alone.failures.length > 0);
    assert.deepEqual(beside.failures, alone.failures);

    const tiny = { name: "first-pool", spec: { addresses: ["192.168.28.210-192.168.28.211"] } };
    const web = { namespace: "default", name: "web" };
    const full = await check({}, contacted({ pools: [tiny], services: [nginx, web] }), {}, speakers, listing(inCluster("ops", "legacy", "192.168.28.211")));
    assert.equal(full.failures?.length, 1);
    assert.equal(full.failures![0]!.property, 'services["default/web"]');
    assert.match(full.failures![0]!.reason, /Service "default\/web" got no address/);
  });

  test("a stack Service requesting an address a foreign Service holds fails, naming the holder", async () => {
    const requesting = { ...nginx, annotations: { "l2lb.dev/requested-ips": "192.168.28.210" } };
    const r = await check({}, contacted({ services: [requesting] }), {}, speakers, listing(legacy));
    assert.equal(r.failures?.length, 1);
    assert.equal(r.failures![0]!.property, 'services["default/nginx"]');
    assert.match(r.failures![0]!.reason, /192\.168\.28\.210 is taken: it is used by Service "ops\/legacy"/);
  });

  test("a foreign Service the stack's pools do not admit fails the preview instead of being overlooked", async () => {
    const selective = { ...POOL, spec: { ...POOL.spec, serviceAllocation: { namespaceSelectors: [{ matchLabels: { team: "web" } }] } } };
    const news = contacted({ pools: [selective], namespaceLabels: { default: { team: "web" } } });
    const r = await check({}, news, {}, speakers, listing(legacy));
    assert.equal(r.failures?.length, 1);
    assert.equal(r.failures![0]!.property, 'services["default/nginx"]');
    assert.match(r.failures![0]!.reason, /^Service "default\/nginx" would get 192\.168\.28\.210, but Service "ops\/legacy" holds it \(assigned in the cluster\)/);
    assert.match(r.failures![0]!.reason, /namespaceLabels for namespace "ops"/);
    await assert.rejects(create({ ...news, assignments: { "default/nginx": "192.168.28.210" } }, {}, listing(legacy)), /Service "ops\/legacy"/);
  });

  test("the race: an address taken between preview and up fails create, and the next up picks another", async () => {
    const planned = await check({}, contacted(), {}, speakers, noServices);
    assert.deepEqual(planned.inputs.assignments, { "default/nginx": "192.168.28.210" });
    await assert.rejects(
      create(planned.inputs, {}, listing(legacy)),
      (err: Error) => {
        assert.match(err.message, /^Service "default\/nginx" cannot be given 192\.168\.28\.210: /);
        assert.match(err.message, /since it was planned, Service "ops\/legacy" holds it \(assigned in the cluster\) and they may not share it \(.*has no sharing key\)\./);
        assert.match(err.message, /run pulumi up again to pick another address, or free it\.$/);
        return true;
      },
    );
    const again = await check({}, contacted(), {}, speakers, listing(legacy));
    assert.deepEqual(again.inputs.assignments, { "default/nginx": "192.168.28.211" });
    const created = await create(again.inputs, {}, listing(legacy));
    assert.deepEqual(created.outs.assignments, { "default/nginx": "192.168.28.211" });
  });

  test("the race on update: the new Service's address was taken, the existing one stays", async () => {
    const olds = stateWith({ "default/nginx": "192.168.28.210" });
    const web = { namespace: "default", name: "web", ports: [{ port: 80 }] };
    const planned = await check(olds, contacted({ services: [nginx, web] }), {}, speakers, noServices);
    assert.deepEqual(planned.inputs.assignments, { "default/nginx": "192.168.28.210", "default/web": "192.168.28.211" });
    const intruder = listing(inCluster("ops", "legacy", "192.168.28.211"));
    await assert.rejects(update("l2lb-allocation-lb", olds, planned.inputs, {}, intruder), /Service "default\/web" cannot be given 192\.168\.28\.211/);
    const again = await check(olds, contacted({ services: [nginx, web] }), {}, speakers, intruder);
    assert.deepEqual(again.inputs.assignments, { "default/nginx": "192.168.28.210", "default/web": "192.168.28.212" });
    assert.deepEqual((await update("l2lb-allocation-lb", olds, again.inputs, {}, intruder)).outs.assignments, again.inputs.assignments);
  });

  test("render-only stacks are never contacted, and create/update without the stack's settings confirm nothing", async () => {
    const refuse: ServiceReader = async () => {
      throw new Error("the cluster must not be contacted");
    };
    const rendered = (await check({}, base(), {}, never, refuse)).inputs;
    assert.equal((await create(rendered, {}, refuse)).id, "l2lb-allocation-lb");
    assert.deepEqual((await update("l2lb-allocation-lb", {}, rendered, {}, refuse)).outs, rendered);
    const live = (await check({}, contacted(), {}, speakers, noServices)).inputs;
    assert.equal(create(live).id, "l2lb-allocation-lb", "synchronous, as before");
  });

  test("Services that cannot be listed fail check and create with the fix, writing nothing", async () => {
    const forbidden: ServiceReader = async () => {
      throw new Error("services is forbidden: cannot list resource \"services\" at the cluster scope");
    };
    const r = await check({}, contacted(), {}, speakers, forbidden);
    assert.equal(r.failures?.length, 1);
    assert.equal(r.failures![0]!.property, "nodeSubnets");
    assert.match(r.failures![0]!.reason, /cannot list the cluster's Services .*forbidden.*set nodeSubnets/);
    const live = (await check({}, contacted(), {}, speakers, noServices)).inputs;
    await assert.rejects(create(live, {}, forbidden), /nothing was written.*run pulumi up again/);
  });

  test("Services are read with the same credentials as the Nodes", async () => {
    const seen: unknown[] = [];
    const record: ServiceReader = async (c) => {
      seen.push(c);
      return [];
    };
    await check({}, contacted({ kubeconfig: "/input/kubeconfig" }), { context: "ctx" }, speakers, record);
    await create({ ...contacted({ kubeconfig: "/input/kubeconfig" }), assignments: {} }, { context: "ctx" }, record);
    assert.deepEqual(seen, [
      { kubeconfig: "/input/kubeconfig", context: "ctx" },
      { kubeconfig: "/input/kubeconfig", context: "ctx" },
    ]);
  });
});

describe("advertisements", () => {
  const rack = (name: string, cidr: string, labels: Record<string, string>) => ({ name, labels, subnets: [cidr] });
  const speakers = facts({
    nodes: 3,
    publishing: 3,
    subnets: ["10.0.0.0/24", "192.168.28.0/24"],
    publishers: [rack("a", "192.168.28.0/24", { rack: "r1" }), rack("b", "192.168.28.0/24", { rack: "r1" }), rack("c", "10.0.0.0/24", { rack: "r2" })],
  });
  const ad = (name: string, spec: Record<string, unknown>) => ({ name, spec });

  test("a pool no advertisement announces fails check, naming it", async () => {
    const r = await check({}, base({ advertisements: [ad("other", { ipAddressPools: ["other-pool"] })] }), {}, never);
    assert.equal(r.failures?.length, 1);
    assert.equal(r.failures![0]!.property, 'pools["first-pool"]');
    assert.match(r.failures![0]!.reason, /announced by no L2Advertisement/);
  });

  test("an advertisement with no pools, or a matching pool selector, covers the pool", async () => {
    assert.equal((await check({}, base({ advertisements: [ad("all", {})] }), {}, never)).failures, undefined);
    const labelled = { ...POOL, labels: { tier: "web" } };
    const bySelector = ad("web", { ipAddressPoolSelectors: [{ matchLabels: { tier: "web" } }] });
    assert.equal((await check({}, base({ pools: [labelled], advertisements: [bySelector] }), {}, never)).failures, undefined);
  });

  test("a pool must lie on a subnet of a node its advertisement selects", async () => {
    const ok = await check({}, base({ nodeSubnets: undefined, advertisements: [ad("r1", { nodeSelectors: [{ matchLabels: { rack: "r1" } }] })] }), {}, speakers);
    assert.equal(ok.failures, undefined);
    const wrong = await check({}, base({ nodeSubnets: undefined, advertisements: [ad("r2", { nodeSelectors: [{ matchLabels: { rack: "r2" } }] })] }), {}, speakers);
    assert.equal(wrong.failures?.length, 1);
    assert.equal(wrong.failures![0]!.property, 'pools["first-pool"].spec.addresses[0]');
    assert.match(wrong.failures![0]!.reason, /is on no subnet of the nodes its L2Advertisement "r2" selects \(c: 10\.0\.0\.0\/24\)/);
    const nobody = await check({}, base({ nodeSubnets: undefined, advertisements: [ad("r9", { nodeSelectors: [{ matchLabels: { rack: "r9" } }] })] }), {}, speakers);
    assert.match(nobody.failures![0]!.reason, /selects no node running a speaker/);
  });

  test("with explicit subnets there is no per-node view: only coverage is checked", async () => {
    const r = await check({}, base({ advertisements: [ad("r2", { nodeSelectors: [{ matchLabels: { rack: "r2" } }] })] }), {}, never);
    assert.equal(r.failures, undefined);
  });
});

describe("diff", () => {
  const state = { ...base(), stateVersion: 1, assignments: { "default/nginx": "192.168.28.210" }, assignedPools: { "default/nginx": "first-pool" }, subnetSource: "explicit" };

  test("no change when only the serialized provider, credentials or derived fields differ", () => {
    const news = { ...state, __provider: "exports.handler = something new", kubeconfig: "other", poolUsage: { x: 1 }, nodeSubnetsUsed: ["1.0.0.0/8"] };
    assert.deepEqual(diff({ ...state, __provider: "old code" }, news), { changes: false, replaces: [], deleteBeforeReplace: false });
  });

  test("the speakers publishing their subnets after up is no change when no address moves", () => {
    const news = { ...state, subnetSource: "speakers: published by 3 of 3 nodes (l2lb.dev/subnets)", nodeSubnetsUsed: ["192.168.28.0/24"] };
    assert.equal(diff(state, news).changes, false);
  });

  test("an empty list and a missing list are the same", () => {
    assert.equal(diff({ ...state, sharedIpGroups: [] }, { ...state }).changes, false);
  });

  test("a moved service is a change, not a replacement", () => {
    const r = diff(state, { ...state, assignments: { "default/nginx": "192.168.28.211" } });
    assert.deepEqual(r, { changes: true, replaces: [], deleteBeforeReplace: false });
  });

  test("a change of identity replaces", () => {
    assert.deepEqual(diff(state, { ...state, identity: "other" }).replaces, ["identity"]);
  });

  test("unknown assignments are a change", () => {
    assert.equal(diff(state, { ...state, assignments: UNKNOWN }).changes, true);
  });
});

describe("create, update, read, delete", () => {
  test("create returns the complete state without the serialized provider", async () => {
    const checked = (await check({}, base(), {}, never)).inputs;
    const r = create({ ...checked, __provider: "code" });
    assert.equal(r.id, "l2lb-allocation-lb");
    assert.equal("__provider" in r.outs, false);
    for (const key of ["identity", "pools", "services", "assignments", "assignedPools", "poolUsage", "subnetSource", "nodeSubnetsUsed", "stateVersion"]) {
      assert.ok(key in r.outs, `missing ${key}`);
    }
  });

  test("update returns the new state in full", async () => {
    const checked = (await check({}, base(), {}, never)).inputs;
    const r = update("l2lb-allocation-lb", {}, checked);
    assert.deepEqual(r.outs, checked);
  });

  test("read keeps the state, and accepts state written before stateVersion existed", () => {
    const old = { identity: "lb", pools: [POOL], services: [nginx], assignments: { "default/nginx": "192.168.28.210" } };
    const r = read("l2lb-allocation-lb", old);
    assert.equal(r.id, "l2lb-allocation-lb");
    assert.deepEqual(r.props, { ...old, stateVersion: 1 });
  });

  test("delete touches nothing outside the state", () => {
    assert.equal(remove("l2lb-allocation-lb", {}), undefined);
  });
});

describe("nodes", () => {
  test("nodeFacts reads published subnets and node addresses, ignoring malformed annotations", () => {
    const f = nodeFacts([
      node("a", "192.168.28.10", [{ interface: "eth0", cidr: "192.168.28.0/24", address: "192.168.28.10" }]) as never,
      node("b", "192.168.28.11", [
        { interface: "eth0", cidr: "192.168.28.0/24", address: "192.168.28.11" },
        { interface: "eth1", cidr: "10.0.0.0/24", address: "10.0.0.11" },
      ]) as never,
      { metadata: { name: "c", annotations: { "l2lb.dev/subnets": "{not json" } } },
      { metadata: { name: "d", annotations: { "l2lb.dev/subnets": "{}" } } },
      node("e", "192.168.28.12") as never,
    ]);
    assert.deepEqual(f, {
      nodes: 5,
      publishing: 2,
      subnets: ["10.0.0.0/24", "192.168.28.0/24"],
      addresses: ["192.168.28.10", "192.168.28.11", "192.168.28.12"],
      publishers: [
        { name: "a", labels: {}, subnets: ["192.168.28.0/24"] },
        { name: "b", labels: {}, subnets: ["10.0.0.0/24", "192.168.28.0/24"] },
      ],
    });
  });

  test("readNodesFromCluster talks to an API server with the kubeconfig's credentials", async () => {
    const server = await startFakeApiServer([node("a", "192.168.28.10", [{ interface: "eth0", cidr: "192.168.28.0/24", address: "192.168.28.10" }])]);
    try {
      const f = await readNodesFromCluster({ kubeconfig: server.kubeconfig });
      assert.deepEqual(f, {
        nodes: 1,
        publishing: 1,
        subnets: ["192.168.28.0/24"],
        addresses: ["192.168.28.10"],
        publishers: [{ name: "a", labels: {}, subnets: ["192.168.28.0/24"] }],
      });
      assert.ok(server.requests.some((r) => r.startsWith("GET /api/v1/nodes")), server.requests.join("\n"));
      const r = await check({}, base({ nodeSubnets: undefined }), { kubeconfig: server.kubeconfig });
      assert.match(String(r.inputs.subnetSource), /^speakers: published by 1 of 1 nodes/);
    } finally {
      await server.close();
    }
  });

  test("readServicesFromCluster lists every namespace; an API server without Services has none", async () => {
    const server = await startFakeApiServer([]);
    try {
      assert.deepEqual(await readServicesFromCluster({ kubeconfig: server.kubeconfig }), []);
      assert.ok(server.requests.some((r) => r.startsWith("GET /api/v1/services")), server.requests.join("\n"));
    } finally {
      await server.close();
    }
  });

  test("wrong credentials surface as a check failure", async () => {
    const server = await startFakeApiServer([], "right");
    try {
      const bad = server.kubeconfig.replace("token: right", "token: wrong");
      const r = await check({}, base({ nodeSubnets: undefined }), { kubeconfig: bad });
      assert.equal(r.failures?.[0]?.property, "nodeSubnets");
    } finally {
      await server.close();
    }
  });
});
