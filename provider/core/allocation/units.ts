/**
 * From Services and shared-IP groups to *units*, the things the allocator places: a shared-IP
 * group is one unit (its members land on one address per family), every other Service is a unit
 * of its own. Everything a unit asks for is validated here, against the compiled pools, and each
 * problem is filed under the Service or group it belongs to — so that a caller may refuse just
 * those and plan the rest.
 */
import { familyName, formatAddress } from "../ip/index.ts";
import type { Address, Family } from "../ip/index.ts";
import { admitRefusal, DNS_NAME, exclusionReason, poolAdmits, RangeIndex } from "./pools.ts";
import type { CompiledPool, Exclusions } from "./pools.ts";
import { describeBackend, ipSetKey, parseIpList, parseService, rawServiceKey } from "./requests.ts";
import type { ParsedService } from "./requests.ts";
import type { ConfigProblem, ServiceRequest, SharedIpGroup } from "./types.ts";
import type { AllocationMemo, ParsedRequest } from "./memo.ts";

/** A set of Services placed together: one Service, or a shared-IP group. */
export interface Unit {
  /** The Service key, or `group:<name>`. Units are processed in the order of their id. */
  id: string;
  object: string;
  members: ParsedService[];
  /** Sharing key; groups get a private one nobody else can match. */
  sharingKey?: string;
  backendKey: string;
  ports: string[];
  wanted: Family[];
  required: Family[];
  requestedIps?: Address[];
  requestedPool?: string;
}

/** The compiled pools and what every check against them needs. */
export interface PoolContext {
  /** Sorted by name. */
  pools: CompiledPool[];
  byName: Map<string, CompiledPool>;
  index: RangeIndex;
  ex: Exclusions;
  nsLabels: Record<string, Record<string, string>>;
}

