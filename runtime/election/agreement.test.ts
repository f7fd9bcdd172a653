// The allocator and the election agree: built from the same random cluster objects, through the
// same adapters the in-cluster allocator (cluster-input.ts) and the speaker (view.ts) use,
//  1. every address the allocator gives a Service is announced for it, by some node, once the
//     node-side state the allocator rightly ignores is healthy (see `healthy` below);
//  2. every address the election announces for a Service is one the allocator gave or kept for it.
// Stack assignments are what a stack's preview planned (`deployStack`). A hand-written assignment
// annotation is not generated: the election announces any address in an admitting, advertised
// pool, without the planner's exclusions (CIDR ends, avoidBuggyIPs, node addresses) or the
// Service's families, so such an annotation can be announced though the planner refuses it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import fc from "fast-check";
import { planAllocation, type PlanSuccess } from "../../provider/core/allocation/index.ts";
import { ALLOCATED_IN_CLUSTER, ANNOTATIONS, LOAD_BALANCER_CLASS, NODE_SUBNETS_ANNOTATION } from "../../provider/core/model/contract.ts";
import type { LabelSelector } from "../../provider/core/model/labels.ts";
import { parsePublishedSubnets } from "../../provider/core/model/published.ts";
import { allocationInputOf, servedServices, type ClusterObject, type ClusterSnapshot } from "../allocator/cluster-input.ts";
import { decide } from "../allocator/decisions.ts";
import { EXCLUDE_LABEL, planAddresses, type Plan } from "./plan.ts";
import { clusterView } from "./view.ts";

const NAMESPACES = ["alpha", "beta", "gamma"];
const SUBNETS = [
  { interface: "eth0", cidr: "192.0.2.0/24", host: (i: number) => `192.0.2.${250 - i}` },
  { interface: "eth1", cidr: "198.51.100.0/24", host: (i: number) => `198.51.100.${250 - i}` },
  { interface: "eth0", cidr: "2001:db8::/48", host: (i: number) => `2001:db8::${(0xfff0 - i).toString(16)}` },
];
/** Address blocks of pool `i`: its own IPv4 /27s and IPv6 /64s; the last is on no node subnet. */
const BLOCKS = [(i: number) => `192.0.2.${32 * i}`, (i: number) => `198.51.100.${32 * i}`, (i: number) => `2001:db8:0:${i}::`, (i: number) => `2001:db8:1:${i}::`];

/** `arb` in `present` cases out of `present + absent`, else `undefined`. */
const sometimes = <T>(arb: fc.Arbitrary<T>, present: number, absent: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: absent }, { arbitrary: arb, weight: present });

/** An address, CIDR or range inside block `b` of pool `i` (rarely the block on no node subnet). */
const addressEntry = (i: number): fc.Arbitrary<string> =>
  fc.record({ b: fc.constantFrom(0, 0, 0, 1, 1, 2, 2, 2, 3), kind: fc.constantFrom("cidr", "range", "single"), start: fc.nat({ max: 20 }), len: fc.nat({ max: 8 }) }).map(({ b, kind, start, len }) => {
    const base = BLOCKS[b]!(i);
    const v6 = base.includes(":");
    const at = (k: number): string => (v6 ? `${base}${k.toString(16)}` : base.replace(/\d+$/, (x) => String(Number(x) + k)));
    if (kind === "cidr") return v6 ? `${base}/124` : `${base}/28`;
    if (kind === "single") return at(start);
    return `${at(start)}-${at(start + len)}`;
  });

const selectorArb = (key: string, values: string[]): fc.Arbitrary<LabelSelector> =>
  fc.oneof(
    fc.constantFrom(...values).map((v) => ({ matchLabels: { [key]: v } })),
    fc.subarray(values, { minLength: 1 }).map((vs) => ({ matchExpressions: [{ key, operator: "In" as const, values: vs }] })),
  );

const namespaceSelectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(selectorArb("team", ["x", "y"]), selectorArb("kubernetes.io/metadata.name", NAMESPACES));

