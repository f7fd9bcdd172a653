/**
 * `l2lb status`: what l2lb does in a cluster right now — the Services that hold an address and
 * who announces it, pool usage, and the Services still waiting for an address with the reason.
 *
 * Two halves: {@link statusReport} turns cluster objects into report rows (pure, no I/O), and
 * {@link readClusterSnapshot} lists those objects with `@kubernetes/client-node`.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { KubeConfig } from "@kubernetes/client-node";
import { canonicalAddress, parseRange, rangeSize, tryParseAddress } from "../core/ip/index.ts";
import { ALLOCATED_IN_CLUSTER, ANNOTATIONS, API_GROUP, API_VERSION, EVENT_REASONS, KINDS, POOL_USABLE_CONDITION } from "../core/model/contract.ts";
import { servedByL2lb } from "../core/model/served.ts";
import { withTimeout } from "../dynamic/cluster-access.ts";
import type { CommandResult } from "./plan.ts";

// ---------------------------------------------------------------------------------------------
// Cluster objects: the fields read here (the client library's V1Service and CoreV1Event fit).

type Timestamp = Date | string | undefined;

/** The fields of a Service that `l2lb status` reads. */
export interface ServiceObject {
  metadata?: { namespace?: string | undefined; name?: string | undefined; uid?: string | undefined; annotations?: Record<string, string> | undefined } | undefined;
  spec?: { type?: string | undefined; loadBalancerClass?: string | null | undefined } | undefined;
  status?: { loadBalancer?: { ingress?: { ip?: string | undefined }[] | undefined } | undefined } | undefined;
}

/** A condition on an AddressPool's status (the in-cluster allocator writes `Usable`). */
export interface PoolCondition {
  type?: string | undefined;
  status?: string | undefined;
  reason?: string | undefined;
  message?: string | undefined;
}

/** The fields of an AddressPool that `l2lb status` reads. */
export interface PoolObject {
  metadata?: { name?: string | undefined } | undefined;
  spec?: { addresses?: string[] | undefined } | undefined;
  status?: {
    addresses?: string | undefined;
    assigned?: number | undefined;
    announced?: number | undefined;
    services?: number | undefined;
    conditions?: PoolCondition[] | undefined;
  } | undefined;
}

/** The fields of a core/v1 Event that `l2lb status` reads. */
export interface EventObject {
  involvedObject?: { kind?: string | undefined; namespace?: string | undefined; name?: string | undefined; uid?: string | undefined } | undefined;
  type?: string | undefined;
  reason?: string | undefined;
  message?: string | undefined;
  lastTimestamp?: Timestamp;
  eventTime?: Timestamp;
  firstTimestamp?: Timestamp;
  metadata?: { creationTimestamp?: Timestamp } | undefined;
}

/** Everything the report is made from. */
export interface ClusterSnapshot {
  services: readonly ServiceObject[];
  pools: readonly PoolObject[];
  /** Warning events about Services (others are ignored). */
  events: readonly EventObject[];
  /** The installation serves LoadBalancer Services without a loadBalancerClass too (`--default-class`). */
  defaultClass: boolean;
}

// ---------------------------------------------------------------------------------------------
// The report.

/** The node and interfaces announcing one address, from `l2lb.dev/announced-by`. */
export interface Announcer {
  node: string;
  interfaces: string[];
}

export interface AddressState {
  ip: string;
  /** `null`: no node announces it. */
  announcedBy: Announcer | null;
  /** The address is in `status.loadBalancer.ingress` (EXTERNAL-IP). */
  inIngress: boolean;
}

/** A Service holding an l2lb address. */
export interface AssignedService {
  service: string;
  /** `null` when the assignment names no pool. */
  pool: string | null;
  /** `stack`: a Pulumi stack (or an applied plan) made the assignment; `in-cluster`: the in-cluster allocator did. */
  madeBy: "stack" | "in-cluster";
  addresses: AddressState[];
}

export interface PoolState {
  name: string;
  /** Number of addresses (decimal: an IPv6 pool may exceed 2^53). */
  total: string;
  /** As the speakers last reported; `null` until a speaker has written the pool's status. */
  assigned: number | null;
  announced: number | null;
  services: number | null;
  /** `false` when the in-cluster allocator set the pool aside (condition `Usable` is `False`). */
  usable: boolean;
  reason: string | null;
  message: string | null;
}