export function poolContext(pools: CompiledPool[], ex: Exclusions, nsLabels: Record<string, Record<string, string>>): PoolContext {
  return { pools, byName: new Map(pools.map((p) => [p.name, p])), index: new RangeIndex(pools), ex, nsLabels };
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isGroup(u: Unit): boolean {
  return u.id.startsWith("group:");
}

/** The first member the pool does not admit, or `undefined` when it admits them all. */
export function memberRefusedBy(pool: CompiledPool, u: Unit, ctx: PoolContext): ParsedService | undefined {
  return u.members.find((m) => !poolAdmits(pool, m.svc, ctx.nsLabels));
}

/** Every pool with its ranges, for messages. */
export function describePools(ctx: PoolContext): string {
  return ctx.pools.length === 0 ? "no pools are defined" : ctx.pools.map((p) => `"${p.name}" (${p.ranges.map((r) => r.text).join(", ")})`).join(", ");
}

/** Problems of Services and shared-IP groups, filed under the object they belong to. */
export class ServiceProblems {
  /** By Service key. */
  readonly services = new Map<string, ConfigProblem[]>();
  /** By group object (`SharedIpGroup "web"`, or `SharedIpGroup #2` when it has no name). */
  readonly groups = new Map<string, ConfigProblem[]>();
  /** Problems of Services without a key (no name): they name the Service by position. */
  readonly unkeyed: ConfigProblem[] = [];

  addForService(key: string | undefined, problem: ConfigProblem): void {
    if (key === undefined) this.unkeyed.push(problem);
    else append(this.services, key, problem);
  }

  addForGroup(object: string, problem: ConfigProblem): void {
    append(this.groups, object, problem);
  }

  addForUnit(u: Unit, problem: ConfigProblem): void {
    if (isGroup(u)) this.addForGroup(u.object, problem);
    else this.addForService(u.id, problem);
  }

  /** Files every problem of `other` here too. */
  merge(other: ServiceProblems): void {
    for (const [key, list] of other.services) for (const p of list) append(this.services, key, p);
    for (const [object, list] of other.groups) for (const p of list) append(this.groups, object, p);
    this.unkeyed.push(...other.unkeyed);
  }

  isEmpty(): boolean {
    return this.services.size === 0 && this.groups.size === 0 && this.unkeyed.length === 0;
  }

  all(): ConfigProblem[] {
    return [...this.unkeyed, ...[...this.services.values()].flat(), ...[...this.groups.values()].flat()];
  }
}

function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/**
 * Parses every Service. Problems are filed under the Service; a key defined twice is a problem of
 * that key, and neither definition is returned.
 */
export function readServices(list: readonly ServiceRequest[], found: ServiceProblems, memo?: AllocationMemo): Map<string, ParsedService> {
  const services = new Map<string, ParsedService>();
  const duplicated = new Set<string>();
  list.forEach((raw, i) => {
    const { parsed, problems } = parseRequest(raw, i, memo);
    const key = rawServiceKey(raw);
    for (const p of problems) found.addForService(key, p);
    if (parsed === undefined) return;
    if (services.has(parsed.key) || duplicated.has(parsed.key)) {
      found.addForService(parsed.key, { object: parsed.object, field: "metadata.name", message: `${parsed.object} is defined twice; remove one of the definitions.` });
      duplicated.add(parsed.key);
    }
    services.set(parsed.key, parsed);
  });
  for (const key of duplicated) services.delete(key);
  return services;
}

/** One request parsed; a memo keeps the parse of a named request object (its position is then not part of any message). */
function parseRequest(raw: ServiceRequest, index: number, memo: AllocationMemo | undefined): ParsedRequest {
  const compute = (): ParsedRequest => {
    const problems: ConfigProblem[] = [];
    return { parsed: parseService(raw, index, problems), problems };
  };
  const named = raw !== null && typeof raw === "object" && typeof raw.name === "string" && raw.name !== "";
  return memo !== undefined && named ? memo.parse(raw, compute) : compute();
}

/** Why a Service is refused: its own problems (`undefined`), or the refused group it is a member of. */
export type RefusalCause = string | undefined;

/** What the groups and Services of one round make. */
export interface UnitsRead {
  /** Sorted by id. */
  units: Unit[];
  /** Group object → keys of the Services it claimed (listed, existing, not refused, and not claimed by a group before it). */
  members: Map<string, string[]>;
}

/**
 * Builds the units from the Services not refused and the groups not skipped, and checks their
 * requests against the pools; problems go to `found`.
 */
export function readUnits(
  services: ReadonlyMap<string, ParsedService>,
  groups: readonly SharedIpGroup[],
  refused: ReadonlyMap<string, RefusalCause>,
  skippedGroups: ReadonlySet<string>,
  ctx: PoolContext,
  found: ServiceProblems,
  memo?: AllocationMemo,
): UnitsRead {
  const { units, members, grouped } = readGroups(groups, services, refused, skippedGroups, found);
  for (const s of services.values()) if (!grouped.has(s.key)) units.push(memo === undefined ? serviceUnit(s) : memo.unit(s, () => serviceUnit(s)));
  units.sort((a, b) => cmp(a.id, b.id));
  for (const u of units) {
    checkRequestedPool(u, ctx, found);
    checkRequestedIps(u, ctx, found);
  }
  return { units, members };
}

function serviceUnit(s: ParsedService): Unit {
  const unit: Unit = { id: s.key, object: s.object, members: [s], backendKey: s.backendKey, ports: s.ports, wanted: s.wanted, required: s.required };
  if (s.sharingKey !== undefined) unit.sharingKey = s.sharingKey;
  if (s.requestedIps !== undefined) unit.requestedIps = s.requestedIps;
  if (s.requestedPool !== undefined) unit.requestedPool = s.requestedPool;
  return unit;
}

/** A group as written, with what identifies it. */
interface GroupEntry {
  group: SharedIpGroup;
  name: string;
  object: string;
}

/** `"ns/name"`, or `"name"` for the default namespace. */
function memberKey(raw: unknown): string | undefined {
  if (typeof raw !== "string") return undefined;
  return raw.includes("/") ? raw : `default/${raw}`;
}

/**
 * Reads the groups in the order of their names (never input order, so which of two groups
 * listing one Service gets the problem does not depend on it) into units. A Service belongs to
 * the first group that lists it; a later one listing it is invalid.
 */
function readGroups(
  groups: readonly SharedIpGroup[],
  services: ReadonlyMap<string, ParsedService>,
  refused: ReadonlyMap<string, RefusalCause>,
  skipped: ReadonlySet<string>,
  found: ServiceProblems,
): UnitsRead & { grouped: Map<string, string> } {
  const entries: GroupEntry[] = groups.map((group, i) => {
    const name = typeof group?.name === "string" ? group.name : "";
    return { group, name, object: name ? `SharedIpGroup "${name}"` : `SharedIpGroup #${i + 1}` };
  });
  entries.sort((a, b) => cmp(a.name, b.name));
  const definitions = new Map<string, number>();
  for (const e of entries) definitions.set(e.name, (definitions.get(e.name) ?? 0) + 1);
  const units: Unit[] = [];
  const members = new Map<string, string[]>();
  const grouped = new Map<string, string>();
  for (const e of entries) {
    members.set(e.object, [...(members.get(e.object) ?? []), ...claimListed(e, services, grouped)]);
    if (skipped.has(e.object)) continue;
    const add = (field: string, message: string): void => found.addForGroup(e.object, { object: e.object, field, message: `${e.object} ${message}` });
    const unit = readGroup(e, (definitions.get(e.name) ?? 0) > 1, services, refused, grouped, add);
    if (unit !== undefined) units.push(unit);
  }
  return { units, members, grouped };
}

/**
 * Claims for the group every Service it lists that exists and no group before it claimed — also
 * when the group turns out invalid: refusing it then refuses exactly these Services.
 */
function claimListed(e: GroupEntry, services: ReadonlyMap<string, ParsedService>, grouped: Map<string, string>): string[] {
  const claimed: string[] = [];
  const list: unknown[] = Array.isArray(e.group?.services) ? e.group.services : [];
  for (const ref of list.map(memberKey)) {
    if (ref === undefined || !services.has(ref) || grouped.has(ref)) continue;
    grouped.set(ref, e.object);
    claimed.push(ref);
  }
  return claimed;
}

type AddProblem = (field: string, message: string) => void;

/**
 * One group into a unit, or `undefined` when it cannot be read (no name, defined twice, no or
 * unusable members). A unit is returned even when later rules fail, so that its requests are
 * checked too and every problem is reported at once.
 */
function readGroup(
  e: GroupEntry,
  definedTwice: boolean,
  services: ReadonlyMap<string, ParsedService>,
  refused: ReadonlyMap<string, RefusalCause>,
  grouped: ReadonlyMap<string, string>,
  add: AddProblem,
): Unit | undefined {
  const g = e.group;
  if (!e.name) return void add("metadata.name", "has no name; give it a metadata.name.");
  if (!DNS_NAME.test(e.name)) add("metadata.name", "has an invalid name; use lowercase letters, digits, '-' and '.'.");
  if (definedTwice) return void add("metadata.name", "is defined twice; rename or remove one of them.");
  if (!Array.isArray(g.services) || g.services.length === 0) return void add("spec.services", `lists no Services; list the "namespace/name" of each member.`);
  let allClaimed = true;
  const members = checkMembers(e, g.services, services, refused, grouped, (field, message) => {
    allClaimed = false;
    add(field, message);
  });
  if (!allClaimed) return undefined;
  members.sort((a, b) => cmp(a.key, b.key));
  checkMembersCanShare(members, add);
  const requests = groupRequests(g, members, add);
  const { wanted, required } = groupFamilies(members);
  if (requests.ips !== undefined) checkRequestedFamilies(requests.ips, requests.ipsFrom === "spec.ip" ? "spec.ip" : "spec.services", wanted, required, add);
  const unit: Unit = {
    id: `group:${e.name}`,
    object: e.object,
    members,
    sharingKey: `\u0000group:${e.name}`,
    backendKey: members[0]!.backendKey,
    ports: members.flatMap((m) => m.ports),
    wanted,
    required,
  };
  if (requests.ips !== undefined) unit.requestedIps = requests.ips;
  if (requests.pool !== undefined) unit.requestedPool = requests.pool;
  return unit;
}

/** The listed Services, if this group claimed each of them; a problem for every entry it did not. */
function checkMembers(
  e: GroupEntry,
  list: readonly unknown[],
  services: ReadonlyMap<string, ParsedService>,
  refused: ReadonlyMap<string, RefusalCause>,
  grouped: ReadonlyMap<string, string>,
  add: AddProblem,
): ParsedService[] {
  const members: ParsedService[] = [];
  const seen = new Set<string>();
  list.forEach((raw, i) => {
    const field = `spec.services[${i}]`;
    const ref = memberKey(raw) ?? "";
    const m = services.get(ref);
    if (m === undefined) return add(field, unknownMemberMessage(raw, ref, refused));
    const owner = grouped.get(ref);
    if (owner !== e.object) return add(field, alreadyGroupedMessage(ref, owner ?? "another group"));
    if (seen.has(ref)) return add(field, `lists Service "${ref}" twice; list it once.`);
    seen.add(ref);
    members.push(m);
  });
  return members;
}

function unknownMemberMessage(raw: unknown, ref: string, refused: ReadonlyMap<string, RefusalCause>): string {
  if (!refused.has(ref)) {
    return `lists ${JSON.stringify(raw)}, which is not a known LoadBalancer Service; create the Service, fix the "namespace/name", or remove it from the group.`;
  }
  const group = refused.get(ref);
  if (group !== undefined) return alreadyGroupedMessage(ref, group);
  return `lists Service "${ref}", which is invalid (its own problems say why); fix the Service or remove it from the group.`;
}

function alreadyGroupedMessage(ref: string, otherGroup: string): string {
  return `lists Service "${ref}", which is already in ${otherGroup}; a Service belongs to one group at most — remove it from one of them.`;
}

/** Port and policy rules between every two members, checked up front. */
function checkMembersCanShare(members: readonly ParsedService[], add: AddProblem): void {
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      const a = members[i] as ParsedService;
      const b = members[j] as ParsedService;
      const clash = a.ports.filter((p) => b.ports.includes(p));
      if (clash.length > 0) {
        add("spec.services", `puts Services "${a.key}" and "${b.key}" on one address, but both use ${clash.join(", ")}; change one port or take one Service out of the group.`);
      }
      if (a.backendKey !== b.backendKey) {
        add(
          "spec.services",
          `puts Services "${a.key}" (${describeBackend(a.backendKey)}) and "${b.key}" (${describeBackend(b.backendKey)}) on one address; Services sharing an address need the same traffic policy, and Local ones the same pod selector.`,
        );
      }
    }
  }
}

