// Robustness sweep of the ring-liveness simulation: the benchmark's scenarios over many seeds at a
// small size, counting false verdicts and split brains per phase (not a test: it prints; it exits
// 1 when it saw a split brain).
//
//   node test/scale/simulation.sweep.ts [--nodes 200] [--addresses 100] [--seeds 30] [--kills 20] [--freezes 20] [--seconds 10] [--loss 0.05] [--old-deadline] [--no-reset] [--old-read] [--old-answers] [--old-recheck] [--no-stretch] [--old-pace] [--old-idle-deadline]
//
// The flags are those of simulation.bench.ts (test/scale/README.md, "Simulation (5,000 nodes)").
import { parseArgs } from "node:util";
import { p50p90max } from "../bench/stats.ts";
import { DEFAULT_PLAN, STRETCH_WARMUP_MS, runScenarios, simConfig } from "./simulation.ts";

const { values: args } = parseArgs({
  options: {
    nodes: { type: "string", default: "200" },
    addresses: { type: "string", default: "100" },
    seeds: { type: "string", default: "30" },
    kills: { type: "string", default: "20" },
    freezes: { type: "string", default: "20" },
    seconds: { type: "string", default: "10" },
    loss: { type: "string", default: "0.05" },
    "old-deadline": { type: "boolean", default: false },
    "no-reset": { type: "boolean", default: false },
    "old-read": { type: "boolean", default: false },
    "old-answers": { type: "boolean", default: false },
    "old-recheck": { type: "boolean", default: false },
    "no-stretch": { type: "boolean", default: false },
    "old-pace": { type: "boolean", default: false },
    "old-idle-deadline": { type: "boolean", default: false },
  },
});

