// What the speaker writes back, as pure functions (desired values) plus the writers.
//
// - `status.loadBalancer.ingress` of every Service of our class: its valid assigned addresses
//   (what `kubectl get svc` shows as EXTERNAL-IP, and what Pulumi waits for). Written by the
//   status writer (one speaker, elected like an address with a fixed key) so N speakers do not
//   race. Addresses that will never be announced are left out, with a Warning event.
// - `l2lb.dev/announced-by` annotation: `ip=node/iface[+iface]` per address, comma-separated.
//   Each owner writes its own entries (optimistic concurrency on resourceVersion); the status
//   writer removes entries of addresses nobody announces any more.
// - When a Service leaves l2lb (type or class changed, assignment annotation removed), each node
//   named in its `announced-by` removes its own entries and the ingress entries of those
//   addresses (`departureStep`); the status writer does so for nodes that are gone.
// - AddressPool `status`: `assigned` (addresses of the pool held by Services), `announced`
//   (of those, the ones with an owner), `services`, `addresses` (pool size, decimal string).
import { parseRange, rangeSize } from "../../provider/core/ip/index.ts";
import type { AddressPool } from "../../provider/core/model/pool.ts";
import type { Plan } from "../election/plan.ts";

export interface Ingress {
  ip: string;
}

/** Desired `status.loadBalancer.ingress` for a Service. */
export function desiredIngress(plan: Plan, serviceKey: string): Ingress[] {
  return (plan.serviceAddresses.get(serviceKey) ?? []).map((ip) => ({ ip }));
}

export function sameIngress(current: readonly { ip?: string | undefined; hostname?: string | undefined }[] | undefined, desired: readonly Ingress[]): boolean {
  const cur = current ?? [];
  return cur.length === desired.length && cur.every((c, i) => c.ip === desired[i]?.ip && c.hostname === undefined);
}

/** Parses `ip=node/iface,...` into ip → `node/iface`. Junk entries are dropped. */
export function parseAnnouncedBy(value: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (value ?? "").split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const ip = part.slice(0, eq).trim();
    const who = part.slice(eq + 1).trim();
    if (ip && who.includes("/")) out.set(ip, who);
  }
  return out;
}

export function formatAnnouncedBy(entries: ReadonlyMap<string, string>): string {
  return [...entries.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([ip, who]) => `${ip}=${who}`)
    .join(",");
}

/**
 * New annotation value after this node's update: `mine` (ip → interfaces) are the addresses of
 * this Service this node announces; entries naming this node for other addresses are removed;
 * entries of other nodes are kept unless `drop` lists their address. `undefined` = remove the
 * annotation.
 */
export function updateAnnouncedBy(
  current: string | undefined,
  node: string,
  mine: ReadonlyMap<string, readonly string[]>,
  drop: ReadonlySet<string> = new Set(),
): string | undefined {
  const entries = parseAnnouncedBy(current);
  for (const [ip, who] of [...entries]) {
    if (who.startsWith(`${node}/`) && !mine.has(ip)) entries.delete(ip);
    else if (drop.has(ip) && !mine.has(ip)) entries.delete(ip);
  }
  for (const [ip, ifaces] of mine) entries.set(ip, `${node}/${[...ifaces].join("+")}`);
  return entries.size === 0 ? undefined : formatAnnouncedBy(entries);
}

/** A `status.loadBalancer.ingress` entry as the API returns it (every field kept on rewrite). */
export interface IngressEntry {
  ip?: string | undefined;
  hostname?: string | undefined;
  [field: string]: unknown;
}

/** The next write that removes l2lb's marks from a Service that is no longer l2lb's. */
export type Departure =
  /** First the ingress entries of the addresses these entries of announced-by name (others kept). */
  | { kind: "ingress"; ips: string[]; ingress: IngressEntry[] }
  /** Then the announced-by entries themselves; `undefined` = remove the annotation. */
  | { kind: "announced-by"; ips: string[]; value: string | undefined };

/**
 * What a speaker removes from a Service that left l2lb (another class, another type, or no
 * assignment): the `announced-by` entries it is responsible for (`responsible(node)`: its own
 * entries, and for the status writer those of nodes no longer alive), and the ingress entries of
 * exactly those addresses — nothing another implementation wrote. Ingress goes first, so a
 * speaker that dies between the two writes finds its entries again when it restarts.
 * `undefined` = nothing to remove.
 */
export function departureStep(
  announcedBy: string | undefined,
  ingress: readonly IngressEntry[] | undefined,
  responsible: (node: string) => boolean,
): Departure | undefined {
  const entries = parseAnnouncedBy(announcedBy);
  const ips = [...entries].filter(([, who]) => responsible(who.slice(0, who.indexOf("/")))).map(([ip]) => ip);
  if (ips.length === 0) return undefined;
  const drop = new Set(ips);
  const kept = (ingress ?? []).filter((e) => e.hostname !== undefined || e.ip === undefined || !drop.has(e.ip));
  if (kept.length !== (ingress ?? []).length) return { kind: "ingress", ips, ingress: kept };
  for (const ip of ips) entries.delete(ip);
  return { kind: "announced-by", ips, value: entries.size === 0 ? undefined : formatAnnouncedBy(entries) };
}

/** What an AddressPool's status reports (as the status writer writes it): counts and the size in addresses. */
export interface PoolStatusUsage {
  assigned: number;
  announced: number;
  services: number;
  addresses: string;
}

/** Usage of each pool, by pool name. */
export function poolUsage(plan: Plan, pools: readonly AddressPool[]): Map<string, PoolStatusUsage> {
  const out = new Map<string, PoolStatusUsage>();
  for (const p of pools) {
    let size = 0n;
    for (const text of p.spec.addresses ?? []) {
      try {
        size += rangeSize(parseRange(text));
      } catch {
        // invalid ranges count for nothing
      }
    }
    out.set(p.name, { assigned: 0, announced: 0, services: 0, addresses: size.toString() });
  }
  const services = new Map<string, Set<string>>();
  for (const a of plan.addresses) {
    const u = out.get(a.pool);
    if (u === undefined) continue;
    u.assigned++;
    if (a.owner !== undefined) u.announced++;
    const set = services.get(a.pool) ?? new Set<string>();
    a.services.forEach((s) => set.add(s));
    services.set(a.pool, set);
  }
  for (const [pool, set] of services) {
    const u = out.get(pool);
    if (u) u.services = set.size;
  }
  return out;
}
