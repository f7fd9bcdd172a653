// In-cluster allocation benchmark (not a test: it measures, it asserts nothing). Needs root and the lab.
//
//   node test/bench/incluster.bench.ts [--singles 20] [--bursts 500,2000] [--memory-services 10000]
//
// Three speakers (node namespaces, RBAC-bound token, --default-class) against the lab's real
// kube-apiserver. Measured, from the moment the client sends the create to the moment an
// informer sees the Service's EXTERNAL-IP (status.loadBalancer.ingress):
//  - single Services created one at a time: p50/p99;
//  - bursts (all created at once, 32 requests in flight): p50/p99/max and the time until every
//    Service has its address;
//  - the allocating speaker's CPU time and RSS over each phase (the speakers run compiled, with the
//    bin's Node flags, as the image runs them; L2LB_SPEAKER_NODE_OPTIONS adds more, e.g. --cpu-prof), and its RSS holding
//    --memory-services Services (0 skips that phase).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { ALLOCATOR_KEY, elect } from "../../runtime/election/rank.ts";
import { applyPool, labUnavailable, root, run, sleep, startLab, startSpeaker, stopSpeaker, waitFor, type SpeakerProcess } from "../control/harness.ts";

const { values: args } = parseArgs({
  options: {
    singles: { type: "string", default: "20" },
    bursts: { type: "string", default: "500,2000" },
    "memory-services": { type: "string", default: "10000" },
  },
});
const NODES = ["node-a", "node-b", "node-c"];
const why = await labUnavailable();
if (why) {
  console.log(`in-cluster allocation benchmark skipped: ${why}`);
  process.exit(0);
}

const nowMs = (): number => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};

/** CPU seconds and RSS of a process (and its children: `ip netns exec` execs node in place). */
function usage(pid: number): { cpuS: number; rssMb: number; peakMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuS: ticks / 100, rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
}