const poolArb = (i: number): fc.Arbitrary<ClusterObject> =>
  fc
    .record({
      addresses: fc.array(addressEntry(i), { minLength: 1, maxLength: 2 }),
      tier: fc.option(fc.constantFrom("gold", "silver"), { nil: undefined }),
      namespaces: sometimes(fc.subarray(NAMESPACES, { minLength: 1 }), 1, 2),
      namespaceSelectors: sometimes(fc.array(namespaceSelectorArb, { minLength: 1, maxLength: 2 }), 1, 2),
      serviceSelectors: sometimes(fc.array(selectorArb("app", ["web", "db"]), { minLength: 1, maxLength: 2 }), 1, 2),
    })
    .map((g) => {
      const allocation = { ...(g.namespaces ? { namespaces: g.namespaces } : {}), ...(g.namespaceSelectors ? { namespaceSelectors: g.namespaceSelectors } : {}), ...(g.serviceSelectors ? { serviceSelectors: g.serviceSelectors } : {}) };
      const spec = { addresses: g.addresses, ...(Object.keys(allocation).length > 0 ? { serviceAllocation: allocation } : {}) };
      return { metadata: { name: `pool-${i}`, ...(g.tier ? { labels: { tier: g.tier } } : {}), creationTimestamp: `2026-01-0${i + 1}T00:00:00Z` }, spec };
    });

const advertisementArb = (i: number, pools: number): fc.Arbitrary<ClusterObject> =>
  fc
    .record({
      names: sometimes(fc.subarray([...Array.from({ length: pools }, (_, p) => `pool-${p}`), "pool-missing"], { minLength: 1 }), 1, 1),
      poolSelectors: sometimes(fc.array(selectorArb("tier", ["gold", "silver"]), { minLength: 1, maxLength: 1 }), 1, 2),
      nodeSelectors: sometimes(fc.array(selectorArb("zone", ["a", "b"]), { minLength: 1, maxLength: 1 }), 1, 2),
      interfaces: sometimes(fc.constantFrom(["eth0"], ["eth*"], ["!eth1"], ["eth1"], ["can_reach:192.0.2.1"]), 1, 2),
    })
    .map((g) => ({
      metadata: { name: `ad-${i}` },
      spec: {
        ...(g.names ? { ipAddressPools: g.names } : {}),
        ...(g.poolSelectors ? { ipAddressPoolSelectors: g.poolSelectors } : {}),
        ...(g.nodeSelectors ? { nodeSelectors: g.nodeSelectors } : {}),
        ...(g.interfaces ? { interfaces: g.interfaces } : {}),
      },
    }));

const nodeArb = (i: number): fc.Arbitrary<k8s.V1Node> =>
  fc
    .record({
      zone: fc.constantFrom("a", "b"),
      subnets: fc.oneof({ arbitrary: fc.constant<number[]>([0, 1, 2]), weight: 2 }, { arbitrary: fc.subarray([0, 1, 2], { minLength: 1 }), weight: 1 }),
      excluded: fc.boolean(),
      unavailable: fc.boolean(),
    })
    .map((g) => {
      const published = g.subnets.map((k) => ({ interface: SUBNETS[k]!.interface, cidr: SUBNETS[k]!.cidr, address: SUBNETS[k]!.host(i) }));
      const labels: Record<string, string> = { zone: g.zone, ...(g.excluded ? { [EXCLUDE_LABEL]: "" } : {}) };
      return {
        metadata: { name: `node-${i}`, labels, annotations: { [NODE_SUBNETS_ANNOTATION]: JSON.stringify(published) } },
        status: { conditions: g.unavailable ? [{ type: "NetworkUnavailable", status: "True" }] : [], addresses: [{ type: "InternalIP", address: published[0]!.address }] },
      };
    });

/** Namespaces carry `kubernetes.io/metadata.name` as API servers set it, except when `bare` (an older server, or a cache that lags). */
const namespaceArb = (name: string): fc.Arbitrary<k8s.V1Namespace> =>
  fc.record({ team: fc.option(fc.constantFrom("x", "y"), { nil: undefined }), bare: fc.boolean() }).map((g) => ({
    metadata: { name, labels: { ...(g.bare ? {} : { "kubernetes.io/metadata.name": name }), ...(g.team ? { team: g.team } : {}) } },
  }));

const FAMILIES: Record<"v4" | "v6" | "dual" | "dual6", Partial<k8s.V1ServiceSpec>> = {
  v4: { ipFamilies: ["IPv4"] },
  v6: { ipFamilies: ["IPv6"] },
  dual: { ipFamilies: ["IPv4", "IPv6"], ipFamilyPolicy: "PreferDualStack" },
  dual6: { ipFamilies: ["IPv6", "IPv4"], ipFamilyPolicy: "RequireDualStack" },
};

