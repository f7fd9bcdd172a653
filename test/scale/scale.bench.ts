// Scale benchmark of the speakers' liveness protocol (not a test: it prints figures, asserts
// nothing; README "Scale harness (kwok)"). Needs the lab's tools (test/lab/build-tools.sh).
//
//   node test/scale/scale.bench.ts [--nodes 3,50,200,500] [--modes mesh,ring] [--idle-seconds 30]
//                                  [--kills 5] [--services 1000] [--workers 4] [--lab-id scale]
//                                  [--profile-dir DIR]
//
// One lab (real kube-apiserver + etcd + kwok) for the whole run. For each node count N (nodes are
// added, never removed): N kwok nodes, a baseline of the API server's Lease counters with no
// speaker running, then for each liveness mode N real Controllers in a few worker processes
// (instances.ts): settle, measure over --idle-seconds, then --kills abrupt stops of an owner,
// each timed until another instance's data plane owns every address the victim held.
import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import type { LivenessMode } from "../../runtime/control/controller.ts";
import { DEFAULT_NAMESPACE } from "../../provider/core/model/contract.ts";
import { labUnavailableReason } from "./preflight.ts";
import { sleep } from "../control/harness.ts";
import { pct } from "../bench/stats.ts";
import { deleteSpeakerLeases, ensureNodes, installServices, leaseCounters, leaseRates, startScaleLab, type ScaleLab } from "./lab.ts";
import type { InstanceSpec, WorkerSample } from "./protocol.ts";
import { wallMs } from "./protocol.ts";
import { Ownership, startWorkers, type Worker } from "./workers.ts";

const { values: args } = parseArgs({
  options: {
    nodes: { type: "string", default: "3,50,200,500" },
    modes: { type: "string", default: "mesh,ring" },
    "idle-seconds": { type: "string", default: "30" },
    kills: { type: "string", default: "5" },
    services: { type: "string", default: "1000" },
    workers: { type: "string", default: "4" },
    "lab-id": { type: "string", default: "scale" },
    /** CPU profiles of the workers over each idle window: DIR/<mode>-<N>-worker-<i>.cpuprofile. */
    "profile-dir": { type: "string" },
  },
});
const NODE_COUNTS = args.nodes.split(",").map(Number).filter((n) => n > 0).sort((a, b) => a - b);
const MODES = args.modes.split(",").map((m) => m.trim()) as LivenessMode[];
const IDLE_S = Number(args["idle-seconds"]);
const KILLS = Number(args.kills);
const SERVICES = Math.min(Number(args.services), 4000);
const WORKERS = Number(args.workers);
const HEARTBEAT_PORT = 27946;
const POOL = "10.200.128.0/20";
/** The workers' logs (pino, level warn), one directory per run. */
const LOG_DIR = `/tmp/l2lb-${args["lab-id"]}-logs/${new Date().toISOString().replace(/[:.]/g, "-")}`;
/** A row is saturated when a worker's event loop stalls this long (heartbeats are due every 200 ms). */
const LAG_LIMIT_MS = 2000;
/** Measuring window of a saturated row. */
const SATURATED_WINDOW_S = Math.min(IDLE_S, 10);

for (const m of MODES) if (m !== "mesh" && m !== "ring") throw new Error(`--modes: unknown mode ${m}`);

/** Instance i: node scale-i, heartbeat on 127.1.x.y, eth0 10.200.x.y/16 (also its Node's InternalIP). */
function spec(i: number): InstanceSpec {
  const hi = Math.floor(i / 250);
  const lo = 1 + (i % 250);
  return { node: `scale-${String(i).padStart(3, "0")}`, heartbeatAddress: `127.1.${1 + hi}.${lo}`, interfaceAddress: `10.200.${hi}.${lo}`, prefixLength: 16 };
}

const serviceIps = Array.from({ length: SERVICES }, (_, k) => `10.200.${128 + (k >> 8)}.${k & 255}`);

interface Row {
  mode: LivenessMode;
  n: number;
  state: string;
  startS: number;
  settleS: number;
  windowS: number;
  leaseEventsPerS: number;
  leaseRequestsPerS: number;
  heartbeatsPerNodePerS: number;
  cpuPctPerInstance: number;
  plansPerInstancePerS: number;
  lagMaxMs: number;
  rssMb: number;
  failoverMs: number[];
  notes: string[];
}

