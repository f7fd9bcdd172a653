// The in-cluster allocator's plan cost at many Services, whole plans against the plan session
// (not a test: prints figures, asserts nothing; no lab). The allocator runs against an in-memory
// cluster (runtime/allocator/testing.ts) whose writes it sees at once; each row is one plan and its
// writes, in ms of wall time, median of --rounds.
//
//   node test/bench/allocator-plan.bench.ts [--services 10000] [--rounds 3]
//
// Planners: "whole" plans every Service each time (planAllocation, as before the session);
// "session" keeps a PlanSession in-process; "session, thread" is what the speaker runs (the
// session in a worker thread, only changes crossing).
import { parseArgs } from "node:util";
import { planAllocation } from "../../provider/core/allocation/index.ts";
import { inProcessPlanner, workerPlanner, type Planner } from "../../runtime/allocator/planner.ts";
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

const keepAlive = setInterval(() => {}, 1000); // the planner thread is unref'd
const columns: [string, () => Planner][] = [
  ["whole", wholePlanner],
  ["session", inProcessPlanner],
  ["session, thread", () => workerPlanner()],
];
const results: Record<string, Record<string, number>> = {};
for (const [name, make] of columns) results[name] = await measure(make());
clearInterval(keepAlive);
console.log(`in-cluster allocator, ${SERVICES} Services (2% IPv4, the rest IPv6), ms per plan and its writes (median of ${ROUNDS}); node ${process.version}`);
console.log(`${"".padEnd(24)}${columns.map(([n]) => n.padStart(17)).join("")}   whole / session, thread`);
for (const row of Object.keys(results.whole!)) {
  const cells = columns.map(([n]) => results[n]![row]!.toFixed(0).padStart(17)).join("");
  console.log(`${row.padEnd(24)}${cells}   ${(results.whole![row]! / results["session, thread"]![row]!).toFixed(1).padStart(6)}×`);
}
