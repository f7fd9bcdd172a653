/**
 * Kubernetes YAML documents → the allocator's model. Pure: takes texts, returns data.
 *
 * Understood (everything else, e.g. Deployments, is skipped):
 * - `l2lb.dev/v1alpha1`: `AddressPool`, `L2Advertisement`, `SharedIpGroup`;
 * - `metallb.io/v1beta1`: `IPAddressPool`, `L2Advertisement` (and the legacy `AddressPool` of
 *   `metallb.io/v1beta1`/`v1beta2` and the pre-0.13 `config` ConfigMap in `metallb-system`);
 * - `network.kubesphere.io/v1alpha2` `Eip` (OpenELB): `spec.address`; the Eip annotated
 *   `eip.openelb.kubesphere.io/is-default-eip: "true"` auto-assigns, the others only serve
 *   Services that name them (as OpenELB does); `spec.interface` becomes an L2Advertisement;
 * - `v1`: `Service` (only `type: LoadBalancer` without a foreign `loadBalancerClass`),
 *   `Namespace` (labels for namespace selectors), `Node` (addresses, and the subnets its speaker
 *   published), and `List`.
 */
import { parseAllDocuments } from "yaml";
import type { ConfigProblem, ServiceRequest, SharedIpGroup } from "../allocation/types.ts";
import { API_GROUP_VERSION, LOAD_BALANCER_CLASS, NODE_SUBNETS_ANNOTATION } from "../model/contract.ts";
import type { AddressPool, AddressPoolSpec, L2Advertisement, L2AdvertisementSpec, ServiceAllocation } from "../model/pool.ts";

/** One file (or stdin) to read. */
export interface ManifestSource {
  /** Shown in messages, e.g. `examples/plan/metallb-basic.yaml`. */
  source: string;
  text: string;
}

/** Everything read from a set of manifests. */
export interface ManifestSet {
  pools: AddressPool[];
  advertisements: L2Advertisement[];
  services: ServiceRequest[];
  sharedIpGroups: SharedIpGroup[];
  namespaceLabels: Record<string, Record<string, string>>;
  nodeSubnets: string[];
  nodeAddresses: string[];
  /** Malformed documents: the configuration is invalid. */
  problems: ConfigProblem[];
  /** Things worth telling the user that do not invalidate the configuration. */
  warnings: string[];
  /** Where each object was defined (every place, in reading order), keyed like {@link ConfigProblem.object} (e.g. `AddressPool "first-pool"`). */
  origins: Record<string, string[]>;
}

/** Annotation that marks an OpenELB Eip as the default pool. */
export const OPENELB_DEFAULT_EIP = "eip.openelb.kubesphere.io/is-default-eip";
/** Annotation on a MetalLB IPAddressPool (or Eip) opting in to handing out a CIDR's first and last address. */
export const ALLOW_FIRST_LAST_ANNOTATION = "l2lb.dev/allow-first-last-ips";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function stringMap(v: unknown): Record<string, string> | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = typeof x === "string" ? x : String(x);
  return out;
}

function truthy(v: unknown): boolean {
  return v === true || (typeof v === "string" && v.trim().toLowerCase() === "true");
}

/** Reads every document of every source. */
export function readManifests(sources: readonly ManifestSource[]): ManifestSet {
  const set: ManifestSet = {
    pools: [],
    advertisements: [],
    services: [],
    sharedIpGroups: [],
    namespaceLabels: {},
    nodeSubnets: [],
    nodeAddresses: [],
    problems: [],
    warnings: [],
    origins: {},
  };
  for (const { source, text } of sources) {
    const docs = parseAllDocuments(text, { prettyErrors: false });
    const list = Array.isArray(docs) ? docs : [docs];
    list.forEach((doc, i) => {
      const where = list.length > 1 ? `${source} (document ${i + 1})` : source;
      if (doc.errors.length > 0) {
        const e = doc.errors[0]!;
        const line = e.linePos?.[0]?.line;
        set.problems.push({
          object: where,
          field: "",
          message: `${where} is not valid YAML${line ? ` (line ${line})` : ""}: ${e.message.split("\n")[0]}; fix the syntax.`,
        });
        return;
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) return;
      readObject(value, where, set);
    });
  }
  return set;
}

