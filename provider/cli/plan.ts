/**
 * `l2lb plan`: reads manifests, plans the allocation, prints it. I/O goes through a small
 * {@link PlanIo} so the command is testable without touching the real file system.
 */
import { parseArgs } from "node:util";
import { planAllocation, planToJson } from "../core/allocation/index.ts";
import type { AllocationSuccess, Assignment, ConfigProblem } from "../core/allocation/index.ts";
import { readManifests } from "../core/manifests/index.ts";
import type { ManifestSet, ManifestSource } from "../core/manifests/index.ts";
import { advertisementSelectsPool } from "../core/allocation/advertisement.ts";

/** What the command needs from the outside world. */
export interface PlanIo {
  /** Files to read for a `-f` argument: the file itself, or every `.yaml`/`.yml`/`.json` file below a directory (sorted). Throws when missing. */
  expand(path: string): string[];
  readFile(path: string): string;
  readStdin(): string;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const PLAN_USAGE = `Usage: l2lb plan -f <file|dir|-> [-f ...] [--node-subnet <cidr> ...] [--state <file>] [-o table|json]

Plans LoadBalancer addresses from manifests (l2lb, MetalLB and OpenELB pools; Services,
Namespaces, Nodes) without touching a cluster.

  -f, --filename     YAML/JSON file, directory (read recursively) or - for stdin; repeatable
      --node-subnet  a subnet the nodes are on (CIDR); repeatable. Pools must lie inside one, and
                     its network and broadcast addresses are never handed out
      --state        a previous 'l2lb plan -o json' output: its assignments are kept (sticky)
                     and the table shows what changes
  -o, --output       table (default) or json

Exit status:
  0  planned (Services that cannot get an address are listed with their error)
  1  the configuration is invalid: a pool, a node subnet or a manifest (every problem on stderr;
     nothing is planned)
  2  usage error
  3  some Services or SharedIpGroups are invalid: those Services are refused (their problems on
     stderr, and listed without an address) and every other Service is planned`;

/** Exit statuses of `l2lb plan`. */
export const EXIT = { planned: 0, invalid: 1, usage: 2, servicesRefused: 3 } as const;

function withOrigin(p: ConfigProblem, origins: Record<string, string[]>): string {
  const where = origins[p.object];
  return where && where.length > 0 ? `${[...new Set(where)].join(" and ")}: ${p.message}` : p.message;
}

/** Reads a `--state` document into previous assignments; throws a sentence when it is malformed. */
export function parseState(text: string, path: string): Record<string, Assignment> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`State file ${path} is not JSON (${(e as Error).message}); pass a file written by 'l2lb plan -o json'.`, { cause: e });
  }
  const services = (doc as { services?: unknown } | null)?.services;
  if (services === null || typeof services !== "object" || Array.isArray(services)) {
    throw new Error(`State file ${path} has no "services" object; pass a file written by 'l2lb plan -o json'.`);
  }
  const previous: Record<string, Assignment> = {};
  for (const [key, v] of Object.entries(services as Record<string, unknown>)) {
    if (v === null || typeof v !== "object") {
      throw new Error(`State file ${path}: entry "${key}" is not an object; pass a file written by 'l2lb plan -o json'.`);
    }
    const o = v as Record<string, unknown>;
    if ("error" in o) continue;
    if (!Array.isArray(o.ips) || o.ips.some((x) => typeof x !== "string") || typeof o.pool !== "string") {
      throw new Error(`State file ${path}: entry "${key}" needs "ips" (a list of addresses) and "pool" (a name); pass a file written by 'l2lb plan -o json'.`);
    }
    previous[key] = { ips: o.ips as string[], pool: o.pool };
  }
  return previous;
}

function pad(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd()).join("\n");
}

/** The human view of a plan. With `withChanges` the CHANGE column shows what differs from the state file. */
export function renderTable(plan: AllocationSuccess, withChanges: boolean): string {
  const changes = new Map(plan.changes.map((c) => [c.service, c]));
  const rows: string[][] = [withChanges ? ["SERVICE", "ADDRESSES", "POOL", "CHANGE"] : ["SERVICE", "ADDRESSES", "POOL"]];
  const failures: string[] = [];
  const keys = [...new Set([...Object.keys(plan.services), ...plan.changes.map((c) => c.service)])].sort();
  const counts = { new: 0, moved: 0, released: 0, unchanged: 0 };
  for (const key of keys) {
    const out = plan.services[key];
    const c = changes.get(key);
    if (c) counts[c.kind]++;
    let change = "";
    if (c) {
      if (c.kind === "moved") change = `moved from ${(c.from ?? []).join(", ")}: ${c.reason ?? ""}`;
      else if (c.kind === "released") change = `released ${(c.from ?? []).join(", ")}: ${c.reason ?? ""}`;
      else if (c.kind === "new") change = c.to ? "new" : "new, no address";
      else change = c.to ? "unchanged" : "unchanged, no address";
    }
    if (out === undefined) {
      rows.push(withChanges ? [key, "-", "-", change] : [key, "-", "-"]);
      continue;
    }
    if ("error" in out) {
      failures.push(`  ${key}: ${out.error}`);
      rows.push(withChanges ? [key, "<none>", "-", change] : [key, "<none>", "-"]);
      continue;
    }
    rows.push(withChanges ? [key, out.ips.join(", "), out.pool, change] : [key, out.ips.join(", "), out.pool]);
  }
  const poolRows: string[][] = [["POOL", "SIZE", "USED", "FREE"]];
  for (const [name, u] of Object.entries(plan.pools)) {
    poolRows.push([name, u.size.toString(), String(u.used), (u.size - BigInt(u.used)).toString()]);
  }
  let text = rows.length > 1 ? pad(rows) : "No LoadBalancer Services.";
  if (failures.length > 0) text += `\n\nServices without an address:\n${failures.join("\n")}`;
  text += `\n\n${poolRows.length > 1 ? pad(poolRows) : "No address pools."}`;
  if (withChanges) {
    text += `\n\n${counts.new} new, ${counts.moved} moved, ${counts.released} released, ${counts.unchanged} unchanged.`;
  }
  return `${text}\n`;
}

