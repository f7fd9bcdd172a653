import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { ANNOTATIONS, LOAD_BALANCER_CLASS } from "../core/model/contract.ts";
import type { IpFamilyName, IpFamilyPolicy, ServicePort, ServiceRequest } from "../core/allocation/index.ts";
import { AllocationProvider, AllocationResource } from "../dynamic/provider.ts";
import { childName, invalid, stableJson, typeToken } from "./common.ts";
import type { Installation } from "./installation.ts";
import type { AddressPool, L2Advertisement, SharedIpGroup } from "./pools.ts";

/** Annotations the allocator reads from a Service (requests in l2lb's, MetalLB's and OpenELB's spellings). */
export const REQUEST_ANNOTATIONS: readonly string[] = [
  ANNOTATIONS.requestedIps,
  ANNOTATIONS.requestedPool,
  ANNOTATIONS.sharingKey,
  "metallb.io/loadBalancerIPs",
  "metallb.universe.tf/loadBalancerIPs",
  "metallb.io/address-pool",
  "metallb.universe.tf/address-pool",
  "metallb.io/allow-shared-ip",
  "metallb.universe.tf/allow-shared-ip",
  "eip.openelb.kubesphere.io/v1alpha1",
  "eip.openelb.kubesphere.io/v1alpha2",
];

/** Seconds `pulumi up` waits for a Service's EXTERNAL-IP when a speaker is installed by the same program. */
export const DEFAULT_WAIT_SECONDS = 60;

/** A `type: LoadBalancer` Service declared by this program; the {@link Allocation} creates it with its address. */
export interface ServiceDeclaration {
  /** Object metadata. `name` defaults to the declaration's key, `namespace` to `default`; both must be plain strings. */
  metadata?: k8s.types.input.meta.v1.ObjectMeta;
  /** The Service spec; `type` is forced to `LoadBalancer` and `loadBalancerClass` to l2lb's class. */
  spec: Omit<k8s.types.input.core.v1.ServiceSpec, "type" | "loadBalancerClass">;
  /** Pool to allocate from (component or name). Written as the `l2lb.dev/requested-pool` annotation. */
  pool?: AddressPool | string;
  /** Requested addresses (one per family). Written as the `l2lb.dev/requested-ips` annotation. */
  ips?: string[];
}

/**
 * A Service this program does not declare itself — created by a Helm chart in the same program,
 * or already in the cluster — described by what the allocator needs. Defaults match Kubernetes':
 * single-stack IPv4, `Cluster` traffic policy, no ports (then it cannot share an address).
 */
export interface ServiceRequirements {
  /** `spec.ports` (protocol defaults to TCP); needed to share an address. */
  ports?: ServicePort[];
  /** `spec.ipFamilies`; default `["IPv4"]`. */
  ipFamilies?: IpFamilyName[];
  /** `spec.ipFamilyPolicy`; default `SingleStack`. */
  ipFamilyPolicy?: IpFamilyPolicy;
  /** `spec.externalTrafficPolicy`; default `Cluster`. */
  externalTrafficPolicy?: "Cluster" | "Local";
  /** `spec.selector`; matters for sharing under `Local`. */
  selector?: Record<string, string>;
  /** Service labels, for pools with service selectors. */
  labels?: Record<string, string>;
  /** Pool to allocate from (component or name). */
  pool?: AddressPool | string;
  /** Requested addresses (one per family). */
  ips?: string[];
}

