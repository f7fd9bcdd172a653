// Every example program, run under mocks in a fresh process exactly as written (its index.ts,
// importing `l2lb` by package name): it must construct, and its Services must carry the addresses
// the seeds expect. gitops-render must register byte-identical objects on two fresh runs.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "l2lb-examples-"));

interface Row {
  type: string;
  name: string;
  inputs: Record<string, unknown> & { metadata?: { name?: string; annotations?: Record<string, string> } };
}

function sh(cmd: string, args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd, timeout: 300_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

/** Copies an example to a fresh directory whose node_modules points at this repository. */
function program(example: string, copy: string): string {
  const dir = join(scratch, copy);
  cpSync(join(root, "examples", example), dir, { recursive: true, filter: (src) => !src.includes("node_modules") && !src.endsWith("manifests") });
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(root, join(dir, "node_modules", "l2lb"));
  for (const scope of ["@pulumi", "@kubernetes"]) symlinkSync(join(root, "node_modules", scope), join(dir, "node_modules", scope));
  return dir;
}

async function run(example: string, config: Record<string, unknown> = {}, copy = example): Promise<{ text: string; rows: Row[] }> {
  const text = await sh(process.execPath, [join(root, "test/pulumi/mock-run.ts"), program(example, copy), JSON.stringify(config)]);
  return { text, rows: JSON.parse(text) as Row[] };
}

function services(rows: Row[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const r of rows) if (r.type === "kubernetes:core/v1:Service") out[r.inputs.metadata!.name!] = r.inputs.metadata!.annotations!;
  return out;
}

before(async () => {
  // Programs import the package by name: dist/ must be current.
  const engineJs = join(root, "dist/provider/index.js");
  const newestSource = Math.max(...readdirSync(join(root, "provider"), { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts")).map((f) => statSync(join(root, "provider", f)).mtimeMs));
  if (!existsSync(engineJs) || statSync(engineJs).mtimeMs < newestSource) {
    await sh(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.build.json")]);
  }
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("examples under mocks", { timeout: 600_000 }, () => {
  test("basic (seed 000): nginx gets 192.168.28.210; config pins it elsewhere", async () => {
    const { rows } = await run("basic");
    assert.equal(services(rows).nginx?.["l2lb.dev/load-balancer-ips"], "192.168.28.210");
    assert.equal(services(rows).nginx?.["pulumi.com/timeoutSeconds"], "60");
    const types = new Set(rows.map((r) => r.type));
    for (const t of ["l2lb:index:Installation", "l2lb:index:AddressPool", "l2lb:index:L2Advertisement", "l2lb:index:Allocation", "kubernetes:apps/v1:DaemonSet"]) assert.ok(types.has(t), t);
    const pinned = await run("basic", { nginxIps: ["192.168.28.215"], waitSeconds: "false" }, "basic-pinned");
    assert.equal(services(pinned.rows).nginx?.["l2lb.dev/load-balancer-ips"], "192.168.28.215");
    assert.equal(services(pinned.rows).nginx?.["pulumi.com/skipAwait"], "true");
  });

  test("shared-ip (seed 002): nginx and nginx-2 on 192.168.28.211", async () => {
    const s = services((await run("shared-ip")).rows);
    assert.equal(s.nginx?.["l2lb.dev/load-balancer-ips"], "192.168.28.211");
    assert.equal(s["nginx-2"]?.["l2lb.dev/load-balancer-ips"], "192.168.28.211");
  });

  test("dual-stack: one address per family, IPv6-only gets IPv6", async () => {
    const s = services((await run("dual-stack")).rows);
    assert.equal(s.web?.["l2lb.dev/load-balancer-ips"], "192.168.28.210,fd00:28::210");
    assert.equal(s["web-v6"]?.["l2lb.dev/load-balancer-ips"], "fd00:28::211");
  });

  test("helm-chart: the chart's values carry the address and the class", async () => {
    const { rows } = await run("helm-chart");
    const chart = rows.find((r) => r.type === "kubernetes:helm.sh/v4:Chart");
    assert.ok(chart, rows.map((r) => r.type).join(", "));
    const values = chart.inputs.values as { service: { annotations: Record<string, string>; loadBalancerClass: string } };
    assert.equal(values.service.annotations["l2lb.dev/load-balancer-ips"], "192.168.28.210");
    assert.equal(values.service.loadBalancerClass, "l2lb.dev/layer2");
  });

  test("in-cluster: the runtime serves Services without a class; MetalLB's and OpenELB's pools", async () => {
    const { rows } = await run("in-cluster");
    const daemonSet = rows.find((r) => r.type === "kubernetes:apps/v1:DaemonSet");
    const container = (daemonSet?.inputs.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0];
    assert.ok(container?.args.includes("--default-class"), JSON.stringify(container?.args));
    const pools = rows.filter((r) => r.type === "kubernetes:l2lb.dev/v1alpha1:AddressPool").map((r) => [r.inputs.metadata?.name, (r.inputs.spec as { autoAssign?: boolean }).autoAssign]);
    assert.deepEqual(pools.sort(), [["eip-sample-pool", false], ["first-pool", undefined]]);
  });

  test("gitops-render: explicit subnets, addresses baked in, byte-identical across fresh runs", async () => {
    const one = await run("gitops-render", {}, "render-1");
    const two = await run("gitops-render", {}, "render-2");
    assert.equal(one.text, two.text);
    const s = services(one.rows);
    assert.equal(s.nginx?.["l2lb.dev/load-balancer-ips"], s["nginx-2"]?.["l2lb.dev/load-balancer-ips"]);
    assert.match(s.nginx?.["l2lb.dev/load-balancer-ips"] ?? "", /^192\.168\.28\.21\d$/);
    assert.notEqual(s.admin?.["l2lb.dev/load-balancer-ips"], s.nginx?.["l2lb.dev/load-balancer-ips"]);
    assert.equal(s.admin?.["pulumi.com/skipAwait"], "true");
    const plan = one.rows.find((r) => r.type === "pulumi-nodejs:dynamic/l2lb:Allocation")!;
    assert.deepEqual(plan.inputs.nodeSubnets, ["192.168.28.0/24"]);
    const provider = one.rows.find((r) => r.type === "pulumi:providers:kubernetes");
    assert.equal(provider?.inputs.renderYamlToDirectory, "manifests");
  });
});
