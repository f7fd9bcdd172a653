import type { AddressPool } from "../model/pool.ts";

/** An IP family as Kubernetes spells it in `spec.ipFamilies`. */
export type IpFamilyName = "IPv4" | "IPv6";

/** `spec.ipFamilyPolicy` of a Service. Unset means `SingleStack`. */
export type IpFamilyPolicy = "SingleStack" | "PreferDualStack" | "RequireDualStack";

/** One entry of a Service's `spec.ports`. Protocol defaults to TCP. */
export interface ServicePort {
  port: number;
  protocol?: "TCP" | "UDP" | "SCTP";
}

/**
 * A `type: LoadBalancer` Service as the allocator sees it.
 *
 * Requests are read from `annotations` (all spellings below are honoured; two spellings with
 * different values are a configuration error) and from `loadBalancerIP`:
 * - requested addresses: `l2lb.dev/requested-ips`, `metallb.io/loadBalancerIPs`,
 *   `metallb.universe.tf/loadBalancerIPs`, `eip.openelb.kubesphere.io/v1alpha1`, `spec.loadBalancerIP`;
 * - requested pool: `l2lb.dev/requested-pool`, `metallb.io/address-pool`,
 *   `metallb.universe.tf/address-pool`, `eip.openelb.kubesphere.io/v1alpha2`;
 * - sharing key: `l2lb.dev/sharing-key`, `metallb.io/allow-shared-ip`, `metallb.universe.tf/allow-shared-ip`.
 */
export interface ServiceRequest {
  namespace: string;
  name: string;
  /** Service labels, matched by pools' `serviceAllocation.serviceSelectors`. */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** `spec.ipFamilies`; default `["IPv4"]`. The first entry is the primary family. */
  ipFamilies?: IpFamilyName[];
  /** `spec.ipFamilyPolicy`; default `SingleStack`. */
  ipFamilyPolicy?: IpFamilyPolicy;
  /** `spec.ports`; used by the sharing rules ({protocol, port} must not overlap). */
  ports?: ServicePort[];
  /** `spec.externalTrafficPolicy`; default `Cluster`. `Local` services share only with `Local` services of the same selector. */
  externalTrafficPolicy?: "Cluster" | "Local";
  /** `spec.selector` (pod selector); part of the sharing backend key under `Local`. */
  selector?: Record<string, string>;
  /** Legacy `spec.loadBalancerIP`. */
  loadBalancerIP?: string;
}

/**
 * A named set of Services that must land on one IP (per family). Membership replaces any sharing
 * key the members carry; their ports must not overlap and their traffic policies must be
 * compatible (checked before anything is allocated).
 */
export interface SharedIpGroup {
  name: string;
  /** Members as `"<namespace>/<name>"`. */
  services: string[];
  /** Requested address (or two, comma-separated, one per family). */
  ip?: string;
  /** Requested pool. */
  pool?: string;
}

/** An assignment: the addresses of one Service (at most one per family) and the pool they came from. */
export interface Assignment {
  ips: string[];
  pool: string;
}

/** Everything the allocator needs. Pure data; the result depends on nothing else. */
export interface AllocationInput {
  pools: AddressPool[];
  /** Labels of each namespace by name, for `serviceAllocation.namespaceSelectors`. */
  namespaceLabels?: Record<string, Record<string, string>>;
  services: ServiceRequest[];
  sharedIpGroups?: SharedIpGroup[];
  /** Subnets (CIDR) the nodes' interfaces carry. When given, every pool range must lie inside one, and their network / broadcast addresses are never handed out. */
  nodeSubnets?: string[];
  /** Addresses of the nodes themselves; never handed out. */
  nodeAddresses?: string[];
  /** Previous assignments by `"<namespace>/<name>"` (e.g. the services of an earlier `l2lb plan -o json`). They are kept unless they became invalid. */
  previous?: Record<string, Assignment>;
  /**
   * When true, a problem of one Service or shared-IP group (a malformed annotation, a request
   * outside every pool, an unknown requested pool, a group whose members clash, ...) does not
   * fail the plan: that Service — or every member of that group — is refused (its outcome is an
   * `{ error }` naming the problems, and it takes no address), every other Service is planned
   * exactly as if the refused ones were absent, and the problems are listed in
   * {@link AllocationSuccess.refused}. Problems of pools, node subnets and node addresses still fail
   * the plan. Default false: any problem fails the plan (what a preview must do).
   */
  isolateServiceProblems?: boolean;
}