/** A Service; `stack`: a Pulumi stack declares it (and so writes its assignment, see {@link deployStack}). */
const serviceArb = (i: number): fc.Arbitrary<{ service: k8s.V1Service; endpoints: number[]; stack: boolean }> =>
  fc
    .record({
      namespace: fc.constantFrom(...NAMESPACES),
      app: fc.option(fc.constantFrom("web", "db"), { nil: undefined }),
      families: fc.constantFrom("v4", "v6", "dual", "dual6"),
      requested: sometimes(fc.tuple(fc.nat({ max: 2 }), fc.nat({ max: 3 }), fc.nat({ max: 20 })), 1, 2),
      stack: fc.boolean(),
      sharing: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined }),
      port: fc.constantFrom(80, 443),
      local: fc.boolean(),
      endpoints: fc.subarray([0, 1, 2]),
    })
    .map((g) => {
      const annotations: Record<string, string> = {};
      if (g.requested) annotations[ANNOTATIONS.requestedIps] = blockAddress(...g.requested);
      if (g.sharing) annotations[ANNOTATIONS.sharingKey] = g.sharing;
      const service: k8s.V1Service = {
        metadata: { name: `svc-${i}`, namespace: g.namespace, uid: `uid-${i}`, ...(g.app ? { labels: { app: g.app } } : {}), annotations, creationTimestamp: new Date(Date.UTC(2026, 0, 1, i)) },
        spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS, ports: [{ port: g.port, protocol: "TCP" }], externalTrafficPolicy: g.local ? "Local" : "Cluster", selector: { app: g.app ?? "none" }, ...FAMILIES[g.families] },
      };
      return { service, endpoints: g.endpoints, stack: g.stack };
    });

function blockAddress(pool: number, block: number, offset: number): string {
  const base = BLOCKS[block]!(pool);
  return base.includes(":") ? `${base}${offset.toString(16)}` : base.replace(/\d+$/, (x) => String(Number(x) + offset));
}

interface Cluster extends ClusterSnapshot {
  endpointSlices: k8s.V1EndpointSlice[];
  /** Nodes whose speaker is alive. */
  alive: string[];
  /** Keys of the Services a Pulumi stack declares. */
  stack: string[];
}

function slicesOf(services: readonly { service: k8s.V1Service; endpoints: number[] }[]): k8s.V1EndpointSlice[] {
  return services.map(({ service, endpoints }) => ({
    addressType: "IPv4",
    metadata: { namespace: service.metadata!.namespace!, name: `${service.metadata!.name}-x`, labels: { "kubernetes.io/service-name": service.metadata!.name! } },
    endpoints: endpoints.map((n) => ({ addresses: ["10.1.0.1"], nodeName: `node-${n}`, conditions: { ready: true } })),
  }));
}

const clusterArb: fc.Arbitrary<Cluster> = fc
  .record({ pools: fc.integer({ min: 1, max: 3 }), ads: fc.constantFrom(0, 1, 1, 1, 2, 2), nodes: fc.integer({ min: 1, max: 3 }), services: fc.integer({ min: 1, max: 8 }) })
  .chain((n) =>
    fc.record({
      pools: fc.tuple(...Array.from({ length: n.pools }, (_, i) => poolArb(i))),
      advertisements: fc.tuple(...Array.from({ length: n.ads }, (_, i) => advertisementArb(i, n.pools))),
      nodes: fc.tuple(...Array.from({ length: n.nodes }, (_, i) => nodeArb(i))),
      namespaces: fc.tuple(...NAMESPACES.map(namespaceArb)),
      services: fc.tuple(...Array.from({ length: n.services }, (_, i) => serviceArb(i))),
      alive: fc.subarray(Array.from({ length: n.nodes }, (_, i) => `node-${i}`)),
    }),
  )
  .map((g) => {
    const stack = g.services.filter((s) => s.stack).map((s) => `${s.service.metadata!.namespace}/${s.service.metadata!.name}`);
    return deployStack({ ...g, services: g.services.map((s) => s.service), endpointSlices: slicesOf(g.services), stack });
  });

/**
 * The stack's Services get the assignments its preview planned, written as the provider writes
 * them. The stack is modelled as seeing the cluster as the in-cluster allocator does (same pools,
 * namespaces and node networks).
 */
