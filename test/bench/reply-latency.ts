// ARP and NDP reply latency and loss from the client namespace, measured with the shared probes
// (arpprobe.py, ndpprobe.py) against a VIP the implementation answers for and against an address
// the kernel of a node namespace answers for, interleaved so background load affects both alike.
import { fileURLToPath } from "node:url";
import { run, type Lab } from "../control/harness.ts";
import { median } from "./stats.ts";

const TOOLS = fileURLToPath(new URL("../../../shared/tools/", import.meta.url));

export interface ProbeResult {
  sent: number;
  replies: number;
  loss: number;
  p50: number;
  p99: number;
}

export interface LatencyRow {
  proto: "ARP" | "NDP";
  rate: number;
  ours: ProbeResult;
  kernel: ProbeResult;
}

export function parseProbe(out: string): ProbeResult {
  const m = /sent=(\d+) replies=(\d+) loss=([\d.]+) p50_us=(\S+) p99_us=(\S+)/.exec(out);
  if (!m) throw new Error(`unexpected probe output: ${out}`);
  return { sent: Number(m[1]), replies: Number(m[2]), loss: Number(m[3]), p50: Number(m[4]), p99: Number(m[5]) };
}

/** Median latencies over the repeats, the worst loss. */
export function summarize(rs: ProbeResult[]): ProbeResult {
  return { sent: rs.reduce((a, r) => a + r.sent, 0), replies: rs.reduce((a, r) => a + r.replies, 0), loss: Math.max(...rs.map((r) => r.loss)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)) };
}

async function probe(lab: Lab, proto: "ARP" | "NDP", target: string, rate: number, seconds: number): Promise<ProbeResult> {
  const tool = proto === "ARP" ? "arpprobe.py" : "ndpprobe.py";
  return parseProbe(await run("ip", ["netns", "exec", lab.clientNs, "python3", `${TOOLS}${tool}`, "eth0", target, String(Math.round(rate * seconds)), String(rate)], { timeoutMs: (seconds + 30) * 1000 }));
}

export interface LatencyPlan {
  ours: { ARP: string; NDP: string };
  /** Addresses bound on `kernelNode`'s eth0 for the baseline (added here, removed afterwards). */
  kernel: { ARP: string; NDP: string };
  kernelNode: string;
  rates: number[];
  seconds: number;
  repeat: number;
}

export async function measureReplyLatency(lab: Lab, plan: LatencyPlan): Promise<LatencyRow[]> {
  const ns = lab.ns(plan.kernelNode);
  await run("ip", ["-n", ns, "addr", "add", `${plan.kernel.ARP}/32`, "dev", "eth0"]);
  await run("ip", ["-n", ns, "addr", "add", `${plan.kernel.NDP}/128`, "dev", "eth0", "nodad"]);
  try {
    await probe(lab, "ARP", plan.ours.ARP, 1000, 1); // warm-up
    await probe(lab, "NDP", plan.ours.NDP, 1000, 1);
    const rows: LatencyRow[] = [];
    for (const proto of ["ARP", "NDP"] as const) {
      for (const rate of plan.rates) {
        const ours: ProbeResult[] = [];
        const kernel: ProbeResult[] = [];
        for (let i = 0; i < plan.repeat; i++) {
          ours.push(await probe(lab, proto, plan.ours[proto], rate, plan.seconds));
          kernel.push(await probe(lab, proto, plan.kernel[proto], rate, plan.seconds));
        }
        rows.push({ proto, rate, ours: summarize(ours), kernel: summarize(kernel) });
      }
    }
    return rows;
  } finally {
    await run("ip", ["-n", ns, "addr", "del", `${plan.kernel.ARP}/32`, "dev", "eth0"]).catch(() => "");
    await run("ip", ["-n", ns, "addr", "del", `${plan.kernel.NDP}/128`, "dev", "eth0"]).catch(() => "");
  }
}
