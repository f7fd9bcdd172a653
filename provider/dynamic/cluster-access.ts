// How both dynamic providers reach the cluster: the stack's `kubernetes:kubeconfig` /
// `kubernetes:context` (read by each serialized provider's `configure`) and the credentials
// loaded from them, like the Kubernetes provider does.
import type { KubeConfig } from "@kubernetes/client-node";
import type * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "./engine.ts";

/**
 * The stack's Kubernetes settings from a `configure` request (empty values count as unset).
 * Called by the serialized providers, so Pulumi serializes it with them: it must stay
 * self-contained — no imports, no module-level values.
 */
export function clusterSettings(req: pulumi.dynamic.ConfigureRequest): ClusterConfig {
  const text = (key: string): string | undefined => {
    const value: unknown = req.config.get(key);
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  return { kubeconfig: text("kubernetes:kubeconfig"), context: text("kubernetes:context") };
}

/**
 * Loads credentials like the Kubernetes provider: kubeconfig content (YAML or JSON) or path, else
 * KUBECONFIG / in-cluster; `unconfigured` is the error text when that names no cluster.
 * `@kubernetes/client-node` is imported here, not at module load.
 */
export async function loadKubeConfig(
  cluster: ClusterConfig,
  unconfigured = "no Kubernetes cluster is configured (stack config kubernetes:kubeconfig, KUBECONFIG or in-cluster)",
): Promise<KubeConfig> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  const text = cluster.kubeconfig;
  if (text !== undefined && text.trim() !== "") {
    if (text.includes("\n") || text.trim().startsWith("{")) kc.loadFromString(text);
    else kc.loadFromFile(text.trim());
  } else {
    kc.loadFromDefault();
  }
  if (cluster.context) kc.setCurrentContext(cluster.context);
  if (!kc.getCurrentCluster()) throw new Error(unconfigured);
  return kc;
}

/**
 * `promise`, or a rejection with `message` once `ms` passed (the timer is cleared either way).
 * For calls to the API server, which may hang on an unreachable cluster; used by both providers'
 * engines and by `l2lb status`.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
