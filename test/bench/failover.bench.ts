// Failover benchmark (not a test: it measures, it asserts nothing). Needs root and the lab.
//
//   node test/bench/failover.bench.ts [--runs 10] [--graceful-runs 5] [--outage-seconds 300|0]
//
// Three node namespaces each run a speaker against the lab's real kube-apiserver (RBAC-bound
// token); a client namespace probes three VIPs (one won by each node) with ARP every 10 ms and
// watches its kernel neighbour table. Measured:
//  - SIGKILL of the owner → first ARP reply from the new owner, and → the client's kernel
//    neighbour entry for the VIP moving to the new owner's MAC (×runs);
//  - SIGTERM (graceful hand-over) of the owner → the same two instants (×graceful-runs);
//  - kube-apiserver frozen (SIGSTOP) for --outage-seconds: ARP rounds sent vs answered for
//    every VIP, and whether any address moved;
//  - throughout: rounds in which two different MACs answered one VIP (split brain).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { ANNOTATIONS, LOAD_BALANCER_CLASS } from "../../provider/core/model/contract.ts";
import { elect } from "../../runtime/election/rank.ts";
import { applyPool, labUnavailable, run, nodeMacs, root, sleep, startLab, startSpeaker, stopSpeaker, waitFor, type SpeakerProcess } from "../control/harness.ts";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    "graceful-runs": { type: "string", default: "5" },
    "outage-seconds": { type: "string", default: "30" },
  },
});
const RUNS = Number(args.runs);
const GRACEFUL = Number(args["graceful-runs"]);
const OUTAGE_S = Number(args["outage-seconds"]);
const NODES = ["node-a", "node-b", "node-c"];

const why = await labUnavailable();
if (why) {
  console.log(`failover benchmark skipped: ${why}`);
  process.exit(0);
}

const nowMs = (): number => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const fmt = (xs: number[]): string =>
  xs.length === 0 ? "n/a" : `p50 ${pct(xs, 50).toFixed(0)} ms, p90 ${pct(xs, 90).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms, min ${Math.min(...xs).toFixed(0)} ms (n=${xs.length})`;

// One VIP won by each node, so successive runs kill different nodes.
const vips: Record<string, string> = {};
for (let i = 150; i < 199 && Object.keys(vips).length < NODES.length; i++) {
  const w = elect(NODES, `192.0.2.${i}`) as string;
  if (!(w in vips)) vips[w] = `192.0.2.${i}`;
}

