// Kubernetes mode (the default): elect owners with the other speakers, answer for what this
// node owns, write status. Configuration comes from the cluster (AddressPool, L2Advertisement,
// Services) and is applied without restart; the process itself reads only its environment:
//
//   NODE_NAME (required)        this node's name (downward API spec.nodeName)
//   POD_NAMESPACE               install namespace, where the speaker Leases live (default l2lb-system)
//   POD_NAME                    Lease holder identity (default NODE_NAME)
//   KUBECONFIG                  kubeconfig file; without it, the in-cluster ServiceAccount
//   L2LB_INTERFACES             comma-separated interface selection for the data plane (names,
//                               globs, can_reach:<ip>, !exclusions); default every eligible one
//   L2LB_HEARTBEAT_PORT         UDP port of the speaker heartbeats (default 7473)
//   L2LB_HEARTBEAT_ADDRESS      address peers send heartbeats to (default the Node's InternalIP)
//   L2LB_HEARTBEAT_KEY[_FILE]   per-cluster key authenticating heartbeats (HMAC-SHA256); without
//                               one the speakers share a generated key (heartbeat-key.ts)
//   L2LB_TIMING                 JSON overrides of the control-loop timing (see controller.ts)
//   L2LB_DEFAULT_CLASS          "true": also serve LoadBalancer Services without a loadBalancerClass
//                               (the flag --default-class does the same)
//   L2LB_LIVENESS               "ring" (default: O(N) cluster-wide) or "mesh" (every speaker watches
//                               every Lease; runtime/control/README.md compares the two)
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { DEFAULT_NAMESPACE } from "../../provider/core/model/contract.ts";
import { KubeClient } from "../kube/client.ts";
import { loadConnection } from "../kube/connection.ts";
import { workerPlanner } from "../allocator/planner.ts";
import { realClock } from "../control/clock.ts";
import { Controller, type ControllerTiming, type LivenessMode } from "../control/controller.ts";
import { Heartbeat } from "../control/heartbeat.ts";
import { generatedHeartbeatKey, type SecretApi } from "../control/heartbeat-key.ts";
import { kubeApi } from "../control/kube-api.ts";
import { Sources } from "../control/sources.ts";
import { DataPlane } from "../dataplane/index.ts";
import type { RouteHandler } from "./http-server.ts";

export const DEFAULT_HEARTBEAT_PORT = 7473;
export const DEFAULT_METRICS_PORT = 7472;

export interface KubernetesModeOptions {
  logger: Logger;
  registry: Registry;
  env?: NodeJS.ProcessEnv;
  /** Serve LoadBalancer Services without a loadBalancerClass too (`--default-class`). */
  defaultClass?: boolean;
}

export interface RunningMode {
  close(): Promise<void>;
  routes: Record<string, RouteHandler>;
}

function configuredHeartbeatKey(env: NodeJS.ProcessEnv): Buffer | undefined {
  const file = env.L2LB_HEARTBEAT_KEY_FILE;
  const text = file ? readFileSync(file, "utf8").trim() : env.L2LB_HEARTBEAT_KEY?.trim();
  if (!text) return undefined;
  return Buffer.from(text, "utf8");
}

/**
 * The configured key, else the cluster's generated one. Without either (an installation whose Role
 * predates the generated key) the speaker still runs, unauthenticated, and says how to fix it:
 * heartbeats can delay a takeover, never cause one.
 */
function livenessMode(value: string | undefined): LivenessMode {
  const v = value?.trim().toLowerCase() || "ring";
  if (v === "ring" || v === "mesh") return v;
  throw new Error(`L2LB_LIVENESS is "${value}": set it to "ring" (the default) or "mesh", or leave it unset.`);
}

async function heartbeatKey(env: NodeJS.ProcessEnv, api: SecretApi, namespace: string, logger: Logger): Promise<Buffer | undefined> {
  const configured = configuredHeartbeatKey(env);
  if (configured !== undefined) return configured;
  try {
    return await generatedHeartbeatKey(api, namespace);
  } catch (err) {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, "heartbeats unauthenticated: no heartbeat key");
    return undefined;
  }
}

export async function runKubernetes(opts: KubernetesModeOptions): Promise<RunningMode> {
  const env = opts.env ?? process.env;
  const node = env.NODE_NAME;
  if (!node) throw new Error("NODE_NAME is required in Kubernetes mode (set it from the downward API: spec.nodeName)");
  const namespace = env.POD_NAMESPACE || DEFAULT_NAMESPACE;
  const port = Number(env.L2LB_HEARTBEAT_PORT || DEFAULT_HEARTBEAT_PORT);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`L2LB_HEARTBEAT_PORT must be a port number, not ${env.L2LB_HEARTBEAT_PORT}`);
  let timing: Partial<ControllerTiming> = {};
  if (env.L2LB_TIMING) {
    try {
      timing = JSON.parse(env.L2LB_TIMING) as Partial<ControllerTiming>;
    } catch {
      throw new Error("L2LB_TIMING must be a JSON object");
    }
  }
  const client = new KubeClient(loadConnection(env));
  const interfaces = (env.L2LB_INTERFACES ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  const dataPlane = await DataPlane.open({
    logger: opts.logger,
    registry: opts.registry,
    ...(interfaces.length > 0 ? { interfaces } : {}),
  });
  const api = kubeApi(client);
  const key = await heartbeatKey(env, api, namespace, opts.logger);
  const controller = new Controller({
    node,
    namespace,
    holder: env.POD_NAME || node,
    // The real API client, informers, heartbeat endpoint and clock (the fast tests pass fakes).
    api,
    sources: (o) => new Sources({ ...o, client }),
    heartbeat: (o) => new Heartbeat(o),
    clock: realClock,
    planner: workerPlanner(),
    logger: opts.logger,
    registry: opts.registry,
    dataPlane,
    heartbeatPort: port,
    ...(env.L2LB_HEARTBEAT_ADDRESS ? { heartbeatAddress: env.L2LB_HEARTBEAT_ADDRESS } : {}),
    ...(key ? { heartbeatKey: key } : {}),
    timing,
    defaultClass: opts.defaultClass === true || env.L2LB_DEFAULT_CLASS?.trim().toLowerCase() === "true",
    liveness: livenessMode(env.L2LB_LIVENESS),
  });
  try {
    await controller.start();
  } catch (err) {
    await dataPlane.close();
    throw err;
  }
  const text = (res: Parameters<RouteHandler>[1], ok: boolean, body: string): void => {
    res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
    res.end(body);
  };
  return {
    routes: {
      "/healthz": (_req, res) => text(res, controller.healthy(), controller.healthy() ? "ok\n" : "control loop stalled\n"),
      "/readyz": (_req, res) => text(res, controller.ready(), controller.ready() ? "ok\n" : "informers not synced or lease not held yet\n"),
      "/debug/state": (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(controller.debugState(), null, 2));
      },
    },
    close: async () => {
      await controller.stop();
      await dataPlane.close();
      client.close();
    },
  };
}
