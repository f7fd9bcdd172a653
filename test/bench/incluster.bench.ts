// In-cluster allocation benchmark (not a test: it measures, it asserts nothing). Needs root and the lab.
//
//   node test/bench/incluster.bench.ts [--singles 20] [--bursts 500,2000] [--memory-services 10000] [--nodes 3]
//
// Three speakers (or --nodes 1 or 2) (node namespaces, RBAC-bound token, --default-class) against the lab's real
// kube-apiserver. Measured, from the moment the client sends the create to the moment an
// informer sees the Service's EXTERNAL-IP (status.loadBalancer.ingress):
//  - single Services created one at a time: p50/p99 (and to the allocator's assignment annotation);
//  - bursts (all created at once, 32 requests in flight): p50/p99/max and the time until every
//    Service has its address;
//  - API requests and watch events per Service in each phase (the API server's /metrics);
//  - baseline: the largest burst created again after the speakers stopped (what the API server
//    alone needs to create that many Services on this machine), and the ratio to it;
//  - the allocating speaker's CPU time and RSS over each phase (the speakers run compiled, with the
//    bin's Node flags, as the image runs them; L2LB_SPEAKER_NODE_OPTIONS adds more, e.g. --cpu-prof), and its RSS holding
//    --memory-services Services (0 skips that phase).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { ALLOCATOR_KEY, elect } from "../../runtime/election/rank.ts";
import { watchExternalIps } from "./apply-latency.ts";
import { nowMs } from "./client-watch.ts";
import { pct } from "./stats.ts";
import { usage } from "./implementation.ts";
import { breakdownGrowth, readApiBreakdown, type ApiBreakdown } from "./api-breakdown.ts";
import { applyPool, labUnavailable, root, run, sleep, startLab, startSpeaker, stopSpeaker, waitFor, waitForMembers, type SpeakerProcess } from "../control/harness.ts";

const { values: args } = parseArgs({
  options: {
    singles: { type: "string", default: "20" },
    bursts: { type: "string", default: "500,2000" },
    "memory-services": { type: "string", default: "10000" },
    nodes: { type: "string", default: "3" },
  },
});
const NODES = ["node-a", "node-b", "node-c"].slice(0, Math.max(1, Math.min(3, Number(args.nodes))));
/** After the last assignment, how long the trailing writes and the planner thread's idle exit get before RSS is read again. */
const SETTLE_MS = 60_000;
const IDLE_WINDOW_MS = 20_000;
const why = await labUnavailable();
if (why) {
  console.log(`in-cluster allocation benchmark skipped: ${why}`);
  process.exit(0);
}

interface Snapshot {
  counters: ApiBreakdown;
  allocator: ReturnType<typeof usage>;
  apiserverCpuS: number;
  at: number;
}



