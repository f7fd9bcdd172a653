// The cluster as the informers show it, and what each watched change means for the controller:
// whether the election must plan again, whether the allocator must, whether the `announced-by`
// marks need a look. Only changes to what the plan reads count (the status and `announced-by`
// writes of a burst need no new plan on any speaker). Builds the election's input from the caches.
import type * as k8s from "@kubernetes/client-node";
import { NODE_SUBNETS_ANNOTATION } from "../../provider/core/model/contract.ts";
import { servedByL2lb } from "../../provider/core/model/served.ts";
import { allocationSignature } from "../allocator/cluster-input.ts";
import type { ClusterSnapshot } from "../allocator/cluster-input.ts";
import type { ClusterView, ServiceView, SpeakerView } from "../election/plan.ts";
import { hash53 } from "../election/rank.ts";
import { clusterView, serviceClaim, type ServiceViewCache } from "../election/view.ts";
import type { EventTarget } from "./events.ts";
import type { ClusterSource, SourceKind } from "./sources.ts";

/** A Service l2lb serves: type LoadBalancer with l2lb's class (or, with `defaultClass`, none). */
export function isOurs(s: k8s.V1Service, defaultClass = false): boolean {
  return servedByL2lb(s, defaultClass);
}

/** What a watched change (other than a speaker Lease) affects. */
export interface ChangeEffect {
  /** The election plans again. */
  plan: boolean;
  /** The allocator plans again. */
  allocator: boolean;
  /** The `announced-by` marks and departed Services are looked at again. */
  announce: boolean;
}

/** Records `signature` (undefined: the object is gone) under `key`; true when it changed. */
function updateSignature<T extends string | number>(signatures: Map<string, T>, key: string, signature: T | undefined): boolean {
  if (signatures.get(key) === signature) return false;
  if (signature === undefined) signatures.delete(key);
  else signatures.set(key, signature);
  return true;
}

/** What of a Node the allocator reads: its addresses and the subnets its speaker published. */
function nodeNetworkSignature(n: k8s.V1Node): string {
  return `${JSON.stringify(n.status?.addresses ?? [])}|${n.metadata?.annotations?.[NODE_SUBNETS_ANNOTATION] ?? ""}`;
}

/**
 * What the election reads of a Node (election/view.ts): its labels and NetworkUnavailable. The
 * kubelet rewrites its Node status every few minutes (kwok more often): at hundreds of nodes,
 * re-planning on each of those would keep every speaker busy for nothing.
 */
function nodeElectionSignature(n: k8s.V1Node): string {
  const unavailable = (n.status?.conditions ?? []).some((c) => c.type === "NetworkUnavailable" && c.status === "True");
  return `${JSON.stringify(n.metadata?.labels ?? {})}|${unavailable}`;
}

/** What the election and the allocator read of an AddressPool or L2Advertisement. */
function configSignature(o: k8s.KubernetesObject): string {
  return JSON.stringify([o.metadata?.labels ?? {}, o.metadata?.creationTimestamp, (o as { spec?: unknown }).spec ?? null]);
}

export class ClusterCache {
  readonly source: ClusterSource;
  private readonly defaultClass: boolean;
  private readonly nodeSignatures = new Map<string, string>();
  private readonly nodeElectionSignatures = new Map<string, string>();
  /** Pools and advertisements (`kind/name`): what the plans read of them (labels and spec). */
  private readonly configSignatures = new Map<string, string>();
  /** A 53-bit hash of each Service's allocation signature: 10,000 signatures as text held 3.5 MB. */
  private readonly serviceSignatures = new Map<string, number>();
  private served: k8s.V1Service[] | undefined;
  private readonly claims = new Map<string, { rv: string; value: Pick<ServiceView, "sharing" | "claim" | "inCluster"> }>();
  private readonly serviceViews: ServiceViewCache = new WeakMap();