// The speakers run as shipped: compiled, with the bin's Node flags.
await run("bash", ["-c", `cd "${root}" && . scripts/env.sh && npm run --silent build`], { timeoutMs: 600_000 });
const lab = await startLab("inbench", NODES);
const speakers = new Map<string, SpeakerProcess>();
const core = lab.admin.makeApiClient(k8s.CoreV1Api);
const seenAt = new Map<string, number>();
const informer = k8s.makeInformer(lab.admin, "/api/v1/services", () => core.listServiceForAllNamespaces());
const onService = (s: k8s.V1Service): void => {
  const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
  if ((s.status?.loadBalancer?.ingress ?? []).length > 0 && !seenAt.has(key)) seenAt.set(key, nowMs());
};
informer.on("add", onService);
informer.on("update", onService);
try {
  await applyPool(lab.admin, "bench", { addresses: ["192.0.2.128/25", "2001:db8:1::/112"] });
  await applyPool(lab.admin, "bench", {}, "advertisement");
  for (const n of NODES) speakers.set(n, startSpeaker(lab, n, { L2LB_DEFAULT_CLASS: "true", L2LB_LOG_LEVEL: "warn", ...(process.env.L2LB_SPEAKER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.L2LB_SPEAKER_NODE_OPTIONS } : {}) }, { compiled: true }));
  await waitFor("three speaker leases", async () => ((await lab.admin.makeApiClient(k8s.CoordinationV1Api).listNamespacedLease({ namespace: "l2lb-system" })).items.length === 3 ? true : undefined), 60_000);
  await sleep(3000);
  await informer.start();
  const allocatorPid = speakers.get(elect(NODES, ALLOCATOR_KEY) as string)?.child.pid as number;
  console.log(`allocator: ${elect(NODES, ALLOCATOR_KEY)} (pid ${allocatorPid})\n`);
  const apiserverPid = Number(readFileSync(join(lab.dir, "pids/kube-apiserver.pid"), "utf8").trim());
  console.log("phase                     n   created in   p50 ms   p99 ms   max ms   all assigned   allocator CPU s   RSS MB (peak)   apiserver CPU s");

  const create = async (namespace: string, name: string): Promise<number> => {
    const sent = nowMs();
    await core.createNamespacedService({ namespace, body: { metadata: { name }, spec: { type: "LoadBalancer", allocateLoadBalancerNodePorts: false, ipFamilies: ["IPv6"], ports: [{ port: 80 }] } } });
    return sent;
  };
  const report = async (phase: string, keys: string[], sent: Map<string, number>, before: ReturnType<typeof usage>, started: number, apiBefore: number): Promise<void> => {
    const createdIn = Math.max(...sent.values()) - started;
    await waitFor(`${phase}: every EXTERNAL-IP`, () => (keys.every((k) => seenAt.has(k)) ? true : undefined), 600_000, 20);
    const lat = keys.map((k) => (seenAt.get(k) as number) - (sent.get(k) as number));
    const all = Math.max(...keys.map((k) => seenAt.get(k) as number)) - started;
    const after = usage(allocatorPid);
    console.log(
      `${phase.padEnd(24)}${String(keys.length).padStart(5)}${(createdIn / 1000).toFixed(2).padStart(11)} s${pct(lat, 50).toFixed(0).padStart(9)}${pct(lat, 99).toFixed(0).padStart(9)}${Math.max(...lat).toFixed(0).padStart(9)}` +
        `${(all / 1000).toFixed(2).padStart(13)} s${(after.cpuS - before.cpuS).toFixed(2).padStart(18)}${`${after.rssMb.toFixed(0)} (${after.peakMb.toFixed(0)})`.padStart(16)}` +
        `${(usage(apiserverPid).cpuS - apiBefore).toFixed(2).padStart(18)}`,
    );
  };
  const namespace = async (name: string): Promise<void> => {
    await core.createNamespace({ body: { metadata: { name } } });
  };

  await namespace("singles");
  const singles = Number(args.singles);
  const sentSingles = new Map<string, number>();
  let before = usage(allocatorPid);
  let apiBefore = usage(apiserverPid).cpuS;
  let started = nowMs();
  for (let i = 0; i < singles; i++) {
    sentSingles.set(`singles/s-${i}`, await create("singles", `s-${i}`));
    await waitFor("single assigned", () => (seenAt.has(`singles/s-${i}`) ? true : undefined), 60_000, 5);
  }
  await report("single Services", [...sentSingles.keys()], sentSingles, before, started, apiBefore);

  for (const size of args.bursts.split(",").map(Number).filter((n) => n > 0)) {
    const ns = `burst-${size}`;
    await namespace(ns);
    const sent = new Map<string, number>();
    before = usage(allocatorPid);
    apiBefore = usage(apiserverPid).cpuS;
    started = nowMs();
    const names = Array.from({ length: size }, (_, i) => `b-${i}`);
    const workers = Array.from({ length: 32 }, async (_, w) => {
      for (let i = w; i < names.length; i += 32) sent.set(`${ns}/${names[i]}`, await create(ns, names[i] as string));
    });
    await Promise.all(workers);
    await report(`burst of ${size}`, [...sent.keys()], sent, before, started, apiBefore);
  }

  const target = Number(args["memory-services"]);
  const have = seenAt.size;
  if (target > have) {
    await namespace("memory");
    const sent = new Map<string, number>();
    before = usage(allocatorPid);
    apiBefore = usage(apiserverPid).cpuS;
    started = nowMs();
    const todo = Array.from({ length: target - have }, (_, i) => `m-${i}`);
    const workers = Array.from({ length: 32 }, async (_, w) => {
      for (let i = w; i < todo.length; i += 32) sent.set(`memory/${todo[i]}`, await create("memory", todo[i] as string));
    });
    await Promise.all(workers);
    await report(`to ${target} Services`, [...sent.keys()], sent, before, started, apiBefore);
    await sleep(5000);
    const idle = usage(allocatorPid);
    console.log(`\nallocating speaker holding ${target} Services: RSS ${idle.rssMb.toFixed(0)} MB, peak ${idle.peakMb.toFixed(0)} MB`);
  }
} finally {
  await informer.stop().catch(() => {});
  for (const s of speakers.values()) await stopSpeaker(s);
  await lab.down();
}
