import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { LAST_APPLIED_ANNOTATION, slimForCache, slimService } from "./slim.ts";

test("slimForCache drops managedFields and kubectl's last-applied copy, and keeps every other annotation", () => {
  const svc = {
    metadata: {
      name: "web",
      annotations: { [LAST_APPLIED_ANNOTATION]: "{...}", "l2lb.dev/assignment": "192.0.2.10" },
      managedFields: [{ manager: "kubectl", operation: "Update" }],
    },
    spec: { type: "LoadBalancer" },
  };
  slimForCache(svc);
  assert.deepEqual(svc, { metadata: { name: "web", annotations: { "l2lb.dev/assignment": "192.0.2.10" } }, spec: { type: "LoadBalancer" } });
});

test("slimForCache leaves objects without metadata or annotations alone", () => {
  const bare = { kind: "Service" };
  slimForCache(bare);
  assert.deepEqual(bare, { kind: "Service" });
  const plain = { metadata: { name: "a" } };
  slimForCache(plain);
  assert.deepEqual(plain, { metadata: { name: "a" } });
});

test("slimForCache leaves metadata and annotations as fast objects, not hash tables", () => {
  setFlagsFromString("--allow-natives-syntax");
  const hasFastProperties = new Function("o", "return %HasFastProperties(o)") as (o: object) => boolean;
  const meta = JSON.parse(`{"name":"web","namespace":"apps","uid":"u","resourceVersion":"7","managedFields":[{"manager":"kubectl"}],"annotations":{"${LAST_APPLIED_ANNOTATION}":"{}","a":"b"},"creationTimestamp":"2026-01-01T00:00:00Z"}`) as Record<string, unknown>;
  const svc = { metadata: meta };
  slimForCache(svc);
  assert.equal(hasFastProperties(svc.metadata), true);
  assert.equal(hasFastProperties(svc.metadata.annotations as object), true);
  assert.deepEqual(svc.metadata, { name: "web", namespace: "apps", uid: "u", resourceVersion: "7", annotations: { a: "b" }, creationTimestamp: "2026-01-01T00:00:00Z" });
});

test("slimService keeps the spec fields the speaker reads, and ports as port and protocol", () => {
  const svc = {
    metadata: { name: "web", managedFields: [{ manager: "kubectl" }] },
    spec: {
      type: "LoadBalancer",
      loadBalancerClass: "l2lb.dev/layer2",
      loadBalancerIP: "192.0.2.10",
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      externalTrafficPolicy: "Local",
      selector: { app: "web" },
      ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: 8080, nodePort: 30080 }],
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      sessionAffinity: "None",
      internalTrafficPolicy: "Cluster",
      allocateLoadBalancerNodePorts: true,
      healthCheckNodePort: 31000,
    },
    status: { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } },
  };
  slimService(svc);
  assert.deepEqual(svc, {
    metadata: { name: "web" },
    spec: { type: "LoadBalancer", loadBalancerClass: "l2lb.dev/layer2", loadBalancerIP: "192.0.2.10", ipFamilies: ["IPv4"], ipFamilyPolicy: "SingleStack", externalTrafficPolicy: "Local", selector: { app: "web" }, ports: [{ port: 80, protocol: "TCP" }] },
    status: { loadBalancer: { ingress: [{ ip: "192.0.2.10" }] } },
  });
});
