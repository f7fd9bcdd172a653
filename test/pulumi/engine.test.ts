// The allocation with the real Pulumi engine against a real API server (the lab: kube-apiserver
// with kwok nodes): `pulumi preview --diff`, `up`, a change that moves one Service, unknown inputs,
// a failing check, `refresh` and `destroy`. The program is test/pulumi/programs/allocation: only
// the allocation runs here (the components' Kubernetes objects are deployed by test/e2e).
//
// Needs the lab tools (test/lab/build-tools.sh: pulumi, kubernetes, etcd, kwok); skips saying why
// without them, unless L2LB_LAB=1 demands them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const required = process.env["L2LB_LAB"] === "1";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 180_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function must(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function missingTools(names: string[]): Promise<string[]> {
  const out = await must("bash", ["-c", `. "${root}scripts/env.sh" && . "${root}test/lab/tools.sh" && lab_tools_missing ${names.join(" ")}`]);
  return out.split("\n").filter((s) => s !== "");
}

const missing = await missingTools(["pulumi", "kubernetes", "etcd", "kwok"]);
if (missing.length > 0 && required) throw new Error(`L2LB_LAB=1 but lab tools are not built: ${missing.join(", ")}`);
const skip = missing.length > 0 ? `lab tools not built (${missing.join(", ")}); run test/lab/build-tools.sh` : false;

let labDir = "";
let program = "";
let env: NodeJS.ProcessEnv = {};
let kubectl: (...args: string[]) => Promise<string>;

const pulumi = (args: string[]): Promise<Run> => run("pulumi", [...args, "--non-interactive"], { env, cwd: program });
const publish = async (cidr: string): Promise<void> => {
  for (const n of ["node-a", "node-b", "node-c"]) {
    await kubectl("annotate", "node", n, "--overwrite", `l2lb.dev/subnets=[{"interface":"eth0","cidr":"${cidr}","address":"${cidr.replace(/0\/\d+$/, "7")}"}]`);
  }
};
const outputs = async (): Promise<{ assignments: Record<string, string>; subnetSource: string }> =>
  JSON.parse((await pulumi(["stack", "output", "--json"])).stdout);

