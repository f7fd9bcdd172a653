// Scale of the Pulumi path (not a test: it measures, it asserts nothing). Needs root, the lab and
// the lab's Pulumi tools including pulumi-resource-kubernetes (test/lab/build-tools.sh).
//
//   node test/bench/pulumi-scale.bench.ts [--services 1000,5000] [--up-timeout-min 25] [--no-build] [--no-untraced]
//
// For each size N, on a fresh lab (three kwok nodes, no speaker; each Node carries the
// `l2lb.dev/subnets` annotation a speaker would publish, so the pools are checked as in a real
// cluster), the program test/bench/pulumi-scale/ — Installation, one pool, one advertisement and N
// Services through one `l2lb.Allocation`, `waitSeconds: false` — is run with the lab's real engine
// and the Kubernetes provider plugin, as a user runs it:
//   1. `pulumi preview` on an empty stack (wall clock), and again without tracing (the tracing's
//      own cost; `--no-untraced` skips that);
//   2. `pulumi up --yes --skip-preview` (wall clock; a user's `pulumi up --yes` is 1 + 2);
//   3. `pulumi preview --expect-no-changes` right after (wall clock; must report no changes).
//
// l2lb's own share, two ways:
//  - the engine's timing (the table's figure): every command runs with
//    `--otel-traces file://...`; the engine records a span for each gRPC call to a provider. The
//    calls to the dynamic-provider plugin (`pulumi-nodejs (resource)`, found as the peer of the
//    Handshake under that plugin's `newPlugin` span) are l2lb's allocation resource and nothing
//    else: its `ResourceProvider/Check` span is the whole of what `check` costs the engine — the
//    provider's process receiving the N-Service inputs, importing `l2lb/dynamic/allocation`,
//    reading Nodes and Services from the API server, allocating, and returning the result. This
//    is exactly the provider's own code, unmodified. `diff`/`create` are listed apart.
//  - outside the engine, for the breakdown: after `up`, the allocation's checked inputs are taken
//    from `pulumi stack export`, and the same `check` the dynamic provider runs
//    (dist/provider/dynamic/engine.js, which the provider imports as `l2lb/dynamic/allocation`)
//    runs in a new Node process against the same API server with the stack's credentials, its Node
//    and Service readers timed: the module import, one cold run and three warm ones with olds = the
//    state (the post-up preview's inputs), three with olds = {} (a first preview's; the N Services
//    now in the cluster make it an upper bound of step 1's check, which listed none of them). The
//    gap between the engine's span and this is the dynamic-provider host's own work (gRPC, the
//    inputs' (de)serialization, loading the serialized provider).
// Also per step: CPU seconds by process (sampled from /proc each second: engine, Kubernetes
// provider, program, l2lb dynamic provider, kube-apiserver, etcd), to show where the time goes, and
// the load average. The machine is shared (2 cores): the heavy-work lock keeps other labs away,
// not other agents' editors and compilers; the load averages are printed.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { kubectl, labUnavailable, root, run, startLab, type Lab } from "../control/harness.ts";
import { pulumiEnvironment, runCommand, Stack, type Run } from "../e2e/pulumi-stack.ts";

const { values: args } = parseArgs({
  options: {
    services: { type: "string", default: "1000,5000" },
    "up-timeout-min": { type: "string", default: "25" },
    "no-build": { type: "boolean", default: false },
    "no-untraced": { type: "boolean", default: false },
  },
});
const SIZES = args.services.split(",").map(Number).filter((n) => n > 0);
const UP_TIMEOUT_MS = Number(args["up-timeout-min"]) * 60_000;
const PREVIEW_TIMEOUT_MS = 20 * 60_000;
const NODES = ["node-a", "node-b", "node-c"];
const PROGRAM = join(root, "test/bench/pulumi-scale");
const t0 = Date.now();

function progress(text: string): void {
  const s = Math.round((Date.now() - t0) / 1000);
  process.stderr.write(`[pulumi-scale ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}] ${text}\n`);
}