/** A Service l2lb serves that has no address yet. */
export interface PendingService {
  service: string;
  /** The latest `AllocationFailed` event's message, else {@link WAITING_FOR_ALLOCATOR}. */
  reason: string;
}

/** A Service whose assigned addresses are (partly) missing from `status.loadBalancer.ingress`. */
export interface MissingIngress {
  service: string;
  addresses: string[];
  /** The latest `AddressRefused` or `AddressConflict` event's message, else {@link NOT_WRITTEN_YET}. */
  reason: string;
}

export interface StatusReport {
  /** Whether Services without a loadBalancerClass were counted as l2lb's. */
  defaultClass: boolean;
  services: AssignedService[];
  pools: PoolState[];
  pending: PendingService[];
  missingFromIngress: MissingIngress[];
}

export const WAITING_FOR_ALLOCATOR = "waiting for the allocator";
export const NOT_WRITTEN_YET = "the speakers have not written it yet";

/** Warning reasons that explain an assigned address missing from the ingress (the speakers' `AddressRefused`, the allocator's `AddressConflict`). */
const INGRESS_REASONS: readonly string[] = ["AddressRefused", EVENT_REASONS.addressConflict];

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function serviceKey(s: ServiceObject): string {
  return `${s.metadata?.namespace ?? "default"}/${s.metadata?.name ?? ""}`;
}

/** Address text in canonical form when it is an address, else as written. */
function canonical(text: string): string {
  return tryParseAddress(text) === undefined ? text : canonicalAddress(text);
}

/** Addresses of the assignment annotation, canonical, without duplicates. */
export function assignedAddresses(s: ServiceObject): string[] {
  const value = s.metadata?.annotations?.[ANNOTATIONS.assignedIps] ?? "";
  const parts = value.split(",").map((part) => part.trim()).filter((part) => part !== "");
  return [...new Set(parts.map(canonical))];
}

/** `192.0.2.10=node-a/eth0+eth1,...` → address → announcer. Malformed entries are skipped. */
export function parseAnnouncedBy(value: string | undefined): Map<string, Announcer> {
  const out = new Map<string, Announcer>();
  for (const entry of (value ?? "").split(",")) {
    const [ip, who] = entry.split("=").map((part) => part.trim());
    const slash = who?.indexOf("/") ?? -1;
    if (!ip || who === undefined || slash <= 0) continue;
    out.set(canonical(ip), { node: who.slice(0, slash), interfaces: who.slice(slash + 1).split("+").filter((i) => i !== "") });
  }
  return out;
}

function ingressAddresses(s: ServiceObject): Set<string> {
  const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => typeof ip === "string" && ip !== "");
  return new Set(ips.map(canonical));
}

/**
 * Does l2lb serve Services without a loadBalancerClass? When `--default-class` says so, or when
 * one of them already carries an in-cluster assignment (only a default-class installation makes one).
 */
export function servesClasslessServices(services: readonly ServiceObject[], defaultClassFlag: boolean): boolean {
  if (defaultClassFlag) return true;
  return services.some(
    (s) => servedByL2lb(s, true) && !servedByL2lb(s, false) && s.metadata?.annotations?.[ANNOTATIONS.allocatedBy] === ALLOCATED_IN_CLUSTER,
  );
}

function eventTime(e: EventObject): number {
  const stamp = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp;
  const ms = stamp === undefined ? NaN : new Date(stamp).getTime();
  return Number.isNaN(ms) ? 0 : ms;
}

function isAbout(e: EventObject, s: ServiceObject): boolean {
  const o = e.involvedObject;
  if (o?.kind !== "Service" || o.name !== s.metadata?.name || (o.namespace ?? "default") !== (s.metadata?.namespace ?? "default")) return false;
  // Events of an earlier Service of the same name do not explain this one.
  return o.uid === undefined || s.metadata?.uid === undefined || o.uid === s.metadata.uid;
}

