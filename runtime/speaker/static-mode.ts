// Standalone mode: answer for a fixed list of addresses read from a YAML (or JSON) file, for
// hosts outside Kubernetes and for tests. The file is watched; every valid change is applied
// (addresses diffed: new ones announced, removed ones silenced at once); an invalid change is
// logged and the previous configuration kept.
//
//   interfaces: [eth0, "can_reach:192.0.2.1"]   # optional; default every eligible interface
//   addresses: [192.0.2.10, 2001:db8::10]
//   gratuitous: {count: 5, intervalMs: 1100, refreshSeconds: 0}   # optional
import { readFile, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { parse as parseYaml } from "yaml";
import { canonicalIp } from "../dataplane/addr.ts";
import { DataPlane } from "../dataplane/index.ts";
import type { GratuitousOptions } from "../dataplane/index.ts";
import { validateSelection } from "../dataplane/interfaces.ts";

export interface StaticConfig {
  interfaces?: string[];
  addresses: string[];
  gratuitous?: GratuitousOptions;
}

const KNOWN = new Set(["interfaces", "addresses", "gratuitous"]);

/** Parses and validates the file's text; throws a message naming the offending field. */
export function parseStaticConfig(text: string): StaticConfig {
  const doc: unknown = parseYaml(text);
  if (doc === null || doc === undefined) return { addresses: [] };
  if (typeof doc !== "object" || Array.isArray(doc)) throw new Error("expected a mapping with `addresses` (and optionally `interfaces`)");
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new Error(`unknown field \`${k}\` (expected interfaces, addresses, gratuitous)`);
  const addresses = o.addresses ?? [];
  if (!Array.isArray(addresses)) throw new Error("`addresses` must be a list of IP addresses");
  const seen = new Set<string>();
  const out: StaticConfig = { addresses: [] };
  for (const a of addresses) {
    if (typeof a !== "string") throw new Error(`\`addresses\`: ${JSON.stringify(a)} is not a string`);
    let ip: string;
    try {
      ip = canonicalIp(a.trim());
    } catch {
      throw new Error(`\`addresses\`: ${JSON.stringify(a)} is not an IPv4 or IPv6 address`);
    }
    if (!seen.has(ip)) out.addresses.push(ip);
    seen.add(ip);
  }
  if (o.interfaces !== undefined && o.interfaces !== null) {
    if (!Array.isArray(o.interfaces) || o.interfaces.some((i) => typeof i !== "string")) throw new Error("`interfaces` must be a list of interface names");
    validateSelection(o.interfaces as string[]);
    if (o.interfaces.length) out.interfaces = o.interfaces as string[];
  }
  if (o.gratuitous !== undefined && o.gratuitous !== null) {
    const g = o.gratuitous as Record<string, unknown>;
    if (typeof g !== "object" || Array.isArray(g)) throw new Error("`gratuitous` must be a mapping");
    const go: GratuitousOptions = {};
    for (const [k, v] of Object.entries(g)) {
      if (k !== "count" && k !== "intervalMs" && k !== "refreshSeconds") throw new Error(`\`gratuitous.${k}\` is unknown (count, intervalMs, refreshSeconds)`);
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`\`gratuitous.${k}\` must be a non-negative number`);
      go[k] = v;
    }
    out.gratuitous = go;
  }
  return out;
}

export interface StaticModeOptions {
  file: string;
  logger: Logger;
  registry: Registry;
  /** Seconds between fallback re-reads of the file (in addition to change notifications). Default 5. */
  pollSeconds?: number;
}

export interface StaticMode {
  dataPlane: DataPlane;
  close(): Promise<void>;
}

function readText(file: string): Promise<string> {
  return new Promise((res, rej) => readFile(file, "utf8", (err, text) => (err ? rej(err) : res(text))));
}

/** Opens the data plane on the file's configuration and keeps it in sync with the file. */
export async function runStatic(opts: StaticModeOptions): Promise<StaticMode> {
  const file = resolve(opts.file);
  const log = opts.logger.child({ component: "static", file });
  let text = await readText(file);
  let config = parseStaticConfig(text);
  const dp = await DataPlane.open({
    logger: opts.logger,
    registry: opts.registry,
    ...(config.interfaces ? { interfaces: config.interfaces } : {}),
    ...(config.gratuitous ? { gratuitous: config.gratuitous } : {}),
  });
  const apply = (c: StaticConfig): void => dp.setOwned(c.addresses.map((ip) => ({ ip, ...(c.gratuitous ? { gratuitous: c.gratuitous } : {}) })));
  apply(config);
  log.info({ addresses: config.addresses.length, interfaces: dp.interfaces().map((i) => i.name) }, "static configuration applied");
  dp.on("link", (e) => log.info(e, "link"));

  let closed = false;
  let reading = false;
  const reload = async (): Promise<void> => {
    if (closed || reading) return;
    reading = true;
    try {
      let next: string;
      try {
        next = await readText(file);
      } catch (err) {
        log.warn({ err: (err as Error).message }, "cannot read configuration; keeping the previous one");
        return;
      }
      if (next === text || closed) return;
      let c: StaticConfig;
      try {
        c = parseStaticConfig(next);
      } catch (err) {
        log.error({ err: (err as Error).message }, "invalid configuration; keeping the previous one");
        text = next; // do not log again until it changes
        return;
      }
      text = next;
      if (JSON.stringify(c.interfaces) !== JSON.stringify(config.interfaces)) await dp.setInterfaces(c.interfaces);
      apply(c);
      config = c;
      log.info({ addresses: c.addresses.length, interfaces: dp.interfaces().map((i) => i.name) }, "configuration reloaded");
    } finally {
      reading = false;
    }
  };
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => void reload(), 50);
  };
  // Watch the directory, not the file: editors and ConfigMap updates replace it by renaming.
  const name = basename(file);
  const watcher = watch(dirname(file), (_event, changed) => {
    if (!changed || changed === name || changed.startsWith("..")) schedule();
  });
  watcher.on("error", (err) => log.warn({ err: err.message }, "file watch failed; relying on polling"));
  const poll = setInterval(() => void reload(), (opts.pollSeconds ?? 5) * 1000);
  poll.unref();

  return {
    dataPlane: dp,
    async close() {
      closed = true;
      watcher.close();
      clearInterval(poll);
      if (debounce) clearTimeout(debounce);
      await dp.close();
    },
  };
}
