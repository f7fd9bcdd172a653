#!/usr/bin/env -S node --max-semi-space-size=1 --lite-mode
// l2lb-speaker: answers ARP and NDP for the addresses this node owns.
//   l2lb-speaker [--metrics-port N] [--metrics-host H] [--log-level L]      (Kubernetes mode)
//   l2lb-speaker --static <file.yaml> [--metrics-port N] [--metrics-host H] [--log-level L]
// Only dispatches; each mode lives in its own module.
import { parseArgs } from "node:util";
import { pino } from "pino";
import { Registry, collectDefaultMetrics } from "prom-client";
import { startHttpServer, type RouteHandler, type RunningHttpServer } from "./http-server.ts";
import { runStatic } from "./static-mode.ts";

const USAGE = `usage: l2lb-speaker [--static <file.yaml>] [options]

Modes:
  (default)              Kubernetes: elect owners with the other speakers and answer for this node's
                         addresses; env NODE_NAME, POD_NAMESPACE, KUBECONFIG or in-cluster config
                         (see runtime/speaker/kubernetes-mode.ts); metrics, /healthz, /readyz on 7472
  --static <file>        answer for the addresses listed in <file> ({interfaces?: [names], addresses: [ips]}),
                         re-reading it whenever it changes

Options:
  --default-class        Kubernetes mode: also serve type LoadBalancer Services without a
                         loadBalancerClass, as MetalLB and OpenELB do (env L2LB_DEFAULT_CLASS=true)
  --metrics-port <n>     serve Prometheus metrics on /metrics (and /healthz) on this port
  --metrics-host <addr>  listen address for the metrics server (default: all)
  --log-level <level>    trace, debug, info (default), warn, error
  -h, --help             this text
`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        static: { type: "string" },
        "metrics-port": { type: "string" },
        "metrics-host": { type: "string" },
        "log-level": { type: "string", default: process.env.L2LB_LOG_LEVEL ?? "info" },
        "default-class": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let metricsPort: number | undefined;
  if (args["metrics-port"] !== undefined) {
    metricsPort = Number(args["metrics-port"]);
    if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) {
      process.stderr.write(`l2lb-speaker: --metrics-port must be a port number\n`);
      return 2;
    }
  }
  const logger = pino({ level: args["log-level"], base: { app: "l2lb-speaker" } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "l2lb_speaker_" });

  // Kubernetes mode always serves /metrics, /healthz and /readyz (DEFAULT_METRICS_PORT of kubernetes-mode.ts).
  if (!args.static && metricsPort === undefined) metricsPort = 7472;
  let mode: { close(): Promise<void>; routes?: Record<string, RouteHandler> };
  try {
    mode = args.static ? await runStatic({ file: args.static, logger, registry }) : await (await import("./kubernetes-mode.ts")).runKubernetes({ logger, registry, defaultClass: args["default-class"] === true });
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, "cannot start");
    return 1;
  }
  let http: RunningHttpServer | undefined;
  if (metricsPort !== undefined) {
    try {
      http = await startHttpServer({ port: metricsPort, ...(args["metrics-host"] ? { host: args["metrics-host"] } : {}), registry, logger, ...(mode.routes ? { routes: mode.routes } : {}) });
    } catch (err) {
      logger.fatal({ err: (err as Error).message }, "cannot serve metrics");
      await mode.close();
      return 1;
    }
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, "stopping");
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await http?.close();
  await mode.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`l2lb-speaker: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
