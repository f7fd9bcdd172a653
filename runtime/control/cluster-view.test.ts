import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import { ClusterCache } from "./cluster-view.ts";
import type { ClusterSource } from "./sources.ts";

const pool = (spec: unknown, status?: unknown, labels?: Record<string, string>): k8s.KubernetesObject =>
  ({ metadata: { name: "lan", ...(labels ? { labels } : {}) }, spec, ...(status ? { status } : {}) }) as k8s.KubernetesObject;

describe("ClusterCache.classify: which pool and advertisement changes need a plan", () => {
  const spec = { addresses: ["192.0.2.0/28"] };
  const cases: [string, k8s.KubernetesObject, boolean][] = [
    ["its status written (pool usage, conditions)", pool(spec, { assigned: 3 }), false],
    ["its spec changed", pool({ addresses: ["192.0.2.0/27"] }), true],
    ["its labels changed (advertisements select pools by label)", pool({ addresses: ["192.0.2.0/27"] }, undefined, { tier: "gold" }), true],
  ];
  for (const kind of ["pool", "advertisement"] as const) {
    for (const [what, changed, plans] of cases) {
      it(`${kind}: ${what} → ${plans ? "plan" : "no plan"}`, () => {
        const cache = new ClusterCache({} as ClusterSource, false);
        assert.deepEqual(cache.classify(kind, "add", pool(spec)), { plan: true, allocator: true, announce: false });
        assert.deepEqual(cache.classify(kind, "update", changed), { plan: plans, allocator: plans, announce: false });
      });
    }
    it(`${kind}: deleted → plan`, () => {
      const cache = new ClusterCache({} as ClusterSource, false);
      cache.classify(kind, "add", pool(spec));
      assert.equal(cache.classify(kind, "delete", pool(spec)).plan, true);
    });
  }
});
