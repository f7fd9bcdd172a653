// A worker process of the scale benchmark (scale.bench.ts, README "Scale harness (kwok)"): hosts
// many real `Controller`s, each with its kwok node name, the real API client, its own liveness
// informers (shared-sources.ts), the real UDP heartbeat on its own loopback address, a fake data
// plane, the in-process planner, a pino logger at "warn" and a Registry of its own. Driven over
// IPC (protocol.ts); exits when its parent goes away.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { pino, type Logger } from "pino";
import { Registry } from "prom-client";
import { inProcessPlanner } from "../../runtime/allocator/planner.ts";
import { realClock, type Clock } from "../../runtime/control/clock.ts";
import { Controller } from "../../runtime/control/controller.ts";
import { Heartbeat } from "../../runtime/control/heartbeat.ts";
import { kubeApi } from "../../runtime/control/kube-api.ts";
import { KubeClient } from "../../runtime/kube/client.ts";
import { kubeconfigConnection } from "../../runtime/kube/connection.ts";
import { FakeDataPlane } from "../../runtime/control/testing.ts";
import type { OwnedAddress } from "../../runtime/dataplane/types.ts";
import type { InstanceSpec, OwnedEvent, Reply, Request, WorkerConfig, WorkerSample } from "./protocol.ts";
import { wallMs } from "./protocol.ts";
import { SharedInformers, type InstanceSource } from "./shared-sources.ts";

/** The real clock, whose timers can all be dropped at once: what a crash does to a process. */
class KillableClock implements Clock {
  private readonly timers = new Set<NodeJS.Timeout>();
  private dead = false;

  now(): number {
    return realClock.now();
  }

  wallNow(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): unknown {
    if (this.dead) return undefined;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.dead) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  clearTimeout(handle: unknown): void {
    if (handle === undefined) return;
    clearTimeout(handle as NodeJS.Timeout);
    this.timers.delete(handle as NodeJS.Timeout);
  }