/** The group's requests: its own, and any its members carry, which must agree. */
function groupRequests(g: SharedIpGroup, members: readonly ParsedService[], add: AddProblem): { ips?: Address[]; ipsFrom: string; pool?: string } {
  let ips: Address[] | undefined;
  let ipsFrom = "";
  if (g.ip !== undefined && g.ip !== "") {
    const parsed = parseIpList(String(g.ip));
    if (parsed.ips === undefined) add("spec.ip", `has an invalid spec.ip: ${parsed.error}; write one address, or an IPv4 and an IPv6 address separated by a comma.`);
    else {
      ips = parsed.ips;
      ipsFrom = "spec.ip";
    }
  }
  let pool = typeof g.pool === "string" && g.pool !== "" ? g.pool : undefined;
  let poolFrom = pool !== undefined ? "spec.pool" : "";
  for (const m of members) {
    if (m.requestedIps !== undefined) {
      if (ips === undefined) {
        ips = m.requestedIps;
        ipsFrom = `Service "${m.key}"`;
      } else if (ipSetKey(ips) !== ipSetKey(m.requestedIps)) {
        add("spec.services", `requests ${ipSetKey(ips)} (${ipsFrom}) but member Service "${m.key}" requests ${ipSetKey(m.requestedIps)} (${m.requestedIpsField}); make them equal or drop one request.`);
      }
    }
    if (m.requestedPool !== undefined) {
      if (pool === undefined) {
        pool = m.requestedPool;
        poolFrom = `Service "${m.key}"`;
      } else if (pool !== m.requestedPool) {
        add("spec.services", `requests pool "${pool}" (${poolFrom}) but member Service "${m.key}" requests pool "${m.requestedPool}"; make them equal or drop one request.`);
      }
    }
  }
  const out: { ips?: Address[]; ipsFrom: string; pool?: string } = { ipsFrom };
  if (ips !== undefined) out.ips = ips;
  if (pool !== undefined) out.pool = pool;
  return out;
}

