/**
 * The allocator.
 *
 * ## Algorithm: first-fit in a total order, previous assignments first
 *
 * 1. **Validate** everything up front (pools, node subnets, Services, shared-IP groups, requested
 *    addresses and pools). Any problem makes the whole plan invalid: nothing half-applied.
 * 2. Build **units**: a shared-IP group is one unit (its members land on one address per family);
 *    every other Service is a unit of its own. Units are processed in the order of their key
 *    (`namespace/name`, or `group:<name>`), never in input order, so the result is a function of
 *    the input *set*.
 * 3. **Sticky phase**: every unit whose previous assignment is still valid (address still in a pool
 *    that admits the Service, not excluded, family still wanted, request unchanged, pool still
 *    auto-assigning or still requested) keeps it. If two previous holders can no longer share,
 *    the one whose key sorts first keeps the address and the other is moved, with the reason.
 * 4. **Requested phase**: units that request explicit addresses get them if free or shareable
 *    under MetalLB's rules; otherwise the current holder wins and the unit gets an error naming
 *    the holder.
 * 5. **Auto phase**: the remaining units take, pool by pool in a total order — pinned pools
 *    (with a `serviceAllocation` that admits the Service) by `priority` (lower first, 0/unset
 *    last), then plain pools, each tier by name — the lowest usable address per family that is
 *    free or shareable. A unit's still-valid previous addresses are tried first (so a Service that
 *    becomes dual-stack keeps its IPv4 address).
 *
 * Why first-fit rather than hash placement: it gives the addresses people expect from MetalLB and
 * OpenELB (the first Service gets the first address), packs pools densely, and with the sticky
 * phase it already has the property hash placement is usually chosen for — adding or removing a
 * Service never moves another one. Its cost is O(services × log + exclusions): a per-pool,
 * per-family cursor only moves forward, so no pool is ever enumerated.
 */
import { familyName, formatAddress, tryParseAddress } from "../ip/index.ts";
import type { Address, Family } from "../ip/index.ts";
import { admitRefusal, compileExclusions, compilePools, DNS_NAME, exclusionReason, FirstFit, poolAdmits, RangeIndex } from "./pools.ts";
import type { CompiledPool } from "./pools.ts";
import { describeBackend, ipSetKey, parseIpList, parseService } from "./requests.ts";
import type { ParsedService } from "./requests.ts";
import type { AllocationInput, Assignment, Change, ConfigProblem, PlanResult, PoolUsage, ServiceOutcome } from "./types.ts";

/** A set of Services placed together: one Service, or a shared-IP group. */
interface Unit {
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
  /** Previous addresses that are individually still valid; tried first by the auto phase. */
  hints: Map<Family, bigint[]>;
}

