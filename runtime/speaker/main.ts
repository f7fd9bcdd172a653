#!/usr/bin/env node
// l2lb-speaker: answers ARP and NDP for the addresses this node owns.
//   l2lb-speaker --static <file.yaml> [--metrics-port N] [--metrics-host H] [--log-level L]
// Only dispatches; each mode lives in its own module.
import { parseArgs } from "node:util";
import { pino } from "pino";
import { Registry, collectDefaultMetrics } from "prom-client";
import { startHttpServer, type RunningHttpServer } from "./http-server.ts";
import { runStatic } from "./static-mode.ts";

const USAGE = `usage: l2lb-speaker --static <file.yaml> [options]

Modes:
  --static <file>        answer for the addresses listed in <file> ({interfaces?: [names], addresses: [ips]}),
                         re-reading it whenever it changes

Options:
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
  if (!args.static) {
    process.stderr.write(`l2lb-speaker: a mode is required\n\n${USAGE}`);
    return 2;
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

  let mode: { close(): Promise<void> };
  try {
    mode = await runStatic({ file: args.static, logger, registry });
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, "cannot start");
    return 1;
  }
  let http: RunningHttpServer | undefined;
  if (metricsPort !== undefined) {
    try {
      http = await startHttpServer({ port: metricsPort, ...(args["metrics-host"] ? { host: args["metrics-host"] } : {}), registry, logger });
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
