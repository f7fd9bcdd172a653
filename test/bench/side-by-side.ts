// Everything the side-by-side benchmark measures of one implementation, in one sequence on the lab
// it shares with the other: the same Services, the same probes, the same API server counters.
import { createHash } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { arping, nodeMacs, sleep, waitFor, type Lab } from "../control/harness.ts";
import { elect } from "../../runtime/election/rank.ts";
import { apiCounters, ratesBetween, ratesOver, topSeries, type ApiCounters, type ApiRates } from "./apiserver-metrics.ts";
import { applyToExternalIp } from "./apply-latency.ts";
import { ClientWatch } from "./client-watch.ts";
import { failoverRound, type FailoverKind, type RoundResult } from "./failover-rounds.ts";
import { usage, type Implementation } from "./implementation.ts";
import { measureReplyLatency, type LatencyRow } from "./reply-latency.ts";
import { SEED_NAMESPACES, applySeeds, createServices, deleteNamespaces, ensureNamespace, ingressByService, waitIngress, type BenchService } from "./workload.ts";

export interface Options {
  rounds: Record<FailoverKind, number>;
  extraServices: number;
  applyServices: number;
  rssServices: number;
  rates: number[];
  seconds: number;
  repeat: number;
  restSeconds: number;
  /** The lab's own API load, measured before any implementation ran. */
  baseline: ApiRates;
}

export interface Results {
  name: string;
  error?: string;
  failover: Record<FailoverKind, RoundResult[]>;
  latency?: LatencyRow[];
  rss?: { one: number; many: number; addresses: number };
  apiRest?: ApiRates;
  apiFailover?: ApiRates;
  apply: (number | undefined)[];
  seeds: Map<string, string[]>;
  /** Pool each seed Service's address came from, as the implementation records it. */
  seedPools: Map<string, string>;
  /** What each seed Service asks for (pool or address annotations, spec.loadBalancerIP). */
  seedRequests: Map<string, string>;
}

const BENCH_NAMESPACES = ["bench", "extra", "apply", "rss"];
const LATENCY = { ARP: "192.0.2.190", NDP: "2001:db8:1::1:90" };
const KERNEL = { ARP: "192.0.2.90", NDP: "2001:db8:1::90" };

/** MetalLB's layer-2 owner of `ip`: the node with the lowest sha256(node#ip). */
function metallbOwner(nodes: readonly string[], ip: string): string {
  const hash = (n: string): string => createHash("sha256").update(`${n}#${ip}`).digest("hex");
  return [...nodes].sort((a, b) => (hash(a) < hash(b) ? -1 : 1))[0] as string;
}

/** The node `impl` elects for `ip`. */
function ownerOf(impl: Implementation, nodes: readonly string[], ip: string): string {
  return impl.name === "MetalLB" ? metallbOwner(nodes, ip) : (elect(nodes, ip) as string);
}

/** One VIP won by each node under both implementations' elections, so rounds visit every node in both. */
export function failoverVips(nodes: string[]): string[] {
  const byNode = new Map<string, string>();
  for (let i = 150; i < 190 && byNode.size < nodes.length; i++) {
    const ip = `192.0.2.${i}`;
    const w = elect(nodes, ip) as string;
    if (w === metallbOwner(nodes, ip) && !byNode.has(w)) byNode.set(w, ip);
  }
  return [...byNode.values()];
}

const maxRssMb = (impl: Implementation): number => Math.max(...impl.processes().filter((p) => p.node && p.child.pid).map((p) => usage(p.child.pid as number).rssMb));

function seq(namespace: string, prefix: string, n: number, family: "IPv4" | "IPv6"): BenchService[] {
  return Array.from({ length: n }, (_, i) => ({ namespace, name: `${prefix}-${i}`, family }));
}

const addressCount = (m: Map<string, string[]>): number => new Set([...m.values()].flat()).size;

const REQUEST_KEY = /(pool|ips?$|v1alpha[12]$|allow-shared-ip|loadBalancerIPs)/i;

