import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { AddressPool } from "../model/pool.ts";
import { AllocationMemo } from "./memo.ts";
import { planAllocation } from "./plan.ts";
import type { AllocationInput, Assignment, ServiceRequest } from "./types.ts";

const POOLS: AddressPool[] = [
  { name: "small", spec: { addresses: ["192.0.2.10-192.0.2.13", "2001:db8::10-2001:db8::12"] } },
  { name: "pinned", spec: { addresses: ["198.51.100.0/30"], serviceAllocation: { priority: 1, namespaces: ["b"] } } },
  { name: "manual", spec: { addresses: ["203.0.113.0/29"], autoAssign: false } },
];

const serviceArb = fc.record({
  name: fc.constantFrom("s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"),
  namespace: fc.constantFrom("a", "b"),
  family: fc.constantFrom(["IPv4"], ["IPv6"], ["IPv4", "IPv6"]),
  key: fc.constantFrom(undefined, "k"),
  port: fc.constantFrom(80, 443),
  pool: fc.constantFrom(undefined, undefined, undefined, "manual", "pinned", "gone"),
  ip: fc.constantFrom(undefined, undefined, undefined, "192.0.2.11", "203.0.113.3", "bad"),
});

type ServiceGen = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;
type Step =
  | { kind: "upsert"; s: ServiceGen }
  | { kind: "remove"; index: number }
  | { kind: "adopt" }
  | { kind: "forget"; index: number }
  | { kind: "pools"; drop: number; nodeAddress: boolean };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: serviceArb.map((s) => ({ kind: "upsert" as const, s })), weight: 5 },
  { arbitrary: fc.nat().map((index) => ({ kind: "remove" as const, index })), weight: 1 },
  { arbitrary: fc.constant({ kind: "adopt" as const }), weight: 3 },
  { arbitrary: fc.nat().map((index) => ({ kind: "forget" as const, index })), weight: 1 },
  { arbitrary: fc.record({ drop: fc.integer({ min: -1, max: 2 }), nodeAddress: fc.boolean() }).map((p) => ({ kind: "pools" as const, ...p })), weight: 1 },
);

function request(s: ServiceGen): ServiceRequest {
  const r: ServiceRequest = { namespace: s.namespace, name: s.name, ports: [{ port: s.port }], selector: { app: s.name }, ipFamilies: [...s.family] };
  if (s.family.length === 2) r.ipFamilyPolicy = "PreferDualStack";
  const annotations: Record<string, string> = {};
  if (s.key) annotations["metallb.io/allow-shared-ip"] = s.key;
  if (s.pool) annotations["metallb.io/address-pool"] = s.pool;
  if (Object.keys(annotations).length > 0) r.annotations = annotations;
  if (s.ip) r.loadBalancerIP = s.ip;
  return r;
}

describe("a plan with a memo", () => {
  it("equals the plan without one, over random sequences of changes (unchanged requests keep their objects, as informer caches do)", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.boolean(), (steps, isolate) => {
        const memo = new AllocationMemo();
        const services = new Map<string, ServiceRequest>();
        let previous: Record<string, Assignment> = {};
        let pools = POOLS;
        let nodeAddresses: string[] = [];
        let last: ReturnType<typeof planAllocation> | undefined;
        for (const step of steps) {
          if (step.kind === "upsert") services.set(`${step.s.namespace}/${step.s.name}`, request(step.s));
          if (step.kind === "remove" && services.size > 0) services.delete([...services.keys()][step.index % services.size] as string);
          if (step.kind === "forget") previous = Object.fromEntries(Object.entries(previous).filter((_, i) => i !== step.index % Math.max(1, Object.keys(previous).length)));
          if (step.kind === "adopt" && last?.ok) previous = Object.fromEntries(Object.entries(last.services).flatMap(([k, o]) => ("ips" in o ? [[k, { ips: o.ips, pool: o.pool }]] : [])));
          if (step.kind === "pools") {
            pools = POOLS.filter((_, i) => i !== step.drop);
            nodeAddresses = step.nodeAddress ? ["192.0.2.10"] : [];
          }
          const input: AllocationInput = { pools, services: [...services.values()], previous, nodeAddresses, isolateServiceProblems: isolate };
          const withMemo = planAllocation(input, memo);
          assert.deepEqual(withMemo, planAllocation(input));
          last = withMemo;
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
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