function readObject(value: unknown, where: string, set: ManifestSet): void {
  if (!isObj(value)) {
    set.problems.push({ object: where, field: "", message: `${where} is not a Kubernetes object (a mapping with apiVersion and kind); fix or remove it.` });
    return;
  }
  const apiVersion = typeof value.apiVersion === "string" ? value.apiVersion : "";
  const kind = typeof value.kind === "string" ? value.kind : "";
  if (kind === "List" || kind.endsWith("List")) {
    if (Array.isArray(value.items)) value.items.forEach((item, i) => readObject(item, `${where} item ${i + 1}`, set));
    return;
  }
  const meta = isObj(value.metadata) ? value.metadata : {};
  const name = typeof meta.name === "string" ? meta.name : "";
  const namespace = typeof meta.namespace === "string" && meta.namespace !== "" ? meta.namespace : "default";
  const annotations = stringMap(meta.annotations) ?? {};
  const labels = stringMap(meta.labels);
  const spec = isObj(value.spec) ? value.spec : {};
  const needName = (object: string): boolean => {
    if (name !== "") return true;
    set.problems.push({ object: `${object} in ${where}`, field: "metadata.name", message: `${object} in ${where} has no metadata.name; give it a name.` });
    return false;
  };
  const origin = (object: string): void => {
    (set.origins[object] ??= []).push(where);
  };

  // Our own kinds.
  if (apiVersion === API_GROUP_VERSION) {
    if (kind === "AddressPool") {
      if (!needName("AddressPool")) return;
      set.pools.push({ name, ...(labels ? { labels } : {}), spec: spec as unknown as AddressPoolSpec });
      origin(`AddressPool "${name}"`);
    } else if (kind === "L2Advertisement") {
      if (!needName("L2Advertisement")) return;
      set.advertisements.push({ name, spec: spec as L2AdvertisementSpec });
    } else if (kind === "SharedIpGroup") {
      if (!needName("SharedIpGroup")) return;
      const group: SharedIpGroup = { name, services: Array.isArray(spec.services) ? (spec.services as unknown[]).map((s) => (typeof s === "string" ? s : String(s))) : [] };
      if (typeof spec.ip === "string") group.ip = spec.ip;
      if (typeof spec.pool === "string") group.pool = spec.pool;
      set.sharedIpGroups.push(group);
      origin(`SharedIpGroup "${name}"`);
    } else {
      set.warnings.push(`${where}: kind ${kind || "(none)"} of ${apiVersion} is not known to l2lb plan and was skipped.`);
    }
    return;
  }

  // MetalLB.
  if (apiVersion.startsWith("metallb.io/")) {
    if (kind === "IPAddressPool" || kind === "AddressPool") {
      if (!needName(kind)) return;
      if (kind === "AddressPool") {
        set.warnings.push(`${where}: MetalLB's AddressPool kind is deprecated (removed in MetalLB 0.14); it was read as an IPAddressPool.`);
        if (typeof spec.protocol === "string" && spec.protocol !== "layer2") {
          set.warnings.push(`${where}: AddressPool "${name}" uses protocol ${spec.protocol}; l2lb announces every pool with layer 2 (ARP/NDP).`);
        }
      }
      const poolSpec: AddressPoolSpec = { addresses: spec.addresses as string[] };
      if (spec.autoAssign !== undefined) poolSpec.autoAssign = spec.autoAssign as boolean;
      if (spec.avoidBuggyIPs !== undefined) poolSpec.avoidBuggyIPs = spec.avoidBuggyIPs as boolean;
      if (truthy(annotations[ALLOW_FIRST_LAST_ANNOTATION])) poolSpec.allowFirstLastIPs = true;
      if (spec.serviceAllocation !== undefined) poolSpec.serviceAllocation = spec.serviceAllocation as ServiceAllocation;
      set.pools.push({ name, ...(labels ? { labels } : {}), spec: poolSpec });
      origin(`AddressPool "${name}"`);
    } else if (kind === "L2Advertisement") {
      if (!needName(kind)) return;
      const adv: L2AdvertisementSpec = {};
      for (const k of ["ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors", "interfaces"] as const) {
        if (spec[k] !== undefined) (adv as Obj)[k] = spec[k];
      }
      set.advertisements.push({ name, spec: adv });
    }
    // Other MetalLB kinds (BGPPeer, BGPAdvertisement, Community, ...) do not concern layer-2 allocation.
    return;
  }

  // OpenELB.
  if (apiVersion.startsWith("network.kubesphere.io/")) {
    if (kind !== "Eip") return;
    if (!needName("Eip")) return;
    const isDefault = truthy(annotations[OPENELB_DEFAULT_EIP]);
    const address = spec.address;
    const addresses = typeof address === "string" ? address.split(",").map((s) => s.trim()).filter((s) => s !== "") : (address as string[]);
    const poolSpec: AddressPoolSpec = { addresses, autoAssign: isDefault };
    if (truthy(annotations[ALLOW_FIRST_LAST_ANNOTATION])) poolSpec.allowFirstLastIPs = true;
    if (truthy(spec.disable)) {
      poolSpec.autoAssign = false;
      set.warnings.push(`${where}: Eip "${name}" is disabled; l2lb assigns from it only to Services that request it or one of its addresses.`);
    }
    if (spec.protocol !== "layer2") {
      const what = spec.protocol === undefined ? "sets no protocol (OpenELB's default is bgp)" : `uses protocol ${String(spec.protocol)}`;
      set.warnings.push(`${where}: Eip "${name}" ${what}; l2lb announces it with layer 2 (ARP/NDP).`);
    }
    set.pools.push({ name, ...(labels ? { labels } : {}), spec: poolSpec });
    origin(`AddressPool "${name}"`);
    if (typeof spec.interface === "string" && spec.interface !== "") {
      set.advertisements.push({ name: `eip-${name}`, spec: { ipAddressPools: [name], interfaces: [spec.interface] } });
    }
    return;
  }

  if (apiVersion !== "v1") return;
  if (kind === "Namespace") {
    if (!needName("Namespace")) return;
    set.namespaceLabels[name] = { ...(labels ?? {}) };
  } else if (kind === "Node") {
    if (!needName("Node")) return;
    const status = isObj(value.status) ? value.status : {};
    if (Array.isArray(status.addresses)) {
      for (const a of status.addresses) {
        if (isObj(a) && (a.type === "InternalIP" || a.type === "ExternalIP") && typeof a.address === "string") set.nodeAddresses.push(a.address);
      }
    }
    const published = annotations[NODE_SUBNETS_ANNOTATION];
    if (published !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(published);
      } catch {
        parsed = undefined;
      }
      if (!Array.isArray(parsed)) {
        set.problems.push({
          object: `Node "${name}"`,
          field: `metadata.annotations["${NODE_SUBNETS_ANNOTATION}"]`,
          message: `Node "${name}" has an annotation ${NODE_SUBNETS_ANNOTATION} that is not a JSON list of {interface, cidr, address}; let the speaker rewrite it or remove it.`,
        });
      } else {
        for (const s of parsed) {
          if (isObj(s) && typeof s.cidr === "string") set.nodeSubnets.push(s.cidr);
          if (isObj(s) && typeof s.address === "string") set.nodeAddresses.push(s.address);
        }
      }
    }
  } else if (kind === "ConfigMap") {
    if (name === "config" && meta.namespace === "metallb-system") readLegacyMetalLBConfig(value, where, set);
  } else if (kind === "Service") {
    if (!needName("Service")) return;
    if (spec.type !== "LoadBalancer") return;
    const key = `${namespace}/${name}`;
    if (typeof spec.loadBalancerClass === "string" && spec.loadBalancerClass !== LOAD_BALANCER_CLASS) {
      set.warnings.push(`${where}: Service "${key}" has loadBalancerClass ${spec.loadBalancerClass}, so another load balancer serves it; skipped.`);
      return;
    }
    const svc = serviceRequestOf(namespace, name, value);
    set.services.push(svc);
    origin(`Service "${key}"`);
  }
}

