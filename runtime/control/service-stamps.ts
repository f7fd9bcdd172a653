// Per-Service change stamps. Besides the Service object itself, the writers (service-marks.ts,
// status-writer.ts) read a Service's addresses in the plan, those addresses' plans (owner,
// Services) and this node's owned entries for them. A new plan or owned set changes those for a
// few Services only — during a burst, the ones just assigned — so each change stamps just the
// Services it touches, and a writer that found a Service right looks at it again only once its
// stamp moved: a pass costs a lookup per Service instead of recomputing every Service's marks.
import type { AddressPlan, Plan } from "../election/plan.ts";
import type { Owned } from "./ownership.ts";

export class ServiceStamps {
  private seq = 0;
  private readonly stamps = new Map<string, number>();
  /** Every stamp is at least this: raised when something all Services read changed. */
  private floor = 0;

  /** The stamp of a Service (`namespace/name`): equal stamps mean nothing the writers read of it moved. */
  of(key: string): number {
    return Math.max(this.stamps.get(key) ?? 0, this.floor);
  }

  /** Something every Service's marks read changed (live speakers, the status writer, a release of everything). */
  touchAll(): void {
    this.floor = ++this.seq;
    this.stamps.clear();
  }

  touch(keys: Iterable<string>): void {
    const stamp = ++this.seq;
    for (const key of keys) this.stamps.set(key, stamp);
  }

  /**
   * A new plan: stamps the Services whose addresses changed and the Services of every address
   * whose plan is not the same object as before (plans computed with a PlanMemo keep the object of
   * an unchanged address).
   */
  planChanged(prev: Plan, prevByIp: ReadonlyMap<string, AddressPlan>, next: Plan): void {
    const touched = new Set<string>();
    const nextIps = new Set<string>();
    for (const a of next.addresses) {
      nextIps.add(a.ip);
      const p = prevByIp.get(a.ip);
      if (p === a) continue;
      for (const k of a.services) touched.add(k);
      for (const k of p?.services ?? []) touched.add(k);
    }
    for (const p of prev.addresses) if (!nextIps.has(p.ip)) for (const k of p.services) touched.add(k);
    for (const [key, ips] of next.serviceAddresses) if (!sameIps(prev.serviceAddresses.get(key), ips)) touched.add(key);
    for (const key of prev.serviceAddresses.keys()) if (!next.serviceAddresses.has(key)) touched.add(key);
    if (touched.size > 0) this.touch(touched);
    // Stamps of deleted Services are let go by starting over (one full pass), never one by one:
    // a stamp that went back to an older value could match what a writer recorded before.
    if (this.stamps.size > 2 * next.serviceAddresses.size + 1000) this.touchAll();
  }

  /** This node's owned set changed: stamps the Services of the addresses gained, lost or moved to other interfaces. */
  ownedChanged(prev: ReadonlyMap<string, Owned>, next: ReadonlyMap<string, Owned>, byIp: ReadonlyMap<string, AddressPlan>): void {
    const touched = new Set<string>();
    const add = (ip: string): void => {
      for (const k of byIp.get(ip)?.services ?? []) touched.add(k);
    };
    for (const [ip, o] of next) if (prev.get(ip) !== o) add(ip);
    for (const ip of prev.keys()) if (!next.has(ip)) add(ip);
    if (touched.size > 0) this.touch(touched);
  }
}

function sameIps(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((ip, i) => ip === b[i]);
}