before(async () => {
  if (skip) return;
  // The program reaches the library through the package name, as users' programs do: dist/ must be current.
  const engineJs = join(root, "dist/provider/dynamic/engine.js");
  if (!existsSync(engineJs) || statSync(engineJs).mtimeMs < statSync(join(root, "provider/dynamic/engine.ts")).mtimeMs) {
    await must(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.build.json")], { timeoutMs: 300_000 });
  }
  const scratch = mkdtempSync(join(tmpdir(), "l2lb-engine-"));
  labDir = join(scratch, "lab");
  program = join(scratch, "program");
  cpSync(join(root, "test/pulumi/programs/allocation"), program, { recursive: true });
  mkdirSync(join(program, "node_modules"));
  symlinkSync(root, join(program, "node_modules", "l2lb"));
  for (const scope of ["@pulumi", "@kubernetes"]) symlinkSync(join(root, "node_modules", scope), join(program, "node_modules", scope));

  const base = { ...process.env, L2LB_LAB_DIR: labDir, L2LB_PULUMI_DIR: join(scratch, "pulumi") };
  await must("bash", [join(root, "test/lab/cluster.sh"), "up", "node-a=192.168.28.11", "node-b=192.168.28.12", "node-c=192.168.28.13"], {
    env: base,
    timeoutMs: 300_000,
  });
  const exported = await must("bash", ["-c", `. "${root}test/lab/pulumi.sh" >/dev/null && env -0`], { env: base });
  env = {};
  for (const kv of exported.split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const kubectlBin = join(env["L2LB_KUBERNETES_BIN"]!, "kubectl");
  kubectl = (...args) => must(kubectlBin, ["--kubeconfig", join(labDir, "kubeconfig"), ...args], { env });
  await must("pulumi", ["stack", "init", "lab", "--non-interactive"], { env, cwd: program });
  await must("pulumi", ["config", "set", "kubernetes:kubeconfig", join(labDir, "kubeconfig")], { env, cwd: program });
});

after(async () => {
  if (skip || !labDir) return;
  await run("bash", [join(root, "test/lab/cluster.sh"), "down"], { env: { ...process.env, L2LB_LAB_DIR: labDir } });
  rmSync(join(labDir, ".."), { recursive: true, force: true });
});

test("preview --diff, up, move, unknowns, a refused pool, refresh and destroy with the real engine", { skip, timeout: 900_000 }, async (t) => {
  await t.test("before any speaker publishes, preview shows every address and says the pools were not checked", async () => {
    const r = await pulumi(["preview", "--diff"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /default\/nginx {2}: "192\.168\.28\.211"/);
    assert.match(r.stdout, /default\/nginx-2: "192\.168\.28\.211"/);
    assert.match(r.stdout, /default\/nginx-3: "192\.168\.28\.210"/);
    assert.match(r.stdout, /subnetSource {3}: "none: no speaker has published subnets yet \(3 nodes\)/);
  });

  await t.test("with the Nodes' published subnets, up lands exactly what preview showed", async () => {
    await publish("192.168.28.0/24");
    const preview = await pulumi(["preview", "--diff"]);
    assert.equal(preview.code, 0, preview.stdout + preview.stderr);
    assert.match(preview.stdout, /speakers: published by 3 of 3 nodes/);
    const up = await pulumi(["up", "--yes"]);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const out = await outputs();
    assert.deepEqual(out.assignments, { "default/nginx": "192.168.28.211", "default/nginx-2": "192.168.28.211", "default/nginx-3": "192.168.28.210" });
    for (const [svc, ip] of Object.entries(out.assignments)) assert.ok(preview.stdout.includes(`${svc}`) && preview.stdout.includes(`"${ip}"`));
  });

  await t.test("a change that moves one Service shows as old => new, and only that one moves", async () => {
    await must("pulumi", ["config", "set", "--path", "nginx3Ips[0]", "192.168.28.215"], { env, cwd: program });
    const preview = await pulumi(["preview", "--diff"]);
    assert.equal(preview.code, 0, preview.stdout + preview.stderr);
    assert.match(preview.stdout, /~ default\/nginx-3: "192\.168\.28\.210" => "192\.168\.28\.215"/);
    assert.doesNotMatch(preview.stdout, /~ default\/nginx(-2)? *:/);
    assert.match(preview.stdout, /~ 1 to update/);
    assert.doesNotMatch(preview.stdout, /replace/);
    assert.equal((await pulumi(["up", "--yes"])).code, 0);
    assert.equal((await outputs()).assignments["default/nginx-3"], "192.168.28.215");
  });

  await t.test("an input unknown at preview gives unknown assignments, then real ones", async () => {
    await must("pulumi", ["config", "set", "lateService", "true"], { env, cwd: program });
    const preview = await pulumi(["preview", "--diff"]);
    assert.equal(preview.code, 0, preview.stdout + preview.stderr);
    assert.match(preview.stdout, /assignments {4}: \[unknown\]/);
    assert.equal((await pulumi(["up", "--yes"])).code, 0);
    const out = await outputs();
    assert.equal(out.assignments["default/late"], "192.168.28.210");
    assert.equal(out.assignments["default/nginx-3"], "192.168.28.215", "sticky");
    await must("pulumi", ["config", "rm", "lateService"], { env, cwd: program });
    assert.equal((await pulumi(["up", "--yes"])).code, 0);
  });

  await t.test("a pool the nodes cannot reach fails preview and up with a diagnostic, applying nothing", async () => {
    await publish("10.9.0.0/24");
    const before = await outputs();
    for (const cmd of [["preview", "--diff"], ["up", "--yes"]]) {
      const r = await pulumi(cmd);
      assert.notEqual(r.code, 0, `${cmd[0]} must fail`);
      assert.match(r.stdout + r.stderr, /resource '[^']+' has a problem: pools\["first-pool"\]\.spec\.addresses\[0\]: AddressPool "first-pool"/);
      assert.match(r.stdout + r.stderr, /lies outside every node subnet \(the node subnets are 10\.9\.0\.0\/24\)/);
    }
    assert.deepEqual(await outputs(), before);
    await publish("192.168.28.0/24");
  });

  await t.test("a pool outside the subnets of the nodes its advertisement selects is refused", async () => {
    await kubectl("label", "node", "node-c", "--overwrite", "rack=r2");
    await kubectl("annotate", "node", "node-c", "--overwrite", 'l2lb.dev/subnets=[{"interface":"eth1","cidr":"10.9.0.0/24","address":"10.9.0.13"}]');
    await must("pulumi", ["config", "set", "--path", "advertiseNodes.rack", "r2"], { env, cwd: program });
    const r = await pulumi(["preview", "--diff"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /has a problem: pools\["first-pool"\]\.spec\.addresses\[0\]: .*is on no subnet of the nodes its L2Advertisement "example" selects \(node-c: 10\.9\.0\.0\/24\)/);
    await must("pulumi", ["config", "rm", "advertiseNodes"], { env, cwd: program });
    await publish("192.168.28.0/24");
    const ok = await pulumi(["preview", "--expect-no-changes"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });

  await t.test("a newer library's serialized provider is not a change by itself", async () => {
    // Same implementation, reached by another specifier: the serialized provider text differs,
    // exactly as after an upgrade of the library.
    await must("pulumi", ["config", "set", "providerModule", `file://${join(root, "dist/provider/dynamic/engine.js")}`], { env, cwd: program });
    const quiet = await pulumi(["preview", "--expect-no-changes"]);
    assert.equal(quiet.code, 0, quiet.stdout + quiet.stderr);
    await must("pulumi", ["config", "rm", "providerModule"], { env, cwd: program });
  });

  await t.test("the kubeconfig may be a (secret) input instead of stack configuration", async () => {
    await must("pulumi", ["config", "rm", "kubernetes:kubeconfig"], { env, cwd: program });
    await must("pulumi", ["config", "set", "kubeconfigInput", join(labDir, "kubeconfig")], { env, cwd: program });
    const r = await pulumi(["preview", "--expect-no-changes"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    // Without any credentials, check says what to fix.
    await must("pulumi", ["config", "rm", "kubeconfigInput"], { env, cwd: program });
    const none = await run("pulumi", ["preview", "--non-interactive"], { env: { ...env, KUBECONFIG: join(labDir, "missing-kubeconfig") }, cwd: program });
    assert.notEqual(none.code, 0);
    assert.match(none.stdout + none.stderr, /has a problem: nodeSubnets: cannot read the cluster's Nodes/);
    await must("pulumi", ["config", "set", "kubernetes:kubeconfig", join(labDir, "kubeconfig")], { env, cwd: program });
  });

  await t.test("refresh changes nothing; destroy removes the allocation", async () => {
    assert.equal((await pulumi(["refresh", "--yes"])).code, 0);
    const quiet = await pulumi(["preview", "--expect-no-changes"]);
    assert.equal(quiet.code, 0, quiet.stdout + quiet.stderr);
    const d = await pulumi(["destroy", "--yes"]);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /2 deleted/);
  });
});