/** Arguments of {@link Allocation}. */
export interface AllocationArgs {
  /** Every pool addresses may come from. */
  pools: AddressPool[];
  /**
   * The L2 advertisements of the stack. When given, preview refuses a pool that no advertisement
   * announces, and — with subnets published by the speakers — a pool outside the subnets of the
   * nodes its advertisements select.
   */
  advertisements?: L2Advertisement[];
  /** Groups of Services sharing one address. Their members must appear in `services`, `external` or `existing`. */
  sharedIpGroups?: SharedIpGroup[];
  /** Services this program declares, by key (the key names the child resource and, by default, the Service). */
  services?: Record<string, ServiceDeclaration>;
  /**
   * Services created elsewhere in this program (e.g. by a Helm chart), by `"<namespace>/<name>"`.
   * Get their address with {@link Allocation.ipFor} and the annotations to pass into the chart's
   * values with {@link Allocation.annotationsFor}; set their `loadBalancerClass` to
   * {@link LOAD_BALANCER_CLASS} in the values too.
   */
  external?: Record<string, ServiceRequirements>;
  /**
   * Services that already exist in the cluster, by `"<namespace>/<name>"`: patched in place
   * (`core.v1.ServicePatch`) with the address annotation, `type: LoadBalancer` and l2lb's class.
   * Kubernetes does not let a LoadBalancer Service change its class: a Service already served by
   * another implementation must be recreated.
   */
  existing?: Record<string, ServiceRequirements>;
  /**
   * Subnets of the nodes' interfaces (CIDR). When set, pools are checked against these and the
   * cluster is not contacted — for render-only (GitOps) stacks and before any speaker runs.
   * When unset, the subnets the speakers publish on the Nodes (`l2lb.dev/subnets`) are used.
   */
  nodeSubnets?: string[];
  /** Addresses that must never be handed out, besides the Nodes' own. */
  nodeAddresses?: string[];
  /** Labels of namespaces, for pools restricted by `serviceAllocation.namespaceSelectors`. */
  namespaceLabels?: Record<string, Record<string, string>>;
  /**
   * The runtime installed by this program. Services then wait for their EXTERNAL-IP (see
   * `waitSeconds`) after the speakers are ready, and the allocation is recorded in a ConfigMap
   * of its namespace.
   */
  installation?: Installation;
  /**
   * How long `pulumi up` waits for each Service's `status.loadBalancer.ingress`. Default: 60
   * seconds when `installation` is given (a speaker will announce the address), otherwise no
   * wait at all (`pulumi.com/skipAwait`): without a running speaker nobody writes the status,
   * and waiting would only stall for the Kubernetes provider's 10 minutes.
   */
  waitSeconds?: number | false;
  /** Kubeconfig (content or path) used to read Nodes at preview. Default: stack config `kubernetes:kubeconfig`, then the environment. */
  kubeconfig?: pulumi.Input<string>;
  /** Kubeconfig context used to read Nodes. Default: stack config `kubernetes:context`, then the current context. */
  context?: string;
  /** Module specifier of the provider implementation. Default `l2lb/dynamic/allocation`; override only in tests. */
  providerModule?: string;
}

interface Entry {
  key: string; // "<namespace>/<name>"
  namespace: string;
  name: string;
}

/**
 * The stack's address allocation: every pool, group and Service allocates together in one
 * deterministic step that runs at preview, so `pulumi preview --diff` shows each Service's
 * concrete address and every change. Creates the declared Services with their address, patches
 * existing ones, and exposes addresses for Services created by charts.
 */
export class Allocation extends pulumi.ComponentResource {
  /** The dynamic resource holding the allocation. */
  readonly plan: AllocationResource;
  /** Addresses by `"<namespace>/<name>"`, comma-separated. Known at preview. */
  readonly assignments: pulumi.Output<Record<string, string>>;
  /** Pool of each Service by `"<namespace>/<name>"`. */
  readonly assignedPools: pulumi.Output<Record<string, string>>;
  /** Where the node subnets came from (`explicit`, `speakers` or `none`). */
  readonly subnetSource: pulumi.Output<string>;
  /** Size and use of every pool. */
  readonly poolUsage: pulumi.Output<Record<string, { size: string; used: number }>>;
  /** Services created for `services`, by declaration key. */
  readonly services: Record<string, k8s.core.v1.Service>;
  /**
   * Patches of `existing` Services, by `"<namespace>/<name>"`. Each takes the type and class over
   * from their current manager (`pulumi.com/patchForce`); destroy gives them back.
   */
  readonly patches: Record<string, k8s.core.v1.ServicePatch>;
  /** ConfigMap recording the allocation (when an installation is given). */
  readonly record?: k8s.core.v1.ConfigMap;
  /** `spec.loadBalancerClass` to give every Service served by l2lb. */
  readonly loadBalancerClass: string = LOAD_BALANCER_CLASS;

