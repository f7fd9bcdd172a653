// Helpers for tests that build network namespaces: a bridge namespace and stations attached to
// it by veth pairs. Names carry a per-file prefix plus the process id so that test files running
// in parallel never clash. Only documentation prefixes are used for addresses (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export const isRoot = process.getuid?.() === 0;

/** Why netns tests cannot run here, or undefined. */
export async function skipReason(): Promise<string | undefined> {
  if (!isRoot) return "network-namespace tests need root (CAP_NET_ADMIN, CAP_NET_RAW); skipped";
  for (const tool of ["ip", "arping", "ndisc6", "curl"]) {
    try {
      await run("sh", ["-c", `command -v ${tool}`]);
    } catch {
      return `${tool} is not installed (scripts/setup.sh installs it); skipped`;
    }
  }
  return undefined;
}

export async function sh(cmd: string, opts: { timeoutMs?: number; allowFail?: boolean } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run("sh", ["-c", cmd], { timeout: opts.timeoutMs ?? 20_000, maxBuffer: 16 << 20 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    if (opts.allowFail) return { stdout: e.stdout ?? "", stderr: e.stderr ?? "", code: typeof e.code === "number" ? e.code : 1 };
    throw new Error(`${cmd}\n${e.stderr ?? ""}${e.stdout ?? ""}`, { cause: err });
  }
}

/** A set of namespaces removed together. */
export class Lab {
  readonly prefix: string;
  readonly namespaces: string[] = [];
  readonly #children: ChildProcess[] = [];

  constructor(tag: string) {
    this.prefix = `${tag}${process.pid}`;
  }

  ns(name: string): string {
    return `${this.prefix}${name}`;
  }

  async addNamespace(name: string): Promise<string> {
    const ns = this.ns(name);
    await sh(`ip netns add ${ns}`);
    this.namespaces.push(ns);
    await sh(`ip -n ${ns} link set lo up`);
    // IPv6 addresses usable immediately; no router solicitations or autoconfiguration noise.
    await sh(`ip netns exec ${ns} sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.accept_ra=0`);
    return ns;
  }

  /** A namespace holding bridge `br` (created if needed). */
  async addBridge(name: string, br = "br0"): Promise<string> {
    const ns = this.namespaces.includes(this.ns(name)) ? this.ns(name) : await this.addNamespace(name);
    await sh(`ip -n ${ns} link add ${br} type bridge && ip -n ${ns} link set ${br} up`);
    // Forward immediately (no STP learning delay) and keep every frame flooding-free of IGMP/MLD snooping.
    await sh(`ip -n ${ns} link set ${br} type bridge forward_delay 0 mcast_snooping 0`, { allowFail: true });
    return ns;
  }

  /** veth pair: `dev` inside `station`, the other end enslaved to `br` in `bridgeNs`. */
  async attach(station: string, dev: string, bridgeNs: string, br = "br0"): Promise<void> {
    const peer = `${this.prefix}${this.#children.length}${Math.random().toString(36).slice(2, 6)}`.slice(0, 15);
    await sh(`ip link add ${peer} type veth peer name ${dev} netns ${station}`);
    await sh(`ip link set ${peer} netns ${bridgeNs}`);
    await sh(`ip -n ${bridgeNs} link set ${peer} master ${br} up`);
    await sh(`ip -n ${station} link set ${dev} up`);
  }

  /** Runs a shell command line inside `ns` (all of it: `a && b` runs both in the namespace). */
  exec(ns: string, cmd: string, opts?: { timeoutMs?: number; allowFail?: boolean }): ReturnType<typeof sh> {
    return sh(`ip netns exec ${ns} sh -c '${cmd.replace(/'/g, "'\\''")}'`, opts);
  }

  async mac(ns: string, dev: string): Promise<string> {
    return (await sh(`ip netns exec ${ns} cat /sys/class/net/${dev}/address`)).stdout.trim();
  }

  /** Starts a long-running process inside `ns`; killed at teardown. */
  spawn(ns: string, argv: string[]): ChildProcess {
    const child = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: ["pipe", "pipe", "pipe"] });
    this.#children.push(child);
    return child;
  }

  async teardown(): Promise<void> {
    for (const c of this.#children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill("SIGTERM");
        await new Promise<void>((r) => {
          const t = setTimeout(() => {
            c.kill("SIGKILL");
            r();
          }, 3000);
          c.once("exit", () => {
            clearTimeout(t);
            r();
          });
        });
      }
    }
    for (const ns of [...this.namespaces].reverse()) await sh(`ip netns del ${ns}`, { allowFail: true });
    this.namespaces.length = 0;
  }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes; returns the last value. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
