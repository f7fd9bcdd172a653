import assert from "node:assert/strict";
import { test } from "node:test";
import { LAST_APPLIED_ANNOTATION, slimForCache } from "./slim.ts";

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
