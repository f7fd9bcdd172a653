// Ring liveness at scale, simulated (not a test: it measures and prints; it exits 1 only when a
// split brain was seen, since this design allows no overlap at all: a node stops answering at its
// answer deadline, before any verdict can hand its addresses to another).
//
//   node test/scale/simulation.bench.ts [--nodes 5000] [--seconds 120] [--loss 0.05] [--seed 1] [--kills 20] [--freezes 1] [--addresses 1000] [--old-deadline] [--no-reset] [--old-read] [--old-answers] [--old-recheck] [--no-stretch] [--old-pace] [--old-idle-deadline]
//
// --old-deadline, --no-reset, --old-read, --old-answers and --old-recheck undo one fix each
// (SimConfig.ackDeadline, .resetObservations, .oldRead, .oldAnswers, .oldRecheck), to show the
// flaws they closed. --no-stretch turns off renewals stretched when nothing is at stake
// (SimConfig.stretch): every node renews every second, and the steady window opens after 2 s
// instead of 13 s (the run of the model before stretching was added, figure for figure).
// --old-pace keeps the heartbeats of idle nodes at 200 ms and one heartbeat timeout everywhere
// (SimConfig.slowHeartbeats false: stretched renewals as first implemented, 150b470), to show the
// answer pauses that gave idle nodes under loss. --old-idle-deadline counts one second in the
// renewal term of an idle node's answer bound (SimConfig.oldIdleDeadline: as before 0223986), to
// show the pauses, and the verdicts they delayed, when a successor of idle nodes dies or freezes.
//
// The model and its assumptions: test/scale/README.md, "Simulation (5,000 nodes)".
import { parseArgs } from "node:util";
import { p50p90max } from "../bench/stats.ts";
import { DEFAULT_PLAN, STRETCH_WARMUP_MS, runScenarios, simConfig, type HandOver, type Report } from "./simulation.ts";

