// Speaker data-plane benchmark (not a test): reply latency and loss for ARP and NDP at several
// request rates, ours (l2lb-speaker --static, 1000 owned addresses) side by side with the kernel
// answering for an address bound on a neighbour namespace, measured by the same probes from the
// same client. Needs root.
//
//   node test/bench/dataplane.bench.ts [--rates 1000,10000,20000] [--seconds 2] [--repeat 3] [--no-realtime]
//
// Topology (all in fresh namespaces, removed afterwards):
//   client C ──┐
//   speaker S ─┼── bridge (namespace B)
//   kernel  N ─┘
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";

const run = promisify(execFile);
const sh = async (cmd: string): Promise<string> => (await run("sh", ["-c", cmd], { maxBuffer: 16 << 20, timeout: 120_000 })).stdout;

const { values: args } = parseArgs({
  options: {
    rates: { type: "string", default: "1000,10000,20000" },
    seconds: { type: "string", default: "2" },
    repeat: { type: "string", default: "3" },
    // Run the receive threads at normal priority, as without CAP_SYS_NICE.
    "no-realtime": { type: "boolean", default: false },
  },
});
const rates = args.rates.split(",").map(Number);
const seconds = Number(args.seconds);
const repeat = Number(args.repeat);
if (process.getuid?.() !== 0) {
  console.error("dataplane.bench: needs root (network namespaces, raw sockets)");
  process.exit(2);
}

// The speaker as installed: the compiled bin (npm run build) with the Node flags of its shebang.
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIST = fileURLToPath(new URL("../../dist/runtime/speaker/main.js", import.meta.url));
const SOURCE = fileURLToPath(new URL("../../runtime/speaker/main.ts", import.meta.url));
async function speakerCommand(): Promise<string[]> {
  try {
    const first = (await readFile(DIST, "utf8")).split("\n", 1)[0]!;
    const flags = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
    return [process.execPath, ...flags, DIST];
  } catch {
    console.error("dataplane.bench: dist/ not built (npm run build); running the TypeScript sources, whose RSS includes the type stripper");
    return [process.execPath, SOURCE];
  }
}
const TOOLS = fileURLToPath(new URL("../../../shared/tools/", import.meta.url));
const P = `l2bench${process.pid}`;
const B = `${P}b`, S = `${P}s`, N = `${P}n`, C = `${P}c`;
const namespaces = [B, S, N, C];

interface Result {
  sent: number;
  replies: number;
  loss: number;
  p50: number;
  p99: number;
  max: number;
}

function parseProbe(out: string): Result {
  const m = /sent=(\d+) replies=(\d+) loss=([\d.]+) p50_us=(\S+) p99_us=(\S+) max_us=(\S+)/.exec(out);
  if (!m) throw new Error(`unexpected probe output: ${out}`);
  return { sent: +m[1]!, replies: +m[2]!, loss: +m[3]!, p50: +m[4]!, p99: +m[5]!, max: +m[6]! };
}

async function probe(proto: "arp" | "ndp", target: string, rate: number): Promise<Result> {
  const tool = proto === "arp" ? "arpprobe.py" : "ndpprobe.py";
  return parseProbe(await sh(`ip netns exec ${C} python3 ${TOOLS}${tool} eth0 ${target} ${Math.round(rate * seconds)} ${rate}`));
}

