// Interface discovery and selection. Reads the kernel's table with `ip -j -d addr show` (one call
// gives flags, MAC, master, link kind and addresses), resolves `can_reach:<ip>` with
// `ip -j route get`, and watches for changes with `ip monitor link address`.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { globToRegExp } from "../../provider/core/model/selectors.ts";
import { canonicalIp, subnetOf } from "./addr.ts";
import type { EligibleInterface, InterfaceSelection } from "./types.ts";

const run = promisify(execFile);

/**
 * Interfaces never chosen by a glob or by default (an exact name still selects them): container
 * and overlay plumbing whose MAC must never answer for a service address.
 */
export const DEFAULT_EXCLUSIONS: readonly string[] = [
  "lo", "docker*", "veth*", "cali*", "flannel*", "kube-ipvs*", "cni*", "cilium*", "lxc*", "tunl*",
  "vxlan*", "weave*", "kube-bridge", "nodelocaldns", "virbr*", "cbr*", "dummy*", "tap*", "vnet*", "podman*",
];

/** One link as read from the kernel, before selection. */
export interface LinkRecord extends EligibleInterface {
  flags: string[];
  linkType: string;
  /** Set when enslaved to a bond or bridge. */
  master?: string;
  kind?: string;
}

interface IpAddrJson {
  ifindex: number;
  ifname: string;
  flags?: string[];
  link_type?: string;
  address?: string;
  master?: string;
  operstate?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ family?: string; local?: string; prefixlen?: number; scope?: string; tentative?: boolean; dadfailed?: boolean }>;
}

/** Parses the JSON of `ip -j -d addr show`. Exported for tests. */
export function parseIpAddr(json: string): LinkRecord[] {
  const raw = JSON.parse(json) as IpAddrJson[];
  const out: LinkRecord[] = [];
  for (const l of raw) {
    if (typeof l.ifname !== "string" || typeof l.ifindex !== "number") continue;
    // VLAN sub-interfaces are listed as "eth0.100@eth0".
    const name = l.ifname.split("@")[0]!;
    const flags = l.flags ?? [];
    const addresses: EligibleInterface["addresses"] = [];
    const subnets = new Set<string>();
    for (const a of l.addr_info ?? []) {
      if ((a.family !== "inet" && a.family !== "inet6") || !a.local || a.prefixlen === undefined) continue;
      if (a.scope !== "global" || a.dadfailed) continue;
      try {
        const address = canonicalIp(a.local);
        addresses.push({ address, prefixLength: a.prefixlen });
        subnets.add(subnetOf(address, a.prefixlen));
      } catch {
        continue;
      }
    }
    const rec: LinkRecord = {
      name,
      ifindex: l.ifindex,
      mac: (l.address ?? "").toLowerCase(),
      up: flags.includes("UP") && flags.includes("LOWER_UP"),
      addresses,
      subnets: [...subnets],
      flags,
      linkType: l.link_type ?? "",
    };
    if (l.master) rec.master = l.master;
    if (l.linkinfo?.info_kind) rec.kind = l.linkinfo.info_kind;
    out.push(rec);
  }
  return out;
}

/** Reads every link of this network namespace. */
export async function readLinks(): Promise<LinkRecord[]> {
  const { stdout } = await run("ip", ["-j", "-d", "addr", "show"], { maxBuffer: 64 << 20 });
  return parseIpAddr(stdout);
}

/** Name of the interface the route toward `ip` leaves through, or undefined when unreachable. */
export async function routeInterface(ip: string): Promise<string | undefined> {
  try {
    const { stdout } = await run("ip", ["-j", "route", "get", canonicalIp(ip)]);
    const r = JSON.parse(stdout) as Array<{ dev?: string }>;
    return r[0]?.dev;
  } catch {
    return undefined;
  }
}

export { globToRegExp };

