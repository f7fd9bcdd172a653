// From the objects the speaker's informers hold to the election's ClusterView. Pure: the
// controller calls it with its caches, the agreement property with generated objects.
import type * as k8s from "@kubernetes/client-node";
import { ALLOCATED_IN_CLUSTER, ANNOTATIONS } from "../../provider/core/model/contract.ts";
import { sharingProfile } from "../../provider/core/allocation/sharing.ts";
import { serviceRequestOf } from "../../provider/core/manifests/index.ts";
import { advertisementsOf, poolOf, type ClusterObject } from "../allocator/cluster-input.ts";
import { claimOrder, endpointNodes } from "./plan.ts";
import type { ClusterView, NodeView, ServiceView, SpeakerView } from "./plan.ts";

/** What the election reads: informer contents, and the live speakers (liveness is the caller's). */
export interface ViewSources {
  nodes: readonly k8s.V1Node[];
  endpointSlices: readonly k8s.V1EndpointSlice[];
  /** The Services l2lb serves. */
  services: readonly k8s.V1Service[];
  namespace: (name: string) => k8s.V1Namespace | undefined;
  pools: readonly ClusterObject[];
  advertisements: readonly ClusterObject[];
  speakers: SpeakerView[];
}

export type ServiceClaim = Pick<ServiceView, "sharing" | "claim" | "inCluster">;

/** Sharing profile and claim order of a Service. */
export function serviceClaim(s: k8s.V1Service): ServiceClaim {
  const namespace = s.metadata?.namespace ?? "default";
  const name = s.metadata?.name ?? "";
  const sharing = sharingProfile(serviceRequestOf(namespace, name, s));
  const created = s.metadata?.creationTimestamp ? new Date(s.metadata.creationTimestamp).toISOString() : "";
  const inCluster = s.metadata?.annotations?.[ANNOTATIONS.allocatedBy] === ALLOCATED_IN_CLUSTER;
  return { ...(sharing ? { sharing } : {}), inCluster, claim: claimOrder(inCluster, created, `${namespace}/${name}`) };
}

export function nodeView(n: k8s.V1Node): NodeView {
  return {
    name: n.metadata?.name ?? "",
    labels: n.metadata?.labels ?? {},
    networkUnavailable: (n.status?.conditions ?? []).some((c) => c.type === "NetworkUnavailable" && c.status === "True"),
  };
}

function endpointsByService(slices: readonly k8s.V1EndpointSlice[]): Map<string, k8s.V1Endpoint[]> {
  const out = new Map<string, k8s.V1Endpoint[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.["kubernetes.io/service-name"];
    if (!svc) continue;
    const k = `${s.metadata?.namespace}/${svc}`;
    out.set(k, [...(out.get(k) ?? []), ...(s.endpoints ?? [])]);
  }
  return out;
}

/** The election's view; `claimOf` lets the caller cache {@link serviceClaim}. */
export function clusterView(src: ViewSources, claimOf: (s: k8s.V1Service) => ServiceClaim = serviceClaim): ClusterView {
  const slices = endpointsByService(src.endpointSlices);
  const services: ServiceView[] = src.services.map((s) => {
    const namespace = s.metadata?.namespace ?? "";
    const name = s.metadata?.name ?? "";
    const local = s.spec?.externalTrafficPolicy === "Local";
    return {
      namespace,
      name,
      labels: s.metadata?.labels ?? {},
      namespaceLabels: src.namespace(namespace)?.metadata?.labels ?? {},
      assigned: s.metadata?.annotations?.[ANNOTATIONS.assignedIps],
      local,
      endpointNodes: local ? endpointNodes(slices.get(`${namespace}/${name}`) ?? []) : new Set(),
      ...claimOf(s),
    };
  });
  const pools = src.pools.map(poolOf);
  return { nodes: src.nodes.map(nodeView), speakers: src.speakers, services, pools, advertisements: advertisementsOf(src.advertisements) };
}
