import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { API_GROUP_VERSION, KINDS } from "../core/model/contract.ts";
import type { LabelSelector } from "../core/model/labels.ts";
import type {
  AddressPool as AddressPoolModel,
  AddressPoolSpec,
  GratuitousSettings,
  L2Advertisement as L2AdvertisementModel,
  L2AdvertisementSpec,
  ServiceAllocation,
} from "../core/model/pool.ts";
import type { SharedIpGroup as SharedIpGroupModel } from "../core/allocation/index.ts";
import { IpError, isAddress, parseRange } from "../core/ip/index.ts";
import { childName, invalid, typeToken } from "./common.ts";
import type { Installation } from "./installation.ts";

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkObjectName(component: string, name: string, objectName: string): void {
  if (objectName.length > 253 || !DNS_LABEL.test(objectName)) {
    invalid(component, name, `"${objectName}" is not a valid Kubernetes object name (lower-case letters, digits, '-' and '.'); pass a valid \`name\`.`);
  }
}

function crdDependencies(installation: Installation | undefined, opts: pulumi.ComponentResourceOptions | undefined): pulumi.Input<pulumi.Resource>[] {
  const extra = opts?.dependsOn;
  const list: pulumi.Input<pulumi.Resource>[] = installation ? [...installation.crds] : [];
  return list.concat(extra === undefined ? [] : Array.isArray(extra) ? extra : [extra as pulumi.Input<pulumi.Resource>]);
}

/** Arguments of {@link AddressPool}: the pool's spec (see `AddressPoolSpec`) plus naming. */
export interface AddressPoolArgs extends AddressPoolSpec {
  /** Single IPs, CIDRs or `first-last` ranges; IPv4 and IPv6 may be mixed in one pool (not in one range). */
  addresses: string[];
  /** When false, only Services that name this pool or request one of its addresses get one. Default true. */
  autoAssign?: boolean;
  /** Skip every IPv4 address ending in .0 or .255. Default false. */
  avoidBuggyIPs?: boolean;
  /** Hand out the first and last address of each CIDR too. Default false (except /31, /32, /127, /128). */
  allowFirstLastIPs?: boolean;
  /** Restricts the pool to some namespaces or Services and orders it among pools (lower priority first). */
  serviceAllocation?: ServiceAllocation;
  /** Name of the `AddressPool` object (and of the pool, as Services and advertisements name it). Default: the component name. */
  name?: string;
  /** Labels of the `AddressPool` object, matched by `L2Advertisement` pool selectors. */
  labels?: Record<string, string>;
  /** Installation whose CRDs must exist first (adds a dependency). */
  installation?: Installation;
}

/**
 * A set of addresses Services may receive: an `AddressPool` custom resource
 * (`l2lb.dev/v1alpha1`, cluster-scoped). Pass it to an {@link Allocation} to allocate from it.
 */
export class AddressPool extends pulumi.ComponentResource {
  /** Pool name (the object's name). */
  readonly poolName: string;
  /** The pool's spec as written to the cluster. */
  readonly spec: AddressPoolSpec;
  /** Labels of the object. */
  readonly labels: Record<string, string>;
  /** The custom resource. */
  readonly resource: k8s.apiextensions.CustomResource;