  private readonly keys: Set<string>;
  private readonly declarationKeys = new Map<string, string>();
  private readonly awaitAnnotations: Record<string, string>;

  constructor(name: string, args: AllocationArgs, opts?: pulumi.ComponentResourceOptions) {
    super(typeToken("Allocation"), name, {}, opts);
    const parent = { parent: this };
    const requests: pulumi.Input<ServiceRequest>[] = [];
    const entries = new Map<string, Entry>();
    const add = (entry: Entry, where: string): void => {
      if (entries.has(entry.key)) invalid("Allocation", name, `Service "${entry.key}" is declared twice (again in ${where}); declare each Service once.`);
      entries.set(entry.key, entry);
    };

    const declared = Object.entries(args.services ?? {});
    for (const [key, decl] of declared) {
      const entry = declarationEntry(name, key, decl);
      add(entry, `services["${key}"]`);
      this.declarationKeys.set(key, entry.key);
      requests.push(declarationRequest(entry, decl));
    }
    for (const [section, record] of [["external", args.external], ["existing", args.existing]] as const) {
      for (const [ref, req] of Object.entries(record ?? {})) {
        const entry = referenceEntry(name, section, ref);
        add(entry, `${section}["${ref}"]`);
        requests.push(requirementsRequest(entry, req));
      }
    }
    for (const group of args.sharedIpGroups ?? []) {
      for (const member of group.services) {
        if (!entries.has(member)) {
          invalid("Allocation", name, `SharedIpGroup "${group.groupName}" names Service "${member}", which is not in services, external or existing; declare it there.`);
        }
      }
    }
    const poolNames = new Set<string>();
    for (const pool of args.pools) {
      if (poolNames.has(pool.poolName)) invalid("Allocation", name, `pool "${pool.poolName}" is listed twice.`);
      poolNames.add(pool.poolName);
    }
    this.keys = new Set(entries.keys());

    const wait = args.waitSeconds ?? (args.installation ? DEFAULT_WAIT_SECONDS : false);
    if (wait !== false && (!Number.isInteger(wait) || wait <= 0)) {
      invalid("Allocation", name, `waitSeconds must be a positive whole number of seconds or false, not ${wait}.`);
    }
    this.awaitAnnotations = wait === false ? { "pulumi.com/skipAwait": "true" } : { "pulumi.com/timeoutSeconds": String(wait) };

    this.plan = new AllocationResource(
      childName(name, "plan"),
      {
        identity: name,
        pools: args.pools.map((p) => p.toModel()),
        services: requests,
        sharedIpGroups: (args.sharedIpGroups ?? []).map((g) => g.toModel()),
        advertisements: args.advertisements?.map((a) => a.toModel()),
        namespaceLabels: args.namespaceLabels,
        nodeSubnets: args.nodeSubnets,
        nodeAddresses: args.nodeAddresses,
        kubeconfig: args.kubeconfig,
        context: args.context,
      },
      { parent: this, dependsOn: args.pools.map((p) => p.resource) },
      new AllocationProvider(args.providerModule),
    );
    this.assignments = this.plan.assignments;
    this.assignedPools = this.plan.assignedPools;
    this.subnetSource = this.plan.subnetSource;
    this.poolUsage = this.plan.poolUsage;

    const serviceDeps: pulumi.Resource[] = [this.plan];
    if (args.installation && wait !== false) serviceDeps.push(args.installation.daemonSet);

    this.services = {};
    for (const [key, decl] of declared) {
      const entry = declarationEntry(name, key, decl);
      const metadata = decl.metadata ?? {};
      const annotations = pulumi
        .all([pulumi.output(metadata.annotations ?? {}), this.annotationsFor(entry.key)])
        .apply(([own, ours]) => ({ ...(own as Record<string, string>), ...ours }));
      this.services[key] = new k8s.core.v1.Service(
        childName(name, key),
        {
          metadata: { ...metadata, name: entry.name, namespace: entry.namespace, annotations },
          spec: { ...decl.spec, type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS },
        },
        { ...parent, dependsOn: serviceDeps },
      );
    }

    this.patches = {};
    for (const ref of Object.keys(args.existing ?? {})) {
      const entry = referenceEntry(name, "existing", ref);
      // `pulumi.com/patchForce`: the patch takes its fields over from their current managers (server-side
      // apply `force`): listing a Service under `existing` means l2lb sets its type, class and
      // annotations, whoever set them before (e.g. `kubectl create service clusterip` owns `spec.type`).
      const annotations = this.annotationsFor(entry.key).apply((ours) => ({ ...ours, "pulumi.com/patchForce": "true" }));
      this.patches[entry.key] = new k8s.core.v1.ServicePatch(
        childName(name, `${entry.namespace}-${entry.name}`),
        {
          metadata: { name: entry.name, namespace: entry.namespace, annotations },
          spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS },
        },
        { ...parent, dependsOn: serviceDeps },
      );
    }

