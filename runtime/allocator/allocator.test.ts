import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FakeCluster, makeAllocator } from "./testing.ts";

const IPS = "l2lb.dev/load-balancer-ips";
const BY = "l2lb.dev/allocated-by";

async function started(cluster: FakeCluster, defaultClass = false) {
  const made = makeAllocator(cluster, { defaultClass });
  made.allocator.setActive(true);
  await made.clock.advance(1000);
  return made;
}

describe("in-cluster allocator", () => {
  it("assigns every new Service, first address first, and marks the assignment as made in the cluster", async () => {
    const c = new FakeCluster();
    c.addPool("first-pool", ["192.0.2.200-192.0.2.220"]);
    c.addService("nginx");
    c.addService("api");
    await started(c);
    assert.deepEqual(c.assignments(), { "default/api": "192.0.2.200", "default/nginx": "192.0.2.201" });
    assert.equal(c.get("default/nginx")?.metadata?.annotations?.[BY], "cluster");
    assert.equal(c.get("default/nginx")?.metadata?.annotations?.["l2lb.dev/address-pool"], "first-pool");
  });

  it("plans a burst once: many changes within the batch window make one plan", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.0/24"]);
    const { allocator, clock, registry } = await started(c);
    const plansBefore = (await registry.getSingleMetric("l2lb_allocator_plans_total")?.get())?.values[0]?.value ?? 0;
    for (let i = 0; i < 100; i++) {
      c.addService(`svc-${i}`);
      allocator.markDirty();
    }
    await clock.advance(60);
    const plansAfter = (await registry.getSingleMetric("l2lb_allocator_plans_total")?.get())?.values[0]?.value ?? 0;
    assert.equal(plansAfter - plansBefore, 1);
    assert.equal(Object.keys(c.assignments()).length, 100);
    assert.equal(new Set(Object.values(c.assignments())).size, 100);
  });

  it("counts what asked for each plan: a write that conflicts (the Service changed meanwhile) asks for one more, as `conflict`", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.0/24"]);
    const { allocator, clock, registry } = await started(c);
    c.addService("a");
    c.failNext = { count: 1, code: 409 };
    allocator.markDirty("service");
    await clock.advance(200);
    const causes = Object.fromEntries(((await registry.getSingleMetric("l2lb_allocator_replan_causes_total")?.get())?.values ?? []).map((v) => [v.labels.cause, v.value]));
    assert.deepEqual(causes, { service: 1, conflict: 1 });
    assert.deepEqual(c.assignments(), { "default/a": "192.0.2.1" }, "the plan after the conflict wrote it");
  });

  it("never writes a Service a Pulumi stack assigned, and never gives its address to another", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.202"]);
    c.addService("z-stack", {}, { [IPS]: "192.0.2.200", "l2lb.dev/address-pool": "p" });
    c.addService("a-kubectl");
    await started(c);
    assert.equal(c.get("default/z-stack")?.metadata?.annotations?.[BY], undefined);
    assert.equal(c.assignments()["default/a-kubectl"], "192.0.2.201");
  });

  it("refuses one bad Service with a Warning event and still serves the others", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.210"]);
    c.addService("outside", {}, { "metallb.io/loadBalancerIPs": "198.51.100.7" });
    c.addService("malformed", {}, { "metallb.io/loadBalancerIPs": "not-an-ip" });
    c.addService("good");
    const { events } = await started(c);
    assert.deepEqual(Object.keys(c.assignments()), ["default/good"]);
    const [outside] = events.of("outside", "AllocationFailed");
    assert.match(outside?.message ?? "", /198\.51\.100\.7.*in no address pool/);
    assert.equal(events.of("malformed", "AllocationFailed").length, 1);
  });

  it("honours requests in every spelling, and shares an address under MetalLB's rules", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.220"]);
    c.addService("nginx", { loadBalancerIP: "192.0.2.211", ports: [{ port: 80, protocol: "TCP" }] }, { "metallb.universe.tf/allow-shared-ip": "nginx" });
    c.addService("nginx-2", { loadBalancerIP: "192.0.2.211", ports: [{ port: 81, protocol: "TCP" }] }, { "metallb.universe.tf/allow-shared-ip": "nginx" });
    c.addService("openelb", {}, { "eip.openelb.kubesphere.io/v1alpha1": "192.0.2.215" });
    c.addService("taken", { ports: [{ port: 80, protocol: "TCP" }] }, { "metallb.io/loadBalancerIPs": "192.0.2.211" });
    const { events } = await started(c);
    assert.deepEqual(c.assignments(), { "default/nginx": "192.0.2.211", "default/nginx-2": "192.0.2.211", "default/openelb": "192.0.2.215" });
    assert.match(events.of("taken", "AllocationFailed")[0]?.message ?? "", /192\.0\.2\.211 is taken/);
  });

  it("serves Services without a class only with defaultClass, keeping an address a previous implementation left in status", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.220"]);
    const old = c.addService("from-metallb", { loadBalancerClass: undefined });
    old.status = { loadBalancer: { ingress: [{ ip: "192.0.2.217" }] } };
    c.addService("classless", { loadBalancerClass: undefined });
    c.addService("other-class", { loadBalancerClass: "example.com/other" });
    await started(c, false);
    assert.deepEqual(c.assignments(), {});
    await started(c, true);
    assert.deepEqual(c.assignments(), { "default/classless": "192.0.2.200", "default/from-metallb": "192.0.2.217" });
  });

  it("is a fixed point: a second plan over its own result writes nothing", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.0/28", "2001:db8::/124"]);
    for (let i = 0; i < 20; i++) c.addService(`s${i}`, i % 2 ? { ipFamilies: ["IPv4", "IPv6"], ipFamilyPolicy: "PreferDualStack" } : {});
    const { allocator, clock } = await started(c);
    const writes = c.serviceWrites;
    allocator.markDirty();
    await clock.advance(100);
    assert.equal(c.serviceWrites, writes);
  });

  it("retries a failed write with growing delays and no duplicate", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.210"]);
    c.addService("nginx");
    c.failNext = { count: 3, code: 500 };
    const { clock } = await started(c);
    assert.deepEqual(c.assignments(), {});
    // 100, 200, 400 ms, each up to 10 % longer (jitter).
    await clock.advance(400);
    assert.deepEqual(c.assignments(), {}, "not before the delays of three failures");
    await clock.advance((100 + 200 + 400) * 1.1 - 400 + 10);
    assert.deepEqual(c.assignments(), { "default/nginx": "192.0.2.200" });
    assert.equal(c.serviceWrites, 4);
  });

  it("does not write a Service again while the cache still shows it as before its write", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.210"]);
    c.addService("nginx");
    c.freezeCache();
    const { allocator, clock } = await started(c);
    assert.equal(c.serviceWrites, 1);
    for (let i = 0; i < 5; i++) {
      allocator.markDirty();
      await clock.advance(100);
    }
    assert.equal(c.serviceWrites, 1);
    c.thawCache();
    allocator.markDirty();
    await clock.advance(100);
    assert.equal(c.serviceWrites, 1);
    assert.deepEqual(c.assignments(), { "default/nginx": "192.0.2.200" });
  });

  it("does not hand an address twice while its write is not yet seen", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.210"]);
    c.addService("m");
    c.failNext = { count: 1, code: 500 };
    const { allocator, clock } = await started(c);
    // "a" sorts before "m": without the pending overlay the next plan would give it m's address.
    c.addService("a");
    allocator.markDirty();
    await clock.advance(1000);
    assert.deepEqual(c.assignments(), { "default/a": "192.0.2.201", "default/m": "192.0.2.200" });
  });

  it("sets an overlapping pool aside with a condition naming the older pool; the older keeps serving", async () => {
    const c = new FakeCluster();
    c.addPool("old", ["192.0.2.200-192.0.2.210"], "2026-01-01T00:00:00Z");
    c.addPool("new", ["192.0.2.205-192.0.2.215"], "2026-02-01T00:00:00Z");
    c.addService("nginx");
    const { events } = await started(c);
    const cond = (name: string) => c.pools.find((p) => p.metadata?.name === name)?.status?.conditions?.[0];
    assert.equal(cond("old")?.status, "True");
    assert.equal(cond("new")?.status, "False");
    assert.match(cond("new")?.message ?? "", /"old"/);
    assert.equal(events.of("new", "PoolSetAside").length, 1);
    assert.deepEqual(c.assignments(), { "default/nginx": "192.0.2.200" });
  });

  it("sets aside a pool no advertisement announces, without renumbering Services already on it", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.210"]);
    c.addService("kept", {}, { [IPS]: "192.0.2.205", "l2lb.dev/address-pool": "p", [BY]: "cluster" });
    c.addService("new");
    c.advertisements = [];
    const { events } = await started(c);
    assert.deepEqual(c.assignments(), { "default/kept": "192.0.2.205" });
    assert.match(events.of("new", "AllocationFailed")[0]?.message ?? "", /no auto-assigning pool/);
    assert.match(c.pools[0]?.status?.conditions?.[0]?.message ?? "", /no L2Advertisement announces it/);
  });

  it("releases an in-cluster assignment whose pool is gone", async () => {
    const c = new FakeCluster();
    const orphan = c.addService("orphan", {}, { [IPS]: "198.51.100.5", "l2lb.dev/address-pool": "deleted", [BY]: "cluster" });
    orphan.status = { loadBalancer: { ingress: [{ ip: "198.51.100.5" }] } };
    const { events } = await started(c);
    assert.deepEqual(c.assignments(), {});
    assert.deepEqual(c.get("default/orphan")?.status?.loadBalancer?.ingress, []);
    assert.equal(events.of("orphan", "AllocationFailed").length >= 1, true);
  });

  it("takes node subnets from what speakers published, ignoring a malformed annotation", async () => {
    const c = new FakeCluster();
    c.addPool("lan", ["192.0.2.200-192.0.2.210"]);
    c.addPool("elsewhere", ["203.0.113.10-203.0.113.20"], "2026-02-01T00:00:00Z");
    c.nodes = [
      { metadata: { name: "a", annotations: { "l2lb.dev/subnets": JSON.stringify([{ interface: "eth0", cidr: "192.0.2.0/24", address: "192.0.2.11" }]) } }, status: { addresses: [{ type: "InternalIP", address: "192.0.2.11" }] } },
      { metadata: { name: "b", annotations: { "l2lb.dev/subnets": '[{"interface":"eth0","cidr":"not-a-cidr","address":"x"}]' } } },
    ];
    c.addService("nginx", {}, { "l2lb.dev/requested-pool": "elsewhere" });
    c.addService("web");
    await started(c);
    assert.deepEqual(c.assignments(), { "default/web": "192.0.2.200" });
    assert.match(c.pools.find((p) => p.metadata?.name === "elsewhere")?.status?.conditions?.[0]?.message ?? "", /subnet/);
  });

  it("writes nothing when not elected, and drops queued writes on losing the role", async () => {
    const c = new FakeCluster();
    c.addPool("p", ["192.0.2.200-192.0.2.210"]);
    c.addService("nginx");
    const { allocator, clock } = makeAllocator(c);
    allocator.markDirty();
    await clock.advance(5000);
    assert.equal(c.serviceWrites, 0);
    allocator.setActive(true);
    allocator.setActive(false);
    await clock.advance(5000);
    assert.equal(c.serviceWrites, 0);
  });
});
