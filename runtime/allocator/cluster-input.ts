// From the objects in the cluster to the allocator's input. Pure: the in-cluster allocator and
// its tests call it with informer caches or plain objects alike.
//
// Who may change what:
// - a Service whose assignment a Pulumi stack (or a rendered plan) wrote is *held*: it enters the
//   plan as a request for exactly its addresses, so nothing else can take them, and the
//   allocator never writes it;
// - every other Service l2lb serves is the allocator's: its in-cluster assignment (or the
//   address a previous implementation left in `status.loadBalancer.ingress`, for migration) is
//   its sticky previous assignment.
import { isDeepStrictEqual } from "node:util";
import type * as k8s from "@kubernetes/client-node";
import { withPlannedAnnotations } from "../../provider/core/allocation/index.ts";
import type { AllocationInput, Assignment, ServiceRequest } from "../../provider/core/allocation/index.ts";
import type { AnnouncingNode } from "../../provider/core/allocation/advertisement.ts";
import { isAddress, parseCidr } from "../../provider/core/ip/index.ts";
import { ALLOCATED_IN_CLUSTER, ANNOTATIONS, NODE_SUBNETS_ANNOTATION } from "../../provider/core/model/contract.ts";
import type { AddressPool, L2Advertisement } from "../../provider/core/model/pool.ts";
import { parsePublishedSubnets } from "../../provider/core/model/published.ts";
import { servedByL2lb } from "../../provider/core/model/served.ts";
import { serviceRequestOf } from "../../provider/core/manifests/index.ts";
import { parseAssigned, parseAssignedMemo } from "../election/plan.ts";
import { selectPools, type PoolSelection } from "./pool-selection.ts";

/** A custom object as the informers hold it. */
export interface ClusterObject {
  metadata?: { name?: string; labels?: Record<string, string>; creationTimestamp?: Date | string } | undefined;
  spec?: unknown;
}

/** What the allocator reads from the cluster. */
export interface ClusterSnapshot {
  services: readonly k8s.V1Service[];
  pools: readonly ClusterObject[];
  advertisements: readonly ClusterObject[];
  namespaces: readonly k8s.V1Namespace[];
  nodes: readonly k8s.V1Node[];
}

/** Which half made a Service's assignment. */
export type Origin = "stack" | "in-cluster" | "none";

/** One served Service as the allocator sees it. */
export interface ServedService {
  key: string;
  service: k8s.V1Service;
  origin: Origin;
  /** Its assignment as written on the Service, if any. */
  assigned: Assignment | undefined;
}

function serviceKeyOf(s: k8s.V1Service): string {
  return `${s.metadata?.namespace ?? "default"}/${s.metadata?.name ?? ""}`;
}

/** The assignment written on a Service, with the half that wrote it. */
export function assignmentOf(s: k8s.V1Service): { assigned: Assignment | undefined; origin: Origin } {
  const annotations = s.metadata?.annotations ?? {};
  const { ips } = parseAssignedMemo(annotations[ANNOTATIONS.assignedIps]);
  if (ips.length === 0) return { assigned: undefined, origin: "none" };
  const assigned = { ips, pool: annotations[ANNOTATIONS.assignedPool] ?? "" };
  return { assigned, origin: annotations[ANNOTATIONS.allocatedBy] === ALLOCATED_IN_CLUSTER ? "in-cluster" : "stack" };
}

/**
 * What the allocator read of each Service object, kept while the object lives: an informer replaces
 * the object when the Service changes, so the same object means the same reading — and the
 * planner's session and the thread protocol recognise an unchanged Service by its request object.
 * A new object whose request equals the last one of its Service gets that request object again:
 * the allocator's, the status writer's and the speakers' own writes (assignment, ingress,
 * `announced-by`) touch nothing a request holds, so a Service's request keeps its identity from
 * creation on. The allocator keeps the readings while it plans and lets them go when idle.
 */
export class ServiceReadings {
  /** How each object is served (`null`: not served), under one class setting. */
  readonly served = new WeakMap<k8s.V1Service, ServedService | null>();
  readonly requests = new WeakMap<k8s.V1Service, ServiceRequest>();
  /** The last request of each Service (by key). */
  readonly lastRequests = new Map<string, ServiceRequest>();
}

