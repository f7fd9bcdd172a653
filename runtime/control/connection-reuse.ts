// @kubernetes/client-node 2.0 builds a new undici Agent for every API request, so every request
// opens (and pays the handshake of) a new TLS connection. Measured on the lab during a burst of 500
// Services: TLS set-up was the largest cost after the allocation itself in the allocating speaker's
// CPU profile. One dispatcher per cluster and user, as the library already does for its https
// Agents (watches), keeps connections alive and reused.
import type * as k8s from "@kubernetes/client-node";

type DispatcherFactory = (cluster: unknown, agentOptions: unknown) => unknown;

/** Makes `kubeConfig` reuse one connection pool per (cluster, user) for every API request. */
export function reuseConnections(kubeConfig: k8s.KubeConfig): k8s.KubeConfig {
  const target = kubeConfig as unknown as { createDispatcher?: DispatcherFactory };
  const create = target.createDispatcher;
  if (typeof create !== "function") return kubeConfig;
  const pools = new Map<string, unknown>();
  target.createDispatcher = (cluster, agentOptions) => {
    const key = JSON.stringify([(cluster as { name?: string } | null)?.name ?? "", kubeConfig.getCurrentUser()?.name ?? "", kubeConfig.getCurrentContext()]);
    if (!pools.has(key)) pools.set(key, create.call(kubeConfig, cluster, agentOptions));
    return pools.get(key);
  };
  return kubeConfig;
}