/**
 * Pools no L2Advertisement selects: their addresses would be assigned but never announced (the
 * most common reason MetalLB users see no ARP answers). Only checked when the manifests contain
 * at least one advertisement, since they may live in another repository.
 */
export function unannouncedPools(set: ManifestSet): string[] {
  if (set.advertisements.length === 0) return [];
  return set.pools
    .filter((p) => !set.advertisements.some((a) => advertisementSelectsPool(a, p)))
    .map((p) => p.name)
    .sort();
}

/** Runs `l2lb plan` with its arguments (after the word `plan`). */
export function planCommand(args: readonly string[], io: PlanIo): CommandResult {
  let values: { filename?: string[]; "node-subnet"?: string[]; state?: string; output?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        filename: { type: "string", short: "f", multiple: true },
        "node-subnet": { type: "string", multiple: true },
        state: { type: "string" },
        output: { type: "string", short: "o" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (e) {
    return { code: EXIT.usage, stdout: "", stderr: `l2lb plan: ${(e as Error).message}\n\n${PLAN_USAGE}\n` };
  }
  if (values.help) return { code: EXIT.planned, stdout: `${PLAN_USAGE}\n`, stderr: "" };
  const output = values.output ?? "table";
  if (output !== "table" && output !== "json") {
    return { code: EXIT.usage, stdout: "", stderr: `l2lb plan: output format "${output}" is not supported; use -o table or -o json.\n` };
  }
  if (!values.filename || values.filename.length === 0) {
    return { code: EXIT.usage, stdout: "", stderr: `l2lb plan: no manifests given; pass -f <file|dir>.\n\n${PLAN_USAGE}\n` };
  }

  const sources: ManifestSource[] = [];
  try {
    for (const f of values.filename) {
      if (f === "-") sources.push({ source: "<stdin>", text: io.readStdin() });
      else for (const path of io.expand(f)) sources.push({ source: path, text: io.readFile(path) });
    }
  } catch (e) {
    return { code: EXIT.invalid, stdout: "", stderr: `l2lb plan: ${(e as Error).message}\n` };
  }
  let previous: Record<string, Assignment> | undefined;
  if (values.state !== undefined) {
    try {
      previous = parseState(io.readFile(values.state), values.state);
    } catch (e) {
      return { code: EXIT.invalid, stdout: "", stderr: `l2lb plan: ${(e as Error).message}\n` };
    }
  }

  const set = readManifests(sources);
  const unannounced = unannouncedPools(set).map(
    (name) => `pool "${name}" is selected by no L2Advertisement: its addresses are assigned but never announced; add it to an L2Advertisement's ipAddressPools.`,
  );
  const warnings = [...set.warnings, ...unannounced].map((w) => `warning: ${w}\n`).join("");
  if (set.problems.length > 0) {
    const lines = set.problems.map((p) => `  - ${withOrigin(p, set.origins)}`).join("\n");
    return { code: EXIT.invalid, stdout: "", stderr: `${warnings}l2lb plan: the manifests are invalid:\n${lines}\n` };
  }
  const result = planAllocation({
    isolateServiceProblems: true,
    pools: set.pools,
    services: set.services,
    sharedIpGroups: set.sharedIpGroups,
    namespaceLabels: set.namespaceLabels,
    nodeSubnets: [...(values["node-subnet"] ?? []), ...set.nodeSubnets],
    nodeAddresses: set.nodeAddresses,
    ...(previous ? { previous } : {}),
  });
  if (!result.ok) {
    const lines = result.problems.map((p) => `  - ${withOrigin(p, set.origins)}`).join("\n");
    return { code: EXIT.invalid, stdout: "", stderr: `${warnings}l2lb plan: the configuration is invalid (${plural(result.problems.length, "problem")}):\n${lines}\n` };
  }
  const stdout = output === "json" ? `${JSON.stringify(planToJson(result), null, 2)}\n` : renderTable(result, previous !== undefined);
  // The allocator's warnings (e.g. a node's address inside a pool) go to stderr with the others:
  // stdout stays the plan alone (a `-o json` document is still `--state` input), the exit status unchanged.
  const allWarnings = warnings + result.warnings.map((w) => `warning: ${w}\n`).join("");
  if (result.refused.length === 0) return { code: EXIT.planned, stdout, stderr: allWarnings };
  return { code: EXIT.servicesRefused, stdout, stderr: `${allWarnings}${describeRefused(result.refused, set.origins)}` };
}

/** The stderr report of the refused Services' problems, each naming where it was defined. */
function describeRefused(refused: readonly ConfigProblem[], origins: Record<string, string[]>): string {
  const lines = refused.map((p) => `  - ${withOrigin(p, origins)}`).join("\n");
  return `l2lb plan: invalid Services get no address (${plural(refused.length, "problem")}); every other Service is planned:\n${lines}\n`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
