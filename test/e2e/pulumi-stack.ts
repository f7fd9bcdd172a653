// A Pulumi program run by the lab's engine as a user runs it: a copy of the program in a scratch
// directory whose node_modules resolves `l2lb` to this repository, a stack on the local file
// backend (test/lab/pulumi.sh), and `pulumi` invoked with exit status and output kept.
import { execFile } from "node:child_process";
import { cpSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCommand(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 180_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment test/lab/pulumi.sh exports (CLI, plugins, backend, passphrase), on top of `base`. */
export async function pulumiEnvironment(base: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const r = await runCommand("bash", ["-c", `. "${root}test/lab/pulumi.sh" >/dev/null && lab_pulumi_kubernetes_ready >&2 && env -0`], { env: base });
  if (r.code !== 0) throw new Error(`test/lab/pulumi.sh: ${r.stderr}`);
  const env: NodeJS.ProcessEnv = {};
  for (const kv of r.stdout.split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

export class Stack {
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;

  /** Copies `source` (a program directory) to `dir` and links the repository's packages. */
  constructor(source: string, dir: string, env: NodeJS.ProcessEnv) {
    cpSync(source, dir, { recursive: true, filter: (src) => !src.includes("node_modules") && !/\/manifests(\/|$)/.test(src) });
    mkdirSync(join(dir, "node_modules"), { recursive: true });
    symlinkSync(root, join(dir, "node_modules", "l2lb"));
    for (const scope of ["@pulumi", "@kubernetes"]) symlinkSync(join(root, "node_modules", scope), join(dir, "node_modules", scope));
    this.dir = dir;
    this.env = env;
  }

  /** `pulumi ARGS --non-interactive` in the program's directory. */
  pulumi(...args: string[]): Promise<Run> {
    return runCommand("pulumi", [...args, "--non-interactive"], { env: this.env, cwd: this.dir, timeoutMs: 420_000 });
  }

  /** Like {@link pulumi}, but a non-zero exit status throws with the output. */
  async must(...args: string[]): Promise<string> {
    const r = await this.pulumi(...args);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** `pulumi stack init NAME` and every `config` entry set by path (values: strings or JSON lists). */
  async init(name: string, config: Record<string, string | string[]>): Promise<void> {
    await this.must("stack", "init", name);
    await this.configure(config);
  }

  async configure(config: Record<string, string | string[]>): Promise<void> {
    for (const [key, value] of Object.entries(config)) {
      if (typeof value === "string") await this.must("config", "set", "--path", key, value);
      else {
        await this.pulumi("config", "rm", key);
        for (const [i, v] of value.entries()) await this.must("config", "set", "--path", `${key}[${i}]`, v);
      }
    }
  }

  async outputs(): Promise<Record<string, unknown>> {
    return JSON.parse(await this.must("stack", "output", "--json")) as Record<string, unknown>;
  }
}

/** The allocation's `<namespace>/<name>: "<ips>"` lines in a preview (the new value of a move), as a map. */
export function assignmentsIn(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^\s+[~+]?\s*([a-z0-9-]+\/[a-z0-9-]+)\s*: "([0-9a-f.:,]+)"(?: => "([0-9a-f.:,]+)")?\s*$/gm)) out[m[1]!] = m[3] ?? m[2]!;
  return out;
}

/** The moves a preview shows: `<namespace>/<name> <old> => <new>`, each once. */
export function movesIn(text: string): string[] {
  return [...new Set([...text.matchAll(/^\s+~ ([a-z0-9-]+\/[a-z0-9-]+)\s*: "([^"]+)" => "([^"]+)"/gm)].map((m) => `${m[1]} ${m[2]} => ${m[3]}`))];
}