interface Holding {
  pool: string;
  units: Unit[];
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeUnit(u: Unit): string {
  return u.object;
}

/** Why `unit` may not join the holders of an address, or `undefined` when it may (MetalLB's sharing rules). */
function sharingRefusal(unit: Unit, holding: Holding | undefined): string | undefined {
  if (holding === undefined) return undefined;
  for (const h of holding.units) {
    if (h === unit) continue;
    const who = describeUnit(h);
    if (h.id.startsWith("group:") || unit.id.startsWith("group:")) {
      return `it is used by ${who}${h.id.startsWith("group:") ? ", and a shared-IP group's address is reserved for its members" : ""}`;
    }
    if (unit.sharingKey === undefined) return `it is used by ${who}, and this Service has no sharing key`;
    if (h.sharingKey === undefined) return `it is used by ${who}, which has no sharing key`;
    if (h.sharingKey !== unit.sharingKey) return `it is used by ${who} with sharing key "${h.sharingKey}", not "${unit.sharingKey}"`;
    if (h.backendKey !== unit.backendKey) {
      return `it is used by ${who} with ${describeBackend(h.backendKey)}, but this Service has ${describeBackend(unit.backendKey)}`;
    }
    const theirs = new Set(h.ports);
    const clash = unit.ports.filter((p) => theirs.has(p));
    if (clash.length > 0) return `it is used by ${who}, which also uses ${clash.join(", ")}`;
  }
  return undefined;
}

function fixForRefusal(): string {
  return "give the Services the same sharing key (metallb.io/allow-shared-ip or l2lb.dev/sharing-key) with compatible traffic policies and distinct ports, or request another address";
}

export function planAllocation(input: AllocationInput): PlanResult {
  const problems: ConfigProblem[] = [];
  const ex = compileExclusions(input.nodeSubnets ?? [], input.nodeAddresses ?? [], problems);
  const pools = compilePools(input.pools ?? [], ex, problems);
  const poolByName = new Map(pools.map((p) => [p.name, p]));
  const nsLabels = input.namespaceLabels ?? {};

  // Services.
  const services = new Map<string, ParsedService>();
  (input.services ?? []).forEach((svc, i) => {
    const parsed = parseService(svc, i, problems);
    if (parsed === undefined) return;
    if (services.has(parsed.key)) {
      problems.push({ object: parsed.object, field: "metadata.name", message: `${parsed.object} is defined twice; remove one of the definitions.` });
      return;
    }
    services.set(parsed.key, parsed);
  });

  // Units: groups first (they claim members), then lone Services.
  const units: Unit[] = [];
  const grouped = new Map<string, string>();
  const groupNames = new Set<string>();
  (input.sharedIpGroups ?? []).forEach((g, gi) => {
    const name = typeof g?.name === "string" ? g.name : "";
    const object = name ? `SharedIpGroup "${name}"` : `SharedIpGroup #${gi + 1}`;
    const add = (field: string, message: string): void => {
      problems.push({ object, field, message: `${object} ${message}` });
    };
    if (!name) return add("metadata.name", "has no name; give it a metadata.name.");
    if (!DNS_NAME.test(name)) add("metadata.name", "has an invalid name; use lowercase letters, digits, '-' and '.'.");
    if (groupNames.has(name)) return add("metadata.name", "is defined twice; rename or remove one of them.");
    groupNames.add(name);
    if (!Array.isArray(g.services) || g.services.length === 0) return add("spec.services", `lists no Services; list the "namespace/name" of each member.`);
    const members: ParsedService[] = [];
    const before = problems.length;
    g.services.forEach((raw, i) => {
      const ref = typeof raw === "string" ? (raw.includes("/") ? raw : `default/${raw}`) : "";
      const m = services.get(ref);
      if (m === undefined) {
        return add(`spec.services[${i}]`, `lists ${JSON.stringify(raw)}, which is not a known LoadBalancer Service; create the Service, fix the "namespace/name", or remove it from the group.`);
      }
      const other = grouped.get(ref);
      if (other === name) return add(`spec.services[${i}]`, `lists Service "${ref}" twice; list it once.`);
      if (other !== undefined) return add(`spec.services[${i}]`, `lists Service "${ref}", which is already in SharedIpGroup "${other}"; a Service belongs to one group at most — remove it from one of them.`);
      grouped.set(ref, name);
      members.push(m);
    });
    if (problems.length > before) return;
    members.sort((a, b) => cmp(a.key, b.key));
    // Port and policy rules, checked up front.
    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
        const a = members[i] as ParsedService;
        const b = members[j] as ParsedService;
        const clash = a.ports.filter((p) => b.ports.includes(p));
        if (clash.length > 0) {
          add("spec.services", `puts Services "${a.key}" and "${b.key}" on one address, but both use ${clash.join(", ")}; change one port or take one Service out of the group.`);
        }
        if (a.backendKey !== b.backendKey) {
          add("spec.services", `puts Services "${a.key}" (${describeBackend(a.backendKey)}) and "${b.key}" (${describeBackend(b.backendKey)}) on one address; Services sharing an address need the same traffic policy, and Local ones the same pod selector.`);
        }
      }
    }
    // Requests: the group's own, and any its members carry, must agree.
    let requestedIps: Address[] | undefined;
    let ipsFrom = "";
    if (g.ip !== undefined && g.ip !== "") {
      const parsed = parseIpList(String(g.ip));
      if (parsed.ips === undefined) add("spec.ip", `has an invalid spec.ip: ${parsed.error}; write one address, or an IPv4 and an IPv6 address separated by a comma.`);
      else {
        requestedIps = parsed.ips;
        ipsFrom = "spec.ip";
      }
    }
    let requestedPool = typeof g.pool === "string" && g.pool !== "" ? g.pool : undefined;
    let poolFrom = requestedPool !== undefined ? "spec.pool" : "";
    for (const m of members) {
      if (m.requestedIps !== undefined) {
        if (requestedIps === undefined) {
          requestedIps = m.requestedIps;
          ipsFrom = `Service "${m.key}"`;
        } else if (ipSetKey(requestedIps) !== ipSetKey(m.requestedIps)) {
          add("spec.services", `requests ${ipSetKey(requestedIps)} (${ipsFrom}) but member Service "${m.key}" requests ${ipSetKey(m.requestedIps)} (${m.requestedIpsField}); make them equal or drop one request.`);
        }
      }
      if (m.requestedPool !== undefined) {
        if (requestedPool === undefined) {
          requestedPool = m.requestedPool;
          poolFrom = `Service "${m.key}"`;
        } else if (requestedPool !== m.requestedPool) {
          add("spec.services", `requests pool "${requestedPool}" (${poolFrom}) but member Service "${m.key}" requests pool "${m.requestedPool}"; make them equal or drop one request.`);
        }
      }
    }
    const wanted: Family[] = [];
    const required: Family[] = [];
    for (const m of members) {
      for (const f of m.wanted) if (!wanted.includes(f)) wanted.push(f);
      for (const f of m.required) if (!required.includes(f)) required.push(f);
    }
    if (requestedIps !== undefined) {
      for (const a of requestedIps) {
        if (!wanted.includes(a.family)) add(ipsFrom === "spec.ip" ? "spec.ip" : "spec.services", `requests an ${familyName(a.family)} address, but none of its members takes ${familyName(a.family)}; request an address of the members' family.`);
      }
      for (const f of required) {
        if (!requestedIps.some((a) => a.family === f)) add(ipsFrom === "spec.ip" ? "spec.ip" : "spec.services", `requests no ${familyName(f)} address, but a member requires one; request one address per family.`);
      }
    }
    const unit: Unit = {
      id: `group:${name}`,
      object,
      members,
      sharingKey: `\u0000group:${name}`,
      backendKey: members[0]!.backendKey,
      ports: members.flatMap((m) => m.ports),
      wanted,
      required,
      hints: new Map(),
    };
    if (requestedIps !== undefined) unit.requestedIps = requestedIps;
    if (requestedPool !== undefined) unit.requestedPool = requestedPool;
    units.push(unit);
  });
  for (const s of services.values()) {
    if (grouped.has(s.key)) continue;
    const unit: Unit = {
      id: s.key,
      object: s.object,
      members: [s],
      backendKey: s.backendKey,
      ports: s.ports,
      wanted: s.wanted,
      required: s.required,
      hints: new Map(),
    };
    if (s.sharingKey !== undefined) unit.sharingKey = s.sharingKey;
    if (s.requestedIps !== undefined) unit.requestedIps = s.requestedIps;
    if (s.requestedPool !== undefined) unit.requestedPool = s.requestedPool;
    units.push(unit);
  }
  units.sort((a, b) => cmp(a.id, b.id));

  const index = new RangeIndex(pools);
  const admitsUnit = (pool: CompiledPool, u: Unit): ParsedService | undefined => u.members.find((m) => !poolAdmits(pool, m.svc, nsLabels));
  const poolList = (): string =>
    pools.length === 0 ? "no pools are defined" : pools.map((p) => `"${p.name}" (${p.ranges.map((r) => r.text).join(", ")})`).join(", ");

  // Requests against pools.
  for (const u of units) {
    const isGroup = u.id.startsWith("group:");
    const first = u.members[0] as ParsedService;
    const poolField = isGroup ? "spec.pool" : (first.requestedPoolField ?? "");
    const ipField = isGroup ? "spec.ip" : (first.requestedIpsField ?? "");
    if (u.requestedPool !== undefined) {
      const pool = poolByName.get(u.requestedPool);
      if (pool === undefined) {
        problems.push({
          object: u.object,
          field: poolField,
          message: `${u.object} requests pool "${u.requestedPool}", which does not exist; name one of the pools (${pools.map((p) => `"${p.name}"`).join(", ") || "none are defined"}) or define it.`,
        });
      } else {
        const refused = admitsUnit(pool, u);
        if (refused !== undefined) {
          problems.push({
            object: u.object,
            field: poolField,
            message: `${u.object} requests pool "${pool.name}", but ${admitRefusal(pool, refused.svc, nsLabels)}; widen the pool's serviceAllocation or request another pool.`,
          });
        }
      }
    }
    if (u.requestedIps !== undefined) {
      let firstPool: string | undefined;
      for (const a of u.requestedIps) {
        const text = formatAddress(a);
        const range = index.find(a.family, a.value);
        if (range === undefined) {
          problems.push({
            object: u.object,
            field: ipField,
            message: `${u.object} requests ${text}, which is in no address pool; request an address from a pool (${poolList()}) or add ${text} to one.`,
          });
          continue;
        }
        const pool = poolByName.get(range.pool) as CompiledPool;
        const why = exclusionReason(pool, range, a.value, ex);
        if (why !== undefined) {
          problems.push({ object: u.object, field: ipField, message: `${u.object} requests ${text}, which cannot be handed out: ${why}; request another address.` });
        }
        const refused = admitsUnit(pool, u);
        if (refused !== undefined) {
          problems.push({
            object: u.object,
            field: ipField,
            message: `${u.object} requests ${text} from pool "${pool.name}", but ${admitRefusal(pool, refused.svc, nsLabels)}; request an address from a pool that serves it, or widen the pool's serviceAllocation.`,
          });
        }
        if (u.requestedPool !== undefined && u.requestedPool !== pool.name && poolByName.has(u.requestedPool)) {
          problems.push({
            object: u.object,
            field: ipField,
            message: `${u.object} requests ${text}, which is in pool "${pool.name}", and also pool "${u.requestedPool}"; drop one of the two requests or make them agree.`,
          });
        }
        if (firstPool !== undefined && firstPool !== pool.name) {
          problems.push({
            object: u.object,
            field: ipField,
            message: `${u.object} requests addresses from two pools ("${firstPool}" and "${pool.name}"); all addresses of a Service come from one pool — request addresses from one pool.`,
          });
        }
        firstPool ??= pool.name;
      }
    }
  }

  if (problems.length > 0) {
    problems.sort((a, b) => cmp(a.object, b.object) || cmp(a.field, b.field) || cmp(a.message, b.message));
    return { ok: false, problems: dedupe(problems) };
  }

  // ---- Allocation ----
  const holdings = new Map<Family, Map<bigint, Holding>>([
    [4, new Map()],
    [6, new Map()],
  ]);
  /** sharing key → pool → family → addresses held under that key. */
  const byKey = new Map<string, Map<string, Map<Family, bigint[]>>>();
  const fitters = new Map<string, FirstFit>();
  const fitter = (pool: CompiledPool, f: Family): FirstFit => {
    const k = `${pool.name}\u0000${f}`;
    let ff = fitters.get(k);
    if (ff === undefined) {
      const held = holdings.get(f) as Map<bigint, Holding>;
      ff = new FirstFit(pool, f, ex, (v) => held.has(v));
      fitters.set(k, ff);
    }
    return ff;
  };
  const placed = new Map<Unit, { pool: string; ips: Address[] }>();
  const reasons = new Map<Unit, string>();
  const errors = new Map<Unit, string>();

  const place = (u: Unit, pool: string, ips: Address[]): void => {
    for (const a of ips) {
      const held = holdings.get(a.family) as Map<bigint, Holding>;
      let h = held.get(a.value);
      if (h === undefined) {
        h = { pool, units: [] };
        held.set(a.value, h);
        if (u.sharingKey !== undefined) {
          let p = byKey.get(u.sharingKey);
          if (p === undefined) byKey.set(u.sharingKey, (p = new Map()));
          let f = p.get(pool);
          if (f === undefined) p.set(pool, (f = new Map()));
          let list = f.get(a.family);
          if (list === undefined) f.set(a.family, (list = []));
          list.push(a.value);
        }
      }
      h.units.push(u);
    }
    placed.set(u, { pool, ips });
  };

  // Phase 1: sticky previous assignments.
  const previous = input.previous ?? {};
  for (const u of units) {
    const own = u.members
      .map((m) => previous[m.key])
      .filter((p): p is Assignment => p !== undefined && p !== null && typeof p === "object" && Array.isArray(p.ips));
    if (own.length === 0) continue;
    // A group first tries the union of its members' previous addresses (one per family, the first
    // member's winning), so a dual-stack member keeps both even when a single-stack one sorts first.
    const candidates: Assignment[] = own.length > 1 ? [mergePrevious(own), ...own] : own;
    let lastReason: string | undefined;
    for (const prev of candidates) {
      const checked = checkPrevious(u, prev);
      if (typeof checked === "string") {
        lastReason ??= checked;
        continue;
      }
      const refusal = checked.ips.map((a) => sharingRefusal(u, holdings.get(a.family)!.get(a.value))).find((r) => r !== undefined);
      if (refusal !== undefined) {
        lastReason ??= `${checked.ips.map(formatAddress).join(", ")} can no longer be shared: ${refusal} (the Service that sorts first keeps the address)`;
        continue;
      }
      place(u, checked.pool, checked.ips);
      if (checked.note !== undefined) reasons.set(u, checked.note);
      break;
    }
    if (!placed.has(u) && lastReason !== undefined) reasons.set(u, lastReason);
  }

  // Phase 2: explicitly requested addresses.
  for (const u of units) {
    if (placed.has(u) || u.requestedIps === undefined) continue;
    const range = index.find(u.requestedIps[0]!.family, u.requestedIps[0]!.value)!;
    const pool = poolByName.get(range.pool) as CompiledPool;
    const refusal = u.requestedIps
      .map((a) => {
        const r = sharingRefusal(u, holdings.get(a.family)!.get(a.value));
        return r === undefined ? undefined : `${formatAddress(a)} is taken: ${r}`;
      })
      .find((r) => r !== undefined);
    if (refusal !== undefined) {
      errors.set(u, `${u.object} cannot get its requested address: ${refusal}; ${fixForRefusal()}.`);
      continue;
    }
    place(u, pool.name, u.requestedIps);
  }

  // Phase 3: automatic assignment, first-fit over pools in a total order.
  const autoOrder = pools
    .filter((p) => p.autoAssign)
    .sort((a, b) => {
      if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
      if (a.pinned) {
        const pa = a.priority === 0 ? Number.POSITIVE_INFINITY : a.priority;
        const pb = b.priority === 0 ? Number.POSITIVE_INFINITY : b.priority;
        if (pa !== pb) return pa - pb;
      }
      return cmp(a.name, b.name);
    });
  for (const u of units) {
    if (placed.has(u) || errors.has(u)) continue;
    let candidates: CompiledPool[];
    if (u.requestedPool !== undefined) {
      const pool = poolByName.get(u.requestedPool) as CompiledPool;
      candidates = [pool];
    } else {
      candidates = autoOrder.filter((p) => admitsUnit(p, u) === undefined);
    }
    if (candidates.length === 0) {
      errors.set(
        u,
        `${u.object} got no address: no auto-assigning pool serves it (${poolList()}); add a pool whose serviceAllocation admits it, or request a pool or an address.`,
      );
      continue;
    }
    let done = false;
    const shortages: { pool: CompiledPool; lacking: Family[] }[] = [];
    for (const pool of candidates) {
      const fams = u.wanted.filter((f) => pool.families.has(f));
      const picks: Address[] = [];
      for (const f of fams) {
        const v = pickAddress(u, pool, f);
        if (v !== undefined) picks.push({ family: f, value: v });
      }
      const missing = u.required.filter((f) => !picks.some((a) => a.family === f));
      if (missing.length === 0 && picks.length > 0) {
        place(u, pool.name, picks);
        done = true;
        break;
      }
      // Messages are built only if every pool fails: exhausted pools are common and cheap to skip.
      shortages.push({ pool, lacking: missing.length > 0 ? missing : u.wanted });
    }
    if (!done) {
      const text = shortages
        .map(({ pool, lacking }) => `pool "${pool.name}" has ${lacking.map((f) => (pool.families.has(f) ? `no free ${familyName(f)} address` : `no ${familyName(f)} range`)).join(" and ")}`)
        .join("; ");
      errors.set(u, `${u.object} got no address: ${text}; add addresses to a pool, free some, or request another pool.`);
    }
  }

  function pickAddress(u: Unit, pool: CompiledPool, f: Family): bigint | undefined {
    const held = holdings.get(f) as Map<bigint, Holding>;
    for (const v of u.hints.get(f) ?? []) {
      const range = index.find(f, v);
      if (range === undefined || range.pool !== pool.name) continue;
      if (exclusionReason(pool, range, v, ex) !== undefined) continue;
      if (sharingRefusal(u, held.get(v)) === undefined) return v;
    }
    let best = fitter(pool, f).peek();
    if (u.sharingKey !== undefined) {
      for (const v of byKey.get(u.sharingKey)?.get(pool.name)?.get(f) ?? []) {
        if ((best === undefined || v < best) && sharingRefusal(u, held.get(v)) === undefined) best = v;
      }
    }
    return best;
  }

  /** Validates a previous assignment for a unit: the addresses to keep, or why none can be kept. */
  function checkPrevious(u: Unit, prev: Assignment): { pool: string; ips: Address[]; note?: string } | string {
    const ips: Address[] = [];
    if (!Array.isArray(prev.ips) || prev.ips.length === 0) return "the previous assignment lists no address";
    let poolName: string | undefined;
    for (const text of prev.ips) {
      const a = tryParseAddress(String(text).trim());
      if (a === undefined) return `the previous address "${String(text)}" is not an address`;
      const range = index.find(a.family, a.value);
      if (range === undefined) return `${formatAddress(a)} is no longer in any pool`;
      const pool = poolByName.get(range.pool) as CompiledPool;
      const why = exclusionReason(pool, range, a.value, ex);
      if (why !== undefined) return `${formatAddress(a)} can no longer be used: ${why}`;
      const refused = admitsUnit(pool, u);
      if (refused !== undefined) return `pool "${pool.name}" no longer serves it: ${admitRefusal(pool, refused.svc, nsLabels)}`;
      if (poolName !== undefined && poolName !== pool.name) return `its previous addresses now lie in two pools ("${poolName}" and "${pool.name}")`;
      poolName = pool.name;
      if (!ips.some((x) => x.family === a.family)) ips.push(a);
      // Individually valid: a hint for the auto phase.
      const list = u.hints.get(a.family) ?? [];
      if (!list.includes(a.value)) list.push(a.value);
      u.hints.set(a.family, list);
    }
    const pool = poolByName.get(poolName!) as CompiledPool;
    if (u.requestedIps !== undefined && ipSetKey(u.requestedIps) !== ipSetKey(ips)) {
      return `it now requests ${u.requestedIps.map(formatAddress).join(", ")}`;
    }
    if (u.requestedPool !== undefined && u.requestedPool !== pool.name) return `it now requests pool "${u.requestedPool}"`;
    if (u.requestedIps === undefined && u.requestedPool === undefined && !pool.autoAssign) {
      return `pool "${pool.name}" does not auto-assign and the Service no longer requests it`;
    }
    const kept = ips.filter((a) => u.wanted.includes(a.family));
    const dropped = ips.filter((a) => !u.wanted.includes(a.family));
    const missing = u.required.filter((f) => !kept.some((a) => a.family === f));
    if (missing.length > 0) return `it now requires an ${missing.map(familyName).join(" and an ")} address too`;
    if (kept.length === 0) return `it no longer takes ${ips.map((a) => familyName(a.family)).join(" or ")} addresses`;
    kept.sort((a, b) => u.wanted.indexOf(a.family) - u.wanted.indexOf(b.family));
    const out: { pool: string; ips: Address[]; note?: string } = { pool: pool.name, ips: kept };
    if (dropped.length > 0) out.note = `${dropped.map(formatAddress).join(", ")} released: it no longer takes ${dropped.map((a) => familyName(a.family)).join(" or ")} addresses`;
    return out;
  }

  // ---- Results ----
  const outcomes: Record<string, ServiceOutcome> = {};
  const serviceReason = new Map<string, string>();
  for (const u of units) {
    const got = placed.get(u);
    for (const m of u.members) {
      if (reasons.has(u)) serviceReason.set(m.key, reasons.get(u) as string);
      if (got === undefined) {
        const error = errors.get(u) ?? `${u.object} got no address.`;
        // A group member's error names the member first, then the group's reason.
        outcomes[m.key] = { error: u.members.length > 1 || u.id.startsWith("group:") ? `${m.object} is in ${u.object}, which has no address: ${error}` : error };
        continue;
      }
      const mine = got.ips.filter((a) => m.wanted.includes(a.family)).sort((a, b) => m.wanted.indexOf(a.family) - m.wanted.indexOf(b.family));
      const missing = m.required.filter((f) => !mine.some((a) => a.family === f));
      if (mine.length === 0 || missing.length > 0) {
        outcomes[m.key] = {
          error: `${m.object} got no address: its ${u.object} received ${got.ips.map(formatAddress).join(", ")} from pool "${got.pool}", which has no ${(missing.length > 0 ? missing : m.wanted).map(familyName).join(" or ")} address for it; make the group's pool dual-stack or change the Service's ipFamilies.`,
        };
        continue;
      }
      outcomes[m.key] = { ips: mine.map(formatAddress), pool: got.pool };
      const prev = previous[m.key];
      if (!reasons.has(u) && u.id.startsWith("group:") && prev && Array.isArray(prev.ips) && !sameSet(prev.ips.map(String), mine.map(formatAddress))) {
        serviceReason.set(m.key, `it joined ${u.object}, which uses ${got.ips.map(formatAddress).join(", ")}`);
      }
    }
  }
  const sortedServices: Record<string, ServiceOutcome> = {};
  for (const k of Object.keys(outcomes).sort(cmp)) sortedServices[k] = outcomes[k] as ServiceOutcome;

  const usage: Record<string, PoolUsage> = {};
  const used = new Map<string, number>();
  for (const held of holdings.values()) for (const h of held.values()) used.set(h.pool, (used.get(h.pool) ?? 0) + 1);
  for (const p of pools) usage[p.name] = { size: p.size, used: used.get(p.name) ?? 0 };

  const changes: Change[] = [];
  const keys = new Set([...Object.keys(sortedServices), ...Object.keys(previous)]);
  for (const key of [...keys].sort(cmp)) {
    const now = sortedServices[key];
    const prev = previous[key];
    const from = prev && Array.isArray(prev.ips) ? prev.ips.map(String) : undefined;
    if (now === undefined) {
      changes.push({ service: key, kind: "released", ...(from ? { from } : {}), reason: "the Service no longer exists" });
      continue;
    }
    if ("error" in now) {
      if (from && from.length > 0) changes.push({ service: key, kind: "released", from, reason: serviceReason.get(key) ?? now.error });
      else changes.push({ service: key, kind: "new", reason: now.error });
      continue;
    }
    if (!from || from.length === 0) {
      changes.push({ service: key, kind: "new", to: now.ips });
      continue;
    }
    const same = sameSet(from, now.ips);
    if (same) changes.push({ service: key, kind: "unchanged", from, to: now.ips });
    else changes.push({ service: key, kind: "moved", from, to: now.ips, reason: serviceReason.get(key) ?? "its previous assignment could not be kept" });
  }
  return { ok: true, services: sortedServices, pools: usage, changes };
}

/** One address per family from several previous assignments, the first one's winning. */
function mergePrevious(list: readonly Assignment[]): Assignment {
  const ips: string[] = [];
  const families = new Set<number>();
  for (const p of list) {
    for (const text of p.ips) {
      const a = tryParseAddress(String(text).trim());
      if (a === undefined || families.has(a.family)) continue;
      families.add(a.family);
      ips.push(String(text));
    }
  }
  return { ips, pool: list[0]?.pool ?? "" };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length === b.length && a.every((x, i) => x === b[i])) return true; // the common case: canonical text, same order
  const norm = (l: readonly string[]): string =>
    l
      .map((t) => {
        const p = tryParseAddress(String(t).trim());
        return p ? formatAddress(p) : t;
      })
      .sort()
      .join(",");
  return norm(a) === norm(b);
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.object}\u0000${p.field}\u0000${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
