// A plan computed with a PlanMemo carried over a sequence of changes is the plan a fresh computation
// gives, and an address nothing changed for keeps its plan object (what the writers' change
// stamps rely on); the view cache keeps a Service's view object while nothing it reads changed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import fc from "fast-check";
import type { AddressPool, L2Advertisement } from "../../provider/core/model/pool.ts";
import { EXCLUDE_LABEL, KeptOrder, PlanMemo, planAddresses } from "./plan.ts";
import type { ClusterView, ServiceView, SpeakerView } from "./plan.ts";
import { clusterView, type ServiceViewCache } from "./view.ts";

// Enough nodes that a few joining or leaving are inserted into and dropped from kept rankings.
const NODES = ["node-a", "node-b", "node-c", "node-d", "node-e", "node-f", "node-g", "node-h", "node-i", "node-j", "node-k", "node-l"];
const IPS = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "198.51.100.5", "2001:db8::10", "2001:db8::11", "203.0.113.9"];

const speakerOf = (node: string, wide: boolean): SpeakerView => ({
  node,
  subnets: [
    { interface: "eth0", cidr: wide ? "192.0.2.0/24" : "192.0.2.0/28", address: "192.0.2.7" },
    { interface: "eth1", cidr: "2001:db8::/64", address: "2001:db8::7" },
    { interface: "eth2", cidr: "198.51.100.0/24", address: "198.51.100.7" },
  ],
});

interface World {
  services: Map<string, ServiceView>;
  alive: Set<string>;
  wide: Set<string>;
  excluded: Set<string>;
  poolEnd: number;
  adInterfaces: string[] | undefined;
}

type Step =
  | { kind: "assign"; name: string; ips: string[]; local: boolean; endpoints: string[] }
  | { kind: "delete"; name: string }
  | { kind: "alive" | "wide" | "exclude"; node: string }
  | { kind: "pool"; end: number }
  | { kind: "interfaces"; interfaces: string[] | undefined };

const name = fc.constantFrom("a", "b", "c", "d", "e");
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("assign" as const), name, ips: fc.subarray(IPS, { maxLength: 2 }), local: fc.boolean(), endpoints: fc.subarray(NODES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), name }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom("alive" as const, "wide" as const, "exclude" as const), node: fc.constantFrom(...NODES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pool" as const), end: fc.constantFrom(11, 12, 200) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("interfaces" as const), interfaces: fc.constantFrom<string[] | undefined>(undefined, ["eth0", "eth1"], ["eth2"]) }) },
);

const toggle = (set: Set<string>, node: string): void => void (set.has(node) ? set.delete(node) : set.add(node));

function apply(w: World, step: Step): void {
  if (step.kind === "assign") {
    w.services.set(step.name, { namespace: "default", name: step.name, labels: {}, namespaceLabels: {}, assigned: step.ips.join(","), local: step.local, endpointNodes: new Set(step.endpoints) });
  } else if (step.kind === "delete") w.services.delete(step.name);
  else if (step.kind === "alive") toggle(w.alive, step.node);
  else if (step.kind === "wide") toggle(w.wide, step.node);
  else if (step.kind === "exclude") toggle(w.excluded, step.node);
  else if (step.kind === "pool") w.poolEnd = step.end;
  else if (step.kind === "interfaces") w.adInterfaces = step.interfaces;
}

/**
 * A view of the world: every object new, except (with `keep`) the Services, whose view objects
 * stay while they are unchanged, as the speaker's cache keeps them.
 */
function viewOf(w: World, keep = false): ClusterView {
  const pools: AddressPool[] = [{ name: "lan", spec: { addresses: [`192.0.2.10-192.0.2.${w.poolEnd}`, "198.51.100.0/24", "2001:db8::/120"] } }];
  const advertisements: L2Advertisement[] = [{ name: "all", spec: w.adInterfaces ? { interfaces: w.adInterfaces } : {} }];
  return {
    nodes: NODES.map((n) => ({ name: n, labels: (w.excluded.has(n) ? { [EXCLUDE_LABEL]: "" } : {}) as Record<string, string>, networkUnavailable: false })),
    speakers: NODES.filter((n) => w.alive.has(n)).map((n) => speakerOf(n, w.wide.has(n))),
    services: keep ? [...w.services.values()] : [...w.services.values()].map((s) => ({ ...s, endpointNodes: new Set(s.endpointNodes) })),
    pools,
    advertisements,
  };
}