const lab = await startLab("bench", NODES);
const speakers = new Map<string, SpeakerProcess>();
let exitCode = 0;
try {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  const macs = await nodeMacs(lab);
  const nodeOfMac = new Map([...macs].map(([n, m]) => [m, n]));
  await applyPool(lab.admin, "lan", { addresses: ["192.0.2.150-192.0.2.199"] });
  await applyPool(lab.admin, "all", {}, "advertisement");
  for (const n of NODES) speakers.set(n, startSpeaker(lab, n));
  for (const [node, ip] of Object.entries(vips)) {
    await core.createNamespacedService({
      namespace: "default",
      body: {
        metadata: { name: `vip-${node}`, annotations: { [ANNOTATIONS.assignedIps]: ip } },
        spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS, ports: [{ port: 80 }], selector: { app: node } },
      },
    });
  }

  // The prober and the kernel neighbour monitor in the client namespace.
  const probe = spawn("ip", ["netns", "exec", lab.clientNs, "python3", join(root, "test/bench/failover.probe.py"), "eth0", "192.0.2.100", "10", ...Object.values(vips)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const changes: { ts: number; vip: string; mac: string }[] = [];
  const duals: string[] = [];
  let statsWaiter: ((lines: string[]) => void) | undefined;
  let statsLines: string[] = [];
  createInterface({ input: probe.stdout }).on("line", (line) => {
    const [kind, ts, vip, ...rest] = line.split(" ");
    if (kind === "change") changes.push({ ts: Number(ts), vip: vip as string, mac: rest[0] as string });
    else if (kind === "dual") duals.push(line);
    else if (kind === "stats") {
      statsLines.push(line);
      if (statsLines.length === Object.keys(vips).length && statsWaiter) {
        statsWaiter(statsLines);
        statsLines = [];
      }
    }
  });
  const stats = (): Promise<Map<string, { sent: number; replied: number; replies: number }>> =>
    new Promise((resolve) => {
      statsWaiter = (lines) => resolve(new Map(lines.map((l) => l.split(" ")).map((p) => [p[2] as string, { sent: Number(p[3]), replied: Number(p[4]), replies: Number(p[5]) }])));
      probe.stdin?.write("stats\n");
    });
  const neigh = spawn("ip", ["netns", "exec", lab.clientNs, "ip", "-ts", "monitor", "neigh", "dev", "eth0"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, TZ: "UTC" } });
  const neighChanges: { ts: number; vip: string; mac: string }[] = [];
  createInterface({ input: neigh.stdout }).on("line", (line) => {
    // [2026-11-22T02:50:01.123456] 192.0.2.150 lladdr 02:.. REACHABLE
    const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)\]\s+(\S+)\s+(?:dev \S+\s+)?lladdr\s+([0-9a-f:]{17})/.exec(line);
    // iproute2 prints local time; the lab machines run in UTC (TZ is forced below for the child).
    if (m) neighChanges.push({ ts: Date.parse(`${m[1]}Z`) + Number(`0.${m[2]}`) * 1000, vip: m[3] as string, mac: m[4] as string });
  });

  const currentMac = (vip: string): string | undefined => [...changes].reverse().find((c) => c.vip === vip)?.mac;
  const waitOwner = async (vip: string, node: string, timeoutMs = 30_000): Promise<void> => {
    await waitFor(`${vip} answered by ${node}`, () => (currentMac(vip) === macs.get(node) ? true : undefined), timeoutMs, 20);
  };
  // Settle: every VIP answered by its winner.
  for (const [node, vip] of Object.entries(vips)) await waitOwner(vip, node, 90_000);
  // Give the client kernel a neighbour entry per VIP, as real traffic would (one ping each; nothing
  // answers ICMP on a VIP here). Replies to the prober and gratuitous ARP then update them.
  for (const vip of Object.values(vips)) await run("ip", ["netns", "exec", lab.clientNs, "ping", "-c", "1", "-W", "1", vip]).catch(() => {});
  console.log((await run("ip", ["-n", lab.clientNs, "neigh", "show", "dev", "eth0"])).trim());
  await sleep(1500);
  console.log(`VIPs: ${Object.entries(vips).map(([n, v]) => `${v}→${n}`).join(", ")}`);

  async function handover(kind: "SIGKILL" | "SIGTERM", i: number): Promise<{ arp: number; neigh: number | undefined; to: string }> {
    const node = NODES[i % NODES.length] as string;
    const vip = vips[node] as string;
    const oldMac = macs.get(node) as string;
    const next = elect(NODES.filter((n) => n !== node), vip) as string;
    const t0 = nowMs();
    if (kind === "SIGKILL") speakers.get(node)?.child.kill("SIGKILL");
    else void stopSpeaker(speakers.get(node) as SpeakerProcess, "SIGTERM");
    const c = await waitFor(`${vip} to move off ${node}`, () => changes.find((x) => x.vip === vip && x.ts >= t0 && x.mac !== oldMac), 20_000, 5);
    await sleep(300);
    const n = neighChanges.find((x) => x.vip === vip && x.ts >= t0 && x.mac !== oldMac);
    await speakers.get(node)?.exited;
    const to = nodeOfMac.get(c.mac) ?? c.mac;
    if (to !== next) console.log(`  note: ${vip} moved to ${to}, expected ${next}`);
    // Restart it and let it take its address back (break before make), then settle.
    speakers.set(node, startSpeaker(lab, node));
    await waitOwner(vip, node, 60_000);
    await sleep(1500);
    return { arp: c.ts - t0, neigh: n ? n.ts - t0 : undefined, to };
  }

  const killArp: number[] = [];
  const killNeigh: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await handover("SIGKILL", i);
    killArp.push(r.arp);
    if (r.neigh !== undefined) killNeigh.push(r.neigh);
    console.log(`SIGKILL run ${i + 1}: first reply from ${r.to} after ${r.arp.toFixed(0)} ms; neighbour entry moved after ${r.neigh?.toFixed(0) ?? "?"} ms`);
  }
  const termArp: number[] = [];
  const termNeigh: number[] = [];
  for (let i = 0; i < GRACEFUL; i++) {
    const r = await handover("SIGTERM", i);
    termArp.push(r.arp);
    if (r.neigh !== undefined) termNeigh.push(r.neigh);
    console.log(`SIGTERM run ${i + 1}: first reply from ${r.to} after ${r.arp.toFixed(1)} ms; neighbour entry moved after ${r.neigh?.toFixed(1) ?? "?"} ms`);
  }

  let outage = "skipped (--outage-seconds 0)";
  if (OUTAGE_S > 0) {
    const pid = Number(readFileSync(join(lab.dir, "pids/kube-apiserver.pid"), "utf8").trim());
    await stats(); // reset counters
    const changesBefore = changes.length;
    const dualsBefore = duals.length;
    process.kill(pid, "SIGSTOP");
    console.log(`kube-apiserver (pid ${pid}) frozen for ${OUTAGE_S} s...`);
    const t0 = Date.now();
    try {
      await sleep(OUTAGE_S * 1000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const s = await stats();
    const moved = changes.slice(changesBefore);
    const lines = [...s].map(([vip, x]) => `${vip}: ${x.sent} requests, ${x.replies} replies (${Math.max(0, x.sent - x.replies)} never answered), ${x.sent - x.replied} rounds without a reply within 10 ms`);
    outage = `${((Date.now() - t0) / 1000).toFixed(0)} s with kube-apiserver frozen: ${lines.join("; ")}; owner changes ${moved.length}; dual answers ${duals.length - dualsBefore}`;
    console.log(outage);
    // After the outage: renewals resume and nothing moves.
    await sleep(5000);
    for (const [node, vip] of Object.entries(vips)) if (currentMac(vip) !== macs.get(node)) console.log(`  after outage: ${vip} no longer on ${node}`);
  }

  console.log("\n== failover benchmark (3 speakers, real kube-apiserver, ARP probe every 10 ms)");
  console.log(`SIGKILL owner → first ARP reply from new owner:      ${fmt(killArp)}`);
  console.log(`SIGKILL owner → client neighbour entry moved:        ${fmt(killNeigh)}`);
  console.log(`SIGTERM owner → first ARP reply from new owner:      ${fmt(termArp)}`);
  console.log(`SIGTERM owner → client neighbour entry moved:        ${fmt(termNeigh)}`);
  console.log(`API outage: ${outage}`);
  console.log(`Rounds answered by two MACs at once (whole run):     ${duals.length}${duals.length ? "\n  " + duals.slice(0, 10).join("\n  ") : ""}`);
  probe.kill();
  neigh.kill();
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  for (const s of speakers.values()) await stopSpeaker(s);
  await lab.down();
}
process.exit(exitCode);
