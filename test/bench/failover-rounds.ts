// One failover round, the same for every implementation: the node whose MAC answers a VIP loses its
// speaker (SIGKILL, SIGTERM, or the whole node: speaker frozen with SIGSTOP and the namespace's link
// set down); measured from that instant to the first ARP answer from another node and to the
// client's neighbour entry moving. Then the node comes back and the VIP is waited for to return.
import { run, sleep, type Lab } from "../control/harness.ts";
import { apiCounters, type ApiCounters } from "./apiserver-metrics.ts";
import { nowMs, type ClientWatch } from "./client-watch.ts";
import type { Implementation } from "./implementation.ts";

export type FailoverKind = "SIGKILL" | "SIGTERM" | "node loss";

export interface RoundResult {
  kind: FailoverKind;
  vip: string;
  from: string;
  to?: string;
  answerMs?: number;
  neighbourMs?: number;
  /** Probe rounds answered by two MACs: from the failure until the node is restored, and after (its return). */
  dualsFailing: number;
  dualsReturning: number;
  /** API counters at the failure and once another node answered. */
  api?: [ApiCounters, ApiCounters];
}

export interface RoundContext {
  lab: Lab;
  impl: Implementation;
  watch: ClientWatch;
  nodeOfMac: Map<string, string>;
  /** How long to wait for another node to answer. */
  timeoutMs: number;
}

/** The node's global addresses on eth0 ("192.0.2.11/24", "2001:db8:1::11/64"): IPv6 ones go away with the link. */
async function globalAddresses(ctx: RoundContext, node: string): Promise<string[]> {
  const j = JSON.parse(await run("ip", ["-j", "-n", ctx.lab.ns(node), "addr", "show", "dev", "eth0", "scope", "global"])) as { addr_info?: { local: string; prefixlen: number }[] }[];
  return (j[0]?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
}

/** Puts back the addresses the node had before its link went down, as its network configuration would. */
async function restoreAddresses(ctx: RoundContext, node: string, had: string[]): Promise<void> {
  const now = new Set(await globalAddresses(ctx, node));
  for (const a of had.filter((x) => !now.has(x))) await run("ip", ["-n", ctx.lab.ns(node), "addr", "add", a, "dev", "eth0", ...(a.includes(":") ? ["nodad"] : [])]);
}

async function fail(ctx: RoundContext, kind: FailoverKind, node: string): Promise<void> {
  const child = ctx.impl.speaker(node).child;
  if (kind === "SIGKILL") child.kill("SIGKILL");
  else if (kind === "SIGTERM") child.kill("SIGTERM");
  else {
    child.kill("SIGSTOP");
    await run("ip", ["-n", ctx.lab.ns(node), "link", "set", "eth0", "down"]);
  }
}

async function recover(ctx: RoundContext, kind: FailoverKind, node: string, addresses: string[]): Promise<void> {
  const s = ctx.impl.speaker(node);
  if (kind === "node loss") {
    s.child.kill("SIGKILL"); // the node comes back rebooted: link up with its addresses, a fresh speaker
    await run("ip", ["-n", ctx.lab.ns(node), "link", "set", "eth0", "up"]);
    await restoreAddresses(ctx, node, addresses);
  } else if (kind === "SIGTERM") {
    const t = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
    await s.exited;
    clearTimeout(t);
  }
  await s.exited;
  await ctx.impl.restartSpeaker(node);
}

export async function failoverRound(ctx: RoundContext, kind: FailoverKind, vip: string): Promise<RoundResult> {
  const oldMac = await ctx.watch.waitAnswered(vip);
  const from = ctx.nodeOfMac.get(oldMac) ?? oldMac;
  const addresses = await globalAddresses(ctx, from);
  const before = await apiCounters(ctx.lab);
  const t0 = nowMs();
  await fail(ctx, kind, from);
  const result: RoundResult = { kind, vip, from, dualsFailing: 0, dualsReturning: 0 };
  const deadline = t0 + ctx.timeoutMs;
  let seen = ctx.watch.firstAnswerNotFrom(vip, oldMac, t0);
  while (!seen && nowMs() < deadline) {
    await sleep(5);
    seen = ctx.watch.firstAnswerNotFrom(vip, oldMac, t0);
  }
  if (seen) {
    result.answerMs = seen.ts - t0;
    result.to = ctx.nodeOfMac.get(seen.mac) ?? seen.mac;
    for (let i = 0; i < 50 && result.neighbourMs === undefined; i++) {
      await sleep(100);
      const n = ctx.watch.firstNeighbourNotTo(vip, oldMac, t0);
      if (n) result.neighbourMs = n.ts - t0;
    }
    result.api = [before, await apiCounters(ctx.lab)];
  }
  const restored = nowMs();
  await recover(ctx, kind, from, addresses);
  await ctx.watch.waitAnsweredBy(vip, oldMac, 120_000).catch(() => undefined);
  await sleep(1500);
  result.dualsFailing = ctx.watch.dualsBetween(vip, t0, restored);
  result.dualsReturning = ctx.watch.dualsBetween(vip, restored, nowMs());
  return result;
}
