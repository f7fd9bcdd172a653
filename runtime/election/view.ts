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

/** Views per informer object: an informer replaces the object of a Node that changed. */
const nodeViews = new WeakMap<k8s.V1Node, NodeView>();

export function nodeView(n: k8s.V1Node): NodeView {
  let view = nodeViews.get(n);
  if (view === undefined) nodeViews.set(n, (view = nodeViewOf(n)));
  return view;
}

function nodeViewOf(n: k8s.V1Node): NodeView {
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

/**
 * A caller's memory of the ServiceViews it built, so that an unchanged Service (same object, same
 * namespace object, same endpoint nodes) keeps its view object from one plan to the next: the
 * plan's per-Service checks are remembered by view object (PlanMemo), and a burst of thousands of
 * Services does not rebuild thousands of views per plan.
 */
export type ServiceViewCache = WeakMap<k8s.V1Service, { namespace: k8s.V1Namespace | undefined; endpoints: string; view: ServiceView }>;

/** The election's view; `claimOf` lets the caller cache {@link serviceClaim}, `cache` the views. */
export function clusterView(src: ViewSources, claimOf: (s: k8s.V1Service) => ServiceClaim = serviceClaim, cache?: ServiceViewCache): ClusterView {
  // Only Services with externalTrafficPolicy Local read their endpoints: indexed on first need.
  let slices: Map<string, k8s.V1Endpoint[]> | undefined;
  const endpointsOf = (namespace: string, name: string): Set<string> => endpointNodes(((slices ??= endpointsByService(src.endpointSlices)).get(`${namespace}/${name}`) ?? []));
  const services: ServiceView[] = src.services.map((s) => {
    const namespace = s.metadata?.namespace ?? "";
    const name = s.metadata?.name ?? "";
    const local = s.spec?.externalTrafficPolicy === "Local";
    const ns = src.namespace(namespace);
    const endpoints = local ? endpointsOf(namespace, name) : NO_NODES;
    const endpointsKey = local ? [...endpoints].sort().join(",") : "";
    const kept = cache?.get(s);
    if (kept !== undefined && kept.namespace === ns && kept.endpoints === endpointsKey) return kept.view;
    const view: ServiceView = {
      namespace,
      name,
      labels: s.metadata?.labels ?? {},
      namespaceLabels: ns?.metadata?.labels ?? {},
      assigned: s.metadata?.annotations?.[ANNOTATIONS.assignedIps],
      local,
      endpointNodes: endpoints,
      ...claimOf(s),
    };
    cache?.set(s, { namespace: ns, endpoints: endpointsKey, view });
    return view;
  });
  const pools = src.pools.map(poolOf);
  return { nodes: src.nodes.map(nodeView), speakers: src.speakers, services, pools, advertisements: advertisementsOf(src.advertisements) };
}

const NO_NODES: ReadonlySet<string> = new Set();