/** The families any member takes, and those some member requires. */
function groupFamilies(members: readonly ParsedService[]): { wanted: Family[]; required: Family[] } {
  const wanted: Family[] = [];
  const required: Family[] = [];
  for (const m of members) {
    for (const f of m.wanted) if (!wanted.includes(f)) wanted.push(f);
    for (const f of m.required) if (!required.includes(f)) required.push(f);
  }
  return { wanted, required };
}

function checkRequestedFamilies(ips: readonly Address[], field: string, wanted: readonly Family[], required: readonly Family[], add: AddProblem): void {
  for (const a of ips) {
    if (!wanted.includes(a.family)) add(field, `requests an ${familyName(a.family)} address, but none of its members takes ${familyName(a.family)}; request an address of the members' family.`);
  }
  for (const f of required) {
    if (!ips.some((a) => a.family === f)) add(field, `requests no ${familyName(f)} address, but a member requires one; request one address per family.`);
  }
}

/** A requested pool must exist and admit every member. */
function checkRequestedPool(u: Unit, ctx: PoolContext, found: ServiceProblems): void {
  if (u.requestedPool === undefined) return;
  const field = isGroup(u) ? "spec.pool" : (u.members[0]!.requestedPoolField ?? "");
  const pool = ctx.byName.get(u.requestedPool);
  if (pool === undefined) {
    const names = ctx.pools.map((p) => `"${p.name}"`).join(", ") || "none are defined";
    found.addForUnit(u, { object: u.object, field, message: `${u.object} requests pool "${u.requestedPool}", which does not exist; name one of the pools (${names}) or define it.` });
    return;
  }
  const refused = memberRefusedBy(pool, u, ctx);
  if (refused !== undefined) {
    found.addForUnit(u, {
      object: u.object,
      field,
      message: `${u.object} requests pool "${pool.name}", but ${admitRefusal(pool, refused.svc, ctx.nsLabels)}; widen the pool's serviceAllocation or request another pool.`,
    });
  }
}

