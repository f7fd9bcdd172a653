/**
 * Allocator benchmark (not a test): time and peak memory per scenario, each in a fresh process so
 * peak RSS belongs to that scenario alone, with a small baseline in the same run so the figures
 * read as ratios.
 *
 *   node test/bench/allocation.bench.ts            # every scenario
 *   node test/bench/allocation.bench.ts <name>     # one scenario, prints JSON (used by the parent)
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { planAllocation } from "../../provider/core/allocation/index.ts";
import type { AllocationInput, PlanSuccess, ServiceRequest } from "../../provider/core/allocation/index.ts";
import type { AddressPool } from "../../provider/core/model/pool.ts";

const NAMESPACES = 50;

function services(n: number, opts: { v6?: boolean; shareEvery?: number; dualEvery?: number } = {}): ServiceRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const s: ServiceRequest = { namespace: `ns-${i % NAMESPACES}`, name: `svc-${i}`, ports: [{ port: 80 + (i % 7) }], selector: { app: `app-${i}` } };
    if (opts.v6) s.ipFamilies = ["IPv6"];
    if (opts.shareEvery && i % opts.shareEvery === 0) s.annotations = { "metallb.io/allow-shared-ip": `key-${i % 97}` };
    if (opts.dualEvery && i % opts.dualEvery === 0) s.ipFamilyPolicy = "PreferDualStack";
    return s;
  });
}

/** 100 pools: /24s, a tenth pinned to namespaces with priorities, a tenth dual-stack, a few avoiding buggy IPs. */
function hundredPools(): AddressPool[] {
  return Array.from({ length: 100 }, (_, i) => {
    const p: AddressPool = { name: `pool-${String(i).padStart(3, "0")}`, spec: { addresses: [`10.${Math.floor(i / 200)}.${i % 200}.0/24`] } };
    if (i % 10 === 3) p.spec.serviceAllocation = { priority: (i % 4) + 1, namespaces: [`ns-${i % NAMESPACES}`, `ns-${(i + 1) % NAMESPACES}`] };
    if (i % 10 === 5) p.spec.addresses.push(`2001:db8:${i.toString(16)}::/120`);
    if (i % 10 === 7) p.spec.avoidBuggyIPs = true;
    return p;
  });
}

const scenarios: Record<string, { title: string; input: () => AllocationInput }> = {
  baseline: {
    title: "baseline: 250 services, one IPv4 /24 pool",
    input: () => ({ pools: [{ name: "lan", spec: { addresses: ["192.168.28.0/24"] } }], services: services(250), nodeSubnets: ["192.168.28.0/24"] }),
  },
  hundredPools: {
    title: "10k services over 100 pools (pinned, dual-stack, buggy-IP pools; 1 in 10 shares a key)",
    input: () => ({ pools: hundredPools(), services: services(10_000, { shareEvery: 10, dualEvery: 25 }), nodeSubnets: ["10.0.0.0/8", "2001:db8::/32"] }),
  },
  ipv4Slash16: {
    title: "10k services on one IPv4 /16 pool",
    input: () => ({ pools: [{ name: "v4", spec: { addresses: ["10.1.0.0/16"] } }], services: services(10_000), nodeSubnets: ["10.1.0.0/16"] }),
  },
  ipv6: {
    title: "10k services on one IPv6 /64 pool",
    input: () => ({ pools: [{ name: "v6", spec: { addresses: ["2001:db8:1::/64"] } }], services: services(10_000, { v6: true }), nodeSubnets: ["2001:db8:1::/64"] }),
  },
  ipv6Sticky: {
    title: "10k services on one IPv6 /64 pool, re-planned with --state (all sticky) + 100 new",
    input: () => {
      const base: AllocationInput = { pools: [{ name: "v6", spec: { addresses: ["2001:db8:1::/64"] } }], services: services(10_000, { v6: true }) };
      const first = planAllocation(base) as PlanSuccess;
      const previous: NonNullable<AllocationInput["previous"]> = {};
      for (const [k, v] of Object.entries(first.services)) if ("ips" in v) previous[k] = v;
      return { ...base, services: [...base.services, ...services(10_100, { v6: true }).slice(10_000)], previous };
    },
  },
};

function runOne(name: string): void {
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`unknown scenario ${name}; choose one of ${Object.keys(scenarios).join(", ")}`);
  const input = scenario.input();
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const times: number[] = [];
  let peakHeap = 0;
  let result: ReturnType<typeof planAllocation> | undefined;
  for (let i = 0; i < 5; i++) {
    globalThis.gc?.();
    const t0 = performance.now();
    result = planAllocation(input);
    times.push(performance.now() - t0);
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed - heapBefore);
  }
  if (!result || !result.ok) throw new Error(`scenario ${name} is invalid: ${JSON.stringify(result && !result.ok ? result.problems.slice(0, 3) : result)}`);
  const assigned = Object.values(result.services).filter((o) => "ips" in o).length;
  const sorted = [...times].sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({ name, title: scenario.title, services: input.services.length, assigned, firstMs: times[0], medianMs: sorted[2], peakRssMiB: process.resourceUsage().maxRSS / 1024, heapMiB: peakHeap / 1048576 }),
  );
}

function runAll(): void {
  const self = fileURLToPath(import.meta.url);
  const rows: Record<string, number | string>[] = [];
  for (const name of Object.keys(scenarios)) {
    const r = spawnSync(process.execPath, ["--expose-gc", self, name], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`scenario ${name} failed:\n${r.stderr}`);
    rows.push(JSON.parse(r.stdout));
  }
  const base = rows[0]!;
  const fmt = (n: number, d = 1): string => n.toFixed(d);
  console.log(`node ${process.version}, ${process.platform}/${process.arch}; each scenario in its own process, 5 runs (first = cold); heap = most heap a run grew by (garbage included).`);
  console.log("");
  const table = [["scenario", "services", "assigned", "first ms", "median ms", "x baseline", "peak RSS MiB", "heap MiB"]];
  for (const r of rows) {
    table.push([
      String(r.title),
      String(r.services),
      String(r.assigned),
      fmt(r.firstMs as number),
      fmt(r.medianMs as number),
      fmt((r.medianMs as number) / (base.medianMs as number)),
      fmt(r.peakRssMiB as number),
      fmt(r.heapMiB as number),
    ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  const slow = rows.filter((r) => r.name !== "baseline" && (r.firstMs as number) > 1000);
  console.log("");
  console.log(slow.length === 0 ? "target met: every 10k scenario plans in under 1 s (cold)." : `over the 1 s target: ${slow.map((r) => r.name).join(", ")}`);
}

const arg = process.argv[2];
if (arg) runOne(arg);
else runAll();
