import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { AddressPool } from "../model/pool.ts";
import { AllocationMemo } from "./memo.ts";
import { planAllocation } from "./plan.ts";
import { PlanSession } from "./session.ts";
import type { AllocationInput, Assignment, ServiceRequest } from "./types.ts";

const POOLS: AddressPool[] = [
  { name: "small", spec: { addresses: ["192.0.2.10-192.0.2.14", "2001:db8::10-2001:db8::13"] } },
  { name: "pinned", spec: { addresses: ["198.51.100.0/30"], serviceAllocation: { priority: 1, namespaces: ["b"] } } },
  { name: "manual", spec: { addresses: ["203.0.113.0/29"], autoAssign: false } },
];
const NAMES = ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10"];
const ADDRESSES = ["192.0.2.11", "192.0.2.12", "198.51.100.1", "203.0.113.3", "2001:db8::11", "bad"];

const serviceArb = fc.record({
  name: fc.constantFrom(...NAMES),
  namespace: fc.constantFrom("a", "b"),
  family: fc.constantFrom(["IPv4"], ["IPv6"], ["IPv4", "IPv6"]),
  dual: fc.constantFrom("PreferDualStack", "RequireDualStack"),
  key: fc.constantFrom(undefined, "k", "k2"),
  port: fc.constantFrom(80, 443),
  local: fc.boolean(),
  pool: fc.constantFrom(undefined, undefined, undefined, undefined, "manual", "pinned", "gone"),
  ip: fc.constantFrom(undefined, undefined, undefined, undefined, ...ADDRESSES),
});
type ServiceGen = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;

type Step =
  | { kind: "upsert"; s: ServiceGen }
  | { kind: "remove"; index: number }
  | { kind: "adopt"; skip: number }
  | { kind: "claim"; index: number; ip: string }
  | { kind: "pools"; drop: number; nodeAddress: boolean };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: serviceArb.map((s) => ({ kind: "upsert" as const, s })), weight: 5 },
  { arbitrary: fc.nat().map((index) => ({ kind: "remove" as const, index })), weight: 2 },
  { arbitrary: fc.nat({ max: 5 }).map((skip) => ({ kind: "adopt" as const, skip })), weight: 4 },
  // A previous assignment from elsewhere (a migration, a stale cache): it may collide with a holder.
  { arbitrary: fc.record({ index: fc.nat(), ip: fc.constantFrom(...ADDRESSES.slice(0, 5)) }).map((c) => ({ kind: "claim" as const, ...c })), weight: 1 },
  { arbitrary: fc.record({ drop: fc.integer({ min: -1, max: 2 }), nodeAddress: fc.boolean() }).map((p) => ({ kind: "pools" as const, ...p })), weight: 1 },
);

function request(s: ServiceGen): ServiceRequest {
  const r: ServiceRequest = { namespace: s.namespace, name: s.name, ports: [{ port: s.port }], selector: { app: "x" }, ipFamilies: [...s.family] };
  if (s.family.length === 2) r.ipFamilyPolicy = s.dual;
  if (s.local) r.externalTrafficPolicy = "Local";
  const annotations: Record<string, string> = {};
  if (s.key) annotations["metallb.io/allow-shared-ip"] = s.key;
  if (s.pool) annotations["metallb.io/address-pool"] = s.pool;
  if (Object.keys(annotations).length > 0) r.annotations = annotations;
  if (s.ip) r.loadBalancerIP = s.ip;
  return r;
}