interface Baseline {
  leaseEventsPerS: number;
  leaseRequestsPerS: number;
}

async function sampleAll(workers: Worker[]): Promise<WorkerSample[]> {
  return Promise.all(workers.map((w) => w.sample()));
}

const total = (xs: WorkerSample[], f: (s: WorkerSample) => number): number => xs.reduce((n, s) => n + f(s), 0);

async function measureBaseline(lab: ScaleLab, n: number): Promise<Baseline> {
  const window = Math.min(IDLE_S, 30);
  const a = await leaseCounters(lab);
  await sleep(window * 1000);
  const r = leaseRates(a, await leaseCounters(lab));
  console.log(`baseline N=${n} (kwok nodes, no speaker), ${window} s: ${r.watchEventsPerS.toFixed(1)} Lease watch events/s, ${r.requestsPerS.toFixed(1)} Lease requests/s`);
  return { leaseEventsPerS: r.watchEventsPerS, leaseRequestsPerS: r.requestsPerS };
}

/** Waits until every address has exactly one owner, every instance is ready, and nothing moved for 3 s. */
async function settle(workers: Worker[], own: Ownership, n: number, deadlineMs: number): Promise<{ settled: boolean; lagMaxMs: number; why: string }> {
  // Joining speakers make every instance plan again (a storm of O(N) plans each): only the deadline bounds it.
  let lagMaxMs = 0;
  let why = "";
  let reportAt = Date.now() + 15_000;
  while (Date.now() < deadlineMs) {
    await sleep(1000);
    const s = await sampleAll(workers);
    lagMaxMs = Math.max(lagMaxMs, ...s.map((x) => x.lagMaxMs));
    const ready = total(s, (x) => x.ready);
    const c = own.counts(serviceIps);
    why = `${ready}/${n} ready, ${c.none} addresses unowned, ${c.many} with two owners`;
    if (ready === n && c.none === 0 && c.many === 0 && Date.now() - own.lastChangeAt > 3000) return { settled: true, lagMaxMs, why };
    if (Date.now() >= reportAt) {
      reportAt += 15_000;
      console.log(`  settling: ${why}, loop lag up to ${Math.max(...s.map((x) => x.lagMaxMs)).toFixed(0)} ms`);
    }
  }
  return { settled: false, lagMaxMs, why: `not settled in time (${why})` };
}

/** The idle window: cluster-wide Lease rates, heartbeats, CPU and plans, per instance. */
async function measureIdle(lab: ScaleLab, workers: Worker[], row: Row, baseline: Baseline, seconds: number): Promise<void> {
  const profileDir = args["profile-dir"];
  if (profileDir !== undefined) await Promise.all(workers.map((w) => w.request("profile-start", {}, 30_000)));
  const c0 = await leaseCounters(lab);
  const s0 = await sampleAll(workers);
  const t0 = Date.now();
  let lagMaxMs = 0;
  for (let left = seconds; left > 0; left -= 5) {
    await sleep(Math.min(5, left) * 1000);
    const s = await sampleAll(workers);
    lagMaxMs = Math.max(lagMaxMs, ...s.map((x) => x.lagMaxMs));
  }
  const s1 = await sampleAll(workers);
  const c1 = await leaseCounters(lab);
  if (profileDir !== undefined) {
    mkdirSync(profileDir, { recursive: true });
    await Promise.all(workers.map((w, i) => w.request("profile-stop", { path: `${profileDir}/${row.mode}-${row.n}-worker-${i}.cpuprofile` }, 60_000)));
  }
  const windowS = (Date.now() - t0) / 1000;
  const rates = leaseRates(c0, c1);
  const n = row.n;
  const d = (f: (s: WorkerSample) => number): number => total(s1, f) - total(s0, f);
  row.windowS = windowS;
  row.leaseEventsPerS = rates.watchEventsPerS - baseline.leaseEventsPerS;
  row.leaseRequestsPerS = rates.requestsPerS - baseline.leaseRequestsPerS;
  row.heartbeatsPerNodePerS = d((s) => s.heartbeatsSent) / windowS / n;
  row.cpuPctPerInstance = (d((s) => s.cpuUs) / 1e6 / windowS / n) * 100;
  row.plansPerInstancePerS = d((s) => s.plans) / windowS / n;
  row.lagMaxMs = Math.max(row.lagMaxMs, lagMaxMs, ...s1.map((x) => x.lagMaxMs));
  row.rssMb = total(s1, (x) => x.rssMb);
  const failing = total(s1, (x) => x.renewFailing);
  if (failing > 0) row.notes.push(`${failing} instances' last Lease renewal failed`);
  if (lagMaxMs > LAG_LIMIT_MS) {
    row.state = "saturated";
    row.notes.push(`event loop stalled up to ${lagMaxMs.toFixed(0)} ms during the window`);
  }
}