  kill(): void {
    this.dead = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/** A fake data plane that tells the parent every owned set it is given. */
class ReportingDataPlane extends FakeDataPlane {
  private readonly node: string;
  muted = false;

  constructor(node: string, address: string, prefixLength: number) {
    super(realClock, address, prefixLength);
    this.node = node;
  }

  override setOwned(addresses: OwnedAddress[]): void {
    super.setOwned(addresses);
    if (this.muted) return;
    const event: OwnedEvent = { owned: { node: this.node, ips: addresses.map((a) => a.ip), at: wallMs() } };
    process.send?.(event);
  }
}

interface Instance {
  spec: InstanceSpec;
  controller: Controller;
  clock: KillableClock;
  dataPlane: ReportingDataPlane;
  heartbeat: Heartbeat | undefined;
  source: InstanceSource | undefined;
  alive: boolean;
}

let config: WorkerConfig | undefined;
let client: KubeClient | undefined;
let shared: SharedInformers | undefined;
let logger: Logger | undefined;
const instances = new Map<string, Instance>();
/** Heartbeats sent by instances that were stopped (their endpoint is gone). */
let heartbeatsOfStopped = 0;
let plansOfStopped = 0;
let profiler: Session | undefined;
const lag = monitorEventLoopDelay({ resolution: 20 });
lag.enable();

function build(spec: InstanceSpec): Instance {
  const c = config as WorkerConfig;
  const clock = new KillableClock();
  const dataPlane = new ReportingDataPlane(spec.node, spec.interfaceAddress, spec.prefixLength);
  const inst: Partial<Instance> & { spec: InstanceSpec; clock: KillableClock; dataPlane: ReportingDataPlane } = { spec, clock, dataPlane, alive: true };
  inst.controller = new Controller({
    node: spec.node,
    namespace: c.namespace,
    api: kubeApi(client as KubeClient),
    sources: (shared as SharedInformers).factory(client as KubeClient, (s) => (inst.source = s)),
    clock,
    heartbeat: (o) => (inst.heartbeat = new Heartbeat({ ...o, bindAddress: spec.heartbeatAddress })),
    planner: inProcessPlanner(),
    logger: logger as Logger,
    registry: new Registry(),
    dataPlane,
    heartbeatPort: c.heartbeatPort,
    heartbeatAddress: spec.heartbeatAddress,
    liveness: c.mode,
  });
  return inst as Instance;
}

async function startAll(specs: InstanceSpec[]): Promise<void> {
  const c = config as WorkerConfig;
  logger = pino({ level: "warn", base: { worker: process.pid } }, pino.destination({ dest: c.logFile, append: true, sync: false }));
  // One connection pool for the process's instances, wide enough for all their renewals at once.
  client = new KubeClient(kubeconfigConnection(c.kubeconfig), { maxSockets: 64 });
  shared = new SharedInformers(client, c.namespace, logger);
  await shared.start();
  // A few at a time: 125 speakers listing their Leases at once is a thundering herd no real rollout makes.
  for (let i = 0; i < specs.length; i += 8) {
    await Promise.all(specs.slice(i, i + 8).map((s) => startOne(s)));
  }
}

async function startOne(spec: InstanceSpec): Promise<void> {
  const inst = build(spec);
  instances.set(spec.node, inst);
  await inst.controller.start();
}

/** A crash, as far as the cluster can tell: timers gone, socket closed, watches closed, Lease left behind. */
async function kill(node: string): Promise<number> {
  const inst = instances.get(node);
  if (inst === undefined || !inst.alive) throw new Error(`no live instance ${node}`);
  const at = wallMs();
  inst.alive = false;
  inst.dataPlane.muted = true;
  inst.clock.kill();
  await Promise.all([inst.heartbeat?.stop(false), inst.source?.abort()]);
  heartbeatsOfStopped += inst.heartbeat?.sent ?? 0;
  plansOfStopped += inst.controller.planVersion();
  return at;
}

async function stopAll(timeoutMs: number): Promise<void> {
  const live = [...instances.values()].filter((i) => i.alive);
  const bounded = new Promise((r) => setTimeout(r, timeoutMs).unref());
  await Promise.race([Promise.all(live.map((i) => i.controller.stop().catch(() => {}))), bounded]);
  await Promise.race([shared?.stop(), bounded]);
}

function sample(): WorkerSample {
  const cpu = process.cpuUsage();
  const live = [...instances.values()].filter((i) => i.alive);
  const s: WorkerSample = {
    cpuUs: cpu.user + cpu.system,
    heartbeatsSent: heartbeatsOfStopped + live.reduce((n, i) => n + (i.heartbeat?.sent ?? 0), 0),
    plans: plansOfStopped + live.reduce((n, i) => n + i.controller.planVersion(), 0),
    instances: live.length,
    ready: live.filter((i) => i.controller.ready()).length,
    renewFailing: live.filter((i) => i.controller.lease.lastError !== undefined).length,
    lagMaxMs: lag.max / 1e6,
    rssMb: process.memoryUsage.rss() / 2 ** 20,
  };
  lag.reset();
  return s;
}

async function handle(req: Request): Promise<Omit<Extract<Reply, { ok: true }>, "id" | "ok">> {
  switch (req.op) {
    case "start":
      config = req.config;
      await startAll(req.specs);
      return {};
    case "sample":
      return { sample: sample() };
    case "kill":
      return { at: await kill(req.node) };
    case "revive": {
      const old = instances.get(req.node);
      if (old === undefined || old.alive) throw new Error(`no killed instance ${req.node}`);
      await startOne(old.spec);
      return {};
    }
    case "profile-start":
      profiler = new Session();
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.start");
      return {};
    case "profile-stop": {
      if (profiler === undefined) throw new Error("no profile started");
      const { profile } = await profiler.post("Profiler.stop");
      writeFileSync(req.path, JSON.stringify(profile));
      profiler.disconnect();
      profiler = undefined;
      return {};
    }
    case "stop":
      await stopAll(req.timeoutMs);
      setTimeout(() => process.exit(0), 50);
      return {};
  }
}

process.on("message", (req: Request) => {
  handle(req).then(
    (r) => process.send?.({ id: req.id, ok: true, ...r } satisfies Reply),
    (err: unknown) => process.send?.({ id: req.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies Reply),
  );
});
process.on("disconnect", () => process.exit(0));
