// Minimal HTTP endpoint for the speaker: Prometheus metrics on /metrics and liveness on /healthz.
// Extra routes can be mounted by the caller (e.g. readiness in Kubernetes mode).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpServerOptions {
  port: number;
  /** Listen address; default all addresses. */
  host?: string;
  registry: Registry;
  logger: Logger;
  /** Additional exact-path GET routes. */
  routes?: Record<string, RouteHandler>;
}

export interface RunningHttpServer {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const log = opts.logger.child({ component: "http" });
  const routes: Record<string, RouteHandler> = {
    "/metrics": async (_req, res) => {
      const body = await opts.registry.metrics();
      res.writeHead(200, { "content-type": opts.registry.contentType });
      res.end(body);
    },
    "/healthz": (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
    },
    ...opts.routes,
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const handler = routes[path];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (!handler) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    Promise.resolve(handler(req, res)).catch((err: Error) => {
      log.error({ err: err.message, path }, "handler failed");
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port, host: opts.host ?? "*" }, "serving /metrics and /healthz");
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