    if (args.installation) {
      this.record = new k8s.core.v1.ConfigMap(
        childName(name, "record"),
        {
          metadata: {
            name: `l2lb-allocation-${dnsName(name)}`,
            namespace: args.installation.namespace,
            labels: { "app.kubernetes.io/part-of": "l2lb", "app.kubernetes.io/managed-by": "pulumi" },
          },
          // Only the assignments: the Kubernetes provider replaces a ConfigMap whenever its data changes.
          data: pulumi.all([this.plan.assignments, this.plan.assignedPools]).apply(([ips, pools]) => {
            const rows: Record<string, { ips: string[]; pool: string }> = {};
            for (const key of Object.keys(ips ?? {}).sort()) rows[key] = { ips: (ips[key] ?? "").split(",").filter((s) => s !== ""), pool: pools?.[key] ?? "" };
            return { "assignments.json": stableJson(rows) };
          }),
        },
        { parent: this, dependsOn: args.installation.namespaceResource ? [args.installation.namespaceResource] : [] },
      );
    }

    this.registerOutputs({
      assignments: this.assignments,
      assignedPools: this.assignedPools,
      subnetSource: this.subnetSource,
      poolUsage: this.poolUsage,
    });
  }

  /** Addresses of a Service (`"<namespace>/<name>"`, or a `services` key): one per family. */
  ipsFor(service: string): pulumi.Output<string[]> {
    const key = this.resolve(service);
    return this.assignments.apply((all) => (all?.[key] ?? "").split(",").filter((s) => s !== ""));
  }

  /** The primary address of a Service (`"<namespace>/<name>"`, or a `services` key). */
  ipFor(service: string): pulumi.Output<string> {
    return this.ipsFor(service).apply((ips) => ips[0] ?? "");
  }

  /**
   * Annotations that give a Service its address: `l2lb.dev/load-balancer-ips`,
   * `l2lb.dev/address-pool`, and the wait policy for the Kubernetes provider. Pass them into a
   * chart's values for a Service listed in `external`.
   */
  annotationsFor(service: string): pulumi.Output<Record<string, string>> {
    const key = this.resolve(service);
    const wait = this.awaitAnnotations;
    return pulumi.all([this.assignments, this.assignedPools]).apply(([ips, pools]): Record<string, string> => ({
      [ANNOTATIONS.assignedIps]: ips?.[key] ?? "",
      [ANNOTATIONS.assignedPool]: pools?.[key] ?? "",
      ...wait,
    }));
  }

  private resolve(service: string): string {
    if (this.keys.has(service)) return service;
    const declared = this.declarationKeys.get(service);
    if (declared !== undefined) return declared;
    throw new pulumi.RunError(
      `Allocation: no Service "${service}"; known: ${[...this.keys].sort().join(", ") || "(none)"} (or a key of services).`,
    );
  }
}

function dnsName(text: string): string {
  const cleaned = text.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "");
  return cleaned.slice(0, 40) || "default";
}