/** Every requested address must lie in one pool that may hand it out to every member, and agree with a requested pool. */
function checkRequestedIps(u: Unit, ctx: PoolContext, found: ServiceProblems): void {
  if (u.requestedIps === undefined) return;
  const field = isGroup(u) ? "spec.ip" : (u.members[0]!.requestedIpsField ?? "");
  const add = (message: string): void => found.addForUnit(u, { object: u.object, field, message: `${u.object} ${message}` });
  let firstPool: string | undefined;
  for (const a of u.requestedIps) {
    const text = formatAddress(a);
    const range = ctx.index.find(a.family, a.value);
    if (range === undefined) {
      add(`requests ${text}, which is in no address pool; request an address from a pool (${describePools(ctx)}) or add ${text} to one.`);
      continue;
    }
    const pool = ctx.byName.get(range.pool) as CompiledPool;
    const why = exclusionReason(pool, range, a.value, ctx.ex);
    if (why !== undefined) add(`requests ${text}, which cannot be handed out: ${why}; request another address.`);
    const refused = memberRefusedBy(pool, u, ctx);
    if (refused !== undefined) {
      add(`requests ${text} from pool "${pool.name}", but ${admitRefusal(pool, refused.svc, ctx.nsLabels)}; request an address from a pool that serves it, or widen the pool's serviceAllocation.`);
    }
    if (u.requestedPool !== undefined && u.requestedPool !== pool.name && ctx.byName.has(u.requestedPool)) {
      add(`requests ${text}, which is in pool "${pool.name}", and also pool "${u.requestedPool}"; drop one of the two requests or make them agree.`);
    }
    if (firstPool !== undefined && firstPool !== pool.name) {
      add(`requests addresses from two pools ("${firstPool}" and "${pool.name}"); all addresses of a Service come from one pool — request addresses from one pool.`);
    }
    firstPool ??= pool.name;
  }
}
