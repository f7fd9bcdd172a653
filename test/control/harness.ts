// Harness shared by the speaker integration tests and the failover benchmark: a real control
// plane (test/lab/cluster.sh), the namespace network (test/lab/network.sh), the CRDs and the
// speaker RBAC exactly as the installation grants them, and speakers running inside the node
// namespaces with a ServiceAccount token bound to those rules.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { crds } from "../../provider/core/model/crds.ts";
import { API_GROUP, API_VERSION, DEFAULT_NAMESPACE, KINDS, MEMBER_LABEL, SPEAKER_LEASE_LABEL, SPEAKER_NAME } from "../../provider/core/model/contract.ts";
import { SPEAKER_CLUSTER_RULES, SPEAKER_NAMESPACED_RULES } from "../../provider/core/model/rbac.ts";
import { speakerLeaseFlowSchema } from "../../provider/core/model/flow-control.ts";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(everyMs);
  }
}

/** Why the lab cannot run here, or undefined when it can. */
export async function labUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  const missing = (await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && lab_tools_missing kubernetes etcd kwok`])).trim();
  if (missing) return `lab tools not built (${missing.replace(/\n/g, ", ")}); run test/lab/build-tools.sh`;
  const addon = [join(root, "runtime/dataplane/native/build/Release/l2lb_packet.node"), join(root, "runtime/dataplane/native/l2lb_packet.node")];
  if (!addon.some(existsSync)) return "data plane addon not built (runtime/dataplane/native)";
  for (const tool of ["arping", "ip", "ndisc6"]) {
    try {
      await run("bash", ["-c", `command -v ${tool}`]);
    } catch {
      return `${tool} not installed`;
    }
  }
  return undefined;
}

export interface Lab {
  id: string;
  dir: string;
  netDir: string;
  nodes: string[];
  admin: k8s.KubeConfig;
  adminPath: string;
  /** Kubeconfig of the speaker ServiceAccount (token; exactly the installation's RBAC); "" until installed. */
  speakerKubeconfig: string;
  apiPort: number;
  ns(node: string): string;
  clientNs: string;
  down(): Promise<void>;
}

function labEnv(id: string, dir: string, netDir: string): NodeJS.ProcessEnv {
  return { ...process.env, L2LB_LAB_DIR: dir, L2LB_NET_ID: id, L2LB_NET_DIR: netDir };
}

/**
 * Starts the control plane and network for `nodes` (eth0 192.0.2.11, .12, ...). With `install`
 * (the default) the CRDs and the speaker's RBAC are applied and `speakerKubeconfig` is set; without
 * it the cluster is empty (a program installs l2lb) and {@link speakerCredentials} sets it later.
 */
export async function startLab(id: string, nodes: string[], opts: { install?: boolean } = {}): Promise<Lab> {
  const dir = `/tmp/l2lb-${id}-lab`;
  const netDir = `/tmp/l2lb-net-${id}`;
  const env = labEnv(id, dir, netDir);
  const cluster = join(root, "test/lab/cluster.sh");
  const network = join(root, "test/lab/network.sh");
  // Leftovers of an interrupted run with the same id.
  await run("bash", [network, "down"], { env }).catch(() => {});
  await run("bash", [cluster, "down"], { env }).catch(() => {});
  const down = async (): Promise<void> => {
    await run("bash", [network, "down"], { env }).catch(() => {});
    await run("bash", [cluster, "down"], { env }).catch(() => {});
  };
  try {
    await run("bash", [cluster, "up", ...nodes], { env, timeoutMs: 300_000 });
    await run("bash", [network, "up", ...nodes], { env, timeoutMs: 120_000 });
    const adminPath = join(dir, "kubeconfig");
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(adminPath);
    let speakerKubeconfig = "";
    if (opts.install ?? true) {
      await installSpeaker(admin, adminPath);
      speakerKubeconfig = await kubeconfigOfSpeaker(env);
    }
    const apiPort = Number(readFileSync(join(dir, "apiserver.port"), "utf8").trim());
    return {
      id,
      dir,
      netDir,
      nodes,
      admin,
      adminPath,
      speakerKubeconfig,
      apiPort,
      ns: (node) => `l2lb-${id}-${node}`,
      clientNs: `l2lb-${id}-client`,
      down,
    };
  } catch (err) {
    await down();
    throw err;
  }
}

function kubeconfigOfSpeaker(env: NodeJS.ProcessEnv): Promise<string> {
  return run("bash", [join(root, "test/lab/cluster.sh"), "kubeconfig-for", DEFAULT_NAMESPACE, SPEAKER_NAME], { env }).then((out) => out.trim().split("\n").pop() as string);
}

/**
 * Waits until an installation (a Pulumi program, `kubectl apply`) has created the speaker's
 * ServiceAccount and RoleBinding, then sets `lab.speakerKubeconfig` to that account's token.
 */
export async function speakerCredentials(lab: Lab, timeoutMs = 240_000): Promise<string> {
  await waitFor("the installation's speaker RoleBinding", () => kubectl(lab, "-n", DEFAULT_NAMESPACE, "get", "rolebinding", SPEAKER_NAME).then(() => true), timeoutMs, 500);
  lab.speakerKubeconfig = await kubeconfigOfSpeaker(labEnv(lab.id, lab.dir, lab.netDir));
  return lab.speakerKubeconfig;
}

/** CRDs, namespace, ServiceAccount, exactly the installation's RBAC rules, and its Lease FlowSchema. */
export async function installSpeaker(admin: k8s.KubeConfig, kubeconfigPath: string): Promise<void> {
  const api = k8s.KubernetesObjectApi.makeApiClient(admin);
  const ext = admin.makeApiClient(k8s.ApiextensionsV1Api);
  // kubectl, not the typed client: its serializer drops schema keys such as
  // x-kubernetes-preserve-unknown-fields (it only knows their camelCase model names).
  const file = join(mkdtempSync(join(tmpdir(), "l2lb-crds-")), "crds.json");
  writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: crds }));
  await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && "$L2LB_KUBERNETES_BIN/kubectl" --kubeconfig "$1" apply -f "$2"`, "-", kubeconfigPath, file]);
  for (const crd of crds) {
    await waitFor(`CRD ${crd.metadata.name} established`, async () => {
      const c = await ext.readCustomResourceDefinition({ name: crd.metadata.name });
      return c.status?.conditions?.some((x) => x.type === "Established" && x.status === "True") || undefined;
    });
  }
  const ns = DEFAULT_NAMESPACE;
  const objects: k8s.KubernetesObject[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: SPEAKER_NAME, namespace: ns } },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: SPEAKER_NAME }, rules: structuredClone([...SPEAKER_CLUSTER_RULES]) } as k8s.V1ClusterRole,
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: SPEAKER_NAME },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: SPEAKER_NAME },
      subjects: [{ kind: "ServiceAccount", name: SPEAKER_NAME, namespace: ns }],
    } as k8s.V1ClusterRoleBinding,
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: SPEAKER_NAME, namespace: ns }, rules: structuredClone([...SPEAKER_NAMESPACED_RULES]) } as k8s.V1Role,
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: SPEAKER_NAME, namespace: ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SPEAKER_NAME },
      subjects: [{ kind: "ServiceAccount", name: SPEAKER_NAME, namespace: ns }],
    } as k8s.V1RoleBinding,
    speakerLeaseFlowSchema(ns) as k8s.KubernetesObject,
  ];
  for (const o of objects) await api.create(o);
}