function plainString(component: string, key: string, field: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string") {
    invalid("Allocation", component, `services["${key}"].${field} must be a plain string (it keys the allocation), not an Output.`);
  }
  return value;
}

function declarationEntry(component: string, key: string, decl: ServiceDeclaration): Entry {
  if (!decl || typeof decl !== "object" || !decl.spec) invalid("Allocation", component, `services["${key}"] needs a spec.`);
  const meta = (decl.metadata ?? {}) as Record<string, unknown>;
  const serviceName = plainString(component, key, "metadata.name", meta.name, key);
  const namespace = plainString(component, key, "metadata.namespace", meta.namespace, "default");
  return { key: `${namespace}/${serviceName}`, namespace, name: serviceName };
}

function referenceEntry(component: string, section: string, ref: string): Entry {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(ref);
  if (!m) invalid("Allocation", component, `${section}["${ref}"]: write the Service as "<namespace>/<name>".`);
  return { key: ref, namespace: m[1]!, name: m[3]! };
}

function requestAnnotations(pool: AddressPool | string | undefined, ips: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (pool !== undefined) out[ANNOTATIONS.requestedPool] = typeof pool === "string" ? pool : pool.poolName;
  if (ips !== undefined && ips.length > 0) out[ANNOTATIONS.requestedIps] = ips.join(",");
  return out;
}

/** Reads one field of an Input object without forcing the whole object to be known. */
function field<T, K extends keyof T>(obj: pulumi.Input<T> | undefined, key: K): pulumi.Input<T[K]> | undefined {
  if (obj === undefined) return undefined;
  if (pulumi.Output.isInstance(obj) || obj instanceof Promise) return pulumi.output(obj as pulumi.Input<T>).apply((o) => (o as T | undefined)?.[key]) as pulumi.Input<T[K]>;
  return (obj as T)[key] as pulumi.Input<T[K]>;
}

function declarationRequest(entry: Entry, decl: ServiceDeclaration): pulumi.Input<ServiceRequest> {
  const spec = decl.spec;
  const meta = decl.metadata ?? {};
  const extra = requestAnnotations(decl.pool, decl.ips);
  const annotations = pulumi.output(meta.annotations ?? {}).apply((all) => {
    const picked: Record<string, string> = {};
    for (const k of REQUEST_ANNOTATIONS) {
      const v = (all as Record<string, string | undefined>)[k];
      if (v !== undefined) picked[k] = v;
    }
    return { ...picked, ...extra };
  });
  const ports = pulumi.output(spec.ports ?? []).apply((list) =>
    (list ?? []).map((p) => ({ port: p.port, protocol: (p.protocol ?? "TCP") as ServicePort["protocol"] })),
  );
  const request: Record<string, unknown> = {
    namespace: entry.namespace,
    name: entry.name,
    labels: meta.labels ?? {},
    annotations,
    ports,
  };
  const optional: [string, unknown][] = [
    ["ipFamilies", field(spec, "ipFamilies")],
    ["ipFamilyPolicy", field(spec, "ipFamilyPolicy")],
    ["externalTrafficPolicy", field(spec, "externalTrafficPolicy")],
    ["selector", field(spec, "selector")],
    ["loadBalancerIP", field(spec, "loadBalancerIP")],
  ];
  for (const [k, v] of optional) if (v !== undefined) request[k] = v;
  return request as unknown as pulumi.Input<ServiceRequest>;
}

function requirementsRequest(entry: Entry, req: ServiceRequirements): ServiceRequest {
  const request: ServiceRequest = {
    namespace: entry.namespace,
    name: entry.name,
    labels: { ...req.labels },
    annotations: requestAnnotations(req.pool, req.ips),
    ports: (req.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? "TCP" })),
  };
  if (req.ipFamilies) request.ipFamilies = [...req.ipFamilies];
  if (req.ipFamilyPolicy) request.ipFamilyPolicy = req.ipFamilyPolicy;
  if (req.externalTrafficPolicy) request.externalTrafficPolicy = req.externalTrafficPolicy;
  if (req.selector) request.selector = { ...req.selector };
  return request;
}
