// The Kubernetes API surface the control plane writes through, as narrow interfaces: the Lease
// keeper's four calls, the event recorder's two, and the status writers' merge patches. The
// controller and its parts see only these, so the fast tests run them against an in-memory fake
// (testing.ts); `kubeApi` builds the real one over the speaker's client (runtime/kube). Reads go through the informers
// (sources.ts), never through this. Errors keep the client's shape: `code` is the HTTP status.
import type * as k8s from "@kubernetes/client-node";
import { MERGE_PATCH, type KubeClient } from "../kube/client.ts";
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

const CORE = "/api/v1";
const seg = encodeURIComponent;
const nsPath = (namespace: string, plural: string, name?: string): string => `${CORE}/namespaces/${seg(namespace)}/${plural}${name === undefined ? "" : `/${seg(name)}`}`;
const leases = (namespace: string, name?: string): string => `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases${name === undefined ? "" : `/${seg(name)}`}`;

/** The real API, over the speaker's client (with the Secret calls of the generated heartbeat key). */
export function kubeApi(client: KubeClient): ControlApi & SecretApi {
  const merge = (path: string, body: unknown): Promise<unknown> => client.request("PATCH", path, { body, contentType: MERGE_PATCH });
  return {
    readSecret: (namespace, name) => client.request("GET", nsPath(namespace, "secrets", name)),
    createSecret: (namespace, body) => client.request("POST", nsPath(namespace, "secrets"), { body }),
    // Lease traffic is liveness: its own connections, never behind Service writes.
    readLease: (namespace, name) => client.request("GET", leases(namespace, name), { priority: true }),
    createLease: (namespace, body) => client.request("POST", leases(namespace), { body, priority: true }),
    replaceLease: (namespace, name, body) => client.request("PUT", leases(namespace, name), { body, priority: true }),
    deleteLease: async (namespace, name, resourceVersion) => {
      await client.request("DELETE", leases(namespace, name), { body: { kind: "DeleteOptions", apiVersion: "v1", preconditions: { resourceVersion } }, priority: true });
    },
    createEvent: async (namespace, body) => {
      await client.request("POST", nsPath(namespace, "events"), { body });
    },
    patchEvent: async (namespace, name, patch) => {
      await merge(nsPath(namespace, "events", name), patch);
    },
    patchServiceAnnotations: async (namespace, name, resourceVersion, annotations) => {
      await merge(nsPath(namespace, "services", name), { metadata: { resourceVersion, annotations } });
    },
    patchServiceIngress: async (namespace, name, resourceVersion, ingress) => {
      const body = { ...(resourceVersion !== undefined ? { metadata: { resourceVersion } } : {}), status: { loadBalancer: { ingress } } };
      await merge(`${nsPath(namespace, "services", name)}/status`, body);
    },
    patchNodeAnnotations: async (name, annotations) => {
      await merge(`${CORE}/nodes/${seg(name)}`, { metadata: { annotations } });
    },
    patchPoolStatus: async (name, status) => {
      await merge(`/apis/${API_GROUP}/${API_VERSION}/${KINDS.addressPool.plural}/${seg(name)}/status`, { apiVersion: API_GROUP_VERSION, kind: KINDS.addressPool.kind, status });
    },
  };
}
