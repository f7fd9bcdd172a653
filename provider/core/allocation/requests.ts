/**
 * What each Service asks for, read from its spec and annotations (every spelling users already
 * have: l2lb.dev, metallb.io, metallb.universe.tf, OpenELB), validated into plain values.
 */
import { familyFromName, familyName, formatAddress, tryParseAddress } from "../ip/index.ts";
import type { Address, Family } from "../ip/index.ts";
import { ANNOTATIONS } from "../model/contract.ts";
import { exactSize } from "../model/exact-size.ts";
import { labelsKey } from "./selectors.ts";
import type { ConfigProblem, IpFamilyPolicy, ServiceRequest } from "./types.ts";

/** Annotations naming requested addresses, in precedence order (all must agree when several are set). */
export const REQUESTED_IP_ANNOTATIONS = [
  ANNOTATIONS.requestedIps,
  "metallb.io/loadBalancerIPs",
  "metallb.universe.tf/loadBalancerIPs",
  "eip.openelb.kubesphere.io/v1alpha1",
] as const;

/** Annotations naming a requested pool. */
export const REQUESTED_POOL_ANNOTATIONS = [
  ANNOTATIONS.requestedPool,
  "metallb.io/address-pool",
  "metallb.universe.tf/address-pool",
  "eip.openelb.kubesphere.io/v1alpha2",
] as const;

/** Annotations carrying a sharing key. */
export const SHARING_KEY_ANNOTATIONS = [ANNOTATIONS.sharingKey, "metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"] as const;

/** Every annotation the planner reads: a Service's other annotations never change a plan. */
const PLANNED_ANNOTATIONS: ReadonlySet<string> = new Set([...REQUESTED_IP_ANNOTATIONS, ...REQUESTED_POOL_ANNOTATIONS, ...SHARING_KEY_ANNOTATIONS]);

/**
 * `request` with only the annotations the planner reads. A caller that keeps requests between
 * plans stores these, so that writes of other annotations (the assignment, the announcing node)
 * leave a Service's request as it was.
 */
export function withPlannedAnnotations(request: ServiceRequest): ServiceRequest {
  if (request === null || typeof request !== "object") return request;
  const { annotations, ...rest } = request;
  if (annotations === null || typeof annotations !== "object") return request;
  const kept = Object.entries(annotations).filter(([name]) => PLANNED_ANNOTATIONS.has(name));
  return kept.length > 0 ? { ...rest, annotations: Object.fromEntries(kept) } : rest;
}

const POLICIES = new Set<IpFamilyPolicy>(["SingleStack", "PreferDualStack", "RequireDualStack"]);
const PROTOCOLS = new Set(["TCP", "UDP", "SCTP"]);

/** A Service after validation. */
export interface ParsedService {
  key: string;
  object: string;
  svc: ServiceRequest;
  policy: IpFamilyPolicy;
  /** Families it may receive, primary first. */
  wanted: Family[];
  /** Families it must receive (empty for PreferDualStack: at least one of `wanted`). */
  required: Family[];
  requestedIps?: Address[];
  requestedIpsField?: string;
  requestedPool?: string;
  requestedPoolField?: string;
  sharingKey?: string;
  /** MetalLB's backend key: `Cluster`, or `Local:` plus the pod selector. */
  backendKey: string;
  /** `PROTOCOL/port` of every port. */
  ports: string[];
}

/** Text of a service key as used everywhere: `namespace/name`. */
export function serviceKey(svc: Pick<ServiceRequest, "namespace" | "name">): string {
  return `${svc.namespace || "default"}/${svc.name}`;
}

/**
 * The key (`namespace/name`) of a Service as written, or `undefined` when it has none: not an
 * object, no name, or a namespace that is not a string. Such a Service's problems name it by
 * position (`Service #3`) or by its name alone.
 */
export function rawServiceKey(raw: unknown): string | undefined {
  if (raw === null || typeof raw !== "object") return undefined;
  const { name, namespace } = raw as { name?: unknown; namespace?: unknown };
  if (typeof name !== "string" || name === "") return undefined;
  if (namespace !== undefined && typeof namespace !== "string") return undefined;
  return serviceKey({ namespace: namespace ?? "", name });
}

/** Describes the backend key for messages. */
export function describeBackend(backendKey: string): string {
  if (backendKey === "Cluster") return "externalTrafficPolicy Cluster";
  const sel = backendKey.slice("Local:".length);
  return `externalTrafficPolicy Local with selector {${sel}}`;
}