/** Each seed Service's pool (as the implementation recorded it) and what it asks for. */
async function seedDetails(lab: Lab): Promise<{ pools: Map<string, string>; requests: Map<string, string> }> {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  const pools = new Map<string, string>();
  const requests = new Map<string, string>();
  for (const namespace of SEED_NAMESPACES) {
    for (const s of (await core.listNamespacedService({ namespace })).items) {
      const a = s.metadata?.annotations ?? {};
      const key = `${namespace}/${s.metadata?.name}`;
      pools.set(key, a["l2lb.dev/address-pool"] ?? a["metallb.io/ip-allocated-from-pool"] ?? a["metallb.universe.tf/ip-allocated-from-pool"] ?? "-");
      const asks = Object.entries(a).filter(([k]) => REQUEST_KEY.test(k) && !/allocated|l2lb\.dev\/(address-pool|load-balancer-ips)/.test(k)).map(([k, v]) => `${k}=${v}`);
      if (s.spec?.loadBalancerIP) asks.push(`spec.loadBalancerIP=${s.spec.loadBalancerIP}`);
      requests.set(key, asks.join(" ") || "nothing");
    }
  }
  return { pools, requests };
}

/**
 * Waits (at most two minutes) until the lab's own components are back at their idle load: after
 * the previous implementation's Services were deleted, kube-controller-manager keeps cleaning up
 * for a while, and that is nobody's load at rest.
 */
async function settle(lab: Lab, baseline: ApiRates, log: (s: string) => void): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const a = await apiCounters(lab);
    await sleep(5000);
    const r = ratesBetween(a, await apiCounters(lab), baseline);
    const labOwn = r.requestsPerS - (r.serviceAccountRequestsPerS ?? 0);
    if (labOwn <= 1 || Date.now() > deadline) {
      log(`lab settled: its own components at ${labOwn.toFixed(1)} req/s above idle`);
      return;
    }
  }
}

async function restRates(lab: Lab, seconds: number, baseline: ApiRates, log: (s: string) => void): Promise<ApiRates> {
  await settle(lab, baseline, log);
  const a = await apiCounters(lab);
  await sleep(seconds * 1000);
  const b = await apiCounters(lab);
  log(`at rest for ${seconds} s: ${topSeries(a, b)}`);
  return ratesBetween(a, b, baseline);
}

function failoverRates(rounds: RoundResult[], baseline: ApiRates): ApiRates | undefined {
  const windows = rounds.map((r) => r.api).filter((w): w is [ApiCounters, ApiCounters] => !!w);
  return windows.length === 0 ? undefined : ratesOver(windows, baseline);
}