/** Every Service l2lb serves, sorted by key. */
export function servedServices(services: readonly k8s.V1Service[], defaultClass: boolean, readings = new ServiceReadings()): ServedService[] {
  const out: ServedService[] = [];
  for (const service of services) {
    let served = readings.served.get(service);
    if (served === undefined) readings.served.set(service, (served = servedOf(service, defaultClass)));
    if (served !== null) out.push(served);
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function servedOf(service: k8s.V1Service, defaultClass: boolean): ServedService | null {
  if (!servedByL2lb(service, defaultClass)) return null;
  const { assigned, origin } = assignmentOf(service);
  return { key: serviceKeyOf(service), service, origin, assigned };
}

/** A stack-held Service enters the plan as a request for exactly its addresses (and pool). */
function heldRequest(s: ServedService, assigned: Assignment): ServiceRequest {
  const request = serviceRequestOf(s.service.metadata?.namespace ?? "default", s.service.metadata?.name ?? "", s.service);
  const annotations: Record<string, string> = { [ANNOTATIONS.requestedIps]: assigned.ips.join(",") };
  const sharing = request.annotations?.[ANNOTATIONS.sharingKey] ?? request.annotations?.["metallb.io/allow-shared-ip"] ?? request.annotations?.["metallb.universe.tf/allow-shared-ip"];
  if (sharing !== undefined) annotations[ANNOTATIONS.sharingKey] = sharing;
  const { loadBalancerIP: _ignored, ...rest } = request;
  return { ...rest, annotations };
}

/** Addresses in `status.loadBalancer.ingress` (what a previous implementation assigned). */
export function ingressAddresses(s: k8s.V1Service): string[] {
  const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => typeof ip === "string" && ip !== "");
  return parseAssigned(ips.join(",")).ips;
}

/** The sticky previous assignment of a Service the allocator may change. */
function previousOf(s: ServedService, pending: ReadonlyMap<string, Assignment>, held: ReadonlySet<string>): Assignment | undefined {
  const prev = pending.get(s.key) ?? (s.origin === "in-cluster" ? s.assigned : undefined) ?? migrated(s);
  if (prev === undefined) return undefined;
  // A stack assignment wins over an in-cluster one on the same address: the in-cluster Service is placed again.
  return prev.ips.some((ip) => held.has(ip)) ? undefined : prev;
}

function migrated(s: ServedService): Assignment | undefined {
  if (s.origin !== "none") return undefined;
  const ips = ingressAddresses(s.service);
  return ips.length > 0 ? { ips, pool: "" } : undefined;
}

/** Node subnets and node addresses; subnets only from what speakers published. Malformed entries are dropped: a Node annotation never blocks allocation. */
export function nodeNetworks(nodes: readonly k8s.V1Node[]): { subnets: string[] | undefined; addresses: string[] } {
  const subnets = new Set<string>();
  const addresses = new Set<string>();
  for (const n of nodes) {
    for (const a of n.status?.addresses ?? []) if ((a.type === "InternalIP" || a.type === "ExternalIP") && isAddress(a.address)) addresses.add(a.address);
    for (const s of parsePublishedSubnets(n.metadata?.annotations?.[NODE_SUBNETS_ANNOTATION])) {
      if (isCidr(s.cidr)) subnets.add(s.cidr);
      if (isAddress(s.address)) addresses.add(s.address);
    }
  }
  return { subnets: subnets.size > 0 ? [...subnets].sort() : undefined, addresses: [...addresses].sort() };
}

function isCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

/** Every Node with its labels and the subnets its speaker published (for advertisements' node selectors and interfaces). */
export function announcingNodes(nodes: readonly k8s.V1Node[]): AnnouncingNode[] {
  return nodes.map((n) => ({ name: n.metadata?.name ?? "", labels: n.metadata?.labels ?? {}, subnets: parsePublishedSubnets(n.metadata?.annotations?.[NODE_SUBNETS_ANNOTATION]) }));
}

/** An AddressPool object as the model's pool. */
export function poolOf(o: ClusterObject): AddressPool {
  return { name: o.metadata?.name ?? "", ...(o.metadata?.labels ? { labels: o.metadata.labels } : {}), spec: (o.spec ?? { addresses: [] }) as AddressPool["spec"] };
}

/** Pools oldest first (creationTimestamp, then name): the order in which pools are admitted. */
export function poolsOldestFirst(objects: readonly ClusterObject[]): AddressPool[] {
  const stamp = (o: ClusterObject): string => {
    const t = o.metadata?.creationTimestamp;
    return t === undefined ? "" : new Date(t).toISOString();
  };
  return [...objects]
    .sort((a, b) => stamp(a).localeCompare(stamp(b)) || (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? ""))
    .map(poolOf);
}

export function advertisementsOf(objects: readonly ClusterObject[]): L2Advertisement[] {
  return objects.map((a) => ({ name: a.metadata?.name ?? "", spec: (a.spec ?? {}) as L2Advertisement["spec"] }));
}

function requestOf(readings: ServiceReadings, s: ServedService, make: (assigned: Assignment) => ServiceRequest): ServiceRequest {
  const known = readings.requests.get(s.service);
  if (known !== undefined) return known;
  const made = withPlannedAnnotations(make(s.assigned as Assignment));
  const last = readings.lastRequests.get(s.key);
  const request = last !== undefined && isDeepStrictEqual(last, made) ? last : made;
  readings.lastRequests.set(s.key, request);
  readings.requests.set(s.service, request);
  return request;
}

/** Forgets the last requests of Services no longer served, once they are as many as the served ones. */
function pruneLastRequests(readings: ServiceReadings, served: readonly ServedService[]): void {
  if (readings.lastRequests.size <= 2 * served.length + 100) return;
  const current = new Set(served.map((s) => s.key));
  for (const key of readings.lastRequests.keys()) if (!current.has(key)) readings.lastRequests.delete(key);
}

/**
 * The allocator's input (without pools: the caller sets aside the unusable ones first).
 * `pending` holds assignments written (or about to be) but not yet seen in the cache: they count
 * as previous, so a burst never hands one address to two Services.
 */
export function servicesInput(
  served: readonly ServedService[],
  pending: ReadonlyMap<string, Assignment>,
  readings = new ServiceReadings(),
): Pick<AllocationInput, "services" | "previous"> {
  const held = new Set(served.flatMap((s) => (s.origin === "stack" && s.assigned ? s.assigned.ips : [])));
  pruneLastRequests(readings, served);
  const services: ServiceRequest[] = [];
  const previous: Record<string, Assignment> = {};
  for (const s of served) {
    if (s.origin === "stack" && s.assigned !== undefined) {
      services.push(requestOf(readings, s, (assigned) => heldRequest(s, assigned)));
      previous[s.key] = s.assigned;
      continue;
    }
    services.push(requestOf(readings, s, () => serviceRequestOf(s.service.metadata?.namespace ?? "default", s.service.metadata?.name ?? "", s.service)));
    const prev = previousOf(s, pending, held);
    if (prev !== undefined) previous[s.key] = prev;
  }
  return { services, previous };
}

export function namespaceLabelsOf(namespaces: readonly k8s.V1Namespace[]): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const n of namespaces) {
    const name = n.metadata?.name;
    if (name) out[name] = { "kubernetes.io/metadata.name": name, ...(n.metadata?.labels ?? {}) };
  }
  return out;
}

