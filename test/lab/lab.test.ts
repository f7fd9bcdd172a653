// Smoke test of the lab itself: a real control plane with kwok nodes, the namespace network, a
// ServiceAccount-bound kubeconfig used from inside a node namespace, and the Pulumi engine driving a
// Node 24 program with a dynamic resource. Needs root and the tools of test/lab/build-tools.sh;
// skips (saying why) without them, unless L2LB_LAB=1 demands the lab.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import type { dynamic } from "@pulumi/pulumi";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const required = process.env["L2LB_LAB"] === "1";

type Run = { stdout: string; stderr: string };

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

// Reads the variables a bash snippet exports after sourcing the lab scripts.
async function shellEnv(snippet: string, env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const { stdout } = await run("bash", ["-c", `${snippet} >/dev/null && env -0`], env, 30_000);
  const out: NodeJS.ProcessEnv = {};
  for (const kv of stdout.split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

async function missingTools(names: string[]): Promise<string[]> {
  const { stdout } = await run(
    "bash",
    ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && lab_tools_missing ${names.join(" ")}`],
    process.env,
    30_000,
  );
  return stdout.split("\n").filter((s) => s !== "");
}

function skipReason(missing: string[], what: string): string | false {
  if (missing.length === 0) return false;
  const reason = `${what}: tools not built (${missing.join(", ")}); run test/lab/build-tools.sh`;
  if (required) throw new Error(`L2LB_LAB=1 but ${reason}`);
  return reason;
}

const isRoot = process.getuid?.() === 0;
const clusterMissing = await missingTools(["kubernetes", "etcd", "kwok"]);
const clusterSkip = skipReason(clusterMissing, "cluster");
const pulumiMissing = await missingTools(["pulumi"]);
const pulumiSkip = skipReason(pulumiMissing, "pulumi");

const nodes = ["node-a=192.0.2.11,2001:db8:1::11", "node-b=192.0.2.12,2001:db8:1::12", "node-c=192.0.2.13,2001:db8:1::13"];

const workload = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: lab.invalid/web:1
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  ipFamilyPolicy: PreferDualStack
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: lab-node-reader}
rules:
- {apiGroups: [""], resources: [nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: lab-node-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: lab-node-reader}
subjects:
- {kind: ServiceAccount, name: reader, namespace: default}
`;

test("lab: control plane with kwok nodes, RBAC-bound kubeconfig, namespace network", {
  skip: clusterSkip || (isRoot ? false : "lab: needs root (network namespaces)"),
  timeout: 600_000,
}, async (t) => {
  const id = `t${randomBytes(3).toString("hex")}`;
  const labDir = mkdtempSync(join(tmpdir(), "l2lb-lab-test-"));
  const env: NodeJS.ProcessEnv = { ...process.env, L2LB_LAB_DIR: labDir, L2LB_NET_ID: id };
  const cluster = join(here, "cluster.sh");
  const network = join(here, "network.sh");
  t.after(async () => {
    await run("bash", [network, "down"], env, 60_000).catch(() => undefined);
    await run("bash", [cluster, "down"], env, 60_000).catch(() => undefined);
    rmSync(labDir, { recursive: true, force: true });
  });

  const up = await run("bash", [cluster, "up", ...nodes], env, 240_000);
  const kubeconfig = `${labDir}/kubeconfig`;
  assert.match(up.stdout, new RegExp(`KUBECONFIG=${kubeconfig}`));
  const labEnv = await shellEnv(`. "${labDir}/env"`, env);
  const kubectl = (args: string[], input?: string, cfg = kubeconfig): Promise<Run> =>
    run("kubectl", ["--kubeconfig", cfg, ...args], labEnv, 120_000, input);

  await t.test("three kwok nodes are Ready with the given InternalIPs", async () => {
    const { stdout } = await kubectl(["get", "nodes", "-o", "json"]);
    const list = JSON.parse(stdout) as {
      items: { metadata: { name: string }; status: { addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[] } }[];
    };
    const byName = new Map(list.items.map((n) => [n.metadata.name, n]));
    for (const spec of nodes) {
      const [name, addrs] = spec.split("=") as [string, string];
      const node = byName.get(name);
      assert.ok(node, `node ${name} exists`);
      const internal = node.status.addresses.filter((a) => a.type === "InternalIP").map((a) => a.address);
      assert.deepEqual(internal, addrs.split(","));
      assert.equal(node.status.conditions.find((c) => c.type === "Ready")?.status, "True");
    }
  });

  await t.test("a Deployment's pods become Ready and its dual-stack Service gets EndpointSlices", async () => {
    await kubectl(["apply", "-f", "-"], workload);
    await kubectl(["rollout", "status", "deployment/web", "--timeout=90s"]);
    const deadline = Date.now() + 60_000;
    let ready: { family: string; address: string; node: string }[] = [];
    while (Date.now() < deadline) {
      const { stdout } = await kubectl(["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "json"]);
      const slices = JSON.parse(stdout) as {
        items: { addressType: string; endpoints?: { addresses: string[]; conditions: { ready?: boolean }; nodeName?: string }[] }[];
      };
      ready = slices.items.flatMap((s) =>
        (s.endpoints ?? []).filter((e) => e.conditions.ready === true)
          .flatMap((e) => e.addresses.map((address) => ({ family: s.addressType, address, node: e.nodeName ?? "" }))));
      if (ready.length === 6) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(ready.filter((e) => e.family === "IPv4").length, 3, JSON.stringify(ready));
    assert.equal(ready.filter((e) => e.family === "IPv6").length, 3, JSON.stringify(ready));
    assert.deepEqual([...new Set(ready.map((e) => e.node))].sort(), ["node-a", "node-b", "node-c"]);
    // Without a LoadBalancer implementation the Service stays pending: that is the job of l2lb.
    const svc = JSON.parse((await kubectl(["get", "service", "web", "-o", "json"])).stdout) as { status: { loadBalancer: { ingress?: unknown[] } } };
    assert.equal(svc.status.loadBalancer.ingress, undefined);
  });

  let saConfig = "";
  await t.test("a ServiceAccount kubeconfig has exactly what its RBAC grants", async () => {
    saConfig = (await run("bash", [cluster, "kubeconfig-for", "default", "reader", "1h"], env)).stdout.trim();
    assert.ok(existsSync(saConfig));
    const nodesSeen = (await kubectl(["get", "nodes", "-o", "name"], undefined, saConfig)).stdout.trim().split("\n");
    assert.equal(nodesSeen.length, 3);
    assert.equal((await kubectl(["auth", "can-i", "list", "nodes"], undefined, saConfig)).stdout.trim(), "yes");
    await assert.rejects(kubectl(["get", "secrets", "-n", "kube-system"], undefined, saConfig), /forbidden/i);
  });

  await t.test("node namespaces on the bridge reach each other and the apiserver over the relay", async () => {
    const out = await run("bash", [network, "up", ...nodes.map((n) => n.split("=")[0] ?? n)], env, 120_000);
    assert.match(out.stdout, new RegExp(`L2LB_NET_CLIENT_NS=l2lb-${id}-client`));
    await run("bash", [network, "exec", "client", "ping", "-c1", "-W2", "192.0.2.12"], env);
    await run("bash", [network, "exec", "client", "ping", "-c1", "-W2", "2001:db8:1::13"], env);
    // The relay is started by `network.sh up` because the lab's apiserver port is known (L2LB_LAB_DIR).
    const inside = await run("bash", [network, "exec", "node-a", "kubectl", "--kubeconfig", saConfig, "get", "nodes", "-o", "name"], labEnv);
    assert.equal(inside.stdout.trim().split("\n").length, 3);
  });
});

test("lab: the Pulumi engine runs a Node 24 program with a dynamic resource", {
  skip: pulumiSkip,
  timeout: 300_000,
}, async (t) => {
  const scratch = mkdtempSync(join(tmpdir(), "l2lb-pulumi-test-"));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const env = await shellEnv(`. "${root}/test/lab/pulumi.sh"`, { ...process.env, L2LB_PULUMI_DIR: scratch });

  await t.test("pulumi version and plugin ls", async () => {
    const version = (await run("pulumi", ["version"], env)).stdout.trim();
    assert.match(version, /^v3\.\d+\.\d+/);
    const k8sMissing = await missingTools(["pulumi-kubernetes"]);
    assert.deepEqual(k8sMissing, [], "pulumi-resource-kubernetes is built by test/lab/build-tools.sh");
    await run("bash", ["-c", `. "${root}/test/lab/pulumi.sh" && lab_pulumi_kubernetes_ready`], env);
    const plugins = (await run("pulumi", ["plugin", "ls"], env)).stdout;
    const pinned = /^PULUMI_KUBERNETES_VERSION=(\S+)$/m.exec(readFileSync(join(root, "scripts/versions.env"), "utf8"))?.[1] ?? "";
    assert.match(pinned, /^\d+\.\d+\.\d+$/, "scripts/versions.env pins PULUMI_KUBERNETES_VERSION");
    assert.match(plugins, new RegExp(`kubernetes\\s+resource\\s+${pinned.replace(/\./g, "\\.")}\\b`));
    const sdk = JSON.parse(readFileSync(join(root, "node_modules/@pulumi/kubernetes/package.json"), "utf8")) as { version: string };
    assert.equal(sdk.version, pinned, "the @pulumi/kubernetes SDK asks for the plugin of its own version");
  });

  await t.test("CLI: pulumi up of a TypeScript project (ESM, Node 24 type stripping), config, dynamic resource", async () => {
    const dir = join(scratch, "cli-project");
    mkdirSync(dir);
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "l2lb-lab-cli", private: true, type: "module" }));
    writeFileSync(join(dir, "Pulumi.yaml"), "name: l2lb-lab-cli\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.ts\n");
    writeFileSync(join(dir, "index.ts"), [
      `import * as pulumi from "@pulumi/pulumi";`,
      `const who = new pulumi.Config().require("who");`,
      `const provider: pulumi.dynamic.ResourceProvider = {`,
      `  async create(inputs: { who: string }) { return { id: "cli-" + inputs.who, outs: { who: inputs.who, greeting: "hello " + inputs.who } }; },`,
      `};`,
      `class Greeting extends pulumi.dynamic.Resource {`,
      `  constructor(name: string, props: Record<string, unknown>) { super(provider, name, props); }`,
      `}`,
      `const g = new Greeting("greeting", { who, greeting: undefined });`,
      `export const greeting = (g as unknown as { greeting: pulumi.Output<string> }).greeting;`,
      ``,
    ].join("\n"));
    const cli = (args: string[]): Promise<Run> => run("bash", ["-c", `cd "${dir}" && pulumi "$@"`, "pulumi", ...args], env, 180_000);
    await cli(["stack", "init", "lab"]);
    await cli(["config", "set", "who", "lab"]);
    const preview = await cli(["preview", "--non-interactive"]);
    assert.match(preview.stdout, /\+ 2 to create/);
    const up = await cli(["up", "--yes", "--non-interactive"]);
    assert.doesNotMatch(up.stdout, /warning/i, "no warning from the engine about its plugins");
    assert.equal((await cli(["stack", "output", "greeting"])).stdout.trim(), "hello lab");
    await cli(["destroy", "--yes", "--non-interactive"]);
    await cli(["stack", "rm", "--yes", "lab"]);
  });

  await t.test("inline program: up, outputs, destroy", async () => {
    if (!existsSync(join(root, "node_modules", "@pulumi", "pulumi"))) {
      throw new Error("node_modules/@pulumi/pulumi missing: run scripts/setup.sh");
    }
    // The program directory has the project's node_modules, as a real Pulumi project would: the engine
    // starts the dynamic-provider plugin there.
    const workDir = join(scratch, "program");
    mkdirSync(workDir);
    symlinkSync(join(root, "node_modules"), join(workDir, "node_modules"));
    writeFileSync(join(workDir, "Pulumi.yaml"), "name: l2lb-lab-smoke\nruntime: nodejs\n");

    const pulumi = await import("@pulumi/pulumi");
    const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
    const program = async (): Promise<Record<string, unknown>> => {
      const provider: dynamic.ResourceProvider = {
        async create(inputs: { name: string }) {
          return { id: `smoke-${inputs.name}`, outs: { name: inputs.name, greeting: `hello ${inputs.name}` } };
        },
      };
      class Smoke extends pulumi.dynamic.Resource {
        constructor(name: string, props: Record<string, unknown>) {
          super(provider, name, props);
        }
      }
      const res = new Smoke("smoke", { name: "lab", greeting: undefined });
      return { greeting: (res as unknown as { greeting: unknown }).greeting, id: res.id };
    };
    const cliRoot = dirname(env["L2LB_PULUMI_BIN"] ?? "");
    const pulumiCommand = await PulumiCommand.get({ root: cliRoot, skipVersionCheck: true });
    const envVars: Record<string, string> = {};
    for (const k of ["PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_SKIP_UPDATE_CHECK", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "PATH"]) {
      const v = env[k];
      if (v !== undefined) envVars[k] = v;
    }
    const stack = await LocalWorkspace.createOrSelectStack(
      { stackName: "lab", projectName: "l2lb-lab-smoke", program },
      { workDir, envVars, pulumiCommand },
    );
    const up = await stack.up();
    assert.equal(up.outputs["greeting"]?.value, "hello lab");
    assert.equal(up.outputs["id"]?.value, "smoke-lab");
    const destroyed = await stack.destroy();
    assert.equal(destroyed.summary.result, "succeeded");
    await stack.workspace.removeStack("lab");
  });
});
