// The benchmark's side of its worker processes (instances.ts): forking, requests with bounded
// waits, and who owns which address, from the owned sets the workers push.
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { root } from "../control/harness.ts";
import type { InstanceSpec, OwnedEvent, Reply, Request, WorkerConfig, WorkerSample } from "./protocol.ts";

type Op = Request extends infer R ? (R extends { op: infer O } ? O : never) : never;
type Body<O extends Op> = Omit<Extract<Request, { op: O }>, "id" | "op">;
type Ok = Extract<Reply, { ok: true }>;

export class Worker {
  readonly child: ChildProcess;
  readonly nodes: string[];
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Ok) => void; reject: (e: Error) => void }>();
  readonly exited: Promise<void>;

  constructor(nodes: string[], onOwned: (e: OwnedEvent["owned"]) => void) {
    this.nodes = nodes;
    this.child = fork(join(root, "test/scale/instances.ts"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (m: Reply | OwnedEvent) => {
      if ("owned" in m) return onOwned(m.owned);
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m);
      else p.reject(new Error(`worker ${this.child.pid}: ${m.error}`));
    });
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    void this.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new Error(`worker ${this.child.pid} exited`));
      this.pending.clear();
    });
  }

  request<O extends Op>(op: O, body: Body<O>, timeoutMs: number): Promise<Ok> {
    const id = this.nextId++;
    return new Promise<Ok>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`worker ${this.child.pid}: ${op} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const done = <T>(f: (x: T) => void) => (x: T): void => {
        clearTimeout(timer);
        f(x);
      };
      this.pending.set(id, { resolve: done(resolve), reject: done(reject) });
      this.child.send({ id, op, ...body } as Request);
    });
  }

  async sample(timeoutMs = 30_000): Promise<WorkerSample> {
    return (await this.request("sample", {}, timeoutMs)).sample as WorkerSample;
  }

  /** Graceful stop within `timeoutMs`, else SIGKILL; resolves once the process is gone. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.request("stop", { timeoutMs }, timeoutMs + 5000).catch(() => {});
    const t = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Forks `count` workers and deals `specs` out to them round-robin; resolves once every instance started. */
export async function startWorkers(count: number, specs: InstanceSpec[], config: (i: number) => WorkerConfig, onOwned: (e: OwnedEvent["owned"]) => void, timeoutMs: number): Promise<Worker[]> {
  const shares = Array.from({ length: count }, (_, w) => specs.filter((_, i) => i % count === w));
  const workers = shares.map((s) => new Worker(s.map((x) => x.node), onOwned));
  await Promise.all(workers.map((w, i) => w.request("start", { config: config(i), specs: shares[i] as InstanceSpec[] }, timeoutMs)));
  return workers;
}

/** Who owns which address, from the workers' owned sets, and when each was gained. */
export class Ownership {
  private readonly byNode = new Map<string, Set<string>>();
  /** ip → node → wall time the node gained it. */
  private readonly gainedAt = new Map<string, Map<string, number>>();
  private readonly dead = new Set<string>();
  lastChangeAt = 0;

  onOwned(e: { node: string; ips: string[]; at: number }): void {
    if (this.dead.has(e.node)) return;
    const before = this.byNode.get(e.node) ?? new Set<string>();
    const now = new Set(e.ips);
    for (const ip of now) {
      if (before.has(ip)) continue;
      const m = this.gainedAt.get(ip) ?? new Map<string, number>();
      m.set(e.node, e.at);
      this.gainedAt.set(ip, m);
    }
    for (const ip of before) if (!now.has(ip)) this.gainedAt.get(ip)?.delete(e.node);
    this.byNode.set(e.node, now);
    this.lastChangeAt = Date.now();
  }

  /** A node stopped abruptly: what its data plane still holds no longer counts. */
  markDead(node: string): void {
    this.dead.add(node);
    for (const ip of this.byNode.get(node) ?? []) this.gainedAt.get(ip)?.delete(node);
    this.byNode.delete(node);
    this.lastChangeAt = Date.now();
  }

  markAlive(node: string): void {
    this.dead.delete(node);
  }

  ownedBy(node: string): string[] {
    return [...(this.byNode.get(node) ?? [])];
  }

  owners(ip: string): string[] {
    return [...(this.gainedAt.get(ip)?.keys() ?? [])];
  }

  /** When a node other than `exclude` gained `ip` at or after `since` (and still owns it). */
  takenOver(ip: string, exclude: string, since: number): number | undefined {
    let first: number | undefined;
    for (const [node, at] of this.gainedAt.get(ip) ?? []) {
      if (node !== exclude && at >= since && (first === undefined || at < first)) first = at;
    }
    return first;
  }

  /** Addresses with no owner, and with more than one. */
  counts(ips: readonly string[]): { none: number; many: number } {
    let none = 0;
    let many = 0;
    for (const ip of ips) {
      const n = this.gainedAt.get(ip)?.size ?? 0;
      if (n === 0) none++;
      else if (n > 1) many++;
    }
    return { none, many };
  }

  clear(): void {
    this.byNode.clear();
    this.gainedAt.clear();
    this.dead.clear();
  }
}
