import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sharingProfile } from "../../provider/core/allocation/sharing.ts";
import type { ServiceRequest } from "../../provider/core/allocation/types.ts";
import { claimOrder, planAddresses } from "./index.ts";
import type { ClusterView, ServiceView } from "./index.ts";

function claimant(name: string, ip: string, request: Partial<ServiceRequest>, inCluster: boolean, created: string): ServiceView {
  const sharing = sharingProfile({ namespace: "default", name, ports: [{ port: 80 }], ...request });
  return {
    namespace: "default",
    name,
    labels: {},
    namespaceLabels: {},
    assigned: ip,
    local: false,
    endpointNodes: new Set(),
    ...(sharing ? { sharing } : {}),
    inCluster,
    claim: claimOrder(inCluster, created, `default/${name}`),
  };
}

function view(services: ServiceView[]): ClusterView {
  return {
    nodes: [{ name: "node-a", labels: {}, networkUnavailable: false }],
    speakers: [{ node: "node-a", subnets: [{ interface: "eth0", cidr: "192.0.2.0/24", address: "192.0.2.11" }] }],
    services,
    pools: [{ name: "p", spec: { addresses: ["192.0.2.200-192.0.2.220"] } }],
    advertisements: [{ name: "all", spec: {} }],
  };
}

describe("two Services claiming one address", () => {
  const T1 = "2026-01-01T00:00:00.000Z";
  const T2 = "2026-01-02T00:00:00.000Z";
  // [name, first claimant, second claimant, announced for, refused]
  const table: [string, ServiceView, ServiceView, string[], string | undefined][] = [
    ["without sharing keys: the older in-cluster claim wins", claimant("b", "192.0.2.200", {}, true, T1), claimant("a", "192.0.2.200", {}, true, T2), ["default/b"], "default/a"],
    ["a stack's claim wins over an older in-cluster one", claimant("old", "192.0.2.200", {}, true, T1), claimant("stack", "192.0.2.200", {}, false, T2), ["default/stack"], "default/old"],
    [
      "same sharing key, distinct ports: both announced",
      claimant("x", "192.0.2.200", { annotations: { "metallb.io/allow-shared-ip": "k" }, ports: [{ port: 80 }] }, true, T1),
      claimant("y", "192.0.2.200", { annotations: { "metallb.io/allow-shared-ip": "k" }, ports: [{ port: 81 }] }, true, T2),
      ["default/x", "default/y"],
      undefined,
    ],
    [
      "same sharing key, same port: the earlier claim only",
      claimant("x", "192.0.2.200", { annotations: { "metallb.io/allow-shared-ip": "k" } }, true, T1),
      claimant("y", "192.0.2.200", { annotations: { "metallb.io/allow-shared-ip": "k" } }, true, T2),
      ["default/x"],
      "default/y",
    ],
  ];
  it("two assignments of one stack are never checked against each other (a SharedIpGroup needs no sharing key)", () => {
    const plan = planAddresses(view([claimant("nginx", "192.0.2.211", {}, false, T1), claimant("nginx-2", "192.0.2.211", { ports: [{ port: 81 }] }, false, T2)]));
    assert.deepEqual(plan.addresses[0]?.services, ["default/nginx", "default/nginx-2"]);
    assert.deepEqual(plan.refusals, []);
  });
  for (const [name, first, second, announced, refused] of table) {
    it(name, () => {
      for (const services of [[first, second], [second, first]]) {
        const plan = planAddresses(view(services));
        assert.deepEqual(plan.addresses[0]?.services, announced);
        const conflicts = plan.refusals.filter((r) => r.reason === "Conflict");
        assert.deepEqual(conflicts.map((r) => r.service), refused ? [refused] : []);
        if (refused) assert.match(conflicts[0]?.message ?? "", /earlier claim keeps it/);
      }
    });
  }
});
