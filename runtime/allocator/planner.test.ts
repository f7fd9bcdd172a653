import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { PlanSession, planAllocation } from "../../provider/core/allocation/index.ts";
import type { AllocationInput, Assignment, ServiceRequest } from "../../provider/core/allocation/index.ts";
import { inProcessPlanner, workerPlanner, type AllocatorPlan, type Planner } from "./planner.ts";
import { applyReply, applyRequest, replyOf, requestFor } from "./planner-protocol.ts";

/** What planAllocation gives, in the shape the allocator reads. */
function expected(input: AllocationInput): unknown {
  const plan = planAllocation(input);
  if (!plan.ok) return plan;
  const { changes: _changes, services, ...rest } = plan;
  return { ...rest, outcomes: Object.entries(services) };
}

function shape(plan: AllocatorPlan): unknown {
  if (!plan.ok) return plan;
  const { outcomes, ...rest } = plan;
  return { ...rest, outcomes: [...outcomes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
}

const pools = [{ name: "v6", spec: { addresses: ["2001:db8::/64", "192.0.2.0/24"] } }];
const svc = (i: number, family: "IPv4" | "IPv6" = i % 2 ? "IPv6" : "IPv4"): ServiceRequest => ({ namespace: "default", name: `s${i}`, ipFamilies: [family] });

/** Plans in which Services come, go and change, previous assignments adopted from the plan before, as the allocator does. */
async function checkEvolving(planner: Planner): Promise<void> {
  let services = Array.from({ length: 300 }, (_, i) => svc(i));
  let previous: Record<string, Assignment> = {};
  for (let round = 0; round < 6; round++) {
    const input: AllocationInput = { pools, services, previous, isolateServiceProblems: true };
    const plan = await planner.plan(input);
    assert.deepEqual(shape(plan), expected(input), `round ${round}`);
    assert.ok(plan.ok);
    previous = Object.fromEntries([...plan.outcomes].flatMap(([k, o]) => ("ips" in o ? [[k, { ips: o.ips, pool: o.pool }]] : [])));
    if (round === 2) delete previous["default/s3"];
    services = services.filter((_, i) => i % 7 !== round);
    services = services.map((s, i) => (i % 11 === round ? svc(Number(s.name.slice(1)), "IPv6") : s));
    services.push(...Array.from({ length: 20 }, (_, i) => svc(1000 + round * 20 + i)));
    if (round === 3) services.push({ namespace: "default", name: "bad", ipFamilies: ["IPv5" as "IPv4"] });
  }
}

describe("planners", () => {
  it("the worker gives exactly planAllocation's outcomes, bigints included, over plans in which Services come, go and change", async () => {
    const planner = workerPlanner();
    try {
      await checkEvolving(planner);
    } finally {
      await planner.close();
    }
  });

  it("the in-process planner gives the same", async () => {
    await checkEvolving(inProcessPlanner());
  });

  it("the worker lets its thread go when idle, and starts a new one for the next plan", async () => {
    const planner = workerPlanner(50);
    const input: AllocationInput = { pools: [{ name: "p", spec: { addresses: ["192.0.2.0/24"] } }], services: [{ namespace: "default", name: "a", ipFamilies: ["IPv4"] }], isolateServiceProblems: true };
    // The process's OS threads (Linux): a worker thread is one of them.
    const threads = (): number => Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
    try {
      assert.deepEqual(shape(await planner.plan(input)), expected(input));
      const busy = threads();
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(threads() < busy, `the idle thread exited (${busy} threads before, ${threads()} after)`);
      assert.deepEqual(shape(await planner.plan(input)), expected(input), "a plan after the thread exited");
    } finally {
      await planner.close();
    }
  });
});

describe("planner protocol", () => {
  it("sends only the Services and previous assignments that changed, and gets back only the outcomes that changed", () => {
    const services = Array.from({ length: 100 }, (_, i) => svc(i));
    const session = new PlanSession();
    const held = { services: new Map<string, ServiceRequest>(), previous: {} as Record<string, Assignment> };
    const reported = new Map();
    const first = requestFor(undefined, { pools, services, isolateServiceProblems: true });
    assert.equal(first.request.whole?.services.length, 100);
    const reply1 = replyOf(session.outcomes(applyRequest(held, first.request)), reported, true);
    assert.ok(reply1.ok);
    assert.equal(Object.keys(reply1.outcomes).length, 100);
    const plan1 = applyReply(first.state, reply1);
    assert.ok(plan1.ok);
    const previous = Object.fromEntries([...plan1.outcomes].map(([k, o]) => [k, o as Assignment]));

    const adopted = requestFor(first.state, { pools, services, previous, isolateServiceProblems: true });
    assert.deepEqual(adopted.request.upserts, []);
    assert.equal(Object.keys(adopted.request.previous ?? {}).length, 100);
    const reply2 = replyOf(session.outcomes(applyRequest(held, adopted.request)), reported, false);
    assert.ok(reply2.ok);
    assert.deepEqual(reply2.outcomes, {}, "adopting its own plan changes no outcome");
    applyReply(adopted.state, reply2);

    const next = [...services.slice(1), svc(500)];
    const { s0: _s0, ...kept } = Object.fromEntries(Object.entries(previous).map(([k, v]) => [k.slice("default/".length), v]));
    const nextPrevious = Object.fromEntries(Object.entries(kept).map(([k, v]) => [`default/${k}`, v]));
    const third = requestFor(adopted.state, { pools, services: next, previous: nextPrevious, isolateServiceProblems: true });
    assert.deepEqual(third.request.upserts?.map((s) => s.name), ["s500"]);
    assert.deepEqual(third.request.removed, ["default/s0"]);
    assert.deepEqual(third.request.previous, { "default/s0": null });
    const reply3 = replyOf(session.outcomes(applyRequest(held, third.request)), reported, false);
    assert.ok(reply3.ok);
    assert.deepEqual(Object.keys(reply3.outcomes), ["default/s500"]);
    assert.deepEqual(reply3.gone, ["default/s0"]);
    assert.deepEqual(shape(applyReply(third.state, reply3)), expected({ pools, services: next, previous: nextPrevious, isolateServiceProblems: true }));
  });

  it("sends the whole list when two Services share a key, so the planner still refuses both", () => {
    const { request } = requestFor({ services: new Map(), previous: new Map(), outcomes: new Map() }, { pools, services: [svc(1), svc(1)] });
    assert.equal(request.whole?.services.length, 2);
  });
});
