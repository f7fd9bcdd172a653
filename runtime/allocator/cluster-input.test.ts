import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import { ServiceReadings, servedServices, servicesInput } from "./cluster-input.ts";

function service(annotations: Record<string, string>, resourceVersion: string): k8s.V1Service {
  return {
    metadata: { namespace: "apps", name: "web", resourceVersion, annotations, creationTimestamp: new Date("2026-01-01T00:00:00Z") },
    spec: { type: "LoadBalancer", loadBalancerClass: "l2lb.dev/layer2", ports: [{ port: 80, protocol: "TCP" }] },
  };
}

function requestFor(readings: ServiceReadings, svc: k8s.V1Service): unknown {
  return servicesInput(servedServices([svc], false, readings), new Map(), readings).services[0];
}

describe("the allocator's Service requests", () => {
  it("hold only the annotations the planner reads", () => {
    const request = requestFor(new ServiceReadings(), service({ "metallb.io/allow-shared-ip": "k", "l2lb.dev/announced-by": "192.0.2.1=node-a/eth0", team: "ops" }, "1"));
    assert.deepEqual(request, { namespace: "apps", name: "web", annotations: { "metallb.io/allow-shared-ip": "k" }, ports: [{ port: 80, protocol: "TCP" }] });
  });

  it("keep their identity across writes the planner does not read, and change with what it reads", () => {
    const readings = new ServiceReadings();
    const first = requestFor(readings, service({ "l2lb.dev/requested-ips": "192.0.2.10" }, "1"));
    const assigned = { "l2lb.dev/requested-ips": "192.0.2.10", "l2lb.dev/load-balancer-ips": "192.0.2.10", "l2lb.dev/allocated-by": "cluster", "l2lb.dev/announced-by": "192.0.2.10=node-a/eth0" };
    assert.equal(requestFor(readings, service(assigned, "2")), first, "a new object with the assignment and announcing node: the same request");
    const moved = requestFor(readings, service({ ...assigned, "l2lb.dev/requested-ips": "192.0.2.11" }, "3"));
    assert.notEqual(moved, first);
    assert.deepEqual(moved, { namespace: "apps", name: "web", annotations: { "l2lb.dev/requested-ips": "192.0.2.11" }, ports: [{ port: 80, protocol: "TCP" }] });
  });
});