const workerOf = (workers: Worker[], node: string): Worker => workers.find((w) => w.nodes.includes(node)) as Worker;

/** One abrupt stop of an owner: ms until other instances own every address it held; then it restarts. */
async function killRound(workers: Worker[], own: Ownership, n: number, row: Row): Promise<void> {
  const owners = workers.flatMap((w) => w.nodes).filter((node) => own.ownedBy(node).length > 0);
  const victim = owners[Math.floor(Math.random() * owners.length)];
  if (victim === undefined) return void row.notes.push("no owner to kill");
  const ips = own.ownedBy(victim);
  const w = workerOf(workers, victim);
  const at = (await w.request("kill", { node: victim }, 30_000)).at as number;
  own.markDead(victim);
  const deadline = Date.now() + 30_000;
  let times: (number | undefined)[] = [];
  while (Date.now() < deadline) {
    times = ips.map((ip) => own.takenOver(ip, victim, at));
    if (times.every((t) => t !== undefined)) break;
    await sleep(20);
  }
  const moved = times.filter((t): t is number => t !== undefined);
  const all = moved.length === ips.length ? Math.max(...moved) - at : undefined;
  if (all !== undefined) row.failoverMs.push(all);
  console.log(
    `  kill ${victim} (${ips.length} addresses) at ${new Date(at).toISOString().slice(11, 23)}: ` +
      (all !== undefined ? `all taken over after ${all.toFixed(0)} ms (first ${(Math.min(...moved) - at).toFixed(0)} ms)` : `${moved.length}/${ips.length} taken over within 30 s`),
  );
  own.markAlive(victim);
  await w.request("revive", { node: victim }, 60_000);
  const s = await settle(workers, own, n, Date.now() + 60_000);
  if (!s.settled) row.notes.push(`after reviving ${victim}: ${s.why}`);
}

async function runRow(lab: ScaleLab, mode: LivenessMode, n: number, baseline: Baseline): Promise<Row> {
  const row: Row = { mode, n, state: "ok", startS: 0, settleS: 0, windowS: 0, leaseEventsPerS: NaN, leaseRequestsPerS: NaN, heartbeatsPerNodePerS: NaN, cpuPctPerInstance: NaN, plansPerInstancePerS: NaN, lagMaxMs: 0, rssMb: 0, failoverMs: [], notes: [] };
  const own = new Ownership();
  const specs = Array.from({ length: n }, (_, i) => spec(i));
  const count = Math.max(1, Math.min(WORKERS, n));
  const t0 = Date.now();
  let workers: Worker[] = [];
  console.log(`\n== ${mode}, N=${n}: starting ${n} instances in ${count} processes`);
  try {
    workers = await startWorkers(
      count,
      specs,
      (i) => ({ kubeconfig: lab.speakerKubeconfig, namespace: DEFAULT_NAMESPACE, mode, heartbeatPort: HEARTBEAT_PORT, logFile: `${LOG_DIR}/${mode}-${n}-worker-${i}.log` }),
      (e) => own.onOwned(e),
      120_000 + n * 600,
    );
    row.startS = (Date.now() - t0) / 1000;
    const s = await settle(workers, own, n, Date.now() + Math.min(240_000, 60_000 + n * 300));
    row.settleS = (Date.now() - t0) / 1000;
    row.lagMaxMs = s.lagMaxMs;
    if (!s.settled) {
      row.state = "saturated";
      row.notes.push(s.why);
    }
    console.log(`  started in ${row.startS.toFixed(1)} s, ${s.settled ? "settled" : "NOT settled"} after ${row.settleS.toFixed(1)} s (${s.why})`);
    await measureIdle(lab, workers, row, baseline, row.state === "ok" ? IDLE_S : SATURATED_WINDOW_S);
    console.log(`  ${formatRow(row)}`);
    for (let k = 0; k < KILLS && row.state === "ok"; k++) await killRound(workers, own, n, row);
  } catch (err) {
    row.state = "failed";
    row.notes.push(err instanceof Error ? err.message.split("\n")[0] ?? "" : String(err));
    console.log(`  failed: ${row.notes.at(-1)}`);
  } finally {
    await Promise.all(workers.map((w) => w.stop(row.state === "ok" ? 20_000 : 5000)));
    await deleteSpeakerLeases(lab);
  }
  return row;
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "-");
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "-");
const failover = (xs: number[]): string => (xs.length === 0 ? "-" : `${pct(xs, 50).toFixed(0)} / ${Math.max(...xs).toFixed(0)} (n=${xs.length})`);

