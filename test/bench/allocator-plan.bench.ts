// The in-cluster allocator's plan cost at many Services, whole plans against the plan session
// (not a test: prints figures, asserts nothing; no lab). The allocator runs against an in-memory
// cluster (runtime/allocator/testing.ts) whose writes it sees at once; each row is one plan and its
// writes, in ms of wall time, median of --rounds.
//
//   node test/bench/allocator-plan.bench.ts [--services 10000] [--rounds 3]
//
// Planners: "whole" plans every Service each time (planAllocation, as before the session);
// "session, at once" keeps a PlanSession and runs each plan without a pause; "session, sliced" is
// what the speaker runs (the same session, a turn of the event loop every 8 ms of planning). The
// last lines give the longest the event loop waited in each column (perf_hooks'
// monitorEventLoopDelay): what heartbeats and the answer deadline would have waited.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { planAllocation } from "../../provider/core/allocation/index.ts";
import { slicedPlanner, type Planner } from "../../runtime/allocator/planner.ts";
import { FakeCluster, makeAllocator } from "../../runtime/allocator/testing.ts";

const { values: args } = parseArgs({ options: { services: { type: "string", default: "10000" }, rounds: { type: "string", default: "3" } } });
const SERVICES = Number(args.services);
const ROUNDS = Number(args.rounds);

const wholePlanner = (): Planner => ({
  plan: async (input) => {
    const plan = planAllocation(input);
    if (!plan.ok) return plan;
    const { services, changes: _changes, ...rest } = plan;
    return { ...rest, outcomes: new Map(Object.entries(services)) };
  },
  forget: () => {},
  close: async () => {},
});

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function measure(planner: Planner): Promise<Record<string, number>> {
  const cluster = new FakeCluster();
  cluster.addPool("v6", ["2001:db8:1::/64"]);
  cluster.addPool("v4", ["192.0.2.0/24"]);
  for (let i = 0; i < SERVICES; i++) cluster.addService(`s-${i}`, i % 50 === 0 ? {} : { ipFamilies: ["IPv6"] }, {}, `ns-${i % 20}`);
  const { allocator, clock } = makeAllocator(cluster, { planner });
  allocator.setActive(true);
  await clock.advance(0);
  const planned = async (): Promise<number> => {
    const t0 = performance.now();
    await allocator.planNow();
    for (let i = 0; i < 1_000_000 && (allocator.debugState() as { queued: number }).queued > 0; i++) await clock.advance(1);
    return performance.now() - t0;
  };
  const rows: Record<string, number[]> = { "first plan (all new)": [await planned()], "its writes seen": [await planned()], "nothing changed": [], "100 new Services": [], "  their writes seen": [] };
  let added = 0;
  for (let r = 0; r < ROUNDS; r++) {
    rows["nothing changed"]!.push(await planned());
    for (let i = 0; i < 100; i++) cluster.addService(`new-${added++}`, { ipFamilies: ["IPv6"] }, {}, "ns-new");
    rows["100 new Services"]!.push(await planned());
    rows["  their writes seen"]!.push(await planned());
  }
  await allocator.stop();
  return Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
}

const columns: [string, () => Planner][] = [
  ["whole", wholePlanner],
  ["session, at once", () => slicedPlanner({ sliceMs: Number.POSITIVE_INFINITY })],
  ["session, sliced", () => slicedPlanner()],
];
const results: Record<string, Record<string, number>> = {};
const loopWaits: Record<string, number> = {};
for (const [name, make] of columns) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  results[name] = await measure(make());
  delay.disable();
  loopWaits[name] = delay.max / 1e6;
}
console.log(`in-cluster allocator, ${SERVICES} Services (2% IPv4, the rest IPv6), ms per plan and its writes (median of ${ROUNDS}); node ${process.version}`);
console.log(`${"".padEnd(24)}${columns.map(([n]) => n.padStart(18)).join("")}   whole / sliced`);
for (const row of Object.keys(results.whole!)) {
  const cells = columns.map(([n]) => results[n]![row]!.toFixed(0).padStart(18)).join("");
  console.log(`${row.padEnd(24)}${cells}   ${(results.whole![row]! / results["session, sliced"]![row]!).toFixed(1).padStart(6)}×`);
}
console.log(`${"longest loop wait".padEnd(24)}${columns.map(([n]) => (loopWaits[n] as number).toFixed(0).padStart(18)).join("")}`);