/** One reason the configuration is invalid. */
export interface ConfigProblem {
  /** The object at fault, e.g. `AddressPool "first-pool"` or `Service "default/nginx"`. */
  object: string;
  /** The field at fault, e.g. `spec.addresses[1]` or `metadata.annotations["metallb.io/address-pool"]`. */
  field: string;
  /** A full sentence naming the object and the fix. */
  message: string;
}

/** Outcome for one Service: its assignment, or the sentence saying why it has none. */
export type ServiceOutcome = Assignment | { error: string };

/**
 * What changed for one Service relative to `AllocationInput.previous`:
 * - `new`: no previous assignment; `to` is its assignment, or absent when it got none (then
 *   `reason` is its error);
 * - `unchanged`: same addresses as before (the pool may have been renamed);
 * - `moved`: different addresses; `reason` says why the previous ones could not be kept;
 * - `released`: it had addresses and now has none (removed Service, or an error: `reason`).
 */
export interface Change {
  /** `"<namespace>/<name>"`. */
  service: string;
  kind: "new" | "moved" | "released" | "unchanged";
  /** Previous addresses (moved, released, unchanged). */
  from?: string[];
  /** New addresses (new, moved, unchanged). */
  to?: string[];
  /** Why the service moved or was released. */
  reason?: string;
}

/** Usage of one pool. */
export interface PoolUsage {
  /** Number of addresses the pool can hand out (after every exclusion); exact. */
  size: bigint;
  /** Distinct addresses of the pool in use. */
  used: number;
}

/** A valid configuration's allocation: what `planAllocation` returns when nothing fails it. */
export interface AllocationSuccess {
  ok: true;
  /** By `"<namespace>/<name>"`, in sorted key order. */
  services: Record<string, ServiceOutcome>;
  /** By pool name, in sorted order. */
  pools: Record<string, PoolUsage>;
  /** One entry per Service in the input or in `previous`, sorted by service key. */
  changes: Change[];
  /**
   * Problems of the Services and shared-IP groups refused under
   * {@link AllocationInput.isolateServiceProblems}, sorted by object, field and message; empty
   * when none (always empty without that option, since any problem then fails the plan).
   */
  refused: ConfigProblem[];
  /**
   * What is valid but probably not meant, as full sentences naming the pool and address and the
   * fix (e.g. a node's own address inside a pool: it is never handed out); sorted, empty when
   * none. They never change the allocation.
   */
  warnings: string[];
}

/** An invalid configuration: nothing is allocated. */
export interface AllocationFailure {
  ok: false;
  problems: ConfigProblem[];
}

/** What `planAllocation` returns. */
export type AllocationResult = AllocationSuccess | AllocationFailure;

/** @deprecated The former name of {@link AllocationSuccess}. */
export type PlanSuccess = AllocationSuccess;
/** @deprecated The former name of {@link AllocationFailure}. */
export type PlanFailure = AllocationFailure;
/** @deprecated The former name of {@link AllocationResult}. */
export type PlanResult = AllocationResult;

/** A pool `usablePools` set aside, and why. */
export interface PoolSetAside {
  /** The pool's name, or `#<position in the input>` when it has none. */
  pool: string;
  /** In the order found; each names the pool, what is wrong and the fix. An overlap names the pool it overlaps. */
  problems: ConfigProblem[];
}

/** The result of `usablePools`. */
export interface UsablePools {
  /** The pools admitted, in the order given. */
  usable: AddressPool[];
  /** The pools set aside, in the order given. */
  setAside: PoolSetAside[];
}