const stretch = !args["no-stretch"];
const plan = { ...DEFAULT_PLAN, warmupMs: stretch ? STRETCH_WARMUP_MS : DEFAULT_PLAN.warmupMs, steadyMs: Number(args.seconds) * 1000, kills: Number(args.kills), freezes: Number(args.freezes) };
const phases = ["steady", "kills", "leave", "freeze", "partition", "outage"];
const falseVerdicts = new Map<string, number>(phases.map((p) => [p, 0]));
const splits = new Map<string, { n: number; runs: Set<number>; maxMs: number }>(phases.map((p) => [p, { n: 0, runs: new Set<number>(), maxMs: 0 }]));
let verdictBeforeStopKills = 0;
let verdictBeforeStopFreezes = 0;
let kills = 0;
let freezes = 0;
let egressStoppedFirst = 0;
let bothStoppedFirst = 0;
let outageAbsences = 0;
let outageUnanswered = 0;
let outageUnowned = 0;
let addresses = 0;
let unansweredAfter = 0;
let verdictsDuringOutage = 0;
const killVerdictMs: number[] = [];
const killNewOwnerMs: number[] = [];
const freezeVerdictMs: number[] = [];
let steadyApi = 0;
let steadyAbsences = 0;
let steadyOwnerAbsences = 0;
let steadyRenewalsAtStake = 0;
let steadyRenewalsIdle = 0;
const started = performance.now();
const seeds = Number(args.seeds);
for (let seed = 1; seed <= seeds; seed++) {
  const config = simConfig({ nodes: Number(args.nodes), addresses: Number(args.addresses), loss: Number(args.loss), seed, ackDeadline: !args["old-deadline"], resetObservations: !args["no-reset"], oldRead: args["old-read"], oldAnswers: args["old-answers"], oldRecheck: args["old-recheck"], stretch, slowHeartbeats: !args["old-pace"], oldIdleDeadline: args["old-idle-deadline"] });
  const r = runScenarios(config, plan);
  for (const v of r.falseVerdicts) {
    const phase = Object.entries(r.phaseWindows).find(([, w]) => v.t >= w.from && v.t < w.to)?.[0] ?? "?";
    falseVerdicts.set(phase, (falseVerdicts.get(phase) ?? 0) + 1);
  }
  for (const s of r.splitBrains) {
    const x = splits.get(s.phase) ?? { n: 0, runs: new Set<number>(), maxMs: 0 };
    x.n++;
    x.runs.add(seed);
    x.maxMs = Math.max(x.maxMs, s.end - s.start);
    splits.set(s.phase, x);
  }
  kills += r.kills.length;
  freezes += r.freezes.length;
  verdictBeforeStopKills += r.kills.filter((h) => h.verdictMs < h.stoppedMs).length;
  verdictBeforeStopFreezes += r.freezes.filter((f) => f.handOver.verdictMs < f.handOver.stoppedMs).length;
  if (r.partitionEgress.stoppedBeforeVerdict) egressStoppedFirst++;
  if (r.partitionBoth.stoppedBeforeVerdict) bothStoppedFirst++;
  outageAbsences += r.outage.absences;
  outageUnanswered += r.outage.unansweredAtRecovery;
  outageUnowned += r.outage.unownedAtRecovery;
  unansweredAfter += r.outage.unansweredAtEnd;
  verdictsDuringOutage += r.outage.verdicts;
  killVerdictMs.push(...r.kills.map((h) => h.verdictMs));
  killNewOwnerMs.push(...r.kills.flatMap((h) => h.newOwnerMs));
  freezeVerdictMs.push(...r.freezes.map((f) => f.handOver.verdictMs));
  steadyApi += r.steady.apiRequestsPerNodePerSecond / seeds;
  steadyAbsences += r.steady.absences;
  steadyOwnerAbsences += r.steady.ownerAbsences;
  steadyRenewalsAtStake += r.steady.renewalsAtStakePerNodePerSecond / seeds;
  steadyRenewalsIdle += r.steady.renewalsIdlePerNodePerSecond / seeds;
  addresses += r.addresses;
}
const wallS = (performance.now() - started) / 1000;
const flags = [args["old-deadline"] ? "old deadline" : "", args["no-reset"] ? "no reset" : "", args["old-read"] ? "old read" : "", args["old-answers"] ? "old answers" : "", args["old-recheck"] ? "old recheck" : "", stretch ? "" : "no stretch", stretch && args["old-pace"] ? "old pace" : "", stretch && args["old-idle-deadline"] ? "old idle deadline" : ""].filter((x) => x !== "").join(", ");
console.log(`Ring liveness sweep: ${seeds} seeds × ${args.nodes} nodes, ${args.addresses} addresses, loss ${(Number(args.loss) * 100).toFixed(1)} %, ${plan.kills} kills and ${plan.freezes} freezes each${flags ? ` (${flags})` : ""}`);
console.log("  phase       false verdicts   split brains (runs, longest)");
for (const p of phases) {
  const s = splits.get(p) as { n: number; runs: Set<number>; maxMs: number };
  console.log(`  ${p.padEnd(10)}  ${String(falseVerdicts.get(p) ?? 0).padStart(14)}   ${s.n} (${s.runs.size} runs${s.n > 0 ? `, ${s.maxMs.toFixed(0)} ms` : ""})`);
}
const valid = (xs: readonly number[]): number[] => xs.filter((x) => !Number.isNaN(x));
const missing = (xs: readonly number[]): string => (xs.some((x) => Number.isNaN(x)) ? `, ${xs.filter((x) => Number.isNaN(x)).length} none` : "");
console.log(`  steady (${args.seconds} s): API requests / node / s ${steadyApi.toFixed(3)} (renewals at stake ${steadyRenewalsAtStake.toFixed(3)}, nothing at stake ${steadyRenewalsIdle.toFixed(3)}); answer pauses ${steadyAbsences} (of nodes answering ${steadyOwnerAbsences})`);
console.log(`  kills: kill → verdict ${p50p90max(valid(killVerdictMs))}${missing(killVerdictMs)}; kill → new owner answering ${p50p90max(valid(killNewOwnerMs))}${missing(killNewOwnerMs)}`);
console.log(`  freezes: freeze → verdict ${p50p90max(valid(freezeVerdictMs))}${missing(freezeVerdictMs)}`);
console.log(`  kills: verdict before the victim's answers stopped: ${verdictBeforeStopKills} of ${kills}`);
console.log(`  freezes: verdict before the frozen node's answers stopped: ${verdictBeforeStopFreezes} of ${freezes}`);
console.log(`  partitions: answers stopped before the verdict: heartbeats + API ${bothStoppedFirst} of ${seeds}, outgoing datagrams + API ${egressStoppedFirst} of ${seeds}`);
console.log(`  API outage: verdicts ${verdictsDuringOutage}; answer deadlines passed ${outageAbsences}; addresses unanswered at recovery ${outageUnanswered} of ${addresses} (owned by nobody ${outageUnowned}), 10 s after ${unansweredAfter}`);
console.log(`  wall time ${wallS.toFixed(1)} s`);
if ([...splits.values()].some((s) => s.n > 0)) process.exitCode = 1;
