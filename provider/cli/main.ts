#!/usr/bin/env node
/**
 * The `l2lb` command: `plan` (see {@link planCommand}), `status` (see {@link statusCommand}),
 * `import` (see {@link importCommand}) and `manifests` (see {@link manifestsCommand}).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PLAN_USAGE, planCommand } from "./plan.ts";
import type { CommandResult, PlanIo } from "./plan.ts";
import { IMPORT_USAGE, importCommand } from "./import.ts";
import { MANIFESTS_USAGE, manifestsCommand } from "./manifests.ts";
import { STATUS_USAGE, statusCommand } from "./status.ts";

const MANIFEST = /\.(ya?ml|json)$/i;

/** The real file system. */
export const nodeIo: PlanIo = {
  expand(path: string): string[] {
    let st;
    try {
      st = statSync(path);
    } catch {
      throw new Error(`${path} does not exist; pass an existing file or directory to -f.`);
    }
    if (!st.isDirectory()) return [path];
    const out: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        const p = join(dir, entry.name);
        if (entry.isDirectory()) walk(p);
        else if (MANIFEST.test(entry.name)) out.push(p);
      }
    };
    walk(path);
    if (out.length === 0) throw new Error(`${path} holds no .yaml, .yml or .json file; point -f at your manifests.`);
    return out;
  },
  readFile(path: string): string {
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}.`, { cause: e });
    }
  },
  readStdin(): string {
    return readFileSync(0, "utf8");
  },
};

const USAGE = `Usage: l2lb <command> [options]

Commands:
  plan       plan LoadBalancer addresses from manifests (run 'l2lb plan --help')
  status     show the addresses, pools and pending Services of a cluster (run 'l2lb status --help')
  import     translate MetalLB and OpenELB pools into l2lb objects (run 'l2lb import --help')
  manifests  print the runtime (CRDs, RBAC, speaker DaemonSet) as YAML for kubectl (run 'l2lb manifests --help')`;

const COMMANDS: Record<string, (args: string[]) => CommandResult | Promise<CommandResult>> = {
  plan: (args) => planCommand(args, nodeIo),
  status: (args) => statusCommand(args),
  import: (args) => importCommand(args, nodeIo),
  manifests: (args) => manifestsCommand(args),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(`${USAGE}\n\n${PLAN_USAGE}\n\n${STATUS_USAGE}\n\n${IMPORT_USAGE}\n\n${MANIFESTS_USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) {
    process.stderr.write(`l2lb: unknown command "${command}"; the commands are: ${Object.keys(COMMANDS).join(", ")}.\n`);
    return 2;
  }
  const result = await run(rest);
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  return result.code;
}

process.exitCode = await main(process.argv.slice(2));