/**
 * A Service object (from a manifest, or from the API server) as the allocator's request. Only the
 * fields the allocator reads are taken; `namespace` defaults to `default` when the object has none.
 */
export function serviceRequestOf(namespace: string, name: string, service: unknown): ServiceRequest {
  const value = isObj(service) ? service : {};
  const meta = isObj(value.metadata) ? value.metadata : {};
  const spec = isObj(value.spec) ? value.spec : {};
  const svc: ServiceRequest = { namespace, name };
  const labels = stringMap(meta.labels);
  const annotations = stringMap(meta.annotations) ?? {};
  if (labels) svc.labels = labels;
  if (Object.keys(annotations).length > 0) svc.annotations = annotations;
  if (spec.ipFamilies !== undefined && spec.ipFamilies !== null) svc.ipFamilies = spec.ipFamilies as ServiceRequest["ipFamilies"];
  if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null) svc.ipFamilyPolicy = spec.ipFamilyPolicy as ServiceRequest["ipFamilyPolicy"];
  if (Array.isArray(spec.ports)) {
    svc.ports = spec.ports.map((p: unknown) => {
      const o = isObj(p) ? p : {};
      const port = typeof o.port === "string" && /^[0-9]+$/.test(o.port) ? Number(o.port) : (o.port as number);
      return o.protocol === undefined || o.protocol === null ? { port } : { port, protocol: o.protocol as "TCP" };
    });
  } else if (spec.ports !== undefined && spec.ports !== null) {
    svc.ports = spec.ports as ServiceRequest["ports"];
  }
  if (spec.externalTrafficPolicy !== undefined && spec.externalTrafficPolicy !== null) svc.externalTrafficPolicy = spec.externalTrafficPolicy as "Cluster";
  const selector = stringMap(spec.selector);
  if (selector) svc.selector = selector;
  if (spec.loadBalancerIP !== undefined && spec.loadBalancerIP !== null && spec.loadBalancerIP !== "") svc.loadBalancerIP = String(spec.loadBalancerIP);
  return svc;
}

