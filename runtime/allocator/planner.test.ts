import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { planAllocation } from "../../provider/core/allocation/index.ts";
import type { AllocationInput, AllocationResult, ServiceRequest } from "../../provider/core/allocation/index.ts";
import { inProcessPlanner, workerPlanner } from "./planner.ts";
import { applyReply, applyRequest, replyOf, requestFor } from "./planner-protocol.ts";

/** The plan as the allocator reads it: without the change list. */
function expected(input: AllocationInput): unknown {
  const plan: AllocationResult = planAllocation(input);
  if (!plan.ok) return plan;
  const { changes: _changes, ...rest } = plan;
  return rest;
}

const pools = [{ name: "v6", spec: { addresses: ["2001:db8::/64", "192.0.2.0/24"] } }];
const svc = (i: number, family: "IPv4" | "IPv6" = i % 2 ? "IPv6" : "IPv4"): ServiceRequest => ({ namespace: "default", name: `s${i}`, ipFamilies: [family] });

/** Inputs in which Services come, go and change, previous assignments adopted from the plan before, as the allocator does. */
async function* evolving(planner: { plan(input: AllocationInput): Promise<unknown> }): AsyncGenerator<AllocationInput> {
  let services = Array.from({ length: 300 }, (_, i) => svc(i));
  let previous: Record<string, { ips: string[]; pool: string }> = {};
  for (let round = 0; round < 6; round++) {
    const input: AllocationInput = { pools, services, previous, isolateServiceProblems: true };
    yield input;
    const plan = (await planner.plan(input)) as { ok: boolean; services: Record<string, { ips?: string[]; pool?: string }> };
    previous = Object.fromEntries(Object.entries(plan.services).flatMap(([k, o]) => (o.ips ? [[k, { ips: o.ips, pool: o.pool as string }]] : [])));
    services = services.filter((_, i) => i % 7 !== round);
    services = services.map((s, i) => (i % 11 === round ? svc(Number(s.name.slice(1)), "IPv6") : s));
    services.push(...Array.from({ length: 20 }, (_, i) => svc(1000 + round * 20 + i)));
    if (round === 3) services.push({ namespace: "default", name: "bad", ipFamilies: ["IPv5" as "IPv4"] });
  }
}

describe("worker planner", () => {
  it("gives exactly the in-process result, bigints included, over plans in which Services come, go and change", async () => {
    const planner = workerPlanner();
    try {
      for await (const input of evolving(planner)) assert.deepEqual(await planner.plan(input), expected(input));
    } finally {
      await planner.close();
    }
  });

  it("the in-process planner gives the same", async () => {
    const planner = inProcessPlanner();
    for await (const input of evolving(planner)) {
      const { changes: _c, ...plan } = (await planner.plan(input)) as AllocationResult & { changes?: unknown };
      assert.deepEqual(plan, expected(input));
    }
  });

  it("lets its thread go when idle, and starts a new one for the next plan", async () => {
    const planner = workerPlanner(50);
    const input: AllocationInput = { pools: [{ name: "p", spec: { addresses: ["192.0.2.0/24"] } }], services: [{ namespace: "default", name: "a", ipFamilies: ["IPv4"] }], isolateServiceProblems: true };
    // The process's OS threads (Linux): a worker thread is one of them.
    const threads = (): number => Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
    try {
      assert.deepEqual(await planner.plan(input), expected(input));
      const busy = threads();
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(threads() < busy, `the idle thread exited (${busy} threads before, ${threads()} after)`);
      assert.deepEqual(await planner.plan(input), expected(input), "a plan after the thread exited");
    } finally {
      await planner.close();
    }
  });
});

describe("planner protocol", () => {
  it("sends only the Services whose objects changed, and gets back only the outcomes that changed", () => {
    const services = Array.from({ length: 100 }, (_, i) => svc(i));
    const first = requestFor(undefined, { pools, services });
    assert.equal(first.request.services?.length, 100);
    const held = new Map<string, ServiceRequest>();
    const reported = new Map();
    const reply1 = replyOf(planAllocation({ pools, services: applyRequest(held, first.request) }), reported, true);
    assert.ok(reply1.ok);
    assert.equal(Object.keys(reply1.outcomes).length, 100);
    const plan1 = applyReply(first.state, reply1);
    assert.ok(plan1.ok);
    const previous = Object.fromEntries(Object.entries(plan1.services).map(([k, o]) => [k, o as { ips: string[]; pool: string }]));

    const next = [...services.slice(1), svc(500)];
    const second = requestFor(first.state, { pools, services: next, previous });
    assert.deepEqual(second.request.upserts?.map((s) => s.name), ["s500"]);
    assert.deepEqual(second.request.removed, ["default/s0"]);
    const reply2 = replyOf(planAllocation({ pools, services: applyRequest(held, second.request), previous }), reported, false);
    assert.ok(reply2.ok);
    assert.deepEqual(Object.keys(reply2.outcomes), ["default/s500"]);
    assert.deepEqual(reply2.gone, ["default/s0"]);
    assert.deepEqual(applyReply(second.state, reply2), expected({ pools, services: next, previous }));
  });

  it("sends the whole list when two Services share a key, so the planner still refuses both", () => {
    const { request } = requestFor({ services: new Map(), outcomes: new Map() }, { pools, services: [svc(1), svc(1)] });
    assert.equal(request.services?.length, 2);
  });
});