/**
 * What of a Service the allocator reads, as one string: a change elsewhere (status written by the
 * speakers, `announced-by`, managed fields) needs no new plan. Ingress counts only while the
 * Service has no assignment (it is then the address a migration keeps).
 */
export function allocationSignature(s: k8s.V1Service): string {
  const { [ANNOTATIONS.announcedBy]: _announced, ...annotations } = s.metadata?.annotations ?? {};
  const spec = s.spec ?? {};
  const unassigned = annotations[ANNOTATIONS.assignedIps] === undefined;
  return JSON.stringify([
    spec.type,
    spec.loadBalancerClass,
    spec.loadBalancerIP,
    spec.ipFamilies,
    spec.ipFamilyPolicy,
    spec.externalTrafficPolicy,
    spec.selector,
    (spec.ports ?? []).map((p) => [p.port, p.protocol]),
    s.metadata?.labels,
    annotations,
    s.metadata?.creationTimestamp,
    unassigned ? ingressAddresses(s) : undefined,
  ]);
}

/**
 * The whole plan input of the in-cluster allocator, and the pools it set aside. `served` is
 * {@link servedServices} of the snapshot; `pending` as in {@link servicesInput}.
 */
export function allocationInputOf(
  snapshot: ClusterSnapshot,
  served: readonly ServedService[],
  pending: ReadonlyMap<string, Assignment>,
  readings = new ServiceReadings(),
): { input: AllocationInput; selection: PoolSelection } {
  const networks = nodeNetworks(snapshot.nodes);
  const selection = selectPools(poolsOldestFirst(snapshot.pools), advertisementsOf(snapshot.advertisements), networks.subnets, networks.addresses, announcingNodes(snapshot.nodes));
  const input: AllocationInput = {
    pools: selection.usable,
    namespaceLabels: namespaceLabelsOf(snapshot.namespaces),
    ...servicesInput(served, pending, readings),
    ...(networks.subnets ? { nodeSubnets: networks.subnets } : {}),
    nodeAddresses: networks.addresses,
    isolateServiceProblems: true,
  };
  return { input, selection };
}
