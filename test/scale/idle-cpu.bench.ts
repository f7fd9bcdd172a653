// Idle cost of ONE speaker in a large cluster (not a test: it prints figures, asserts nothing).
//
//   node test/scale/idle-cpu.bench.ts [--nodes 500] [--services 1000] [--seconds 20] [--liveness ring|mesh]
//
// The real controller (runtime/control/controller.ts) on the real clock, against the in-memory
// API server and heartbeat network of runtime/control/testing.ts: --nodes − 1 peers exist as
// member records (ring) or speaker Leases (mesh) with their Nodes, and --services Services of
// class l2lb.dev/layer2 share one pool. Peers that send heartbeats to this speaker do so every
// 200 ms (its ring predecessors; every peer in mesh), and in mesh every peer renews its watched
// Lease each second, as in the cluster. Printed: this process's CPU while idle (% of one core; the fake
// peers' timers included, so an upper bound), re-plans while idle, the time of one full plan
// from scratch, and that of the plan every speaker pays at a membership change (a speaker leaves,
// then comes back: the rankings kept from the last plan are mended).
import { parseArgs } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { ANNOTATIONS, API_GROUP_VERSION, KINDS, LOAD_BALANCER_CLASS, MEMBER_LABEL, NODE_SUBNETS_ANNOTATION, SPEAKER_LEASE_LABEL } from "../../provider/core/model/contract.ts";
import { inProcessPlanner } from "../../runtime/allocator/planner.ts";
import { realClock } from "../../runtime/control/clock.ts";
import { Controller, type LivenessMode } from "../../runtime/control/controller.ts";
import { LEASE_ANNOTATIONS, leaseName } from "../../runtime/control/lease.ts";
import { memberName } from "../../runtime/control/ring-membership.ts";
import { predecessors, ringOrder } from "../../runtime/control/ring.ts";
import { FakeApiServer, FakeDataPlane, FakeHeartbeatNetwork, type FakeHeartbeat } from "../../runtime/control/testing.ts";
import { PlanMemo, planAddresses } from "../../runtime/election/plan.ts";

const { values: args } = parseArgs({
  options: {
    nodes: { type: "string", default: "500" },
    services: { type: "string", default: "1000" },
    seconds: { type: "string", default: "20" },
    liveness: { type: "string", default: "ring" },
  },
});
const NODES = Number(args.nodes);
const SERVICES = Number(args.services);
const SECONDS = Number(args.seconds);
const MODE = args.liveness as LivenessMode;
const NAMESPACE = "l2lb-system";
const SELF = "node-000";

const nodeName = (i: number): string => `node-${String(i).padStart(3, "0")}`;
const addressOf = (i: number): string => `10.0.${i >> 8}.${(i & 255) + 1}`;
const subnets = (i: number): string => JSON.stringify([{ interface: "eth0", cidr: "10.0.0.0/8", address: addressOf(i) }]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const api = new FakeApiServer(realClock);
const net = new FakeHeartbeatNetwork(realClock);

function cluster(): void {
  api.put("namespace", { metadata: { name: "default" } });
  api.put("pool", { apiVersion: API_GROUP_VERSION, kind: KINDS.addressPool.kind, metadata: { name: "lan" }, spec: { addresses: ["10.128.0.0/16"] } });
  api.put("advertisement", { apiVersion: API_GROUP_VERSION, kind: KINDS.l2Advertisement.kind, metadata: { name: "all" }, spec: {} });
  for (let i = 0; i < NODES; i++) api.put("node", { metadata: { name: nodeName(i), annotations: { [NODE_SUBNETS_ANNOTATION]: subnets(i) } }, status: { addresses: [{ type: "InternalIP", address: addressOf(i) }] } });
  for (let k = 0; k < SERVICES; k++) {
    api.put("service", {
      metadata: { name: `svc-${k}`, namespace: "default", creationTimestamp: new Date("2026-01-01T00:00:00Z"), annotations: { [ANNOTATIONS.assignedIps]: `10.128.${k >> 8}.${k & 255}` } },
      spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS, ports: [{ port: 80, protocol: "TCP" }] },
    });
  }
}