  constructor(name: string, args: AddressPoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super(typeToken("AddressPool"), name, {}, opts);
    const poolName = args.name ?? name;
    checkObjectName("AddressPool", name, poolName);
    if (!Array.isArray(args.addresses) || args.addresses.length === 0) {
      invalid("AddressPool", name, "addresses must list at least one address, CIDR or first-last range, e.g. 192.168.28.210-192.168.28.220.");
    }
    args.addresses.forEach((entry, i) => {
      try {
        parseRange(entry);
      } catch (err) {
        if (err instanceof IpError) invalid("AddressPool", name, `addresses[${i}]: ${err.message}`);
        throw err;
      }
    });
    const spec: AddressPoolSpec = { addresses: [...args.addresses] };
    if (args.autoAssign !== undefined) spec.autoAssign = args.autoAssign;
    if (args.avoidBuggyIPs !== undefined) spec.avoidBuggyIPs = args.avoidBuggyIPs;
    if (args.allowFirstLastIPs !== undefined) spec.allowFirstLastIPs = args.allowFirstLastIPs;
    if (args.serviceAllocation !== undefined) spec.serviceAllocation = args.serviceAllocation;
    this.poolName = poolName;
    this.spec = spec;
    this.labels = { ...args.labels };

    this.resource = new k8s.apiextensions.CustomResource(
      childName(name, "addresspool"),
      {
        apiVersion: API_GROUP_VERSION,
        kind: KINDS.addressPool.kind,
        // An empty labels map is omitted: the API server stores none, and the next preview would show it added.
        metadata: Object.keys(this.labels).length > 0 ? { name: poolName, labels: this.labels } : { name: poolName },
        spec,
      },
      { parent: this, dependsOn: crdDependencies(args.installation, undefined) },
    );
    this.registerOutputs({ poolName, spec });
  }

  /** The pool as the allocator sees it. */
  toModel(): AddressPoolModel {
    return { name: this.poolName, labels: { ...this.labels }, spec: structuredClone(this.spec) };
  }
}

/** Arguments of {@link L2Advertisement}. With no pools and no pool selectors, every pool is announced. */
export interface L2AdvertisementArgs {
  /** Pools to announce, as components or pool names. */
  pools?: (AddressPool | string)[];
  /** Pools whose labels match one of these selectors are announced too. */
  poolSelectors?: LabelSelector[];
  /** Nodes allowed to announce (labels); empty = every node running a speaker. */
  nodeSelectors?: LabelSelector[];
  /**
   * Interfaces to announce on: names (`eth0`, `eth0.100`), globs (`eth*`, `en?1`), exclusions
   * (`!docker*`), or `can_reach:<ip>` — on each node, the interface its routing table uses to reach that address
   * (for nodes whose NIC names differ). Empty = every eligible interface.
   */
  interfaces?: string[];
  /** Gratuitous ARP / unsolicited NA settings on takeover (count, interval, periodic refresh). */
  gratuitous?: GratuitousSettings;
  /** Name of the `L2Advertisement` object. Default: the component name. */
  name?: string;
  /** Installation whose CRDs must exist first (adds a dependency). */
  installation?: Installation;
}

/** Which pools are announced over ARP/NDP, from which nodes and interfaces: an `L2Advertisement` custom resource. */
export class L2Advertisement extends pulumi.ComponentResource {
  /** Object name. */
  readonly advertisementName: string;
  /** The spec as written to the cluster. */
  readonly spec: L2AdvertisementSpec;
  /** The custom resource. */
  readonly resource: k8s.apiextensions.CustomResource;

  constructor(name: string, args: L2AdvertisementArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super(typeToken("L2Advertisement"), name, {}, opts);
    const objectName = args.name ?? name;
    checkObjectName("L2Advertisement", name, objectName);
    (args.interfaces ?? []).forEach((entry, i) => {
      if (entry.startsWith("can_reach:")) {
        const target = entry.slice("can_reach:".length);
        if (!isAddress(target)) {
          invalid("L2Advertisement", name, `interfaces[${i}] "${entry}": can_reach needs an IPv4 or IPv6 address, e.g. can_reach:192.168.28.1.`);
        }
      } else if (!/^!?[A-Za-z0-9_.:@*?[\]-]{1,15}$/.test(entry)) {
        invalid("L2Advertisement", name, `interfaces[${i}] "${entry}" is not an interface name or glob (at most 15 characters, e.g. eth0, eth*, or !docker* to exclude).`);
      }
    });
    const g = args.gratuitous;
    if (g) {
      for (const key of ["count", "intervalMs", "refreshSeconds"] as const) {
        const v = g[key];
        if (v !== undefined && (!Number.isInteger(v) || v < 0)) invalid("L2Advertisement", name, `gratuitous.${key} must be a non-negative integer, not ${v}.`);
      }
    }
    const poolNames = (args.pools ?? []).map((p) => (typeof p === "string" ? p : p.poolName));
    const spec: L2AdvertisementSpec = {};
    if (poolNames.length > 0) spec.ipAddressPools = poolNames;
    if (args.poolSelectors?.length) spec.ipAddressPoolSelectors = args.poolSelectors;
    if (args.nodeSelectors?.length) spec.nodeSelectors = args.nodeSelectors;
    if (args.interfaces?.length) spec.interfaces = [...args.interfaces];
    if (g) spec.gratuitous = { ...g };
    this.advertisementName = objectName;
    this.spec = spec;

    const poolResources = (args.pools ?? []).filter((p): p is AddressPool => typeof p !== "string").map((p) => p.resource);
    this.resource = new k8s.apiextensions.CustomResource(
      childName(name, "l2advertisement"),
      { apiVersion: API_GROUP_VERSION, kind: KINDS.l2Advertisement.kind, metadata: { name: objectName }, spec },
      { parent: this, dependsOn: [...crdDependencies(args.installation, undefined), ...poolResources] },
    );
    this.registerOutputs({ advertisementName: objectName, spec });
  }