// The speakers run as shipped: compiled, with the bin's Node flags.
await run("bash", ["-c", `cd "${root}" && . scripts/env.sh && npm run --silent build`], { timeoutMs: 600_000 });
const lab = await startLab("inbench", NODES);
const speakers = new Map<string, SpeakerProcess>();
const core = lab.admin.makeApiClient(k8s.CoreV1Api);
const { seenAt, assignedAt, informer } = watchExternalIps(lab);
try {
  await applyPool(lab.admin, "bench", { addresses: ["192.0.2.128/25", "2001:db8:1::/112"] });
  await applyPool(lab.admin, "bench", {}, "advertisement");
  for (const n of NODES) speakers.set(n, startSpeaker(lab, n, { L2LB_DEFAULT_CLASS: "true", L2LB_LOG_LEVEL: "warn", ...(process.env.L2LB_SPEAKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.L2LB_SPEAKER_NODE_OPTIONS } : {}) }, { compiled: true }));
  await waitForMembers(lab, NODES.length);
  await sleep(3000);
  await informer.start();
  const allocatorNode = elect(NODES, ALLOCATOR_KEY) as string;
  const allocatorPid = speakers.get(allocatorNode)?.child.pid as number;
  console.log(`allocator: ${elect(NODES, ALLOCATOR_KEY)} (pid ${allocatorPid})\n`);
  const apiserverPid = Number(readFileSync(join(lab.dir, "pids/kube-apiserver.pid"), "utf8").trim());
  console.log("phase                    n  created in   p50 ms   p99 ms   max ms  all assigned  after last  alloc CPU s  RSS MB (peak)  apiserver CPU s  annotated p50/p99 ms");
  const largestCreatedIn = new Map<number, number>();

  const create = async (namespace: string, name: string): Promise<number> => {
    const sent = nowMs();
    await core.createNamespacedService({ namespace, body: { metadata: { name }, spec: { type: "LoadBalancer", allocateLoadBalancerNodePorts: false, ipFamilies: ["IPv6"], ports: [{ port: 80 }] } } });
    return sent;
  };
  const loads: string[] = [];
  const report = async (phase: string, sent: Map<string, number>, before: Snapshot): Promise<void> => {
    const keys = [...sent.keys()];
    const lastCreate = Math.max(...sent.values());
    largestCreatedIn.set(keys.length, lastCreate - before.at);
    await waitFor(`${phase}: every EXTERNAL-IP`, () => (keys.every((k) => seenAt.has(k)) ? true : undefined), 900_000, 20);
    const lat = keys.map((k) => (seenAt.get(k) as number) - (sent.get(k) as number));
    // Creation → the allocator's annotation: the rest of `lat` is the election and the status write.
    const toAnnotation = keys.map((k) => (assignedAt.get(k) ?? (seenAt.get(k) as number)) - (sent.get(k) as number));
    const lastSeen = Math.max(...keys.map((k) => seenAt.get(k) as number));
    const after = usage(allocatorPid);
    const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
    console.log(
      `${phase.padEnd(20)}${String(keys.length).padStart(6)}${s(lastCreate - before.at).padStart(12)}${pct(lat, 50).toFixed(0).padStart(9)}${pct(lat, 99).toFixed(0).padStart(9)}${Math.max(...lat).toFixed(0).padStart(9)}` +
        `${s(lastSeen - before.at).padStart(13)}${s(lastSeen - lastCreate).padStart(12)}${(after.cpuS - before.allocator.cpuS).toFixed(2).padStart(10)}${`${after.rssMb.toFixed(0)} (${after.peakMb.toFixed(0)})`.padStart(12)}` +
        `${(usage(apiserverPid).cpuS - before.apiserverCpuS).toFixed(2).padStart(13)}${`${pct(toAnnotation, 50).toFixed(0)}/${pct(toAnnotation, 99).toFixed(0)}`.padStart(22)}`,
    );
    await sleep(3000); // the trailing writes (events, announced-by) of this phase
    const grown = breakdownGrowth(before.counters, await readApiBreakdown(lab), keys.length / 10);
    loads.push(`${phase}: ${grown.map(([k, v]) => `${k} ${(v / keys.length).toFixed(2)}`).join(", ")}`);
  };
  const snapshot = async (): Promise<Snapshot> => ({ counters: await readApiBreakdown(lab), allocator: usage(allocatorPid), apiserverCpuS: usage(apiserverPid).cpuS, at: nowMs() });
  const namespace = async (name: string): Promise<void> => {
    await core.createNamespace({ body: { metadata: { name } } });
  };
  const burst = async (ns: string, size: number, prefix: string): Promise<Map<string, number>> => {
    await namespace(ns);
    const sent = new Map<string, number>();
    const workers = Array.from({ length: 32 }, async (_, w) => {
      for (let i = w; i < size; i += 32) sent.set(`${ns}/${prefix}-${i}`, await create(ns, `${prefix}-${i}`));
    });
    await Promise.all(workers);
    return sent;
  };

  await namespace("singles");
  const sentSingles = new Map<string, number>();
  let before = await snapshot();
  for (let i = 0; i < Number(args.singles); i++) {
    sentSingles.set(`singles/s-${i}`, await create("singles", `s-${i}`));
    await waitFor("single assigned", () => (seenAt.has(`singles/s-${i}`) ? true : undefined), 60_000, 5);
  }
  await report("single Services", sentSingles, before);

  const bursts = args.bursts.split(",").map(Number).filter((n) => n > 0);
  for (const size of bursts) {
    before = await snapshot();
    await report(`burst of ${size}`, await burst(`burst-${size}`, size, "b"), before);
  }

  const target = Number(args["memory-services"]);
  const have = seenAt.size;
  if (target > have) {
    before = await snapshot();
    await report(`to ${target} Services`, await burst("memory", target - have, "m"), before);
    await sleep(5000);
    const justAfter = usage(allocatorPid);
    // Settled: the burst's trailing writes (announced-by, events) done and the plan session let go (10 s idle).
    await sleep(SETTLE_MS);
    const settled = usage(allocatorPid);
    // A scrape of /metrics is work of its own (a series per address and counter): measured apart, outside the idle window.
    const countersBefore = await allocatorCounters(lab.ns(allocatorNode));
    const idleStart = usage(allocatorPid);
    const scrapeCpuS = idleStart.cpuS - settled.cpuS;
    await sleep(IDLE_WINDOW_MS);
    const idleCpu = (100 * (usage(allocatorPid).cpuS - idleStart.cpuS)) / (IDLE_WINDOW_MS / 1000);
    const idlePlans = counterGrowth(countersBefore, await allocatorCounters(lab.ns(allocatorNode)));
    console.log(
      `\nallocating speaker holding ${target} Services: RSS ${justAfter.rssMb.toFixed(0)} MB 5 s after the last assignment, ` +
        `${settled.rssMb.toFixed(0)} MB ${SETTLE_MS / 1000} s later (settled), peak ${settled.peakMb.toFixed(0)} MB; idle CPU then ${idleCpu.toFixed(1)} % of a core; ` +
        `in those ${IDLE_WINDOW_MS / 1000} s: ${idlePlans || "no plan and no cause to plan"}; CPU while one /metrics scrape was served: ${scrapeCpuS.toFixed(2)} s`,
    );
  }
  console.log(`\nAPI requests and watch events per Service (the API server's /metrics):\n${loads.join("\n")}`);

  const largest = Math.max(0, ...bursts);
  if (largest > 0) {
    for (const s of speakers.values()) await stopSpeaker(s);
    const t0 = nowMs();
    const sent = await burst("baseline", largest, "c");
    const alone = Math.max(...sent.values()) - t0;
    const withL2lb = largestCreatedIn.get(largest) as number;
    console.log(`\nbaseline: the API server alone (speakers stopped) creates ${largest} Services in ${(alone / 1000).toFixed(2)} s; with l2lb running ${(withL2lb / 1000).toFixed(2)} s (${(withL2lb / alone).toFixed(2)}×)`);
  }
} finally {
  await informer.stop().catch(() => {});
  for (const s of speakers.values()) await stopSpeaker(s);
  await lab.down();
}

/** The allocating speaker's plan and replan-cause counters, from its /metrics inside its node's namespace. */
async function allocatorCounters(netns: string): Promise<Map<string, number>> {
  const out = await run("ip", ["netns", "exec", netns, "curl", "-s", "http://127.0.0.1:7472/metrics"], { timeoutMs: 10_000 });
  const counters = new Map<string, number>();
  for (const line of out.split("\n")) {
    const m = /^(l2lb_allocator_plans_total|l2lb_allocator_replan_causes_total)(\{[^}]*\})? ([0-9.e+]+)$/.exec(line);
    if (m) counters.set(`${m[1] === "l2lb_allocator_plans_total" ? "plans" : "cause"}${m[2] ?? ""}`, Number(m[3]));
  }
  return counters;
}

function counterGrowth(before: Map<string, number>, after: Map<string, number>): string {
  return [...after]
    .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
    .filter(([, d]) => d > 0)
    .map(([k, d]) => `${k} +${d}`)
    .join(", ");
}