/** The message of the newest Warning event about `s` with one of `reasons`. */
export function latestWarning(events: readonly EventObject[], s: ServiceObject, reasons: readonly string[]): string | undefined {
  let best: EventObject | undefined;
  for (const e of events) {
    if (e.type !== "Warning" || !reasons.includes(e.reason ?? "") || !isAbout(e, s)) continue;
    if (best === undefined || eventTime(e) >= eventTime(best)) best = e;
  }
  return best?.message;
}

function assignedService(s: ServiceObject, ips: string[]): AssignedService {
  const annotations = s.metadata?.annotations ?? {};
  const announcers = parseAnnouncedBy(annotations[ANNOTATIONS.announcedBy]);
  const ingress = ingressAddresses(s);
  const pool = annotations[ANNOTATIONS.assignedPool];
  return {
    service: serviceKey(s),
    pool: pool === undefined || pool === "" ? null : pool,
    madeBy: annotations[ANNOTATIONS.allocatedBy] === ALLOCATED_IN_CLUSTER ? "in-cluster" : "stack",
    addresses: ips.map((ip) => ({ ip, announcedBy: announcers.get(ip) ?? null, inIngress: ingress.has(ip) })),
  };
}

/** Pool size from its spec, when no speaker has reported it; invalid entries count for nothing. */
function sizeOfSpec(addresses: readonly string[]): bigint {
  let size = 0n;
  for (const text of addresses) {
    try {
      size += rangeSize(parseRange(text));
    } catch {
      // an invalid entry: the pool is set aside or refused elsewhere, with the reason
    }
  }
  return size;
}

function count(value: unknown): number | null {
  return typeof value === "number" && Number.isInteger(value) ? value : null;
}

export function poolState(p: PoolObject): PoolState {
  const status = p.status ?? {};
  const usable = (status.conditions ?? []).find((c) => c.type === POOL_USABLE_CONDITION);
  const setAside = usable?.status === "False";
  return {
    name: p.metadata?.name ?? "",
    total: typeof status.addresses === "string" && status.addresses !== "" ? status.addresses : sizeOfSpec(p.spec?.addresses ?? []).toString(),
    assigned: count(status.assigned),
    announced: count(status.announced),
    services: count(status.services),
    usable: !setAside,
    reason: setAside ? (usable?.reason ?? null) : null,
    message: setAside ? (usable?.message ?? null) : null,
  };
}

/** The report: pure, deterministic (sorted by Service key and pool name). */
export function statusReport(snapshot: ClusterSnapshot): StatusReport {
  const defaultClass = servesClasslessServices(snapshot.services, snapshot.defaultClass);
  const served = snapshot.services.filter((s) => servedByL2lb(s, defaultClass)).sort((a, b) => byText(serviceKey(a), serviceKey(b)));
  const report: StatusReport = { defaultClass, services: [], pools: [], pending: [], missingFromIngress: [] };
  for (const s of served) {
    const ips = assignedAddresses(s);
    if (ips.length === 0) {
      report.pending.push({ service: serviceKey(s), reason: latestWarning(snapshot.events, s, [EVENT_REASONS.allocationFailed]) ?? WAITING_FOR_ALLOCATOR });
      continue;
    }
    const row = assignedService(s, ips);
    report.services.push(row);
    const missing = row.addresses.filter((a) => !a.inIngress).map((a) => a.ip);
    if (missing.length > 0) {
      report.missingFromIngress.push({ service: row.service, addresses: missing, reason: latestWarning(snapshot.events, s, INGRESS_REASONS) ?? NOT_WRITTEN_YET });
    }
  }
  report.pools = snapshot.pools.map(poolState).sort((a, b) => byText(a.name, b.name));
  return report;
}

// ---------------------------------------------------------------------------------------------
// Rendering.

function alignColumns(rows: readonly string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ").trimEnd()).join("\n");
}

function describeAnnouncer(a: AddressState): string {
  return a.announcedBy === null ? "not announced" : `${a.announcedBy.node}/${a.announcedBy.interfaces.join("+")}`;
}

function servicesTable(services: readonly AssignedService[]): string {
  if (services.length === 0) return "No Service holds an l2lb address.";
  const rows = [["SERVICE", "ADDRESS", "POOL", "MADE BY", "ANNOUNCED BY"]];
  for (const s of services) {
    for (const a of s.addresses) rows.push([s.service, a.ip, s.pool ?? "-", s.madeBy, describeAnnouncer(a)]);
  }
  return alignColumns(rows);
}

