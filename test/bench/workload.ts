// The Services both implementations serve, created the same way for each: the seeds' scenarios
// (examples/kubectl, applied with kubectl, unchanged), the benchmark's own Services from the
// `bench` pool, and a kwok Pod behind every selector (MetalLB announces only Services with a ready
// endpoint).
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { kubectl, root, waitFor, type Lab } from "../control/harness.ts";

/** The seeds' scenarios as the repository keeps them, and the app labels their Services select. */
export const SEED_FILES = ["metallb-nginx.yaml", "metallb-shared-ip.yaml", "openelb-service.yaml"].map((f) => join(root, "examples/kubectl", f));
const SEED_BACKENDS: [string, string][] = [["metallb-basic", "nginx"], ["metallb-shared", "nginx"], ["metallb-shared", "nginx-2"], ["openelb", "layer2-openelb"]];
export const SEED_NAMESPACES = ["metallb-basic", "metallb-shared", "openelb"];
export const BENCH_POOL = "bench";

export interface BenchService {
  namespace: string;
  name: string;
  /** IPv4 or IPv6; SingleStack. */
  family: "IPv4" | "IPv6";
  /** A requested address (metallb.io/loadBalancerIPs, which both implementations read). */
  ip?: string;
}

export function serviceManifest(s: BenchService): k8s.V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: s.name, namespace: s.namespace, annotations: { "metallb.io/address-pool": BENCH_POOL, ...(s.ip ? { "metallb.io/loadBalancerIPs": s.ip } : {}) } },
    spec: { type: "LoadBalancer", ipFamilies: [s.family], ipFamilyPolicy: "SingleStack", ports: [{ port: 80 }], selector: { app: "bench" } },
  };
}

export async function ensureNamespace(lab: Lab, name: string, app = "bench"): Promise<void> {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
  await createBackend(lab, name, app);
}

/** One kwok Pod labelled app=<app> in the namespace (ready at once, with an address). */
export async function createBackend(lab: Lab, namespace: string, app: string): Promise<void> {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  await core.createNamespacedPod({ namespace, body: { metadata: { name: `backend-${app}`, labels: { app } }, spec: { containers: [{ name: "app", image: "registry.invalid/backend:1" }] } } }).catch(() => undefined);
}

/** Creates Services, `inFlight` requests at a time. */
export async function createServices(lab: Lab, services: BenchService[], inFlight = 16): Promise<void> {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  const workers = Array.from({ length: inFlight }, async (_, w) => {
    for (let i = w; i < services.length; i += inFlight) {
      const s = services[i] as BenchService;
      await core.createNamespacedService({ namespace: s.namespace, body: serviceManifest(s) });
    }
  });
  await Promise.all(workers);
}

/** Applies the seeds' scenarios with kubectl and gives their selectors a ready Pod each. */
export async function applySeeds(lab: Lab): Promise<void> {
  await kubectl(lab, "apply", ...SEED_FILES.flatMap((f) => ["-f", f]));
  for (const [ns, app] of SEED_BACKENDS) await createBackend(lab, ns, app);
}

/** "<ns>/<name>" → the addresses in status.loadBalancer.ingress, for every LoadBalancer Service of `namespaces`. */
export async function ingressByService(lab: Lab, namespaces: string[]): Promise<Map<string, string[]>> {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  const out = new Map<string, string[]>();
  for (const namespace of namespaces) {
    for (const s of (await core.listNamespacedService({ namespace })).items) {
      if (s.spec?.type !== "LoadBalancer") continue;
      out.set(`${namespace}/${s.metadata?.name}`, (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "").filter(Boolean));
    }
  }
  return out;
}

/** Waits until every LoadBalancer Service of `namespaces` has an address, or `timeoutMs` passed; returns what they have. */
export async function waitIngress(lab: Lab, namespaces: string[], timeoutMs: number): Promise<Map<string, string[]>> {
  let last = new Map<string, string[]>();
  await waitFor("every Service's EXTERNAL-IP", async () => {
    last = await ingressByService(lab, namespaces);
    return [...last.values()].every((ips) => ips.length > 0) ? true : undefined;
  }, timeoutMs, 500).catch(() => undefined);
  return last;
}

/** Deletes namespaces and waits until they are gone. */
export async function deleteNamespaces(lab: Lab, namespaces: string[]): Promise<void> {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  for (const name of namespaces) await core.deleteNamespace({ name }).catch(() => undefined);
  await waitFor("namespaces deleted", async () => {
    const left = (await core.listNamespace()).items.filter((n) => namespaces.includes(n.metadata?.name ?? ""));
    return left.length === 0 ? true : undefined;
  }, 300_000, 1000);
}