/** MetalLB < 0.13 configuration: ConfigMap `metallb-system/config` with `data.config` YAML. */
function readLegacyMetalLBConfig(value: Obj, where: string, set: ManifestSet): void {
  const data = isObj(value.data) ? value.data : {};
  if (typeof data.config !== "string") return;
  const docs = parseAllDocuments(data.config);
  const doc = Array.isArray(docs) ? docs[0] : docs;
  if (doc === undefined) return;
  if (doc.errors.length > 0) {
    set.problems.push({ object: `ConfigMap "metallb-system/config"`, field: "data.config", message: `ConfigMap "metallb-system/config" in ${where} has data.config that is not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}; fix the syntax.` });
    return;
  }
  const config: unknown = doc.toJS();
  const pools = isObj(config) && Array.isArray(config["address-pools"]) ? (config["address-pools"] as unknown[]) : [];
  set.warnings.push(`${where}: MetalLB's ConfigMap configuration is deprecated (MetalLB 0.13 replaced it with IPAddressPool); its address-pools were read.`);
  pools.forEach((p, i) => {
    if (!isObj(p) || typeof p.name !== "string" || p.name === "") {
      set.problems.push({ object: `ConfigMap "metallb-system/config"`, field: `data.config.address-pools[${i}]`, message: `ConfigMap "metallb-system/config" address-pools[${i}] has no name; give every pool a name.` });
      return;
    }
    const spec: AddressPoolSpec = { addresses: p.addresses as string[] };
    if (p["auto-assign"] !== undefined) spec.autoAssign = p["auto-assign"] as boolean;
    if (p["avoid-buggy-ips"] !== undefined) spec.avoidBuggyIPs = p["avoid-buggy-ips"] as boolean;
    set.pools.push({ name: p.name, spec });
    (set.origins[`AddressPool "${p.name}"`] ??= []).push(where);
  });
}
