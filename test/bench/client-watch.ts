// What the client namespace sees of a set of VIPs: failover.probe.py asks for each one with ARP
// every 10 ms and reports which MAC answers, and `ip monitor neigh` reports the client kernel's
// neighbour entries changing. Timestamps are wall-clock milliseconds.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { root, run, waitFor, type Lab } from "../control/harness.ts";

export interface Seen {
  ts: number;
  vip: string;
  mac: string;
}

export const nowMs = (): number => performance.timeOrigin + performance.now();

/** `[2026-11-22T02:50:01.123456] 192.0.2.150 lladdr 02:.. REACHABLE` (iproute2 in UTC) → Seen. */
export function parseNeighLine(line: string): Seen | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d+)\]\s+(\S+)\s+(?:dev \S+\s+)?lladdr\s+([0-9a-f:]{17})/.exec(line);
  return m ? { ts: Date.parse(`${m[1]}Z`) + Number(`0.${m[2]}`) * 1000, vip: m[3] as string, mac: m[4] as string } : undefined;
}

export class ClientWatch {
  readonly answers: Seen[] = [];
  /** Every ARP frame sent from a VIP (answers to anyone, gratuitous ARP), when started with `frames`. */
  readonly frames: Seen[] = [];
  readonly neighbours: Seen[] = [];
  /** Probe rounds in which two different MACs answered one VIP. */
  readonly duals: { ts: number; vip: string }[] = [];
  private readonly children: ChildProcess[] = [];

  private readonly lab: Lab;

  private constructor(lab: Lab) {
    this.lab = lab;
  }

  /** Starts probing `vips` (IPv4) from the client namespace every `intervalMs`; with `frames`, records every frame from them. */
  static start(lab: Lab, vips: string[], intervalMs = 10, opts: { frames?: boolean } = {}): ClientWatch {
    const w = new ClientWatch(lab);
    const env = { ...process.env, ...(opts.frames ? { L2LB_PROBE_FRAMES: "1" } : {}) };
    const probe = spawn("ip", ["netns", "exec", lab.clientNs, "python3", join(root, "test/bench/failover.probe.py"), "eth0", "192.0.2.100", String(intervalMs), ...vips], { stdio: ["pipe", "pipe", "inherit"], env });
    createInterface({ input: probe.stdout }).on("line", (line) => {
      const [kind, ts, vip, mac] = line.split(" ");
      if (kind === "change") w.answers.push({ ts: Number(ts), vip: vip as string, mac: mac as string });
      else if (kind === "frame") w.frames.push({ ts: Number(ts), vip: vip as string, mac: mac as string });
      else if (kind === "dual") w.duals.push({ ts: Number(ts), vip: vip as string });
    });
    const neigh = spawn("ip", ["netns", "exec", lab.clientNs, "ip", "-ts", "monitor", "neigh", "dev", "eth0"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, TZ: "UTC" } });
    createInterface({ input: neigh.stdout }).on("line", (line) => {
      const seen = parseNeighLine(line);
      if (seen) w.neighbours.push(seen);
    });
    w.children.push(probe, neigh);
    return w;
  }

  /** The MAC that answered `vip` last. */
  currentMac(vip: string): string | undefined {
    for (let i = this.answers.length - 1; i >= 0; i--) if (this.answers[i]?.vip === vip) return this.answers[i]?.mac;
    return undefined;
  }

  async waitAnsweredBy(vip: string, mac: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(`${vip} answered by ${mac}`, () => (this.currentMac(vip) === mac ? true : undefined), timeoutMs, 20);
  }

  async waitAnswered(vip: string, timeoutMs = 60_000): Promise<string> {
    return waitFor(`${vip} answered`, () => this.currentMac(vip), timeoutMs, 20);
  }

  /** First answer for `vip` at or after `since` from a MAC other than `old`. */
  firstAnswerNotFrom(vip: string, old: string, since: number): Seen | undefined {
    return this.answers.find((x) => x.vip === vip && x.ts >= since && x.mac !== old);
  }

  /** First neighbour-table change for `vip` at or after `since` to a MAC other than `old`. */
  firstNeighbourNotTo(vip: string, old: string, since: number): Seen | undefined {
    return this.neighbours.find((x) => x.vip === vip && x.ts >= since && x.mac !== old);
  }

  /** Gives the client kernel a neighbour entry per VIP, as real traffic would (one ping each). */
  async primeNeighbours(vips: string[]): Promise<void> {
    for (const vip of vips) await run("ip", ["netns", "exec", this.lab.clientNs, "ping", "-c", "1", "-W", "1", vip]).catch(() => {});
  }

  /** Rounds answered by two MACs for `vip` in [from, to). */
  dualsBetween(vip: string, from: number, to: number): number {
    return this.duals.filter((d) => d.vip === vip && d.ts >= from && d.ts < to).length;
  }

  stop(): void {
    for (const c of this.children) c.kill();
  }
}