describe("PlanMemo", () => {
  it("plans exactly as without it, over any sequence of Service, speaker, node, pool and advertisement changes (rankings mended as speakers come and go)", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), (steps) => {
        const w: World = { services: new Map(), alive: new Set(NODES), wide: new Set(NODES), excluded: new Set(), poolEnd: 200, adInterfaces: undefined };
        const memo = new PlanMemo();
        for (const step of steps) {
          apply(w, step);
          assert.deepEqual(planAddresses(viewOf(w, true), memo), planAddresses(viewOf(w)), JSON.stringify(step));
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 500) },
    );
  });

  it("keeps the plan object of an address whose Services did not change", () => {
    const w: World = { services: new Map(), alive: new Set(NODES), wide: new Set(NODES), excluded: new Set(), poolEnd: 200, adInterfaces: undefined };
    apply(w, { kind: "assign", name: "a", ips: ["192.0.2.10"], local: false, endpoints: [] });
    apply(w, { kind: "assign", name: "b", ips: ["192.0.2.11"], local: false, endpoints: [] });
    const memo = new PlanMemo();
    const first = planAddresses(viewOf(w), memo);
    apply(w, { kind: "assign", name: "b", ips: ["192.0.2.12"], local: false, endpoints: [] });
    const second = planAddresses(viewOf(w), memo);
    assert.equal(second.addresses.find((a) => a.ip === "192.0.2.10"), first.addresses.find((a) => a.ip === "192.0.2.10"));
    apply(w, { kind: "alive", node: "node-c" });
    const third = planAddresses(viewOf(w), memo);
    assert.notEqual(third.addresses.find((a) => a.ip === "192.0.2.10"), second.addresses.find((a) => a.ip === "192.0.2.10"));
  });
});

describe("KeptOrder", () => {
  it("sorts as a full sort does, over any sequence of item sets (few or many new at a time)", () => {
    const pool = Array.from({ length: 40 }, (_, i) => ({ key: `k${String((i * 7919) % 97).padStart(2, "0")}-${i}` }));
    fc.assert(
      fc.property(fc.array(fc.subarray(pool), { minLength: 1, maxLength: 12 }), (sets) => {
        const order = new KeptOrder<{ key: string }>();
        for (const set of sets) {
          const expected = [...set].sort((a, b) => (a.key < b.key ? -1 : 1));
          assert.deepEqual(order.sort(set, (x) => x.key), expected);
        }
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });
});

describe("clusterView with a ServiceViewCache", () => {
  const service = (local: boolean): k8s.V1Service => ({ metadata: { namespace: "ns", name: "web", annotations: {} }, spec: { type: "LoadBalancer", externalTrafficPolicy: local ? "Local" : "Cluster" } });
  const slice = (nodes: string[]): k8s.V1EndpointSlice => ({ addressType: "IPv4", metadata: { namespace: "ns", labels: { "kubernetes.io/service-name": "web" } }, endpoints: nodes.map((nodeName) => ({ addresses: ["10.1.0.1"], nodeName })) });
  const viewWith = (s: k8s.V1Service, ns: k8s.V1Namespace, slices: k8s.V1EndpointSlice[], cache: ServiceViewCache) =>
    clusterView({ nodes: [], endpointSlices: slices, services: [s], namespace: () => ns, pools: [], advertisements: [], speakers: [] }, undefined, cache).services[0];

  it("keeps the view object of an unchanged Service, and builds a new one when its namespace or (Local) endpoints change", () => {
    const cache: ServiceViewCache = new WeakMap();
    const ns: k8s.V1Namespace = { metadata: { name: "ns", labels: { team: "x" } } };
    const s = service(true);
    const first = viewWith(s, ns, [slice(["node-a"])], cache);
    assert.equal(viewWith(s, ns, [slice(["node-a"])], cache), first);
    const moved = viewWith(s, ns, [slice(["node-b"])], cache);
    assert.notEqual(moved, first);
    assert.deepEqual([...(moved?.endpointNodes ?? [])], ["node-b"]);
    const relabelled = viewWith(s, { metadata: { name: "ns", labels: { team: "y" } } }, [slice(["node-b"])], cache);
    assert.notEqual(relabelled, moved);
    assert.deepEqual(relabelled?.namespaceLabels, { team: "y" });
    assert.notEqual(viewWith(service(true), ns, [slice(["node-b"])], cache), moved);
  });
});