function deployStack(cluster: Cluster): Cluster {
  const ours = cluster.services.filter((s) => cluster.stack.includes(`${s.metadata!.namespace}/${s.metadata!.name}`));
  const { input } = allocationInputOf({ ...cluster, services: ours }, servedServices(ours, false), new Map());
  const plan = planAllocation(input);
  if (!plan.ok) return cluster;
  const services = cluster.services.map((s) => {
    const outcome = plan.services[`${s.metadata!.namespace}/${s.metadata!.name}`];
    if (outcome === undefined || !("ips" in outcome)) return s;
    const annotations = { ...s.metadata!.annotations, [ANNOTATIONS.assignedIps]: outcome.ips.join(","), [ANNOTATIONS.assignedPool]: outcome.pool };
    return { ...s, metadata: { ...s.metadata, annotations } };
  });
  return { ...cluster, services };
}

/** Runs the in-cluster allocator's pure steps and writes its decisions onto the Services, as it would. */
function allocate(cluster: Cluster): { plan: PlanSuccess; services: k8s.V1Service[] } {
  const served = servedServices(cluster.services, false);
  const { input, selection } = allocationInputOf(cluster, served, new Map());
  const plan = planAllocation(input);
  assert.ok(plan.ok, `the in-cluster plan failed as a whole: ${JSON.stringify(!plan.ok && plan.problems)}`);
  const { writes } = decide(served, { outcomes: new Map(Object.entries(plan.services)) }, new Set(selection.setAside.map((s) => s.pool)));
  const services = cluster.services.map((s) => {
    const d = writes.get(`${s.metadata!.namespace}/${s.metadata!.name}`);
    if (d === undefined) return s;
    const annotations = { ...s.metadata!.annotations };
    if (d.kind === "assign") Object.assign(annotations, { [ANNOTATIONS.assignedIps]: d.assignment.ips.join(","), [ANNOTATIONS.assignedPool]: d.assignment.pool, [ANNOTATIONS.allocatedBy]: ALLOCATED_IN_CLUSTER });
    else for (const k of [ANNOTATIONS.assignedIps, ANNOTATIONS.assignedPool, ANNOTATIONS.allocatedBy]) delete annotations[k];
    return { ...s, metadata: { ...s.metadata, annotations } };
  });
  return { plan, services };
}

function elect(cluster: Cluster, services: k8s.V1Service[]): Plan {
  const byName = new Map(cluster.namespaces.map((n) => [n.metadata!.name!, n]));
  const speakers = cluster.nodes.filter((n) => cluster.alive.includes(n.metadata!.name!)).map((n) => ({ node: n.metadata!.name!, subnets: parsePublishedSubnets(n.metadata!.annotations![NODE_SUBNETS_ANNOTATION]) }));
  return planAddresses(clusterView({ ...cluster, services: servedServices(services, false).map((s) => s.service), namespace: (name) => byName.get(name), speakers }));
}

/**
 * The cluster with every node-side fact the allocator must not follow made healthy: every speaker
 * alive, no node excluded or NetworkUnavailable, an endpoint of every Service on every node.
 * These change with failures and rollouts; an allocator that followed them would renumber
 * Services whenever a node fails, so an address they leave unowned is not a disagreement (the
 * speaker reports it: NoEligibleNode, NoReadyEndpoint). Node labels, published subnets, and the
 * advertisements' nodeSelectors and interfaces are configuration and stay as generated.
 */
function healthy(cluster: Cluster): Cluster {
  const nodes = cluster.nodes.map((n) => {
    const { [EXCLUDE_LABEL]: _excluded, ...labels } = n.metadata!.labels!;
    return { ...n, metadata: { ...n.metadata, labels }, status: { ...n.status, conditions: [] } };
  });
  const all = nodes.map((_, i) => i);
  const endpointSlices = slicesOf(cluster.services.map((service) => ({ service, endpoints: all })));
  return { ...cluster, nodes, endpointSlices, alive: nodes.map((n) => n.metadata!.name!) };
}

function assignedIps(plan: PlanSuccess, key: string): string[] {
  const o = plan.services[key];
  return o !== undefined && "ips" in o ? o.ips : [];
}