/** Median of each field over the repeats (loss: the worst). */
function summarize(rs: Result[]): Result {
  const med = (f: (r: Result) => number): number => {
    const v = rs.map(f).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  return { sent: rs.reduce((a, r) => a + r.sent, 0), replies: rs.reduce((a, r) => a + r.replies, 0), loss: Math.max(...rs.map((r) => r.loss)), p50: med((r) => r.p50), p99: med((r) => r.p99), max: Math.max(...rs.map((r) => r.max)) };
}

async function rssKb(pid: number): Promise<{ rss: number; hwm: number }> {
  const s = await readFile(`/proc/${pid}/status`, "utf8");
  return { rss: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1]), hwm: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1]) };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "l2lb-bench-"));
  let speaker: ReturnType<typeof spawn> | undefined;
  try {
    await sh(`ip netns add ${B} && ip -n ${B} link add br0 type bridge && ip -n ${B} link set br0 type bridge forward_delay 0 mcast_snooping 0 && ip -n ${B} link set br0 up`);
    for (const [ns, host] of [[S, 1], [N, 3], [C, 2]] as const) {
      const peer = `${ns.slice(-1)}${P}`.slice(0, 15);
      await sh(`ip netns add ${ns} && ip -n ${ns} link set lo up`);
      await sh(`ip link add ${peer} type veth peer name eth0 netns ${ns} && ip link set ${peer} netns ${B} && ip -n ${B} link set ${peer} master br0 up && ip -n ${ns} link set eth0 up`);
      await sh(`ip -n ${ns} addr add 192.0.2.${host}/24 dev eth0 && ip -n ${ns} addr add 2001:db8::${host}/64 dev eth0 nodad`);
    }
    // The speaker's subnets for its 1000 addresses.
    await sh(`ip -n ${S} addr add 198.51.100.1/24 dev eth0 && ip -n ${S} addr add 203.0.113.1/24 dev eth0 && ip -n ${S} addr add 2001:db8:1::1/64 dev eth0 nodad`);
    // The kernel baseline: an address bound on the neighbour's interface.
    await sh(`ip -n ${N} addr add 192.0.2.200/32 dev eth0 && ip -n ${N} addr add 2001:db8::200/128 dev eth0 nodad`);

    const addresses: string[] = [];
    for (let i = 2; i <= 251; i++) addresses.push(`198.51.100.${i}`, `203.0.113.${i}`);
    for (let i = 2; addresses.length < 1000; i++) addresses.push(`2001:db8:1::${i.toString(16)}`);
    const file = join(dir, "speaker.yaml");
    await writeFile(file, `interfaces: [eth0]\naddresses:\n${addresses.map((a) => `  - "${a}"`).join("\n")}\n`);
    const command = await speakerCommand();
    speaker = spawn("ip", ["netns", "exec", S, ...command, "--static", file, "--log-level", "warn"], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, L2LB_REALTIME: args["no-realtime"] ? "0" : "1" },
    });
    let exitedEarly = "";
    speaker.once("exit", (code, signal) => (exitedEarly = `speaker exited during the benchmark (code ${code}, signal ${signal})`));
    await new Promise((r) => setTimeout(r, 2500));
    if (exitedEarly) throw new Error(exitedEarly);
    const pid = speaker.pid!;
    const idle = await rssKb(pid);

    const OURS = { arp: "198.51.100.77", ndp: "2001:db8:1::77" };
    const KERNEL = { arp: "192.0.2.200", ndp: "2001:db8::200" };
    // Warm-up (JIT, caches, neighbour entries).
    await probe("arp", OURS.arp, 1000);
    await probe("ndp", OURS.ndp, 1000);

    const rows: string[][] = [];
    let worstP99At10k = 0;
    let anyLossAt20k = false;
    for (const proto of ["arp", "ndp"] as const) {
      for (const rate of rates) {
        const ours: Result[] = [], kernel: Result[] = [];
        for (let i = 0; i < repeat; i++) {
          // Interleaved so that background load affects both alike.
          ours.push(await probe(proto, OURS[proto], rate));
          kernel.push(await probe(proto, KERNEL[proto], rate));
        }
        const o = summarize(ours), k = summarize(kernel);
        if (rate === 10000) worstP99At10k = Math.max(worstP99At10k, o.p99);
        if (rate === 20000 && o.loss > 0) anyLossAt20k = true;
        rows.push([proto.toUpperCase(), String(rate), `${o.p50}`, `${o.p99}`, `${o.max}`, `${(o.loss * 100).toFixed(2)}%`, `${k.p50}`, `${k.p99}`, `${k.max}`, `${(k.loss * 100).toFixed(2)}%`, (o.p50 / k.p50).toFixed(2)]);
      }
    }
    if (exitedEarly) throw new Error(exitedEarly);
    const loaded = await rssKb(pid);
    const header = ["proto", "req/s", "ours p50", "p99", "max", "loss", "kernel p50", "p99", "max", "loss", "p50 ratio"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]): string => r.map((c, i) => c.padStart(widths[i]!)).join("  ");
    const load = (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");
    console.log(`\nspeaker: ${command.map((c) => (c.startsWith(ROOT) ? relative(ROOT, c) : c)).join(" ")} --static <1000 addresses>; receive threads ${args["no-realtime"] ? "at normal priority" : "real-time (SCHED_FIFO) when permitted"}`);
    console.log(`l2lb speaker data plane vs kernel — latencies in µs, median of ${repeat} runs of ${seconds} s each (loss: worst run); load average ${load}`);
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    console.log(`speaker RSS with ${addresses.length} addresses: ${(idle.rss / 1024).toFixed(1)} MB idle, ${(loaded.rss / 1024).toFixed(1)} MB after load, peak ${(loaded.hwm / 1024).toFixed(1)} MB`);
    const ratios = rows.map((r) => Number(r[10]));
    console.log(`targets: p50 ≤ 1.5× kernel: ${ratios.every((x) => x <= 1.5) ? "met" : `not met (worst ${Math.max(...ratios).toFixed(2)}×)`}; ` +
      `p99 < 1000 µs at 10k/s: ${worstP99At10k < 1000 ? "met" : `not met (${worstP99At10k} µs)`}; no loss at 20k/s: ${anyLossAt20k ? "not met" : "met"}; ` +
      `RSS < 80 MB: ${loaded.hwm / 1024 < 80 ? "met" : "not met"}`);
  } finally {
    if (speaker && speaker.exitCode === null && speaker.signalCode === null) {
      const exited = new Promise((r) => speaker!.once("exit", r));
      speaker.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (speaker.exitCode === null && speaker.signalCode === null) speaker.kill("SIGKILL");
    }
    for (const ns of namespaces) await sh(`ip netns del ${ns} 2>/dev/null || true`);
    await rm(dir, { recursive: true, force: true });
  }
}

await main().catch((err: Error) => {
  console.error(`dataplane.bench: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