const isGlob = (s: string): boolean => /[*?[]/.test(s);

/** Why a link can never answer, or undefined when it can. */
export function ineligibility(l: LinkRecord): string | undefined {
  if (l.flags.includes("LOOPBACK")) return "loopback";
  if (l.linkType !== "ether") return `link type ${l.linkType || "unknown"}`;
  if (l.flags.includes("NOARP")) return "NOARP";
  if (l.master) return `enslaved to ${l.master}`;
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(l.mac) || l.mac === "00:00:00:00:00:00") return "no MAC address";
  return undefined;
}

/** Validates a selection; throws on entries that can never match anything. */
export function validateSelection(selection: InterfaceSelection): void {
  for (const s of selection) {
    if (typeof s !== "string" || s.trim() === "" || s === "!") throw new Error(`bad interface selection entry ${JSON.stringify(s)}`);
    if (s.startsWith("can_reach:")) canonicalIp(s.slice("can_reach:".length));
  }
}

/**
 * Applies a selection to the links. `routes` maps each `can_reach:` entry's address to the
 * interface the kernel routes it through (see {@link routeInterface}).
 */
export function selectLinks(links: LinkRecord[], selection: InterfaceSelection | undefined, routes: ReadonlyMap<string, string | undefined>): LinkRecord[] {
  const excluded = DEFAULT_EXCLUSIONS.map(globToRegExp);
  const isDefaultExcluded = (n: string): boolean => excluded.some((r) => r.test(n));
  const includes = (selection ?? []).filter((s) => !s.startsWith("!"));
  const negations = (selection ?? []).filter((s) => s.startsWith("!")).map((s) => globToRegExp(s.slice(1)));
  const chosen = new Set<string>();
  for (const l of links) {
    if (ineligibility(l)) continue;
    let take = false;
    if (includes.length === 0) take = !isDefaultExcluded(l.name);
    for (const s of includes) {
      if (s.startsWith("can_reach:")) {
        if (routes.get(canonicalIp(s.slice("can_reach:".length))) === l.name) take = true;
      } else if (isGlob(s)) {
        if (globToRegExp(s).test(l.name) && !isDefaultExcluded(l.name)) take = true;
      } else if (s === l.name) take = true;
    }
    if (take && !negations.some((r) => r.test(l.name))) chosen.add(l.name);
  }
  return links.filter((l) => chosen.has(l.name));
}

/** Reads the links and applies the selection (resolving `can_reach:` through the routing table). */
export async function readSelected(selection: InterfaceSelection | undefined): Promise<{ all: LinkRecord[]; selected: LinkRecord[] }> {
  const all = await readLinks();
  const routes = new Map<string, string | undefined>();
  for (const s of selection ?? []) {
    if (!s.startsWith("can_reach:")) continue;
    const ip = canonicalIp(s.slice("can_reach:".length));
    routes.set(ip, await routeInterface(ip));
  }
  return { all, selected: selectLinks(all, selection, routes) };
}

/**
 * Calls `onChange` (debounced) whenever the kernel reports a link or address change. Restarts
 * `ip monitor` if it exits. Returns a stop function.
 */
export function watchLinks(onChange: () => void, onError: (err: Error) => void, debounceMs = 50): () => void {
  let child: ChildProcess | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let restart: NodeJS.Timeout | undefined;
  let backoffMs = 1000;
  let startedAt = 0;
  const fire = (): void => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped) onChange();
    }, debounceMs);
  };
  const start = (): void => {
    startedAt = Date.now();
    child = spawn("ip", ["monitor", "link", "address"], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", fire);
    child.stderr!.on("data", (d: Buffer) => onError(new Error(`ip monitor: ${d.toString().trim()}`)));
    child.on("error", (err) => onError(err));
    child.on("exit", () => {
      child = undefined;
      if (stopped) return;
      // Changes may have been missed while it was down. Restart with backoff (1 s doubling to
      // 30 s) when it keeps failing; periodic polling covers the gap.
      fire();
      backoffMs = Date.now() - startedAt > 60_000 ? 1000 : Math.min(backoffMs * 2, 30_000);
      restart = setTimeout(start, backoffMs);
    });
  };
  start();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    if (restart) clearTimeout(restart);
    child?.kill();
  };
}