function countText(n: number | null): string {
  return n === null ? "-" : String(n);
}

function poolsTable(pools: readonly PoolState[]): string {
  if (pools.length === 0) return "No address pools.";
  const rows = [["POOL", "TOTAL", "ASSIGNED", "ANNOUNCED", "STATE"]];
  for (const p of pools) {
    rows.push([p.name, p.total, countText(p.assigned), countText(p.announced), p.usable ? "usable" : `set aside${p.reason ? ` (${p.reason})` : ""}`]);
  }
  return alignColumns(rows);
}

function section(title: string, lines: readonly string[]): string {
  return lines.length === 0 ? "" : `\n\n${title}\n${lines.map((l) => `  ${l}`).join("\n")}`;
}

/** The human view of a report. */
export function renderStatusTable(report: StatusReport): string {
  let text = servicesTable(report.services);
  text += `\n\n${poolsTable(report.pools)}`;
  text += section(
    "Pools set aside:",
    report.pools.filter((p) => !p.usable).map((p) => `${p.name}: ${p.message ?? "no reason given"}`),
  );
  text += section(
    "Pending Services (l2lb serves them; no address yet):",
    report.pending.map((p) => `${p.service}: ${p.reason}`),
  );
  text += section(
    "Assigned addresses missing from status.loadBalancer.ingress:",
    report.missingFromIngress.map((m) => `${m.service} ${m.addresses.join(", ")}: ${m.reason}`),
  );
  return `${text}\n`;
}

// ---------------------------------------------------------------------------------------------
// Reading the cluster.

export interface ClusterOptions {
  /** Path of a kubeconfig file; default KUBECONFIG, ~/.kube/config or in-cluster. */
  kubeconfig?: string | undefined;
  context?: string | undefined;
  /** Only Services (and their events) of this namespace; default every namespace. */
  namespace?: string | undefined;
  defaultClass: boolean;
}

export type SnapshotReader = (options: ClusterOptions) => Promise<ClusterSnapshot>;

const CREDENTIALS_HINT = "check --kubeconfig and --context (or KUBECONFIG) and that the API server is reachable";

/** An error's message, with its cause's (a failed fetch says why only there), without a final period. */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err).replace(/[.\s]+$/, "");
  const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : "";
  return `${err.message}${cause}`.replace(/[.\s]+$/, "");
}

/** An API error as a sentence naming what could not be listed and the fix. */
function listingFailure(what: string, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  if (what === "AddressPools" && code === 404) {
    return new Error(`cannot list AddressPools: the CRD ${KINDS.addressPool.plural}.${API_GROUP} is not installed; install l2lb (the Installation component) first, or pick the cluster that runs it with --context.`);
  }
  if (code === 401 || code === 403) {
    return new Error(`cannot list ${what}: access is ${code === 401 ? "unauthorized" : "forbidden"}; use credentials that may list Services, Events and ${KINDS.addressPool.plural}.${API_GROUP}.`);
  }
  return new Error(`cannot list ${what} (${errorText(err)}); ${CREDENTIALS_HINT}.`);
}

async function listing<T>(what: string, request: () => Promise<T>): Promise<T> {
  try {
    return await withTimeout(request(), 20_000, `listing ${what} timed out after 20 s`);
  } catch (err) {
    throw listingFailure(what, err);
  }
}

/** No kubeconfig anywhere and not in a pod: the client library would quietly try http://localhost:8080. */
function noCredentialsAnywhere(options: ClusterOptions): boolean {
  if (options.kubeconfig !== undefined || process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST) return false;
  return !existsSync(join(homedir(), ".kube", "config"));
}

async function kubeConfigFor(options: ClusterOptions): Promise<KubeConfig> {
  if (noCredentialsAnywhere(options)) {
    throw new Error("found no Kubernetes credentials (no --kubeconfig, no KUBECONFIG, no ~/.kube/config, not inside a cluster); pass --kubeconfig <file> or set KUBECONFIG.");
  }
  const { loadKubeConfig } = await import("../dynamic/cluster-access.ts");
  try {
    const unconfigured = options.context ? `context "${options.context}" names no cluster in the kubeconfig` : "no Kubernetes cluster is configured";
    return await loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context }, unconfigured);
  } catch (err) {
    throw new Error(`cannot load the Kubernetes credentials (${errorText(err)}); pass --kubeconfig <file> (and --context <name>), set KUBECONFIG, or run inside a cluster.`, { cause: err });
  }
}