/** Disagreements of one cluster, as sentences (empty when both halves agree). */
function disagreements(cluster: Cluster): string[] {
  const { plan, services } = allocate(cluster);
  const out: string[] = [];
  const election = elect(healthy(cluster), services);
  const byIp = new Map(election.addresses.map((a) => [a.ip, a]));
  for (const [key, outcome] of Object.entries(plan.services)) {
    if (!("ips" in outcome)) continue;
    for (const ip of outcome.ips) {
      const refusal = election.refusals.find((r) => r.service === key && r.ip === ip);
      if (refusal) out.push(`allocator gave ${key} ${ip}; the election refuses it: ${refusal.reason} (${refusal.message})`);
      else if (byIp.get(ip)?.owner === undefined) out.push(`allocator gave ${key} ${ip}; no node announces it in a healthy cluster: ${byIp.get(ip)?.noOwnerReason ?? "absent from the plan"}`);
    }
  }
  for (const a of elect(cluster, services).addresses) {
    if (a.owner === undefined) continue;
    for (const key of a.services) if (!assignedIps(plan, key).includes(a.ip)) out.push(`the election announces ${a.ip} for ${key} from ${a.owner.node}; the allocator refused it: ${JSON.stringify(plan.services[key])}`);
  }
  return out;
}

const RUNS = { numRuns: Number(process.env.FC_RUNS ?? 3000), ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) };

/** A small cluster by hand: every node alive, Services IPv4 unless `ipFamilies` says otherwise. */
function cluster(parts: { pools: ClusterObject[]; advertisements: ClusterObject[]; nodes: [string, Record<string, string>, number[]][]; namespaces?: k8s.V1Namespace[]; services: [string, string[]][] }): Cluster {
  const nodes = parts.nodes.map(([name, labels, subnets], i) => {
    const published = subnets.map((k) => ({ interface: SUBNETS[k]!.interface, cidr: SUBNETS[k]!.cidr, address: SUBNETS[k]!.host(i) }));
    return { metadata: { name, labels, annotations: { [NODE_SUBNETS_ANNOTATION]: JSON.stringify(published) } } };
  });
  const services = parts.services.map(([key, ipFamilies]): k8s.V1Service => {
    const [namespace, name] = key.split("/") as [string, string];
    return { metadata: { namespace, name, annotations: {} }, spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS, ports: [{ port: 80 }], ipFamilies } };
  });
  return { pools: parts.pools, advertisements: parts.advertisements, nodes, namespaces: parts.namespaces ?? [], services, endpointSlices: [], alive: nodes.map((n) => n.metadata.name), stack: [] };
}

const pool = (name: string, spec: Record<string, unknown>): ClusterObject => ({ metadata: { name }, spec });
const ad = (name: string, spec: Record<string, unknown>): ClusterObject => ({ metadata: { name }, spec });

describe("allocator and election agree", () => {
  // Found by the property: the allocator matched namespaceSelectors with the API server's
  // `kubernetes.io/metadata.name` label added, the election only with the labels it read.
  it("a namespace selected by name, on a namespace object without that label", () => {
    const c = cluster({
      pools: [pool("p", { addresses: ["192.0.2.0/28"], serviceAllocation: { namespaceSelectors: [{ matchLabels: { "kubernetes.io/metadata.name": "gamma" } }] } })],
      advertisements: [ad("all", {})],
      nodes: [["node-0", {}, [0]]],
      namespaces: [{ metadata: { name: "gamma", labels: {} } }],
      services: [["gamma/s", ["IPv4"]]],
    });
    assert.deepEqual(assignedIps(allocate(c).plan, "gamma/s"), ["192.0.2.1"]);
    assert.deepEqual(disagreements(c), []);
  });

  // Found by the property: the in-cluster allocator assigned from a pool whose advertisement
  // selects only nodes (nodeSelectors) or interfaces on which no subnet holds the pool's range.
  for (const [what, spec] of [
    ["nodeSelectors", { nodeSelectors: [{ matchLabels: { zone: "a" } }] }],
    ["interfaces", { interfaces: ["eth1"] }],
  ] as const) {
    it(`a pool its advertisement's ${what} cannot announce is set aside`, () => {
      const c = cluster({
        pools: [pool("p", { addresses: ["2001:db8:0:1::/124"] })],
        advertisements: [ad("a", { ipAddressPools: ["p"], ...spec })],
        nodes: [
          ["node-0", { zone: "a" }, [0]],
          ["node-1", { zone: "b" }, [2]],
        ],
        services: [["alpha/s", ["IPv6"]]],
      });
      assert.match(JSON.stringify(allocate(c).plan.services["alpha/s"]), /error/);
      assert.deepEqual(disagreements(c), []);
    });
  }


  it("every address assigned is announced, and nothing announced was refused", () => {
    fc.assert(
      fc.property(clusterArb, (cluster) => {
        assert.deepEqual(disagreements(cluster), []);
      }),
      RUNS,
    );
  });
});