const { values: args } = parseArgs({
  options: {
    nodes: { type: "string", default: "5000" },
    seconds: { type: "string", default: "120" },
    loss: { type: "string", default: "0.05" },
    seed: { type: "string", default: "1" },
    kills: { type: "string", default: "20" },
    freezes: { type: "string", default: "1" },
    addresses: { type: "string", default: "1000" },
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

const config = simConfig({ nodes: Number(args.nodes), addresses: Number(args.addresses), loss: Number(args.loss), seed: Number(args.seed), ackDeadline: !args["old-deadline"], resetObservations: !args["no-reset"], oldRead: args["old-read"], oldAnswers: args["old-answers"], oldRecheck: args["old-recheck"], stretch: !args["no-stretch"], slowHeartbeats: !args["old-pace"], oldIdleDeadline: args["old-idle-deadline"] });
// With stretching, the steady window opens once the idle nodes renew every 3 s.
const plan = { ...DEFAULT_PLAN, warmupMs: config.stretch ? STRETCH_WARMUP_MS : DEFAULT_PLAN.warmupMs, steadyMs: Number(args.seconds) * 1000, kills: Number(args.kills), freezes: Number(args.freezes) };
const started = performance.now();
const r = runScenarios(config, plan);
const wallS = (performance.now() - started) / 1000;

const ms = (x: number): string => (Number.isNaN(x) ? "none" : `${x.toFixed(0)} ms`);
const valid = (xs: readonly number[]): number[] => xs.filter((x) => !Number.isNaN(x));
const newOwners = (hs: readonly HandOver[]): number[] => hs.flatMap((h) => h.newOwnerMs);
const never = (hs: readonly HandOver[]): number => newOwners(hs).filter((x) => Number.isNaN(x)).length;

function table(report: Report): Array<[string, string]> {
  const s = report.steady;
  const k = report.kills;
  const f = report.freezes;
  const pb = report.partitionBoth;
  const pe = report.partitionEgress;
  return [
    ["cluster", `${report.nodes} nodes, ${report.addresses} addresses, loss ${(report.loss * 100).toFixed(1)} %, seed ${report.seed}${config.ackDeadline ? "" : ", OLD deadline"}${config.resetObservations ? "" : ", NO reset"}${config.oldRead ? ", OLD read" : ""}${config.oldAnswers ? ", OLD answers" : ""}${config.oldRecheck ? ", OLD recheck" : ""}${config.stretch ? "" : ", NO stretch"}${config.stretch && !config.slowHeartbeats ? ", OLD pace" : ""}${config.stretch && config.oldIdleDeadline ? ", OLD idle deadline" : ""}`],
    [`steady (${((s.to - s.from) / 1000).toFixed(0)} s): false verdicts`, String(s.falseVerdicts)],
    ["steady: heartbeats / node / s; acknowledgements / node / s", `${s.heartbeatsPerNodePerSecond.toFixed(2)}; ${s.acksPerNodePerSecond.toFixed(2)}`],
    ["steady: datagrams / node / s (all kinds)", s.datagramsPerNodePerSecond.toFixed(2)],
    ["steady: answer pauses (deadline passed, or own record deleted); of nodes answering", `${s.absences}; ${s.ownerAbsences}`],
    ["steady: API requests / node / s (renewals + GETs + deletes)", s.apiRequestsPerNodePerSecond.toFixed(3)],
    ["steady: renewals / node / s: at stake (nodes); nothing at stake (nodes)", `${s.renewalsAtStakePerNodePerSecond.toFixed(3)} (${s.nodesAtStake}); ${s.renewalsIdlePerNodePerSecond.toFixed(3)} (${s.idleNodes})`],
    ["steady: watch events / s, cluster-wide", s.watchEventsPerSecond.toFixed(1)],
    [`kills (${k.length}): kill → verdict, p50 / p90 / max`, p50p90max(valid(k.map((h) => h.verdictMs)))],
    ["kills: kill → victim's answers stopped (deadline)", p50p90max(valid(k.map((h) => h.stoppedMs)))],
    ["kills: verdicts before the victim's answers stopped", String(k.filter((h) => h.verdictMs < h.stoppedMs).length)],
    ["kills: watch events / s, cluster-wide", report.killWatchEventsPerSecond.toFixed(0)],
    ["kills: kill → new owner answering (per address)", `${p50p90max(valid(newOwners(k)))}${never(k) > 0 ? `, ${never(k)} never` : ""}`],
    ["leave: leave → new owner answering", report.leave === undefined ? "n/a" : p50p90max(valid(report.leave.newOwnerMs))],
    [`freezes (${f.length} × ${(plan.freezeMs / 1000).toFixed(0)} s): freeze → verdict`, p50p90max(valid(f.map((x) => x.handOver.verdictMs)))],
    ["freezes: freeze → frozen node's answers stopped (deadline)", p50p90max(valid(f.map((x) => x.handOver.stoppedMs)))],
    ["freezes: freeze → new owner answering (per address)", p50p90max(valid(newOwners(f.map((x) => x.handOver))))],
    ["freezes: verdicts before the frozen node's answers stopped", String(f.filter((x) => x.handOver.verdictMs < x.handOver.stoppedMs).length)],
    ["freezes: frozen node answering an address another answers", String(f.reduce((n, x) => n + x.frozenSplitBrains, 0))],
    ["freezes: resumed node answering an address another answers", String(f.reduce((n, x) => n + x.resumedSplitBrains, 0))],
    ["freezes: rejoined / resume → answers again", `${f.filter((x) => x.rejoined).length} of ${f.length} / ${p50p90max(valid(f.map((x) => x.answersAgainMs)))}`],
    [`partition, heartbeats only (node ${report.partitionHeartbeats.node}): verdicts`, `${report.partitionHeartbeats.verdicts} (GETs during the phase: ${report.partitionHeartbeats.gets})`],
    [`partition, heartbeats + API (node ${pb.node}): cut → verdict`, ms(pb.handOver.verdictMs)],
    ["partition, heartbeats + API: cut → isolated (released)", ms(pb.isolatedMs)],
    ["partition, heartbeats + API: cut → new owner answering", p50p90max(valid(pb.handOver.newOwnerMs))],
    ["partition, heartbeats + API: isolated before the new owner answered", pb.isolatedBeforeNewOwner ? "yes" : "NO"],
    ["partition, heartbeats + API: cut → answers stopped (deadline) / before the verdict", `${ms(pb.handOver.stoppedMs)} / ${pb.stoppedBeforeVerdict ? "yes" : "NO"}`],
    [`partition, outgoing datagrams + API (node ${pe.node}): cut → verdict`, ms(pe.handOver.verdictMs)],
    ["partition, outgoing datagrams + API: cut → answers stopped (deadline) / before the verdict", `${ms(pe.handOver.stoppedMs)} / ${pe.stoppedBeforeVerdict ? "yes" : "NO"}`],
    ["partition, outgoing datagrams + API: cut → isolated / → new owner", `${ms(pe.isolatedMs)} / ${p50p90max(valid(pe.handOver.newOwnerMs))}`],
    [`API outage ${((plan.outageMs) / 1000).toFixed(0)} s (+${((2 * plan.settleMs) / 1000).toFixed(0)} s after): verdicts`, String(r.outage.verdicts)],
    ["API outage: answer changes / isolation releases", `${report.outage.answerChanges} / ${report.outage.releases}`],
    ["API outage: answer pauses (addresses stopped at the deadline)", `${report.outage.absences} (${report.outage.absentAddresses})`],
    ["API outage: addresses unanswered at recovery (owned by nobody) / 10 s after", `${report.outage.unansweredAtRecovery} (${report.outage.unownedAtRecovery}) / ${report.outage.unansweredAtEnd}`],
    ["answer pauses (deadline passed, or own record deleted), by phase", Object.entries(report.absencesByPhase).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["false verdicts (whole run)", String(report.falseVerdicts.length)],
    ["split brains (whole run; hand-over window: none allowed)", String(report.splitBrains.length)],
    ["simulated / events / wall time", `${(report.endMs / 1000).toFixed(0)} s / ${(report.events / 1e6).toFixed(1)} M / ${wallS.toFixed(1)} s`],
  ];
}

const rows = table(r);
const width = Math.max(...rows.map(([k]) => k.length));
console.log("Ring liveness, simulated");
for (const [key, value] of rows) console.log(`  ${key.padEnd(width)}  ${value}`);
for (const v of r.falseVerdicts) console.log(`  false verdict: t=${v.t.toFixed(1)} ms, node ${v.by} deleted node ${v.peer}`);
if (r.splitBrains.length > 0) {
  console.log(`SPLIT BRAIN: ${r.splitBrains.length} interval(s) with two nodes answering one address:`);
  for (const s of r.splitBrains) console.log(`  [${s.phase}] address ${s.address}: nodes ${s.nodes.join(", ")} from t=${s.start.toFixed(1)} ms for ${ms(s.end - s.start)}`);
  process.exitCode = 1;
}