  /** The advertisement as the allocation checks it. */
  toModel(): L2AdvertisementModel {
    return { name: this.advertisementName, spec: structuredClone(this.spec) };
  }
}

/** Arguments of {@link SharedIpGroup}. */
export interface SharedIpGroupArgs {
  /** Members as `"<namespace>/<name>"` (or `"<name>"` in namespace `default`); at least two. */
  services: string[];
  /** The address to share (or two, one per family). Default: allocated like any other address. */
  ip?: string | string[];
  /** Pool to allocate from, as a component or a pool name. */
  pool?: AddressPool | string;
  /** Group name (also the sharing key). Default: the component name. */
  name?: string;
}

/**
 * Several Services on one address (per family). Checked before anything is applied: members'
 * `{protocol, port}` pairs must not overlap, and their traffic policies must be compatible
 * (`Cluster` with `Cluster`, or `Local` with `Local` and the same pod selector); a violation
 * fails `pulumi preview` naming the group, the Services and the clash.
 */
export class SharedIpGroup extends pulumi.ComponentResource {
  /** Group name (sharing key). */
  readonly groupName: string;
  /** Members as `"<namespace>/<name>"`. */
  readonly services: string[];
  /** Requested addresses, if any. */
  readonly ip?: string[];
  /** Requested pool, if any. */
  readonly pool?: string;

  constructor(name: string, args: SharedIpGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super(typeToken("SharedIpGroup"), name, {}, opts);
    const groupName = args.name ?? name;
    const members = (args.services ?? []).map((s) => (s.includes("/") ? s : `default/${s}`));
    for (const m of members) {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(m)) {
        invalid("SharedIpGroup", name, `"${m}" is not a Service reference; write "<namespace>/<name>".`);
      }
    }
    if (new Set(members).size < 2) invalid("SharedIpGroup", name, "services must name at least two different Services to share an address.");
    const ips = args.ip === undefined ? undefined : Array.isArray(args.ip) ? [...args.ip] : args.ip.split(",").map((s) => s.trim());
    for (const ip of ips ?? []) {
      if (!isAddress(ip)) invalid("SharedIpGroup", name, `ip "${ip}" is not an IPv4 or IPv6 address.`);
    }
    this.groupName = groupName;
    this.services = [...new Set(members)].sort();
    if (ips) this.ip = ips;
    if (args.pool !== undefined) this.pool = typeof args.pool === "string" ? args.pool : args.pool.poolName;
    this.registerOutputs({ groupName, services: this.services, ip: ips, pool: this.pool });
  }

  /** The group as the allocator sees it. */
  toModel(): SharedIpGroupModel {
    const model: SharedIpGroupModel = { name: this.groupName, services: [...this.services] };
    if (this.ip) model.ip = this.ip.join(",");
    if (this.pool) model.pool = this.pool;
    return model;
  }
}
