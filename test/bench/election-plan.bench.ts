// Election plan cost at many Services (not a test: it prints figures, asserts nothing; no lab).
//
//   node test/bench/election-plan.bench.ts [--services 10000] [--speakers 3] [--rounds 6]
//
// One pool (a /25 and a /112), --speakers speakers on one subnet, --services Services each with an
// assigned IPv6 address, planned with a PlanMemo kept between plans as the speaker keeps it:
// a first plan, then plans after one new Service each (what a Service created costs every
// speaker), then plans after a speaker leaves and comes back (what a membership change costs),
// beside the same plans without a memo (the baseline: everything planned from scratch).
// Median of --rounds, in ms.
import { parseArgs } from "node:util";
import { PlanMemo, planAddresses, type ClusterView, type ServiceView } from "../../runtime/election/plan.ts";

const { values: args } = parseArgs({ options: { services: { type: "string", default: "10000" }, speakers: { type: "string", default: "3" }, rounds: { type: "string", default: "6" } } });
const SERVICES = Number(args.services);
const SPEAKERS = Number(args.speakers);
const ROUNDS = Number(args.rounds);

const service = (i: number): ServiceView => ({
  namespace: "m",
  name: `m-${i}`,
  labels: {},
  namespaceLabels: {},
  assigned: `2001:db8:1::${(i + 1).toString(16)}`,
  local: false,
  endpointNodes: new Set(),
  inCluster: true,
  claim: `1|2026-12-01T00:00:${String(i % 60).padStart(2, "0")}.000Z|m/m-${i}`,
});
const names = Array.from({ length: SPEAKERS }, (_, i) => `node-${String(i).padStart(3, "0")}`);
const nodes = names.map((name) => ({ name, labels: {}, networkUnavailable: false }));
const speakers = names.map((node, i) => ({
  node,
  subnets: [
    { interface: "eth0", cidr: "2001:db8:1::/64", address: `2001:db8:1::1:${(i + 11).toString(16)}` },
    { interface: "eth0", cidr: "192.0.2.0/24", address: `192.0.2.${i % 100}` },
  ],
}));
const base = { nodes, pools: [{ name: "bench", spec: { addresses: ["192.0.2.128/25", "2001:db8:1::/112"] } }], advertisements: [{ name: "bench", spec: {} }] } as unknown as Omit<ClusterView, "services" | "speakers">;

const memo = new PlanMemo();
let services = Array.from({ length: SERVICES }, (_, i) => service(i));
const timed = (view: ClusterView): number => {
  const t0 = performance.now();
  planAddresses(view, memo);
  return performance.now() - t0;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const first = timed({ ...base, speakers, services });
const added: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  services = [...services, service(SERVICES + r)];
  added.push(timed({ ...base, speakers, services }));
}
// A speaker leaves, then comes back: the view's speakers are new objects each time, as the
// membership rebuilds them; the one that leaves is a different one each round.
const membership: number[] = [];
const scratch: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const gone = (r >> 1) * 7 % SPEAKERS;
  const live = (r % 2 === 0 ? speakers.filter((_, i) => i !== gone) : speakers).map((sp) => ({ ...sp }));
  membership.push(timed({ ...base, speakers: live, services }));
  const t0 = performance.now();
  planAddresses({ ...base, speakers: live, services });
  scratch.push(performance.now() - t0);
}
console.log(
  `election plan, ${SERVICES} Services, ${SPEAKERS} speakers: first ${first.toFixed(0)} ms; after one new Service ${median(added).toFixed(1)} ms; ` +
    `after a speaker left or joined ${median(membership).toFixed(1)} ms, from scratch ${median(scratch).toFixed(1)} ms (${(median(scratch) / median(membership)).toFixed(1)}×) (medians of ${ROUNDS})`,
);