export async function measure(lab: Lab, impl: Implementation, o: Options, log: (s: string) => void): Promise<Results> {
  const r: Results = { name: impl.name, failover: { SIGKILL: [], SIGTERM: [], "node loss": [] }, apply: [], seeds: new Map(), seedPools: new Map(), seedRequests: new Map() };
  const vips = failoverVips(lab.nodes);
  let watch: ClientWatch | undefined;
  try {
    await impl.start();
    log(`${impl.name}: running`);
    await ensureNamespace(lab, "bench");
    await createServices(lab, [{ namespace: "bench", name: "vip-0", family: "IPv4", ip: vips[0] as string }]);
    await waitFor(`${vips[0]} answered`, async () => ((await arping(lab, vips[0] as string)).length > 0 ? true : undefined), 120_000, 200);
    await sleep(3000);
    const rssOne = maxRssMb(impl);
    log(`${impl.name}: one address answered; speaker RSS ${rssOne.toFixed(1)} MB`);

    await createServices(lab, vips.slice(1).map((ip, i) => ({ namespace: "bench", name: `vip-${i + 1}`, family: "IPv4", ip })));
    await createServices(lab, [{ namespace: "bench", name: "lat-4", family: "IPv4", ip: LATENCY.ARP }, { namespace: "bench", name: "lat-6", family: "IPv6", ip: LATENCY.NDP }]);
    await applySeeds(lab);
    await ensureNamespace(lab, "extra");
    await createServices(lab, seq("extra", "x", o.extraServices, "IPv6"));
    r.seeds = await waitIngress(lab, SEED_NAMESPACES, 30_000);
    const details = await seedDetails(lab);
    r.seedPools = details.pools;
    r.seedRequests = details.requests;
    await waitIngress(lab, ["bench", "extra"], 180_000);
    log(`${impl.name}: seeds ${[...r.seeds].map(([k, v]) => `${k}=${v.join(",") || "<pending>"}`).join(" ")}`);
    await sleep(10_000);
    r.apiRest = await restRates(lab, o.restSeconds, o.baseline, (s) => log(`${impl.name}: ${s}`));

    await ensureNamespace(lab, "apply");
    r.apply = await applyToExternalIp(lab, seq("apply", "a", o.applyServices, "IPv6"));
    log(`${impl.name}: ${r.apply.filter((x) => x !== undefined).length}/${o.applyServices} applied Services got their EXTERNAL-IP`);

    const macs = await nodeMacs(lab);
    watch = ClientWatch.start(lab, vips);
    for (const vip of vips) await watch.waitAnswered(vip, 60_000);
    await watch.primeNeighbours(vips);
    await sleep(1500);
    const ctx = { lab, impl, watch, nodeOfMac: new Map([...macs].map(([n, m]) => [m, n])), timeoutMs: 60_000 };
    for (const kind of ["SIGKILL", "SIGTERM", "node loss"] as const) {
      for (let i = 0; i < o.rounds[kind]; i++) {
        const round = await failoverRound(ctx, kind, vips[i % vips.length] as string);
        r.failover[kind].push(round);
        const api = round.api ? `; API ${topSeries(round.api[0], round.api[1], 4)}` : "";
        log(`${impl.name}: ${kind} of ${round.from}'s speaker (${round.vip}): ${round.answerMs === undefined ? "no other node answered" : `answered by ${round.to} after ${round.answerMs.toFixed(0)} ms, neighbour entry ${round.neighbourMs?.toFixed(0) ?? "unchanged"} ms`}${api}; two MACs in ${round.dualsFailing} rounds while failing, ${round.dualsReturning} on return`);
      }
    }
    r.apiFailover = failoverRates(r.failover.SIGKILL, o.baseline);
    watch.stop();
    watch = undefined;

    r.latency = await measureReplyLatency(lab, { ours: LATENCY, kernel: KERNEL, kernelNode: ownerOf(impl, lab.nodes, LATENCY.ARP), rates: o.rates, seconds: o.seconds, repeat: o.repeat });
    log(`${impl.name}: reply latency measured`);

    const all = ["bench", "extra", "apply", "rss", ...SEED_NAMESPACES];
    const have = addressCount(await ingressByService(lab, all));
    await ensureNamespace(lab, "rss");
    await createServices(lab, seq("rss", "r", Math.max(0, o.rssServices - have), "IPv6"));
    const rss = await waitIngress(lab, ["rss"], 300_000);
    const pending = [...rss.values()].filter((ips) => ips.length === 0).length;
    if (pending > 0) log(`${impl.name}: ${pending} of ${rss.size} Services still without an address after 300 s`);
    await sleep(5000);
    r.rss = { one: rssOne, many: maxRssMb(impl), addresses: addressCount(await ingressByService(lab, all)) };
    log(`${impl.name}: speaker RSS with ${r.rss.addresses} addresses: ${r.rss.many.toFixed(1)} MB`);
  } catch (err) {
    r.error = err instanceof Error ? err.message.split("\n").slice(0, 6).join(" | ") : String(err);
    log(`${impl.name}: FAILED: ${r.error}`);
  } finally {
    watch?.stop();
    await impl.stop().catch(() => undefined);
    await deleteNamespaces(lab, [...BENCH_NAMESPACES, ...SEED_NAMESPACES]).catch(() => undefined);
  }
  return r;
}
