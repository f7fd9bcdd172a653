// The speaker's HTTP client for the Kubernetes API: JSON requests and watch streams over
// keep-alive connections. Objects stay the plain JSON the API server sent (no model classes), so
// a cached Service costs what its JSON costs. Errors carry the HTTP status as `code` and the
// API server's own message.
import http from "node:http";
import https from "node:https";
import type { Connection } from "./connection.ts";

export class ApiError extends Error {
  /** The HTTP status (0: no answer). */
  readonly code: number;
  /** The API server's `Status.reason` (Conflict, NotFound, Expired...), when it sent one. */
  readonly reason: string | undefined;

  constructor(code: number, message: string, reason?: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.reason = reason;
  }
}

export interface RequestOptions {
  body?: unknown;
  /** Default application/json; merge patches pass application/merge-patch+json. */
  contentType?: string;
  /** Default 30 s: a request the API server does not answer fails instead of hanging. */
  timeoutMs?: number;
  /**
   * Sent on connections of its own (Lease renewals and liveness reads), never queued behind a
   * burst of Service writes waiting for a free connection: a late renewal reads as a failing node.
   */
  priority?: boolean;
}

/** One line of a watch stream. */
export interface WatchEvent<T = unknown> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export interface WatchHandle {
  /** Settles when the stream ends: resolves on a clean end, rejects with the error otherwise. */
  readonly done: Promise<void>;
  abort(): void;
}

export const MERGE_PATCH = "application/merge-patch+json";

function statusError(code: number, text: string, what: string): ApiError {
  try {
    const status = JSON.parse(text) as { message?: string; reason?: string };
    if (typeof status.message === "string") return new ApiError(code, `${what}: ${status.message}`, status.reason);
  } catch {
    // Not a Status object: fall through to the raw text.
  }
  return new ApiError(code, `${what}: HTTP ${code} ${text.slice(0, 200)}`);
}

export class KubeClient {
  private readonly connection: Connection;
  private readonly module: typeof http | typeof https;
  /** Requests share a pool of kept-alive connections; priority requests and watches (long-lived) have their own. */
  private readonly requests: http.Agent;
  private readonly priority: http.Agent;
  private readonly watches: http.Agent;

  constructor(connection: Connection, opts: { maxSockets?: number } = {}) {
    this.connection = connection;
    const secure = connection.server.startsWith("https:");
    this.module = secure ? https : http;
    const tls = secure ? { ca: connection.ca, cert: connection.cert, key: connection.key, rejectUnauthorized: !connection.insecureSkipTlsVerify } : {};
    const Agent = secure ? https.Agent : http.Agent;
    this.requests = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 32, ...tls });
    this.priority = new Agent({ keepAlive: true, ...tls });
    this.watches = new Agent({ keepAlive: false, ...tls });
  }

  private headers(contentType?: string): http.OutgoingHttpHeaders {
    const token = this.connection.token();
    return { Accept: "application/json", ...(contentType ? { "Content-Type": contentType } : {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  }

  /** Sends one request; resolves with the parsed JSON answer (undefined when empty). */
  request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const what = `${method} ${path}`;
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    return new Promise<T>((resolve, reject) => {
      const headers = this.headers(payload === undefined ? undefined : (opts.contentType ?? "application/json"));
      if (payload !== undefined) headers["Content-Length"] = Buffer.byteLength(payload);
      const req = this.module.request(`${this.connection.server}${path}`, { method, agent: opts.priority === true ? this.priority : this.requests, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const code = res.statusCode ?? 0;
          if (code < 200 || code >= 300) return reject(statusError(code, text, what));
          try {
            resolve((text === "" ? undefined : JSON.parse(text)) as T);
          } catch (err) {
            reject(new ApiError(code, `${what}: the answer is not JSON (${(err as Error).message})`));
          }
        });
      });
      req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new ApiError(0, `${what}: no answer within ${opts.timeoutMs ?? 30_000} ms`)));
      req.on("error", (err) => reject(err instanceof ApiError ? err : new ApiError(0, `${what}: ${err.message}`)));
      req.end(payload);
    });
  }

  /** Opens a watch (`path` includes `?watch=1...`); `onEvent` gets every line, in order. */
  watch<T>(path: string, onEvent: (event: WatchEvent<T>) => void, idleTimeoutMs: number): WatchHandle {
    let req: http.ClientRequest | undefined;
    const done = new Promise<void>((resolve, reject) => {
      req = this.module.get(`${this.connection.server}${path}`, { agent: this.watches, headers: this.headers() }, (res) => {
        const code = res.statusCode ?? 0;
        if (code !== 200) {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => reject(statusError(code, Buffer.concat(chunks).toString("utf8"), `watch ${path}`)));
          return;
        }
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line.trim() === "") continue;
            try {
              onEvent(JSON.parse(line) as WatchEvent<T>);
            } catch (err) {
              // Settle with the handler's error before the cut connection reports its own.
              reject(err instanceof Error ? err : new Error(String(err)));
              req?.destroy();
              return;
            }
          }
        });
        res.on("error", reject);
        res.on("aborted", () => reject(new ApiError(0, `watch ${path}: the connection was cut`)));
        res.on("end", () => resolve());
      });
      req.setTimeout(idleTimeoutMs, () => req?.destroy(new ApiError(0, `watch ${path}: nothing received for ${idleTimeoutMs} ms`)));
      req.on("error", (err) => reject(err instanceof ApiError ? err : new ApiError(0, `watch ${path}: ${err.message}`)));
    });
    return { done, abort: () => req?.destroy() };
  }

  close(): void {
    this.requests.destroy();
    this.priority.destroy();
    this.watches.destroy();
  }
}
