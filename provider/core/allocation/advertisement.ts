// What an L2Advertisement announces: which pools, and on which interfaces of a node. One rule for
// the allocator and `l2lb plan` (a pool nobody announces is not used) and the election.
import { cidrContains, cidrToRange, parseCidr, parseRange, rangeWithin } from "../ip/index.ts";
import type { IpRange } from "../ip/index.ts";
import type { PublishedSubnet } from "../model/contract.ts";
import type { AddressPool, GratuitousSettings, L2Advertisement } from "../model/pool.ts";
import { anySelectorMatches, globMatches } from "../model/selectors.ts";

/** The same gratuitous settings (the same object, or the same fields). */
export function sameGratuitous(a: GratuitousSettings | undefined, b: GratuitousSettings | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.count === b.count && a.intervalMs === b.intervalMs && a.refreshSeconds === b.refreshSeconds);
}

/** Does the advertisement select the pool? Neither names nor selectors = every pool. */
export function advertisementSelectsPool(ad: L2Advertisement, pool: Pick<AddressPool, "name" | "labels">): boolean {
  const names = ad.spec?.ipAddressPools ?? [];
  const selectors = ad.spec?.ipAddressPoolSelectors ?? [];
  if (names.length === 0 && selectors.length === 0) return true;
  if (names.includes(pool.name)) return true;
  return selectors.length > 0 && anySelectorMatches(selectors, pool.labels);
}

/** Does the advertisement let a node with these labels announce? No nodeSelectors = every node. */
export function advertisementSelectsNode(ad: L2Advertisement, nodeLabels: Readonly<Record<string, string>> | undefined): boolean {
  return anySelectorMatches(ad.spec?.nodeSelectors, nodeLabels);
}

/**
 * Interfaces of a node's published subnets that an advertisement's `interfaces` allows.
 * Entries: exact names, globs, `!glob` exclusions (applied last), and `can_reach:<ip>`, which
 * selects the interface whose published subnet contains `<ip>` (the route-table refinement is
 * the data plane's; for a routed target name the interface instead).
 */
export function allowedInterfaces(patterns: readonly string[] | undefined, subnets: readonly PublishedSubnet[]): Set<string> {
  const names = [...new Set(subnets.map((s) => s.interface))];
  const include = (patterns ?? []).filter((p) => !p.startsWith("!"));
  const exclude = (patterns ?? []).filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  const chosen = new Set<string>();
  if (include.length === 0) names.forEach((n) => chosen.add(n));
  for (const p of include) {
    if (p.startsWith("can_reach:")) {
      const target = p.slice("can_reach:".length);
      for (const s of subnets) {
        if (safeContains(s.cidr, target)) chosen.add(s.interface);
      }
    } else {
      for (const n of names) if (n === p || globMatches(p, n)) chosen.add(n);
    }
  }
  for (const n of [...chosen]) if (exclude.some((p) => globMatches(p, n))) chosen.delete(n);
  return chosen;
}

function safeContains(cidr: string, ip: string): boolean {
  try {
    return cidrContains(cidr, ip);
  } catch {
    return false;
  }
}

/** A node as announcing reads it: its labels and the subnets its speaker published. */
export interface AnnouncingNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  subnets: readonly PublishedSubnet[];
}

/**
 * Can some node announce every address of `range` of `pool`? It must be selected by an
 * advertisement that selects the pool, and carry the range whole on a published subnet of an
 * interface that advertisement allows. Liveness, exclusion and endpoints are not asked: they
 * change with failures and rollouts, and an allocator that followed them would renumber Services.
 */
export function rangeAnnounceable(range: IpRange, pool: AddressPool, advertisements: readonly L2Advertisement[], nodes: readonly AnnouncingNode[]): boolean {
  return advertisements.some(
    (ad) =>
      advertisementSelectsPool(ad, pool) &&
      nodes.some((node) => {
        if (!advertisementSelectsNode(ad, node.labels)) return false;
        const allowed = allowedInterfaces(ad.spec?.interfaces, node.subnets);
        return node.subnets.some((s) => allowed.has(s.interface) && subnetHolds(s.cidr, range));
      }),
  );
}

/** Entries of `spec.addresses` of the pool that no node can announce ({@link rangeAnnounceable}); unparsable entries are the validation's. */
export function unannounceableEntries(pool: AddressPool, advertisements: readonly L2Advertisement[], nodes: readonly AnnouncingNode[]): string[] {
  return (pool.spec.addresses ?? []).filter((text) => {
    const range = tryParseRange(text);
    return range !== undefined && !rangeAnnounceable(range, pool, advertisements, nodes);
  });
}

function tryParseRange(text: string): IpRange | undefined {
  try {
    return parseRange(text);
  } catch {
    return undefined;
  }
}

function subnetHolds(cidr: string, range: IpRange): boolean {
  try {
    return rangeWithin(range, cidrToRange(parseCidr(cidr, { allowHostBits: true })));
  } catch {
    return false;
  }
}
