// The scale benchmark's lab: the control plane of test/lab/cluster.sh (no network namespaces:
// the instances run on loopback), the l2lb installation of test/control/harness.ts, kwok nodes
// and LoadBalancer Services created through the API (hundreds of `cluster.sh add-node` calls would
// take minutes), and the API server's own counters.
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { ANNOTATIONS, DEFAULT_NAMESPACE, LOAD_BALANCER_CLASS, SPEAKER_NAME } from "../../provider/core/model/contract.ts";
import { applyPool, installSpeaker, root, run, sleep, waitFor } from "../control/harness.ts";
import { parseApiBreakdown, type ApiBreakdown } from "../bench/api-breakdown.ts";

export interface ScaleLab {
  dir: string;
  admin: k8s.KubeConfig;
  adminPath: string;
  speakerKubeconfig: string;
  down(): Promise<void>;
}

const cluster = join(root, "test/lab/cluster.sh");

function labEnv(id: string): NodeJS.ProcessEnv {
  return { ...process.env, L2LB_LAB_DIR: `/tmp/l2lb-${id}-lab`, L2LB_NET_ID: id };
}

/** cluster.sh up (no nodes yet), the CRDs, namespace and speaker RBAC, and the speaker's token. */
export async function startScaleLab(id: string): Promise<ScaleLab> {
  const env = labEnv(id);
  const dir = env.L2LB_LAB_DIR as string;
  await run("bash", [cluster, "down"], { env }).catch(() => {});
  const down = async (): Promise<void> => {
    await run("bash", [cluster, "down"], { env }).catch(() => {});
  };
  try {
    await run("bash", [cluster, "up"], { env, timeoutMs: 300_000 });
    const adminPath = join(dir, "kubeconfig");
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(adminPath);
    await installSpeaker(admin, adminPath);
    const out = await run("bash", [cluster, "kubeconfig-for", DEFAULT_NAMESPACE, SPEAKER_NAME], { env });
    return { dir, admin, adminPath, speakerKubeconfig: out.trim().split("\n").pop() as string, down };
  } catch (err) {
    await down();
    throw err;
  }
}

/** Runs `fn` over `items` with at most `width` in flight. */
export async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  });
  await Promise.all(lanes);
}

/** A kwok node as cluster.sh makes them (annotation kwok manages, InternalIP as given). */
function nodeBody(name: string, ip: string): k8s.V1Node {
  return {
    metadata: {
      name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: { "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", type: "kwok" },
    },
    status: { addresses: [{ type: "InternalIP", address: ip }, { type: "Hostname", address: name }] },
  };
}

/** Creates the nodes not there yet, then waits (bounded) until kwok made every one Ready. */
export async function ensureNodes(lab: ScaleLab, nodes: { name: string; ip: string }[]): Promise<void> {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  const have = new Set((await core.listNode()).items.map((n) => n.metadata?.name));
  const missing = nodes.filter((n) => !have.has(n.name));
  await pool(missing, 16, async (n) => {
    await core.createNode({ body: nodeBody(n.name, n.ip) });
    const addresses = [{ type: "InternalIP", address: n.ip }, { type: "Hostname", address: n.name }];
    await core.patchNodeStatus({ name: n.name, body: { status: { addresses } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
  });
  const ready = (n: k8s.V1Node): boolean => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  const want = new Set(nodes.map((n) => n.name));
  await waitFor(
    `${nodes.length} kwok nodes Ready`,
    async () => ((await core.listNode()).items.filter((n) => want.has(n.metadata?.name ?? "") && ready(n)).length === nodes.length ? true : undefined),
    120_000 + nodes.length * 300,
    1000,
  );
}

/** The pool (`cidr`) and an advertisement for every pool, then `ips.length` Services with those addresses assigned. */
export async function installServices(lab: ScaleLab, cidr: string, ips: string[]): Promise<void> {
  await applyPool(lab.admin, "scale", { addresses: [cidr] });
  await applyPool(lab.admin, "scale", {}, "advertisement");
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: "scale" } } });
  await waitFor("the scale namespace's default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: "scale" }).then(() => true), 60_000, 500);
  await pool(
    ips.map((ip, i) => ({ ip, i })),
    16,
    async ({ ip, i }) => {
      await core.createNamespacedService({
        namespace: "scale",
        body: {
          metadata: { name: `svc-${i}`, annotations: { [ANNOTATIONS.assignedIps]: ip } },
          spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS, allocateLoadBalancerNodePorts: false, ports: [{ port: 80 }] },
        },
      });
    },
  );
}

/** Deletes every Lease the instances left in the install namespace (a killed or saturated row). */
export async function deleteSpeakerLeases(lab: ScaleLab): Promise<void> {
  const coordination = lab.admin.makeApiClient(k8s.CoordinationV1Api);
  await coordination.deleteCollectionNamespacedLease({ namespace: DEFAULT_NAMESPACE }).catch(() => {});
  await waitFor("no speaker Lease left", async () => ((await coordination.listNamespacedLease({ namespace: DEFAULT_NAMESPACE })).items.length === 0 ? true : undefined), 60_000, 500).catch(() => {});
  await sleep(1000);
}

export interface LeaseCounters {
  at: number;
  watchEvents: number;
  requests: number;
  /** Every series, for a breakdown when needed. */
  all: ApiBreakdown;
}

/** The API server's Lease counters: watch events of kind Lease, requests on resource leases (every verb). */
export async function leaseCounters(lab: ScaleLab): Promise<LeaseCounters> {
  const text = await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && exec "$L2LB_KUBERNETES_BIN/kubectl" --kubeconfig "$1" get --raw /metrics`, "-", lab.adminPath], { timeoutMs: 60_000 });
  const at = Date.now();
  const all = parseApiBreakdown(text);
  let watchEvents = 0;
  let requests = 0;
  for (const [k, v] of all) {
    if (k === "watch events Lease" || k === "watch events leases") watchEvents += v;
    else if (/^[A-Z]+ leases$/.test(k)) requests += v;
  }
  return { at, watchEvents, requests, all };
}

/** Lease watch events and requests per second between two readings. */
export function leaseRates(a: LeaseCounters, b: LeaseCounters): { watchEventsPerS: number; requestsPerS: number } {
  const s = Math.max(0.001, (b.at - a.at) / 1000);
  return { watchEventsPerS: (b.watchEvents - a.watchEvents) / s, requestsPerS: (b.requests - a.requests) / s };
}