async function unavailable(): Promise<string | undefined> {
  const lab = await labUnavailable();
  if (lab) return lab;
  const missing = (await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && lab_tools_missing pulumi pulumi-kubernetes`])).trim();
  return missing ? `lab tools not built (${missing.replace(/\n/g, ", ")}); run test/lab/build-tools.sh` : undefined;
}

// ---------------------------------------------------------------------------------------------
// CPU by process, sampled from /proc

const TICK = 100; // USER_HZ
type Role = "engine" | "k8s provider" | "program" | "l2lb provider" | "apiserver" | "etcd";
const ROLES: Role[] = ["engine", "k8s provider", "program", "l2lb provider", "apiserver", "etcd"];

function roleOf(cmdline: string): Role | undefined {
  if (/dynamic-provider/.test(cmdline)) return "l2lb provider";
  if (/pulumi-resource-kubernetes/.test(cmdline)) return "k8s provider";
  if (/pulumi-language-nodejs|@pulumi\/pulumi\/cmd\/run|language-host/.test(cmdline)) return "program";
  if (/(^|\/)pulumi\0/.test(cmdline)) return "engine";
  if (/(^|\/)kube-apiserver\0/.test(cmdline)) return "apiserver";
  if (/(^|\/)etcd\0/.test(cmdline)) return "etcd";
  return undefined;
}

class CpuSampler {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, { role: Role; ticks: number }>();
  private timer: ReturnType<typeof setInterval> | undefined;

  start(): void {
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), 1000);
  }

  /** CPU seconds by role since start (processes started since count from zero). */
  stop(): Record<Role, number> {
    clearInterval(this.timer);
    this.sample(false);
    const out = Object.fromEntries(ROLES.map((r) => [r, 0])) as Record<Role, number>;
    for (const [pid, { role, ticks }] of this.last) out[role] += (ticks - (this.first.get(pid) ?? 0)) / TICK;
    return out;
  }

  private sample(baseline: boolean): void {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      try {
        const known = this.last.get(pid);
        const role = known?.role ?? roleOf(readFileSync(`/proc/${pid}/cmdline`, "latin1"));
        if (!role) continue;
        const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
        if (baseline) this.first.set(pid, ticks);
        this.last.set(pid, { role, ticks });
      } catch {
        // the process exited between readdir and read
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The engine's trace

interface Span {
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: { stringValue?: string } }[];
}

interface ProviderCalls {
  /** Seconds spent in each RPC method of the l2lb dynamic provider, and how many calls. */
  l2lb: Record<string, { s: number; n: number }>;
  /** Calls to the Kubernetes provider: number and summed seconds (they overlap). */
  kubernetes: Record<string, { s: number; n: number }>;
}

function spansOf(file: string): Span[] {
  const spans: Span[] = [];
  if (!existsSync(file)) return spans;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    const batch = JSON.parse(line) as { resourceSpans?: { scopeSpans?: { spans?: Span[] }[] }[] };
    for (const rs of batch.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push(s);
  }
  return spans;
}

function attr(s: Span, key: string): string | undefined {
  return s.attributes?.find((a) => a.key === key)?.value.stringValue;
}

function providerCalls(file: string): ProviderCalls {
  const spans = spansOf(file);
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const peerOf = (prefix: RegExp): Set<string> => {
    const peers = new Set<string>();
    for (const s of spans) {
      const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
      if (s.name === "pulumirpc.ResourceProvider/Handshake" && parent?.name === "newPlugin" && prefix.test(attr(parent, "prefix") ?? "")) {
        const peer = attr(s, "net.peer.name");
        if (peer) peers.add(peer);
      }
    }
    return peers;
  };
  const sum = (peers: Set<string>): Record<string, { s: number; n: number }> => {
    const out: Record<string, { s: number; n: number }> = {};
    for (const s of spans) {
      if (!s.name.startsWith("pulumirpc.ResourceProvider/") || !peers.has(attr(s, "net.peer.name") ?? "")) continue;
      const method = s.name.slice("pulumirpc.ResourceProvider/".length);
      const e = (out[method] ??= { s: 0, n: 0 });
      e.s += Number(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1e9;
      e.n++;
    }
    return out;
  };
  return { l2lb: sum(peerOf(/^pulumi-nodejs/)), kubernetes: sum(peerOf(/^kubernetes/)) };
}

// ---------------------------------------------------------------------------------------------
// Steps

interface Step {
  name: string;
  wallS: number;
  ok: boolean;
  timedOut: boolean;
  calls: ProviderCalls;
  cpu: Record<Role, number>;
  load: [number, number];
  tail: string;
}

async function step(name: string, stack: Stack, env: NodeJS.ProcessEnv, scratch: string, timeoutMs: number, ...pulumiArgs: string[]): Promise<Step> {
  const trace = join(scratch, `${stack.dir.split("/").pop()}-${name.replace(/\W+/g, "-")}.trace.json`);
  const sampler = new CpuSampler();
  const load0 = loadavg()[0]!;
  sampler.start();
  const started = performance.now();
  const r: Run = await runCommand("pulumi", [...pulumiArgs, "--non-interactive", "--otel-traces", `file://${trace}`], { env, cwd: stack.dir, timeoutMs });
  const wallS = (performance.now() - started) / 1000;
  const cpu = sampler.stop();
  const timedOut = r.code !== 0 && wallS * 1000 >= timeoutMs - 1000;
  const tail = `${r.stdout}\n${r.stderr}`.trim().split("\n").slice(-12).join("\n");
  const s: Step = { name, wallS, ok: r.code === 0, timedOut, calls: providerCalls(trace), cpu, load: [load0, loadavg()[0]!], tail };
  const l2lb = Object.entries(s.calls.l2lb).map(([m, v]) => `${m} ${v.s.toFixed(2)} s`).join(", ");
  progress(`${name}: ${s.ok ? "ok" : timedOut ? "TIMED OUT" : "FAILED"} in ${wallS.toFixed(1)} s; l2lb provider: ${l2lb || "no calls"}; load ${s.load.map((x) => x.toFixed(2)).join(" → ")}`);
  if (!s.ok) progress(`${name} output (tail):\n${tail}`);
  rmSync(trace, { force: true });
  return s;
}

// ---------------------------------------------------------------------------------------------
// `check` in process

const COMPUTED = ["stateVersion", "assignments", "assignedPools", "poolUsage", "subnetSource", "nodeSubnetsUsed", "moveReasons", "warnings"];

interface CheckTiming {
  /** Importing the engine module (fresh process only; 0 when already loaded). */
  importS: number;
  totalS: number;
  nodesS: number;
  servicesS: number;
  listed: number;
  /** Everything but the two reads: validation, allocation, foreign-Service bookkeeping. */
  planS: number;
  sameAssignments: boolean;
}

/**
 * `check` timed with its two readers, in a new Node process, as the provider's process runs it:
 * the engine module imported there (timed apart; @kubernetes/client-node is imported inside the
 * first read, so the first run's Node read includes it), then `check` once with `olds` (cold),
 * three times more with `olds` (warm) and three times with `{}` (warm, a first preview's olds).
 */
async function checkRuns(engineUrl: string, olds: Record<string, unknown>, news: Record<string, unknown>, cluster: object, scratch: string): Promise<{ cold: CheckTiming; warm: CheckTiming[]; first: CheckTiming[] }> {
  const code = `
    import { readFileSync } from "node:fs";
    import { performance } from "node:perf_hooks";
    const [engineUrl, inputFile] = process.argv.slice(-2);
    const { olds, news, cluster } = JSON.parse(readFileSync(inputFile, "utf8"));
    const started = performance.now();
    const engine = await import(engineUrl);
    let importS = (performance.now() - started) / 1000;
    const once = async (o) => {
      let nodesS = 0, servicesS = 0, listed = 0;
      const readNodes = async (c) => { const s = performance.now(); try { return await engine.readNodesFromCluster(c); } finally { nodesS += (performance.now() - s) / 1000; } };
      const readServices = async (c) => { const s = performance.now(); try { const l = await engine.readServicesFromCluster(c); listed = l.length; return l; } finally { servicesS += (performance.now() - s) / 1000; } };
      const s = performance.now();
      const result = await engine.check(structuredClone(o), structuredClone(news), cluster, readNodes, readServices, () => {});
      const totalS = (performance.now() - s) / 1000;
      if (result.failures?.length) throw new Error("check failed: " + JSON.stringify(result.failures).slice(0, 2000));
      const t = { importS, totalS, nodesS, servicesS, listed, planS: totalS - nodesS - servicesS, sameAssignments: JSON.stringify(result.inputs.assignments) === JSON.stringify(olds.assignments) };
      importS = 0;
      return t;
    };
    const cold = await once(olds);
    const warm = [await once(olds), await once(olds), await once(olds)];
    const first = [await once({}), await once({}), await once({})];
    console.log(JSON.stringify({ cold, warm, first }));
  `;
  const inputFile = join(scratch, "check-inputs.json");
  writeFileSync(inputFile, JSON.stringify({ olds, news, cluster }));
  const r = await runCommand(process.execPath, ["--input-type=module", "-e", code, engineUrl, inputFile], { timeoutMs: 600_000 });
  rmSync(inputFile, { force: true });
  if (r.code !== 0) throw new Error(`check in a Node process: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as { cold: CheckTiming; warm: CheckTiming[]; first: CheckTiming[] };
}

interface InProcess {
  cold: CheckTiming;
  warm: CheckTiming;
  first: CheckTiming;
}

async function checkBreakdown(stack: Stack, env: NodeJS.ProcessEnv, lab: Lab, scratch: string): Promise<InProcess> {
  const exported = await runCommand("pulumi", ["stack", "export", "--show-secrets"], { env, cwd: stack.dir, timeoutMs: 300_000 });
  if (exported.code !== 0) throw new Error(`pulumi stack export: ${exported.stderr}`);
  const deployment = JSON.parse(exported.stdout) as { deployment: { resources: { type: string; inputs: Record<string, unknown> }[] } };
  const resource = deployment.deployment.resources.find((r) => r.type === "pulumi-nodejs:dynamic/l2lb:Allocation");
  if (!resource) throw new Error("no pulumi-nodejs:dynamic/l2lb:Allocation in the state");
  const olds = resource.inputs;
  const news = Object.fromEntries(Object.entries(olds).filter(([k]) => !COMPUTED.includes(k)));
  const cluster = { kubeconfig: lab.adminPath }; // what the provider's configure reads from kubernetes:kubeconfig
  const engineUrl = pathToFileURL(join(root, "dist/provider/dynamic/engine.js")).href; // = l2lb/dynamic/allocation
  const runs = await checkRuns(engineUrl, olds, news, cluster, scratch);
  const middle = (xs: CheckTiming[]): CheckTiming => [...xs].sort((x, y) => x.totalS - y.totalS)[1]!;
  const cold = runs.cold;
  const warm = middle(runs.warm);
  const first = middle(runs.first);
  return { cold, warm, first };
}

// ---------------------------------------------------------------------------------------------
// One size

interface Result {
  n: number;
  /** The same first preview without --otel-traces (the tracing's own cost). */
  untracedS?: number;
  preview?: Step;
  up?: Step;
  again?: Step;
  inProcess?: InProcess;
  error?: string;
}

async function annotateNodeSubnets(lab: Lab): Promise<void> {
  for (const [i, node] of NODES.entries()) {
    const subnets = [
      { interface: "eth0", cidr: "192.0.2.0/24", address: `192.0.2.${11 + i}` },
      { interface: "eth0", cidr: "2001:db8:1::/64", address: `2001:db8:1::${11 + i}` },
    ];
    await kubectl(lab, "annotate", "--overwrite", "node", node, `l2lb.dev/subnets=${JSON.stringify(subnets)}`);
  }
}

async function size(n: number, scratch: string): Promise<Result> {
  progress(`${n} Services: starting a fresh lab`);
  const result: Result = { n };
  let lab: Lab | undefined;
  try {
    lab = await startLab("pscale", NODES, { install: false });
    await annotateNodeSubnets(lab);
    const env = await pulumiEnvironment({ ...process.env, L2LB_PULUMI_DIR: join(scratch, `pulumi-${n}`) });
    const stack = new Stack(PROGRAM, join(scratch, `program-${n}`), env);
    await stack.init("bench", { "kubernetes:kubeconfig": lab.adminPath, services: String(n) });
    progress(`${n} Services: lab up, stack ready`);
    result.preview = await step("preview", stack, env, scratch, PREVIEW_TIMEOUT_MS, "preview");
    if (!result.preview.ok) return result;
    if (!args["no-untraced"]) {
      const started = performance.now();
      const untraced = await runCommand("pulumi", ["preview", "--non-interactive"], { env, cwd: stack.dir, timeoutMs: PREVIEW_TIMEOUT_MS });
      if (untraced.code === 0) result.untracedS = (performance.now() - started) / 1000;
      progress(`preview without tracing: ${untraced.code === 0 ? `${result.untracedS!.toFixed(1)} s` : "FAILED"}`);
    }
    result.up = await step("up", stack, env, scratch, UP_TIMEOUT_MS, "up", "--yes", "--skip-preview");
    if (!result.up.ok) return result;
    result.again = await step("preview after up", stack, env, scratch, PREVIEW_TIMEOUT_MS, "preview", "--expect-no-changes");
    result.inProcess = await checkBreakdown(stack, env, lab, scratch);
    const ip = result.inProcess;
    progress(`${n} Services: check in a Node process: import ${ip.cold.importS.toFixed(2)} s, cold ${ip.cold.totalS.toFixed(2)} s, warm ${ip.warm.totalS.toFixed(2)} s (nodes ${ip.warm.nodesS.toFixed(2)}, services ${ip.warm.servicesS.toFixed(2)} for ${ip.warm.listed}, plan ${ip.warm.planS.toFixed(2)})`);
    return result;
  } catch (err) {
    result.error = String(err);
    return result;
  } finally {
    await lab?.down();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const f = (x: number | undefined, d = 1): string => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
const checkS = (s: Step | undefined): number | undefined => s?.calls.l2lb.Check?.s;

function table(results: Result[]): string {
  const rows: string[] = [];
  rows.push("Services  preview s (untraced)  up s   after-up preview s  l2lb check s (preview / up / after)  l2lb share of preview (first / after)");
  for (const r of results) {
    if (!r.preview) {
      rows.push(`${String(r.n).padStart(8)}  failed: ${r.error?.split("\n")[0]}`);
      continue;
    }
    const up = r.up ? (r.up.ok ? f(r.up.wallS) : r.up.timedOut ? `>${args["up-timeout-min"]} min` : "failed") : "-";
    const share = (s: Step | undefined): string => (s?.ok && checkS(s) !== undefined ? `${((100 * checkS(s)!) / s.wallS).toFixed(1)} %` : "-");
    rows.push(
      `${String(r.n).padStart(8)}${`${f(r.preview.wallS)} (${f(r.untracedS)})`.padStart(22)}${up.padStart(7)}${f(r.again?.wallS).padStart(20)}` +
        `${`${f(checkS(r.preview), 2)} / ${f(checkS(r.up), 2)} / ${f(checkS(r.again), 2)}`.padStart(38)}${`${share(r.preview)} / ${share(r.again)}`.padStart(40)}`,
    );
  }
  return rows.join("\n");
}

function details(results: Result[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`\n${r.n} Services${r.error ? ` — error: ${r.error.split("\n").slice(0, 3).join(" ")}` : ""}`);
    for (const s of [r.preview, r.up, r.again]) {
      if (!s) continue;
      const l2lb = Object.entries(s.calls.l2lb).map(([m, v]) => `${m} ${v.s.toFixed(2)} s`).join(", ");
      const k = s.calls.kubernetes;
      const kube = ["Check", "Diff", "Create", "Update"].filter((m) => k[m]).map((m) => `${m} ×${k[m]!.n} Σ${k[m]!.s.toFixed(1)} s`).join(", ");
      out.push(
        `  ${s.name.padEnd(17)} wall ${f(s.wallS).padStart(7)} s  CPU s: ${ROLES.map((role) => `${role} ${f(s.cpu[role])}`).join(", ")}  load ${s.load.map((x) => x.toFixed(2)).join("→")}`,
      );
      out.push(`  ${"".padEnd(17)} l2lb provider RPCs: ${l2lb || "none"}; Kubernetes provider RPCs: ${kube || "none"}`);
    }
    const ip = r.inProcess;
    if (ip) {
      const row = (label: string, t: CheckTiming): string =>
        `  ${label.padEnd(36)} ${f(t.totalS, 3).padStart(7)} s = Nodes ${f(t.nodesS, 3)} + Services ${f(t.servicesS, 3)} (${t.listed} listed) + allocation ${f(t.planS, 3)}; same assignments as the state: ${t.sameAssignments ? "yes" : "NO"}`;
      out.push("  check in process (dist engine, same API server):");
      out.push(`${row("olds = state, fresh Node process", ip.cold)}; + importing the engine ${f(ip.cold.importS, 3)} s`);
      out.push(row("olds = state, warm (median of 3)", ip.warm));
      out.push(row("olds = {}, warm (median of 3)", ip.first));
    }
  }
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------

const why = await unavailable();
if (why) {
  console.log(`Pulumi scale benchmark skipped: ${why}`);
  process.exit(0);
}
if (!args["no-build"]) {
  progress("npm run build (the program and the dynamic provider use dist/)");
  try {
    await run("bash", ["-c", `cd "${root}" && . scripts/env.sh && npm run --silent build`], { timeoutMs: 600_000 });
  } catch (err) {
    // The working tree may be mid-edit; the dist/ already built is then what is measured.
    console.log(`WARNING: npm run build failed, measuring the dist/ built before (${String(err).split("\n")[0]})`);
  }
}
const scratch = mkdtempSync(join(tmpdir(), "l2lb-pulumi-scale-"));
const results: Result[] = [];
const load0 = loadavg();
try {
  for (const n of SIZES) {
    const r = await size(n, scratch);
    results.push(r);
    if (r.error) progress(`${n} Services: ${r.error}`);
    console.error(table(results));
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`Pulumi path at scale: Installation + 1 pool + 1 advertisement + N Services (100 IPv4, rest IPv6) through one Allocation; engine pulumi, Kubernetes provider plugin, lab API server; no speakers\n`);
console.log(table(results));
console.log(details(results));
const load1 = loadavg();
console.log(`\nload average (1/5/15 min) at start ${load0.map((x) => x.toFixed(2)).join(" ")}, at end ${load1.map((x) => x.toFixed(2)).join(" ")}; 2-core machine shared with other work`);
console.log(`share = the engine's span of the l2lb provider's Check RPC / the command's wall clock; up = \`pulumi up --yes --skip-preview\``);