/** Lists Services, AddressPools and the Warning events about Services with `@kubernetes/client-node`. */
export const readClusterSnapshot: SnapshotReader = async (options) => {
  const k8s = await import("@kubernetes/client-node");
  const kc = await kubeConfigFor(options);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const namespace = options.namespace;
  const warningsAboutServices = "involvedObject.kind=Service,type=Warning";
  const [services, pools, events] = await Promise.all([
    listing("Services", () => (namespace ? core.listNamespacedService({ namespace }) : core.listServiceForAllNamespaces({}))),
    listing("AddressPools", () => custom.listClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: KINDS.addressPool.plural }) as Promise<{ items?: PoolObject[] }>),
    listing("Events", () =>
      namespace ? core.listNamespacedEvent({ namespace, fieldSelector: warningsAboutServices }) : core.listEventForAllNamespaces({ fieldSelector: warningsAboutServices }),
    ),
  ]);
  return { services: services.items, pools: pools.items ?? [], events: events.items, defaultClass: options.defaultClass };
};

// ---------------------------------------------------------------------------------------------
// The command.

export const STATUS_USAGE = `Usage: l2lb status [--kubeconfig <file>] [--context <name>] [-n <namespace>] [--default-class] [-o table|json]

Shows what l2lb does in a cluster: every Service holding an l2lb address (pool, whether a Pulumi
stack or the in-cluster allocator made the assignment, the node and interface announcing each
address), pool usage, the Services still waiting for an address with the reason, and assigned
addresses missing from status.loadBalancer.ingress.

      --kubeconfig     kubeconfig file (default: KUBECONFIG, ~/.kube/config, or in-cluster)
      --context        kubeconfig context (default: the current one)
  -n, --namespace      only Services of this namespace (default: every namespace)
      --default-class  count LoadBalancer Services without a loadBalancerClass as l2lb's (the
                       installation's defaultClass; assumed when one of them holds an in-cluster
                       assignment)
  -o, --output         table (default) or json

Exit status: 0 when the cluster was read (pending Services and pools set aside are part of the
report), 2 when it cannot be read or on a usage error.`;

interface StatusOptions {
  cluster: ClusterOptions;
  output: "table" | "json";
}

function usageError(message: string): CommandResult {
  return { code: 2, stdout: "", stderr: `l2lb status: ${message}\n\n${STATUS_USAGE}\n` };
}

function parseStatusArgs(args: readonly string[]): StatusOptions | CommandResult {
  let values: { kubeconfig?: string; context?: string; namespace?: string; "default-class"?: boolean; output?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        kubeconfig: { type: "string" },
        context: { type: "string" },
        namespace: { type: "string", short: "n" },
        "default-class": { type: "boolean" },
        output: { type: "string", short: "o" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: false,
      strict: true,
    }));
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help) return { code: 0, stdout: `${STATUS_USAGE}\n`, stderr: "" };
  const output = values.output ?? "table";
  if (output !== "table" && output !== "json") return usageError(`output format "${output}" is not supported; use -o table or -o json.`);
  return {
    cluster: { kubeconfig: values.kubeconfig, context: values.context, namespace: values.namespace, defaultClass: values["default-class"] ?? false },
    output,
  };
}

/** Runs `l2lb status` with its arguments (after the word `status`). */
export async function statusCommand(args: readonly string[], read: SnapshotReader = readClusterSnapshot): Promise<CommandResult> {
  const options = parseStatusArgs(args);
  if ("code" in options) return options;
  let snapshot: ClusterSnapshot;
  try {
    snapshot = await read(options.cluster);
  } catch (err) {
    return { code: 2, stdout: "", stderr: `l2lb status: cannot read the cluster: ${errorText(err)}.\n` };
  }
  const report = statusReport(snapshot);
  const stdout = options.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : renderStatusTable(report);
  return { code: 0, stdout, stderr: "" };
}