/** Parses a comma-separated address list. */
export function parseIpList(text: string): { ips?: Address[]; error?: string } {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) return { error: `it is empty` };
  const ips: Address[] = [];
  for (const p of parts) {
    const a = tryParseAddress(p);
    if (a === undefined) return { error: `"${p}" is not an IPv4 or IPv6 address` };
    ips.push(a);
  }
  if (ips.length > 2) return { error: `it lists ${ips.length} addresses; at most two are allowed, one IPv4 and one IPv6` };
  if (ips.length === 2 && ips[0]!.family === ips[1]!.family) {
    return { error: `it lists two ${familyName(ips[0]!.family)} addresses; a Service gets at most one address per family` };
  }
  return { ips };
}

/** Canonical comparable text of a set of addresses. */
export function ipSetKey(ips: readonly Address[]): string {
  return ips.map(formatAddress).sort().join(",");
}

/** Validates one Service into a {@link ParsedService}; problems are appended. */
export function parseService(raw: ServiceRequest, index: number, problems: ConfigProblem[]): ParsedService | undefined {
  if (raw === null || typeof raw !== "object") {
    problems.push({ object: `Service #${index + 1}`, field: "", message: `Service #${index + 1} is not an object; describe it with namespace, name and spec fields.` });
    return undefined;
  }
  if (typeof raw.name !== "string" || raw.name === "") {
    problems.push({ object: `Service #${index + 1}`, field: "metadata.name", message: `Service #${index + 1} has no name; give it a metadata.name.` });
    return undefined;
  }
  if (raw.namespace !== undefined && typeof raw.namespace !== "string") {
    problems.push({ object: `Service "${raw.name}"`, field: "metadata.namespace", message: `Service "${raw.name}" has a non-string namespace; write metadata.namespace as a name.` });
    return undefined;
  }
  // A Service without a namespace lives in "default", as kubectl would put it.
  const svc: ServiceRequest = raw.namespace ? raw : { ...raw, namespace: "default" };
  const key = serviceKey(svc);
  const object = `Service "${key}"`;
  const before = problems.length;
  const add = (field: string, message: string): void => {
    problems.push({ object, field, message: `${object} ${message}` });
  };
  const annotations = svc.annotations ?? {};

  // Families and policy.
  const policy = svc.ipFamilyPolicy ?? "SingleStack";
  if (!POLICIES.has(policy)) {
    add("spec.ipFamilyPolicy", `has ipFamilyPolicy "${String(policy)}"; use SingleStack, PreferDualStack or RequireDualStack.`);
  }
  const famNames = svc.ipFamilies ?? [];
  const families: Family[] = [];
  if (!Array.isArray(famNames)) {
    add("spec.ipFamilies", `has ipFamilies that is not a list; write e.g. [IPv4] or [IPv4, IPv6].`);
  } else {
    famNames.forEach((f, i) => {
      if (f !== "IPv4" && f !== "IPv6") {
        add(`spec.ipFamilies[${i}]`, `lists family "${String(f)}"; use IPv4 or IPv6.`);
        return;
      }
      const fam = familyFromName(f);
      if (families.includes(fam)) add(`spec.ipFamilies[${i}]`, `lists ${f} twice; list each family once.`);
      else families.push(fam);
    });
  }
  if (policy === "SingleStack" && families.length > 1) {
    add("spec.ipFamilies", `lists two families but is SingleStack; set ipFamilyPolicy to PreferDualStack or RequireDualStack, or list one family.`);
  }
  const primary: Family = families[0] ?? 4;
  const secondary: Family = primary === 4 ? 6 : 4;
  const wanted: Family[] = policy === "SingleStack" ? [primary] : [primary, secondary];
  const required: Family[] = policy === "SingleStack" ? [primary] : policy === "RequireDualStack" ? [primary, secondary] : [];

  // Ports.
  const ports: string[] = [];
  if (svc.ports !== undefined && !Array.isArray(svc.ports)) {
    add("spec.ports", `has spec.ports that is not a list; list {port, protocol} entries.`);
  } else {
    (svc.ports ?? []).forEach((p, i) => {
      const protocol = p?.protocol ?? "TCP";
      if (typeof p?.port !== "number" || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        add(`spec.ports[${i}].port`, `has port ${JSON.stringify(p?.port)}; a port is a whole number from 1 to 65535.`);
        return;
      }
      if (!PROTOCOLS.has(protocol)) {
        add(`spec.ports[${i}].protocol`, `has protocol "${String(protocol)}"; use TCP, UDP or SCTP.`);
        return;
      }
      ports.push(`${protocol}/${p.port}`);
    });
  }

  // Backend key.
  const etp = svc.externalTrafficPolicy ?? "Cluster";
  if (etp !== "Cluster" && etp !== "Local") {
    add("spec.externalTrafficPolicy", `has externalTrafficPolicy "${String(etp)}"; use Cluster or Local.`);
  }
  const backendKey = etp === "Local" ? `Local:${labelsKey(svc.selector)}` : "Cluster";

  // Requested addresses: every spelling that is set must agree.
  let requestedIps: Address[] | undefined;
  let requestedIpsField: string | undefined;
  const ipSources: { field: string; text: string }[] = [];
  for (const a of REQUESTED_IP_ANNOTATIONS) {
    const v = annotations[a];
    if (v !== undefined) ipSources.push({ field: `metadata.annotations["${a}"]`, text: String(v) });
  }
  if (svc.loadBalancerIP !== undefined && svc.loadBalancerIP !== "") ipSources.push({ field: "spec.loadBalancerIP", text: String(svc.loadBalancerIP) });
  for (const src of ipSources) {
    const parsed = parseIpList(src.text);
    if (parsed.error !== undefined || parsed.ips === undefined) {
      add(src.field, `${src.field} is invalid: ${parsed.error}; write one address, or an IPv4 and an IPv6 address separated by a comma.`);
      continue;
    }
    if (src.field === "spec.loadBalancerIP" && parsed.ips.length > 1) {
      add(src.field, `spec.loadBalancerIP holds two addresses; it takes one — use the metallb.io/loadBalancerIPs annotation for dual-stack.`);
      continue;
    }
    if (requestedIps === undefined) {
      requestedIps = parsed.ips;
      requestedIpsField = src.field;
    } else if (ipSetKey(requestedIps) !== ipSetKey(parsed.ips)) {
      add(src.field, `requests ${src.text} in ${src.field} but ${ipSetKey(requestedIps)} in ${requestedIpsField}; keep one of them (or make them equal).`);
    }
  }
  if (requestedIps !== undefined) {
    for (const a of requestedIps) {
      if (!wanted.includes(a.family)) {
        add(requestedIpsField!, `requests an ${familyName(a.family)} address but is ${policy} ${familyName(primary)}; request an ${familyName(primary)} address, or make the Service dual-stack (ipFamilyPolicy, ipFamilies).`);
      }
    }
    if (policy === "RequireDualStack" && requestedIps.length < 2) {
      add(requestedIpsField!, `is RequireDualStack but requests only one address; request one IPv4 and one IPv6 address, or drop the request.`);
    }
  }

  // Requested pool.
  let requestedPool: string | undefined;
  let requestedPoolField: string | undefined;
  for (const a of REQUESTED_POOL_ANNOTATIONS) {
    const v = annotations[a];
    if (v === undefined) continue;
    const field = `metadata.annotations["${a}"]`;
    const name = String(v).trim();
    if (name === "") {
      add(field, `has an empty ${field}; name a pool or remove the annotation.`);
      continue;
    }
    if (requestedPool === undefined) {
      requestedPool = name;
      requestedPoolField = field;
    } else if (requestedPool !== name) {
      add(field, `requests pool "${name}" in ${field} but pool "${requestedPool}" in ${requestedPoolField}; keep one of them.`);
    }
  }

  // Sharing key.
  let sharingKey: string | undefined;
  let sharingField: string | undefined;
  for (const a of SHARING_KEY_ANNOTATIONS) {
    const v = annotations[a];
    if (v === undefined) continue;
    const field = `metadata.annotations["${a}"]`;
    const k = String(v);
    if (k === "") {
      add(field, `has an empty sharing key in ${field}; set a key or remove the annotation.`);
      continue;
    }
    if (sharingKey === undefined) {
      sharingKey = k;
      sharingField = field;
    } else if (sharingKey !== k) {
      add(field, `has sharing key "${k}" in ${field} but "${sharingKey}" in ${sharingField}; keep one of them.`);
    }
  }

  if (problems.length > before) return undefined;
  const parsed: ParsedService = { key, object, svc, policy, wanted, required, backendKey, ports: exactSize(ports) };
  if (requestedIps !== undefined) {
    parsed.requestedIps = requestedIps;
    parsed.requestedIpsField = requestedIpsField!;
  }
  if (requestedPool !== undefined) {
    parsed.requestedPool = requestedPool;
    parsed.requestedPoolField = requestedPoolField!;
  }
  if (sharingKey !== undefined) parsed.sharingKey = sharingKey;
  return parsed;
}
