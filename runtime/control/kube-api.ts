// The Kubernetes API surface the control plane writes through, as narrow interfaces: the Lease
// keeper's four calls, the event recorder's two, and the status writers' merge patches. The
// controller and its parts see only these, so the fast tests run them against an in-memory fake
// (testing.ts); `kubeApi` builds the real one from a kubeconfig. Reads go through the informers
// (sources.ts), never through this. Errors keep the client's shape: `code` is the HTTP status.
import * as k8s from "@kubernetes/client-node";
import { API_GROUP, API_GROUP_VERSION, API_VERSION, KINDS } from "../../provider/core/model/contract.ts";
import type { SecretApi } from "./heartbeat-key.ts";
import type { IngressEntry } from "./status.ts";

export interface LeaseApi {
  readLease(namespace: string, name: string): Promise<k8s.V1Lease>;
  createLease(namespace: string, body: k8s.V1Lease): Promise<k8s.V1Lease>;
  replaceLease(namespace: string, name: string, body: k8s.V1Lease): Promise<k8s.V1Lease>;
  /** Deletes on `resourceVersion` (precondition) when given. */
  deleteLease(namespace: string, name: string, resourceVersion: string | undefined): Promise<void>;
}

export interface EventApi {
  createEvent(namespace: string, body: k8s.CoreV1Event): Promise<void>;
  /** Bumps an aggregated event. */
  patchEvent(namespace: string, name: string, patch: { count: number; lastTimestamp: string }): Promise<void>;
}

export interface WriteApi {
  /** Merge-patches a Service's annotations (`null` removes one), on `resourceVersion` when given. */
  patchServiceAnnotations(namespace: string, name: string, resourceVersion: string | undefined, annotations: Record<string, string | null>): Promise<void>;
  /** Merge-patches a Service's `status.loadBalancer.ingress`, on `resourceVersion` when given. */
  patchServiceIngress(namespace: string, name: string, resourceVersion: string | undefined, ingress: IngressEntry[]): Promise<void>;
  /** Merge-patches a Node's annotations. */
  patchNodeAnnotations(name: string, annotations: Record<string, string>): Promise<void>;
  /** Merge-patches an AddressPool's `status`. */
  patchPoolStatus(name: string, status: Record<string, unknown>): Promise<void>;
}

/** Everything the speaker's control plane writes. */
export type ControlApi = LeaseApi & EventApi & WriteApi;

const mergePatch = () => k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

/** The real API, from a kubeconfig (with the Secret calls of the generated heartbeat key). */
export function kubeApi(kubeConfig: k8s.KubeConfig): ControlApi & SecretApi {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const coordination = kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  const custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  return {
    readSecret: (namespace, name) => core.readNamespacedSecret({ name, namespace }),
    createSecret: (namespace, body) => core.createNamespacedSecret({ namespace, body }),
    readLease: (namespace, name) => coordination.readNamespacedLease({ name, namespace }),
    createLease: (namespace, body) => coordination.createNamespacedLease({ namespace, body }),
    replaceLease: (namespace, name, body) => coordination.replaceNamespacedLease({ name, namespace, body }),
    deleteLease: async (namespace, name, resourceVersion) => {
      await coordination.deleteNamespacedLease({ name, namespace, body: { preconditions: { resourceVersion } } });
    },
    createEvent: async (namespace, body) => {
      await core.createNamespacedEvent({ namespace, body });
    },
    patchEvent: async (namespace, name, patch) => {
      await core.patchNamespacedEvent({ name, namespace, body: patch }, mergePatch());
    },
    patchServiceAnnotations: async (namespace, name, resourceVersion, annotations) => {
      await core.patchNamespacedService({ name, namespace, body: { metadata: { resourceVersion, annotations } } }, mergePatch());
    },
    patchServiceIngress: async (namespace, name, resourceVersion, ingress) => {
      const body = { ...(resourceVersion !== undefined ? { metadata: { resourceVersion } } : {}), status: { loadBalancer: { ingress } } };
      await core.patchNamespacedServiceStatus({ name, namespace, body }, mergePatch());
    },
    patchNodeAnnotations: async (name, annotations) => {
      await core.patchNode({ name, body: { metadata: { annotations } } }, mergePatch());
    },
    patchPoolStatus: async (name, status) => {
      await custom.patchClusterCustomObjectStatus(
        { group: API_GROUP, version: API_VERSION, plural: KINDS.addressPool.plural, name, body: { apiVersion: API_GROUP_VERSION, kind: KINDS.addressPool.kind, status } },
        mergePatch(),
      );
    },
  };
}
