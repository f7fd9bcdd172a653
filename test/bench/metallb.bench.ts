// l2lb and MetalLB side by side on the lab (not a test: it measures, it asserts nothing). Needs root,
// the lab's tools and MetalLB (`test/lab/build-tools.sh metallb`, built here when missing).
//
//   node test/bench/metallb.bench.ts [--kill-rounds 10] [--term-rounds 10] [--node-loss-rounds 5]
//        [--extra-services 100] [--apply-services 50] [--rss-addresses 1000] [--rates 1000,10000]
//        [--seconds 2] [--repeat 3] [--rest-seconds 30] [--only l2lb|metallb]
//
// One lab (three kwok nodes, their namespaces on one bridge, a client namespace), one
// implementation at a time on it, each with the same pools and Services (the seeds' scenarios of
// examples/kubectl, the benchmark's VIPs and 100 more Services) and the same instruments (the
// client's ARP prober and neighbour table, the shared ARP/NDP probes, the API server's /metrics);
// then one table. What is measured: side-by-side.ts.
import { parseArgs } from "node:util";
import { labUnavailable, root, run, sleep, startLab } from "../control/harness.ts";
import { apiCounters, formatRates, ratesBetween, topSeries } from "./apiserver-metrics.ts";
import type { Implementation } from "./implementation.ts";
import { L2lbPeer } from "./l2lb-peer.ts";
import { MetallbPeer, metallbTools } from "./metallb-peer.ts";
import { measure, type Options, type Results } from "./side-by-side.ts";
import { printTable } from "./side-by-side-table.ts";

const { values: args } = parseArgs({
  options: {
    "kill-rounds": { type: "string", default: "10" },
    "term-rounds": { type: "string", default: "10" },
    "node-loss-rounds": { type: "string", default: "5" },
    "extra-services": { type: "string", default: "100" },
    "apply-services": { type: "string", default: "50" },
    "rss-addresses": { type: "string", default: "1000" },
    rates: { type: "string", default: "1000,10000" },
    seconds: { type: "string", default: "2" },
    repeat: { type: "string", default: "3" },
    "rest-seconds": { type: "string", default: "30" },
    only: { type: "string" },
  },
});
const NODES = ["node-a", "node-b", "node-c"];
const nodeAddress = (node: string): string => `192.0.2.${11 + NODES.indexOf(node)}`;
const log = (s: string): void => console.error(`[bench] ${s}`);

const why = await labUnavailable();
if (why) {
  console.log(`l2lb and MetalLB benchmark skipped: ${why}`);
  process.exit(0);
}
const wanted = (name: string): boolean => !args.only || args.only.toLowerCase() === name.toLowerCase();
let tools = await metallbTools();
if ("missing" in tools && wanted("metallb")) {
  log(`${tools.missing}: building it`);
  await run("bash", [`${root}/test/lab/build-tools.sh`, "metallb"], { timeoutMs: 1_800_000 }).catch((err: Error) => log(err.message));
  tools = await metallbTools();
}
// The speakers run as shipped: compiled, with the bin's Node flags.
await run("bash", ["-c", `cd "${root}" && . scripts/env.sh && npm run --silent build`], { timeoutMs: 600_000 });

const lab = await startLab("sbs", NODES);
const results: Results[] = [];
try {
  log(`measuring the lab's own API load for ${args["rest-seconds"]} s (no implementation running)`);
  await sleep(5000);
  const a = await apiCounters(lab);
  await sleep(Number(args["rest-seconds"]) * 1000);
  const b = await apiCounters(lab);
  const baseline = ratesBetween(a, b);
  log(`the lab's own API load: ${topSeries(a, b)}`);
  const options: Options = {
    rounds: { SIGKILL: Number(args["kill-rounds"]), SIGTERM: Number(args["term-rounds"]), "node loss": Number(args["node-loss-rounds"]) },
    extraServices: Number(args["extra-services"]),
    applyServices: Number(args["apply-services"]),
    rssServices: Number(args["rss-addresses"]),
    rates: args.rates.split(",").map(Number),
    seconds: Number(args.seconds),
    repeat: Number(args.repeat),
    restSeconds: Number(args["rest-seconds"]),
    baseline,
  };
  const impls: Implementation[] = [];
  if (wanted("l2lb")) impls.push(new L2lbPeer(lab));
  if (wanted("metallb")) {
    if ("missing" in tools) results.push({ name: "MetalLB", error: tools.missing, failover: { SIGKILL: [], SIGTERM: [], "node loss": [] }, apply: [], seeds: new Map(), seedPools: new Map(), seedRequests: new Map() });
    else impls.push(new MetallbPeer(lab, tools, nodeAddress));
  }
  for (const impl of impls) results.splice(impl.name === "l2lb" ? 0 : results.length, 0, await measure(lab, impl, options, log));
  console.log(`\n== l2lb and MetalLB, one lab (3 kwok nodes, namespaces on one bridge), one implementation at a time`);
  console.log(`API load: the implementation's, less the lab's own (${formatRates(baseline)} with nothing running)`);
  printTable(results, options.rates, (s) => console.log(s));
} finally {
  await lab.down();
}