function formatRow(r: Row): string {
  return `lease watch ev/s ${f1(r.leaseEventsPerS)}, lease req/s ${f1(r.leaseRequestsPerS)}, heartbeats/node/s ${f1(r.heartbeatsPerNodePerS)}, CPU/instance ${f2(r.cpuPctPerInstance)} %, plans/instance/s ${f2(r.plansPerInstancePerS)}, max loop lag ${r.lagMaxMs.toFixed(0)} ms`;
}

function printTable(rows: Row[]): void {
  const header = ["mode", "N", "state", "window s", "Lease watch ev/s", "Lease req/s", "(ev+req)/node/s", "heartbeats/node/s", "CPU %/instance", "plans/inst/s", "failover p50/max ms", "max lag ms", "RSS MB"];
  const lines = rows.map((r) => [
    r.mode,
    String(r.n),
    r.state,
    f1(r.windowS),
    f1(r.leaseEventsPerS),
    f1(r.leaseRequestsPerS),
    f2((r.leaseEventsPerS + r.leaseRequestsPerS) / r.n),
    f1(r.heartbeatsPerNodePerS),
    f2(r.cpuPctPerInstance),
    f2(r.plansPerInstancePerS),
    failover(r.failoverMs),
    r.lagMaxMs.toFixed(0),
    r.rssMb.toFixed(0),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const fmt = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(" | ")} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const l of lines) console.log(fmt(l));
  for (const r of rows) for (const note of r.notes) console.log(`  ${r.mode} N=${r.n}: ${note}`);
}

const why = await labUnavailableReason();
if (why) {
  console.log(`scale benchmark skipped: ${why}`);
  process.exit(0);
}
const started = wallMs();
console.log(`scale benchmark: nodes ${NODE_COUNTS.join(",")}, modes ${MODES.join(",")}, ${IDLE_S} s idle, ${KILLS} kills, ${SERVICES} Services, ${WORKERS} worker processes; logs in ${LOG_DIR}`);
mkdirSync(LOG_DIR, { recursive: true });
const lab = await startScaleLab(args["lab-id"]);
let interrupted = false;
const onSignal = (): void => {
  if (interrupted) return;
  interrupted = true;
  console.log("interrupted: tearing the lab down");
  void lab.down().finally(() => process.exit(130));
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
const rows: Row[] = [];
let exitCode = 0;
try {
  await installServices(lab, POOL, serviceIps);
  for (const n of NODE_COUNTS) {
    const t = Date.now();
    await ensureNodes(lab, Array.from({ length: n }, (_, i) => ({ name: spec(i).node, ip: spec(i).interfaceAddress })));
    console.log(`\n${n} kwok nodes Ready (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    const baseline = await measureBaseline(lab, n);
    for (const mode of MODES) rows.push(await runRow(lab, mode, n, baseline));
  }
} catch (err) {
  console.error(err);
  exitCode = 1;
} finally {
  console.log(`\n== scale benchmark (${SERVICES} Services, ${IDLE_S} s idle windows, Lease figures less the kwok-only baseline; ${((wallMs() - started) / 60_000).toFixed(1)} min)`);
  printTable(rows);
  await lab.down();
}
process.exit(exitCode);
