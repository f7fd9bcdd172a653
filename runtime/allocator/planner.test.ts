import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planAllocation } from "../../provider/core/allocation/index.ts";
import type { AllocationInput, Assignment, ServiceRequest } from "../../provider/core/allocation/index.ts";
import { slicedPlanner, type AllocatorPlan, type Planner } from "./planner.ts";

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

describe("sliced planner", () => {
  it("gives exactly planAllocation's outcomes, bigints included, over plans in which Services come, go and change", async () => {
    await checkEvolving(slicedPlanner());
  });

  it("gives the same when it pauses at every pause point, and pauses throughout a plan", async () => {
    const planner = slicedPlanner({ sliceMs: 0 });
    await checkEvolving(planner);
    // 300 to 400 Services per plan, several passes over them: far more than one pause per plan.
    assert.ok(planner.stats().turns > 6 * 10, `paused ${planner.stats().turns} times over six plans`);
  });

  it("lets the event loop turn between slices: a timer set before a long plan fires before the plan ends", async () => {
    const planner = slicedPlanner({ sliceMs: 1 });
    const services = Array.from({ length: 5000 }, (_, i) => svc(i));
    const order: string[] = [];
    setTimeout(() => order.push("timer"), 0);
    await planner.plan({ pools, services, isolateServiceProblems: true }).then(() => order.push("plan"));
    assert.deepEqual(order, ["timer", "plan"]);
    assert.ok(planner.stats().turns > 0);
  });

  it("keeps its session between plans until told to forget it", async () => {
    const planner = slicedPlanner();
    const input: AllocationInput = { pools, services: Array.from({ length: 50 }, (_, i) => svc(i)), isolateServiceProblems: true };
    await planner.plan(input);
    await planner.plan(input);
    assert.equal(planner.stats().lastPlan.kind, "incremental");
    planner.forget();
    assert.deepEqual(shape(await planner.plan(input)), expected(input));
    assert.deepEqual(planner.stats().lastPlan, { kind: "whole", why: "first plan" });
  });

  it("closing ends a plan in progress and refuses later ones", async () => {
    let turns = 0;
    const planner = slicedPlanner({ sliceMs: 0, turn: async () => void (++turns === 3 && (await planner.close())) });
    const input: AllocationInput = { pools, services: Array.from({ length: 2000 }, (_, i) => svc(i)), isolateServiceProblems: true };
    await assert.rejects(planner.plan(input), /closed in the middle of a plan/);
    await assert.rejects(planner.plan(input), /the planner is closed/);
  });
});