/** A peer's Lease (speaker Lease, or member record with `label`), as its speaker writes it. */
function peerLease(i: number, name: string, label: string): k8s.V1Lease {
  const annotations = { [LEASE_ANNOTATIONS.incarnation]: `peer-${i}`, [LEASE_ANNOTATIONS.renewIntervalMs]: "1000", [LEASE_ANNOTATIONS.heartbeat]: `${addressOf(i)}:7473`, [NODE_SUBNETS_ANNOTATION]: subnets(i) };
  return { metadata: { name, namespace: NAMESPACE, labels: { [label]: nodeName(i) }, annotations }, spec: { holderIdentity: nodeName(i), leaseDurationSeconds: 5, renewTime: new Date() as unknown as k8s.V1MicroTime } };
}

/** The peers: their objects, Lease renewals every second, heartbeats from those that send to this speaker. */
async function peers(): Promise<() => void> {
  const all = Array.from({ length: NODES }, (_, i) => nodeName(i));
  const senders = new Set(MODE === "ring" ? predecessors(ringOrder(all), SELF) : all.slice(1));
  const endpoints: FakeHeartbeat[] = [];
  for (let i = 1; i < NODES; i++) {
    if (MODE === "ring") api.put("lease", peerLease(i, memberName(nodeName(i)), MEMBER_LABEL));
    api.put("lease", peerLease(i, leaseName(nodeName(i)), SPEAKER_LEASE_LABEL));
    if (!senders.has(nodeName(i))) continue;
    const e = net.endpoint({ node: nodeName(i), incarnation: `peer-${i}`, port: 7473, intervalMs: 200, acknowledge: true });
    e.setPeers([{ node: SELF, host: addressOf(0), port: 7473 }]);
    await e.start();
    endpoints.push(e);
  }
  // Renewals matter only where they are watched (mesh); in the ring nobody reads them while heartbeats flow.
  const renew = setInterval(() => {
    if (MODE === "mesh") for (let i = 1; i < NODES; i++) api.put("lease", peerLease(i, leaseName(nodeName(i)), SPEAKER_LEASE_LABEL));
  }, 1000);
  return () => {
    clearInterval(renew);
    for (const e of endpoints) void e.stop(false);
  };
}

cluster();
const stopPeers = await peers();
const registry = new Registry();
const controller = new Controller({
  node: SELF,
  namespace: NAMESPACE,
  api: api.client(SELF),
  sources: api.sources(SELF),
  clock: realClock,
  heartbeat: (o) => net.endpoint(o),
  planner: inProcessPlanner(),
  logger: pino({ level: "warn" }),
  registry,
  dataPlane: new FakeDataPlane(realClock, addressOf(0), 8),
  heartbeatPort: 7473,
  liveness: MODE,
});
await controller.start();
await sleep(8000);

const plansBefore = controller.planVersion();
const cpuBefore = process.cpuUsage();
const startedAt = performance.now();
await sleep(SECONDS * 1000);
const cpu = process.cpuUsage(cpuBefore);
const elapsed = performance.now() - startedAt;
const replans = controller.planVersion() - plansBefore;

const speakers = Array.from({ length: NODES }, (_, i) => ({ node: nodeName(i), subnets: JSON.parse(subnets(i)) }));
const view = controller.cache.view(speakers);
const planStarted = performance.now();
const plan = planAddresses(view);
const planMs = performance.now() - planStarted;
const memo = new PlanMemo();
planAddresses(view, memo);
const changes: number[] = [];
for (let r = 0; r < 30; r++) {
  const live = r % 2 === 0 ? speakers.filter((_, i) => i !== 1 + ((r * 37) % (NODES - 1))) : speakers;
  const changeStarted = performance.now();
  planAddresses(controller.cache.view(live.map((sp) => ({ ...sp }))), memo);
  changes.push(performance.now() - changeStarted);
}
const changeMs = [...changes].sort((a, b) => a - b)[15] as number;

console.log(`one speaker, ${MODE} liveness, ${NODES} nodes, ${SERVICES} Services (${plan.addresses.length} addresses, ${controller.ownedAddresses().length} owned here), idle ${SECONDS} s:`);
console.log(`  CPU ${((100 * (cpu.user + cpu.system)) / 1000 / elapsed).toFixed(2)} % of a core; re-plans while idle ${replans}; one full plan ${planMs.toFixed(0)} ms; the plan after a speaker left or joined ${changeMs.toFixed(1)} ms (median of 30)`);
stopPeers();
await controller.stop();
process.exit(0);
