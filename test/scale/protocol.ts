// Messages between the scale benchmark (scale.bench.ts) and its worker processes (instances.ts).
import type { LivenessMode } from "../../runtime/control/controller.ts";

/** One controller instance: its kwok node, its loopback heartbeat address, its fake interface address. */
export interface InstanceSpec {
  node: string;
  heartbeatAddress: string;
  /** Address of the fake data plane's eth0 (prefix `prefixLength`): the subnet the pool lies in. */
  interfaceAddress: string;
  prefixLength: number;
}

export interface WorkerConfig {
  kubeconfig: string;
  namespace: string;
  mode: LivenessMode;
  heartbeatPort: number;
  logFile: string;
}

/** A worker's counters, cumulative since it started (the parent takes differences). */
export interface WorkerSample {
  /** process.cpuUsage(), user + system, microseconds. */
  cpuUs: number;
  /** Heartbeat datagrams sent by the live instances (and by the stopped ones before they stopped). */
  heartbeatsSent: number;
  /** Plans computed (Controller.planVersion()), summed. */
  plans: number;
  instances: number;
  ready: number;
  /** Instances whose last Lease renewal failed. */
  renewFailing: number;
  /** Largest event-loop delay since the previous sample, ms. */
  lagMaxMs: number;
  rssMb: number;
}

export type Request =
  | { id: number; op: "start"; config: WorkerConfig; specs: InstanceSpec[] }
  | { id: number; op: "sample" }
  /** Stops one instance abruptly: no leaving heartbeat, Lease left to expire. */
  | { id: number; op: "kill"; node: string }
  /** Starts a killed instance again (a new incarnation, as a restarted speaker). */
  | { id: number; op: "revive"; node: string }
  /** Starts a CPU profile of the worker (node:inspector). */
  | { id: number; op: "profile-start" }
  /** Ends it and writes it to `path` (Chrome DevTools `.cpuprofile`). */
  | { id: number; op: "profile-stop"; path: string }
  /** Graceful stop of every instance (bounded), then the worker exits. */
  | { id: number; op: "stop"; timeoutMs: number };

export type Reply =
  | { id: number; ok: true; sample?: WorkerSample; at?: number }
  | { id: number; ok: false; error: string };

/** Pushed by a worker whenever an instance's data plane is given a new owned set (wall time, ms). */
export interface OwnedEvent {
  owned: { node: string; ips: string[]; at: number };
}

export const wallMs = (): number => performance.timeOrigin + performance.now();