/** Runs the lab's kubectl as the admin; returns its stdout. */
export function kubectl(lab: Lab, ...args: string[]): Promise<string> {
  return run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && exec "$L2LB_KUBERNETES_BIN/kubectl" --kubeconfig "$1" "\${@:2}"`, "-", lab.adminPath, ...args]);
}

export async function applyPool(admin: k8s.KubeConfig, name: string, spec: Record<string, unknown>, kind: "pool" | "advertisement" = "pool"): Promise<void> {
  const custom = admin.makeApiClient(k8s.CustomObjectsApi);
  const k = kind === "pool" ? KINDS.addressPool : KINDS.l2Advertisement;
  await custom.createClusterCustomObject({
    group: API_GROUP,
    version: API_VERSION,
    plural: k.plural,
    body: { apiVersion: `${API_GROUP}/${API_VERSION}`, kind: k.kind, metadata: { name }, spec },
  });
}

export interface SpeakerProcess {
  node: string;
  child: ChildProcess;
  logPath: string;
  exited: Promise<number | null>;
}

/**
 * The Node flags of the speaker, from the shebang of its bin (`runtime/speaker/main.ts`, line 1):
 * the one place they are defined. The image and the demo execute the bin itself.
 */
export function speakerNodeFlags(): string[] {
  const line = readFileSync(join(root, "runtime/speaker/main.ts"), "utf8").split("\n", 1)[0] ?? "";
  const flags = /^#!\/usr\/bin\/env -S node((?: --\S+)*)$/.exec(line)?.[1];
  if (flags === undefined) throw new Error(`runtime/speaker/main.ts must start with "#!/usr/bin/env -S node <flags>", not ${JSON.stringify(line)}`);
  return flags.split(" ").filter((f) => f !== "");
}

/** Runs a speaker inside the node's namespace, as the speaker ServiceAccount. Logs: /tmp/l2lb-<id>-logs/<node>.log (kept). */
export function startSpeaker(lab: Lab, node: string, extraEnv: Record<string, string> = {}, opts: { compiled?: boolean; args?: string[] } = {}): SpeakerProcess {
  const logDir = `/tmp/l2lb-${lab.id}-logs`;
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, `${node}.log`);
  const out = createWriteStream(logPath, { flags: "a" });
  // Compiled: exactly as the image and the demo run the bin (dist/, with its shebang's Node flags).
  // The sources run without them: Node strips types with WebAssembly, which --lite-mode turns off.
  const program = opts.compiled ? [...speakerNodeFlags(), join(root, "dist/runtime/speaker/main.js")] : [join(root, "runtime/speaker/main.ts")];
  const child = spawn("ip", ["netns", "exec", lab.ns(node), process.execPath, ...program, "--metrics-host", "127.0.0.1", ...(opts.args ?? [])], {
    env: {
      PATH: process.env.PATH ?? "",
      NODE_NAME: node,
      POD_NAMESPACE: DEFAULT_NAMESPACE,
      KUBECONFIG: lab.speakerKubeconfig,
      L2LB_INTERFACES: "eth0",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { node, child, logPath, exited };
}

export async function stopSpeaker(s: SpeakerProcess, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  s.child.kill(signal);
  const t = sleep(timeoutMs).then(() => "timeout");
  if ((await Promise.race([s.exited, t])) === "timeout") {
    s.child.kill("SIGKILL");
    await s.exited;
  }
}

/** The speakers' member records (one per joined speaker), or their speaker Leases (renewed every second). */
export async function speakerObjects(lab: Lab, kind: "member" | "lease"): Promise<k8s.V1Lease[]> {
  const labelSelector = kind === "member" ? MEMBER_LABEL : SPEAKER_LEASE_LABEL;
  return (await lab.admin.makeApiClient(k8s.CoordinationV1Api).listNamespacedLease({ namespace: DEFAULT_NAMESPACE, labelSelector })).items;
}

/** Waits until `count` speakers joined (each wrote its member record after its first renewal). */
export async function waitForMembers(lab: Lab, count: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(`${count} speakers joined`, async () => ((await speakerObjects(lab, "member")).length >= count ? true : undefined), timeoutMs);
}

/** MAC addresses of the nodes' eth0, by node. */
export async function nodeMacs(lab: Lab): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const n of lab.nodes) {
    const j = JSON.parse(await run("ip", ["-n", lab.ns(n), "-j", "link", "show", "eth0"])) as { address: string }[];
    out.set(n, (j[0]?.address ?? "").toLowerCase());
  }
  return out;
}

/** Sends `count` ARP requests for `ip` from the client; returns the MACs that answered (with repeats). */
export async function arping(lab: Lab, ip: string, count = 1, timeoutS = 1): Promise<string[]> {
  let text: string;
  try {
    text = await run("ip", ["netns", "exec", lab.clientNs, "arping", "-c", String(count), "-w", String(timeoutS + count), "-I", "eth0", ip], { timeoutMs: (timeoutS + count + 5) * 1000 });
  } catch (err) {
    text = String(err);
  }
  return [...text.matchAll(/from [0-9.]+ \[([0-9a-fA-F:]{17})\]/g)].map((m) => (m[1] as string).toLowerCase());
}