describe("a plan session, and a plan with a memo", () => {
  it("give what planAllocation gives, for any sequence of changes (unchanged requests keep their objects)", () => {
    let incremental = 0;
    let plans = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 30 }), (steps) => {
        const session = new PlanSession();
        const twin = new PlanSession(); // the same plans, asked for outcomes only
        const memo = new AllocationMemo();
        let lastOutcomes: ReadonlyMap<string, unknown> = new Map();
        const services = new Map<string, ServiceRequest>();
        let previous: Record<string, Assignment> = {};
        let pools = POOLS;
        let nodeAddresses: string[] = [];
        let last: ReturnType<typeof planAllocation> | undefined;
        for (const step of steps) {
          if (step.kind === "upsert") services.set(`${step.s.namespace}/${step.s.name}`, request(step.s));
          if (step.kind === "remove" && services.size > 0) services.delete([...services.keys()][step.index % services.size] as string);
          if (step.kind === "adopt" && last?.ok) {
            const placed = Object.entries(last.services).flatMap(([k, o]) => ("ips" in o ? [[k, { ips: o.ips, pool: o.pool }] as const] : []));
            previous = Object.fromEntries(placed.filter((_, i) => i !== step.skip));
          }
          if (step.kind === "claim" && services.size > 0) previous = { ...previous, [[...services.keys()][step.index % services.size] as string]: { ips: [step.ip], pool: "" } };
          if (step.kind === "pools") {
            pools = POOLS.filter((_, i) => i !== step.drop);
            nodeAddresses = step.nodeAddress ? ["192.0.2.10"] : [];
          }
          const input: AllocationInput = { pools, services: [...services.values()], previous, nodeAddresses, isolateServiceProblems: true };
          const got = session.plan(input);
          const expected = planAllocation(input);
          assert.deepEqual(got, expected, `after ${JSON.stringify(step)} (${JSON.stringify(session.lastPlan)})`);
          assert.deepEqual(planAllocation(input, memo), expected, `with a memo, after ${JSON.stringify(step)}`);
          const outcomes = twin.outcomes(input);
          if (outcomes.ok && expected.ok) {
            assert.deepEqual(Object.fromEntries(outcomes.outcomes), expected.services);
            const touched = outcomes.touched;
            if (touched !== undefined) for (const [k, o] of outcomes.outcomes) if (!touched.has(k)) assert.deepEqual(o, lastOutcomes.get(k), `${k} changed but is not listed as touched`);
            lastOutcomes = outcomes.outcomes;
          } else assert.deepEqual(outcomes, expected);
          plans++;
          if (session.lastPlan.kind === "incremental") incremental++;
          last = got;
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 400) },
    );
    assert.ok(incremental > plans / 2, `most plans are incremental (${incremental} of ${plans}), so the comparison covers that path`);
  });

  it("places again only what changed: 2,000 kept assignments and 20 new Services place 20 units", () => {
    const session = new PlanSession();
    let services = Array.from({ length: 2000 }, (_, i): ServiceRequest => ({ namespace: "a", name: `s${i}`, ports: [{ port: 80 }], ipFamilies: ["IPv6"] }));
    const pools: AddressPool[] = [{ name: "v6", spec: { addresses: ["2001:db8:1::/112"] } }];
    const first = session.plan({ pools, services, isolateServiceProblems: true });
    assert.ok(first.ok);
    const previous = Object.fromEntries(Object.entries(first.services).map(([k, o]) => [k, o as Assignment]));
    session.plan({ pools, services, previous, isolateServiceProblems: true }); // the written assignments seen: all sticky now
    services = [...services, ...Array.from({ length: 20 }, (_, i): ServiceRequest => ({ namespace: "b", name: `n${i}`, ipFamilies: ["IPv6"] }))];
    const input: AllocationInput = { pools, services, previous, isolateServiceProblems: true };
    const second = session.plan(input);
    assert.deepEqual(session.lastPlan, { kind: "incremental", touched: 20 });
    assert.deepEqual(second, planAllocation(input));
  });

  it("plans everything again when a unit placed again takes an address a later kept unit may not share", () => {
    const session = new PlanSession();
    const pools: AddressPool[] = [{ name: "p", spec: { addresses: ["192.0.2.0/28"] } }];
    const services: ServiceRequest[] = [{ namespace: "a", name: "z", ipFamilies: ["IPv4"] }];
    session.plan({ pools, services, previous: { "a/z": { ips: ["192.0.2.5"], pool: "p" } }, isolateServiceProblems: true });
    // "a/b" sorts first and claims the same address (say, migrated from another implementation): it wins it.
    const input: AllocationInput = { pools, services: [...services, { namespace: "a", name: "b", ipFamilies: ["IPv4"] }], previous: { "a/z": { ips: ["192.0.2.5"], pool: "p" }, "a/b": { ips: ["192.0.2.5"], pool: "" } }, isolateServiceProblems: true };
    const got = session.plan(input);
    assert.equal(session.lastPlan.kind, "whole");
    assert.deepEqual(got, planAllocation(input));
  });

  it("names the same holder in a refusal as a plan from scratch, after the first of two sharing holders was placed again", () => {
    const session = new PlanSession();
    const pools: AddressPool[] = [{ name: "p", spec: { addresses: ["192.0.2.0/28"] } }];
    const shared = (name: string, port: number): ServiceRequest => ({ namespace: "a", name, ports: [{ port }], ipFamilies: ["IPv4"], annotations: { "metallb.io/allow-shared-ip": "k" } });
    const taker: ServiceRequest = { namespace: "a", name: "s3", ipFamilies: ["IPv4"], loadBalancerIP: "192.0.2.1" };
    const previous = { "a/s1": { ips: ["192.0.2.1"], pool: "p" }, "a/s2": { ips: ["192.0.2.1"], pool: "p" } };
    const s2 = shared("s2", 443);
    session.plan({ pools, services: [shared("s1", 80), s2, taker], previous, isolateServiceProblems: true });
    const input: AllocationInput = { pools, services: [shared("s1", 80), s2, taker], previous, isolateServiceProblems: true };
    const got = session.plan(input);
    assert.deepEqual(session.lastPlan, { kind: "incremental", touched: 2 });
    assert.deepEqual(got, planAllocation(input));
    assert.match((got.ok && "error" in got.services["a/s3"]! ? got.services["a/s3"].error : ""), /used by Service "a\/s1"/);
  });

  it("reuses what it read: a second plan of 2,000 kept assignments reads no previous assignment again", () => {
    const memo = new AllocationMemo();
    const services = Array.from({ length: 2000 }, (_, i): ServiceRequest => ({ namespace: "a", name: `s${i}`, ports: [{ port: 80 }], ipFamilies: ["IPv6"] }));
    const pools: AddressPool[] = [{ name: "v6", spec: { addresses: ["2001:db8:1::/112"] } }];
    const first = planAllocation({ pools, services }, memo);
    assert.ok(first.ok);
    const previous = Object.fromEntries(Object.entries(first.services).map(([k, o]) => [k, o as Assignment]));
    const second = planAllocation({ pools, services, previous }, memo);
    const third = planAllocation({ pools, services, previous }, memo);
    assert.ok(second.ok && third.ok);
    // The same outcome objects: taken from the memo, not computed again.
    for (const k of Object.keys(second.services)) assert.equal(third.services[k], second.services[k]);
    assert.deepEqual(third, planAllocation({ pools, services, previous }));
  });
});
