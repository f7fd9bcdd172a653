import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { plan, pool, stateOf, svc } from "./helpers.test.ts";
import { planAllocation } from "./plan.ts";
import type { AllocationInput } from "./types.ts";

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** An input that runs every phase: sticky (kept, moved and released), requested, first-fit, groups, sharing, refusals, warnings. */
function busyInput(): AllocationInput {
  const pools = [
    pool("dual", ["10.0.0.1-10.0.0.9", "2001:db8::1-2001:db8::9"]),
    pool("pinned", ["10.0.1.0/29"], { serviceAllocation: { priority: 1, namespaces: ["prod"] } }),
    pool("manual", ["10.0.2.1-10.0.2.3"], { autoAssign: false }),
  ];
  const services = [
    svc("d/a", { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv6", "IPv4"] }),
    svc("d/b", { annotations: { "metallb.io/allow-shared-ip": "k" }, ports: [{ port: 80 }] }),
    svc("d/c", { annotations: { "metallb.io/allow-shared-ip": "k" }, ports: [{ port: 443 }] }),
    svc("d/req", { annotations: { "metallb.io/loadBalancerIPs": "10.0.2.2" } }),
    svc("prod/p", { ipFamilyPolicy: "RequireDualStack" }),
    svc("d/g1", { ports: [{ port: 1 }] }),
    svc("d/g2", { ports: [{ port: 2 }] }),
    svc("d/bad", { annotations: { "metallb.io/address-pool": "nowhere" } }),
  ];
  const first = plan({ pools, services: services.filter((s) => s.name !== "bad"), sharedIpGroups: [{ name: "g", services: ["d/g1", "d/g2"] }] });
  return {
    pools,
    services,
    sharedIpGroups: [{ name: "g", services: ["d/g1", "d/g2"] }],
    namespaceLabels: { prod: { team: "x" } },
    nodeSubnets: ["10.0.0.0/16", "2001:db8::/64"],
    nodeAddresses: ["10.0.0.3"],
    previous: { ...stateOf(first), "d/gone": { ips: ["10.0.0.8"], pool: "dual" }, "d/a": { ips: ["10.0.0.9", "not-an-ip"], pool: "dual" } },
    isolateServiceProblems: true,
  };
}

describe("planAllocation leaves its input alone", () => {
  it("a deeply frozen input gives the same result as a fresh copy, and is unchanged", () => {
    const input = busyInput();
    const before = structuredClone(input);
    const frozen = planAllocation(deepFreeze(input));
    assert.deepEqual(input, before);
    assert.deepEqual(frozen, planAllocation(structuredClone(before)));
    assert.ok(frozen.ok && frozen.refused.length > 0 && frozen.warnings.length > 0 && frozen.changes.some((c) => c.kind === "moved"));
  });
  it("planning twice from one input gives the same result (no state carried between calls)", () => {
    const input = busyInput();
    assert.deepEqual(planAllocation(input), planAllocation(input));
  });
});