  constructor(source: ClusterSource, defaultClass: boolean) {
    this.source = source;
    this.defaultClass = defaultClass;
  }

  /** Classifies a change of anything but a speaker Lease (membership.ts takes those). */
  classify(kind: Exclude<SourceKind, "lease">, verb: "add" | "update" | "delete", obj: k8s.KubernetesObject): ChangeEffect {
    if (kind === "service") {
      this.served = undefined;
      const svc = obj as k8s.V1Service;
      const uid = svc.metadata?.uid ?? `${svc.metadata?.namespace}/${svc.metadata?.name}`;
      const changed = updateSignature(this.serviceSignatures, uid, verb === "delete" ? undefined : hash53(allocationSignature(svc)));
      return { plan: changed, allocator: changed, announce: true };
    }
    if (kind === "node") {
      const n = obj as k8s.V1Node;
      const name = n.metadata?.name ?? "";
      const changed = updateSignature(this.nodeSignatures, name, verb === "delete" ? undefined : nodeNetworkSignature(n));
      const elects = updateSignature(this.nodeElectionSignatures, name, verb === "delete" ? undefined : nodeElectionSignature(n));
      return { plan: elects, allocator: changed, announce: false };
    }
    if (kind === "pool" || kind === "advertisement") {
      // Their status is l2lb's own output (pool usage, conditions): writing it needs no new plan.
      const name = `${kind}/${obj.metadata?.name ?? ""}`;
      const changed = updateSignature(this.configSignatures, name, verb === "delete" ? undefined : configSignature(obj));
      return { plan: changed, allocator: changed, announce: false };
    }
    return { plan: true, allocator: kind !== "endpointslice", announce: false };
  }

  /** The Services l2lb serves, recomputed only after a Service changed (every tick reads them several times). */
  ourServices(): k8s.V1Service[] {
    if (this.served === undefined) this.served = this.source.services.list().filter((s) => isOurs(s, this.defaultClass));
    return this.served;
  }

  /** The election's input, with these live speakers. */
  view(speakers: SpeakerView[]): ClusterView {
    const src = this.source;
    const sources = { nodes: src.nodes.list(), endpointSlices: src.endpointSlices.list(), services: this.ourServices(), pools: src.pools.list(), advertisements: src.advertisements.list() };
    return clusterView({ ...sources, namespace: (name) => src.namespaces.get(name), speakers }, (s) => this.claimOf(s), this.serviceViews);
  }

  /** What the allocator reads. */
  snapshot(): ClusterSnapshot {
    const src = this.source;
    return { services: src.services.list(), pools: src.pools.list(), advertisements: src.advertisements.list(), namespaces: src.namespaces.list(), nodes: src.nodes.list() };
  }

  /** Sharing profile and claim order of a Service, cached by resourceVersion. */
  private claimOf(s: k8s.V1Service): Pick<ServiceView, "sharing" | "claim" | "inCluster"> {
    const uid = s.metadata?.uid ?? `${s.metadata?.namespace}/${s.metadata?.name}`;
    const rv = s.metadata?.resourceVersion ?? "";
    const cached = this.claims.get(uid);
    if (cached !== undefined && cached.rv === rv) return cached.value;
    const value = serviceClaim(s);
    this.claims.set(uid, { rv, value });
    if (this.claims.size > 2 * this.ourServices().length + 100) this.claims.clear();
    return value;
  }

  /** A Service (`namespace/name`) as the target of an event, while it exists. */
  serviceTarget(key: string): EventTarget | undefined {
    const [namespace, name] = key.split("/") as [string, string];
    const s = this.source.services.get(name, namespace);
    if (s === undefined) return undefined;
    return { kind: "Service", apiVersion: "v1", namespace, name, uid: s.metadata?.uid };
  }

  nodeInternalIp(node: string): string | undefined {
    const n = this.source.nodes.get(node);
    return n?.status?.addresses?.find((a) => a.type === "InternalIP")?.address;
  }
}
