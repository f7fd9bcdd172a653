import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseAddress, parseRange, rangeContains, reservedOfSubnet, parseCidr, formatAddress } from "../ip/index.ts";
import type { AddressPool } from "../model/pool.ts";
import { planAllocation } from "./plan.ts";
import { usablePools } from "./usable.ts";
import { REQUESTED_POOL_ANNOTATIONS, SHARING_KEY_ANNOTATIONS, withPlannedAnnotations } from "./requests.ts";
import type { AllocationInput, Change, PlanResult, PlanSuccess, ServiceRequest, SharedIpGroup } from "./types.ts";
import { stateOf } from "./helpers.test.ts";

const NAMESPACES = ["alpha", "beta", "gamma"];
const NODE_SUBNETS = ["10.0.0.0/16", "2001:db8::/48"];

/** Pools whose ranges never overlap: pool i, range j lives in its own /24 (or IPv6 /112) block. */
const poolArb = (i: number): fc.Arbitrary<AddressPool> =>
  fc
    .record({
      ranges: fc.array(
        fc.record({
          v6: fc.boolean(),
          kind: fc.constantFrom("cidr", "range", "single"),
          start: fc.integer({ min: 0, max: 250 }),
          len: fc.integer({ min: 0, max: 12 }),
          prefix: fc.constantFrom(28, 29, 30, 31, 32),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      autoAssign: fc.option(fc.boolean(), { nil: undefined }),
      avoidBuggyIPs: fc.option(fc.boolean(), { nil: undefined }),
      allowFirstLastIPs: fc.option(fc.boolean(), { nil: undefined }),
      allocation: fc.option(
        fc.record({ priority: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }), namespaces: fc.option(fc.subarray(NAMESPACES, { minLength: 1 }), { nil: undefined }) }),
        { nil: undefined },
      ),
    })
    .map((g) => {
      const addresses = g.ranges.map((r, j) => {
        if (r.v6) {
          const base = `2001:db8:0:${i}:${j}::`;
          if (r.kind === "cidr") return `${base}${((r.start >> 4) << 4).toString(16)}/${r.prefix + 96}`.replace("::0/", "::/");
          if (r.kind === "single") return `${base}${r.start.toString(16)}`;
          return `${base}${r.start.toString(16)}-${base}${(r.start + r.len).toString(16)}`;
        }
        const base = `10.0.${i * 3 + j}.`;
        if (r.kind === "cidr") {
          const size = 2 ** (32 - r.prefix);
          return `${base}${Math.floor(r.start / size) * size}/${r.prefix}`;
        }
        if (r.kind === "single") return `${base}${r.start}`;
        return `${base}${r.start}-${base}${Math.min(255, r.start + r.len)}`;
      });
      const pool: AddressPool = { name: `pool-${i}`, spec: { addresses } };
      if (g.autoAssign !== undefined) pool.spec.autoAssign = g.autoAssign;
      if (g.avoidBuggyIPs !== undefined) pool.spec.avoidBuggyIPs = g.avoidBuggyIPs;
      if (g.allowFirstLastIPs !== undefined) pool.spec.allowFirstLastIPs = g.allowFirstLastIPs;
      if (g.allocation !== undefined) {
        pool.spec.serviceAllocation = {};
        if (g.allocation.priority !== undefined) pool.spec.serviceAllocation.priority = g.allocation.priority;
        if (g.allocation.namespaces !== undefined) pool.spec.serviceAllocation.namespaces = g.allocation.namespaces;
      }
      return pool;
    });

const serviceArb = (name: string, poolCount: number): fc.Arbitrary<ServiceRequest> =>
  fc
    .record({
      namespace: fc.constantFrom(...NAMESPACES),
      policy: fc.constantFrom(undefined, "SingleStack", "PreferDualStack", "RequireDualStack"),
      v6first: fc.boolean(),
      ports: fc.subarray([80, 443, 53, 8080]),
      udp: fc.boolean(),
      key: fc.constantFrom(undefined, undefined, "k1", "k2"),
      keyAnnotation: fc.constantFrom(...SHARING_KEY_ANNOTATIONS),
      local: fc.boolean(),
      app: fc.constantFrom("x", "y"),
      pool: fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: fc.integer({ min: 0, max: poolCount - 1 }), weight: 1 }),
      poolAnnotation: fc.constantFrom(...REQUESTED_POOL_ANNOTATIONS),
    })
    .map((g) => {
      const s: ServiceRequest = { namespace: g.namespace, name, ports: g.ports.map((port) => ({ port, protocol: g.udp ? "UDP" : "TCP" })), selector: { app: g.app } };
      if (g.policy !== undefined) s.ipFamilyPolicy = g.policy;
      s.ipFamilies = g.v6first ? ["IPv6"] : ["IPv4"];
      if (g.policy === "PreferDualStack" || g.policy === "RequireDualStack") s.ipFamilies = g.v6first ? ["IPv6", "IPv4"] : ["IPv4", "IPv6"];
      if (g.local) s.externalTrafficPolicy = "Local";
      const annotations: Record<string, string> = {};
      if (g.key !== undefined) annotations[g.keyAnnotation] = g.key;
      if (g.pool !== undefined) annotations[g.poolAnnotation] = `pool-${g.pool}`;
      if (Object.keys(annotations).length > 0) s.annotations = annotations;
      return s;
    });

/** A whole configuration: pools, services (some requesting an address picked from a pool), groups. */
const inputArb: fc.Arbitrary<AllocationInput> = fc.integer({ min: 1, max: 4 }).chain((poolCount) =>
  fc
    .record({
      pools: fc.tuple(...Array.from({ length: poolCount }, (_, i) => poolArb(i))),
      services: fc.integer({ min: 0, max: 24 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => serviceArb(`svc-${i}`, poolCount)))),
      requests: fc.array(fc.record({ service: fc.nat(), pool: fc.nat(), offset: fc.nat() }), { maxLength: 4 }),
      groups: fc.array(fc.record({ members: fc.uniqueArray(fc.nat({ max: 23 }), { minLength: 1, maxLength: 3 }) }), { maxLength: 2 }),
      nodeAddresses: fc.subarray(["10.0.0.5", "10.0.3.7", "2001:db8:0:0:0::5"]),
      withSubnets: fc.boolean(),
    })
    .map((g) => {
      const services = g.services.map((s) => ({ ...s, annotations: s.annotations ? { ...s.annotations } : undefined }));
      // Requested addresses: an address from one of the pool's ranges (it may be excluded — then the plan is invalid, which is fine).
      for (const r of g.requests) {
        if (services.length === 0) break;
        const s = services[r.service % services.length] as ServiceRequest;
        const p = g.pools[r.pool % g.pools.length] as AddressPool;
        const range = parseRange(p.spec.addresses[r.offset % p.spec.addresses.length] as string);
        const value = range.first + (BigInt(r.offset) % (range.last - range.first + 1n));
        const fam = range.family === 4 ? "IPv4" : "IPv6";
        s.loadBalancerIP = formatAddress({ family: range.family, value });
        s.ipFamilies = [fam];
        s.ipFamilyPolicy = "SingleStack";
        if (s.annotations) for (const a of REQUESTED_POOL_ANNOTATIONS) delete s.annotations[a];
      }
      for (const s of services) if (s.annotations === undefined) delete s.annotations;
      const taken = new Set<number>();
      const groups: SharedIpGroup[] = [];
      g.groups.forEach((grp, gi) => {
        const members = grp.members.filter((m) => m < services.length && !taken.has(m));
        if (members.length === 0) return;
        members.forEach((m) => taken.add(m));
        groups.push({ name: `group-${gi}`, services: members.map((m) => `${services[m]!.namespace}/${services[m]!.name}`) });
      });
      const input: AllocationInput = { pools: g.pools, services, sharedIpGroups: groups, nodeAddresses: g.nodeAddresses };
      if (g.withSubnets) input.nodeSubnets = NODE_SUBNETS;
      return input;
    }),
);

function shuffle<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let x = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function permute(input: AllocationInput, seed: number): AllocationInput {
  return {
    ...input,
    pools: shuffle(input.pools, seed).map((p) => ({ ...p, spec: { ...p.spec, addresses: shuffle(p.spec.addresses, seed + 1) } })),
    services: shuffle(input.services, seed + 2),
    sharedIpGroups: shuffle(input.sharedIpGroups ?? [], seed + 3).map((g) => ({ ...g, services: shuffle(g.services, seed + 4) })),
    nodeAddresses: shuffle(input.nodeAddresses ?? [], seed + 5),
    ...(input.nodeSubnets ? { nodeSubnets: shuffle(input.nodeSubnets, seed + 6) } : {}),
  };
}

const RUNS = { numRuns: Number(process.env.FC_RUNS ?? 300), ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) };
const key = (s: ServiceRequest): string => `${s.namespace}/${s.name}`;

/** Checks every invariant of a valid plan against its input. */
function checkInvariants(input: AllocationInput, r: PlanSuccess): void {
  const pools = new Map(input.pools.map((p) => [p.name, p]));
  const byKey = new Map(input.services.map((s) => [key(s), s]));
  const groupOf = new Map<string, string>();
  for (const g of input.sharedIpGroups ?? []) for (const m of g.services) groupOf.set(m, g.name);
  const excluded = new Set<string>(input.nodeAddresses ?? []);
  for (const s of input.nodeSubnets ?? []) for (const a of reservedOfSubnet(parseCidr(s, { allowHostBits: true }))) excluded.add(formatAddress(a));
  const holders = new Map<string, string[]>();
  for (const [k, out] of Object.entries(r.services)) {
    if ("error" in out) {
      assert.ok(out.error.startsWith(`Service "${k}" `), `errors are sentences naming the Service first: ${out.error}`);
      continue;
    }
    const svc = byKey.get(k)!;
    const pool = pools.get(out.pool)!;
    assert.ok(pool, `${k} got unknown pool ${out.pool}`);
    const fams = out.ips.map((ip) => parseAddress(ip).family);
    assert.equal(new Set(fams).size, fams.length, `${k}: at most one address per family`);
    const wantsV6 = (svc.ipFamilies ?? ["IPv4"]).includes("IPv6") || (svc.ipFamilyPolicy !== undefined && svc.ipFamilyPolicy !== "SingleStack");
    const wantsV4 = (svc.ipFamilies ?? ["IPv4"]).includes("IPv4") || (svc.ipFamilyPolicy !== undefined && svc.ipFamilyPolicy !== "SingleStack");
    for (const f of fams) assert.ok(f === 4 ? wantsV4 : wantsV6, `${k} got a family it does not take`);
    if (svc.ipFamilyPolicy === "RequireDualStack") assert.equal(out.ips.length, 2, `${k} requires both families`);
    if (svc.ipFamilyPolicy === undefined || svc.ipFamilyPolicy === "SingleStack") assert.equal(out.ips.length, 1);
    for (const ip of out.ips) {
      const range = pool.spec.addresses.map((t) => parseRange(t)).find((rg) => rangeContains(rg, ip));
      assert.ok(range, `${k}: ${ip} is not inside pool ${pool.name}`);
      assert.ok(!excluded.has(ip), `${k}: ${ip} is a node address or a subnet's network/broadcast`);
      const v = parseAddress(ip).value;
      const fullBits = range.family === 4 ? 31 : 127;
      if (range.kind === "cidr" && !pool.spec.allowFirstLastIPs && (range.prefixLength ?? 0) < fullBits) {
        assert.ok(v !== range.first && v !== range.last, `${k}: ${ip} is the first/last address of a CIDR`);
      }
      if (pool.spec.avoidBuggyIPs && range.family === 4) assert.ok((v & 0xffn) !== 0n && (v & 0xffn) !== 255n, `${k}: ${ip} is buggy`);
      holders.set(ip, [...(holders.get(ip) ?? []), k]);
    }
    const sa = pool.spec.serviceAllocation;
    if (sa?.namespaces) assert.ok(sa.namespaces.includes(svc.namespace), `${k} in pinned pool ${pool.name} of other namespaces`);
    const requestedPool = REQUESTED_POOL_ANNOTATIONS.map((a) => svc.annotations?.[a]).find((x) => x !== undefined);
    if (requestedPool !== undefined) assert.equal(out.pool, requestedPool);
    if (svc.loadBalancerIP !== undefined) assert.deepEqual(out.ips, [svc.loadBalancerIP]);
    if (pool.spec.autoAssign === false) assert.ok(requestedPool !== undefined || svc.loadBalancerIP !== undefined || groupOf.has(k), `${k} auto-assigned from a non-auto pool`);
  }
  // No address given twice, except valid sharing.
  for (const [ip, list] of holders) {
    if (list.length < 2) continue;
    const group = groupOf.get(list[0]!);
    if (group !== undefined) {
      assert.ok(list.every((k) => groupOf.get(k) === group), `${ip} shared by a group and outsiders: ${list}`);
      continue;
    }
    const svcs = list.map((k) => byKey.get(k)!);
    const keyOf = (s: ServiceRequest): string | undefined => SHARING_KEY_ANNOTATIONS.map((a) => s.annotations?.[a]).find((x) => x !== undefined);
    const backend = (s: ServiceRequest): string => (s.externalTrafficPolicy === "Local" ? `L${JSON.stringify(s.selector)}` : "C");
    assert.ok(svcs.every((s) => keyOf(s) !== undefined && keyOf(s) === keyOf(svcs[0]!)), `${ip} shared without one sharing key: ${list}`);
    assert.ok(svcs.every((s) => backend(s) === backend(svcs[0]!)), `${ip} shared across backends: ${list}`);
    const ports = svcs.flatMap((s) => (s.ports ?? []).map((p) => `${p.protocol}/${p.port}`));
    assert.equal(new Set(ports).size, ports.length, `${ip} shared with overlapping ports: ${list}`);
    assert.equal(new Set(list.map((k) => (r.services[k] as { pool: string }).pool)).size, 1);
  }
  for (const [name, usage] of Object.entries(r.pools)) {
    const used = new Set(Object.values(r.services).flatMap((o) => ("pool" in o && o.pool === name ? o.ips : [])));
    assert.equal(usage.used, used.size, `pool ${name} used count`);
    assert.ok(BigInt(usage.used) <= usage.size);
  }
}

/** Annotations no plan reads: what the Pulumi layer, the allocator, the speakers and kubectl write, and a user's own. */
const unreadAnnotationsArb = fc.array(
  fc.tuple(fc.nat(), fc.constantFrom("l2lb.dev/load-balancer-ips", "l2lb.dev/address-pool", "l2lb.dev/allocated-by", "l2lb.dev/announced-by", "metallb.io/ip-allocated-from-pool", "team"), fc.string({ maxLength: 12 })),
  { minLength: 1, maxLength: 6 },
);

/** `input` with `extras` added to its Services' annotations (indexes wrap around). */
function withAnnotations(input: AllocationInput, extras: [number, string, string][]): AllocationInput {
  const services = input.services.map((s) => ({ ...s }));
  for (const [i, name, value] of extras) {
    const s = services[i % Math.max(1, services.length)];
    if (s !== undefined && s !== null && typeof s === "object") s.annotations = { ...s.annotations, [name]: value };
  }
  return { ...input, services };
}

/** The plan does not depend on annotations it does not read, and `withPlannedAnnotations` keeps every one it reads. */
function assertUnreadAnnotationsIgnored(input: AllocationInput, extras: [number, string, string][]): void {
  const expected = planAllocation(input);
  const annotated = withAnnotations(input, extras);
  assert.deepEqual(planAllocation(annotated), expected);
  assert.deepEqual(planAllocation({ ...annotated, services: annotated.services.map(withPlannedAnnotations) }), expected);
  assert.deepEqual(planAllocation({ ...input, services: input.services.map(withPlannedAnnotations) }), expected);
}

describe("allocation properties", () => {
  it("annotations the planner does not read never change a plan", () => {
    fc.assert(fc.property(inputArb, unreadAnnotationsArb, assertUnreadAnnotationsIgnored), RUNS);
  });
  it("same inputs in any order give the same result", () => {
    fc.assert(
      fc.property(inputArb, fc.integer(), (input, seed) => {
        assert.deepEqual(planAllocation(permute(input, seed)), planAllocation(input));
      }),
      RUNS,
    );
  });
  it("every address lies in its pool, is allowed for its Service, and is given twice only under valid sharing", () => {
    let valid = 0;
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = planAllocation(input);
        if (!r.ok) {
          for (const p of r.problems) assert.ok(p.message.includes(p.object.replace(/ #\d+$/, "")), p.message);
          return;
        }
        valid++;
        checkInvariants(input, r);
      }),
      RUNS,
    );
    assert.ok(valid > RUNS.numRuns / 3, `too few valid configurations generated (${valid})`);
  });
  it("re-planning with the previous result changes nothing", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = planAllocation(input);
        if (!r.ok) return;
        const again = planAllocation({ ...input, previous: stateOf(r) });
        assert.ok(again.ok);
        // The same assignments; a Service without one stays without (its message may describe the new state).
        for (const [k, out] of Object.entries(r.services)) {
          if ("error" in out) assert.ok("error" in (again.services[k] ?? {}), `${k} got an address only on re-planning`);
          else assert.deepEqual(again.services[k], out);
        }
        for (const c of again.changes) assert.ok(c.kind === "unchanged" || (c.kind === "new" && c.to === undefined), JSON.stringify(c));
      }),
      RUNS,
    );
  });
  it("adding or removing Services never moves another Service", () => {
    fc.assert(
      fc.property(inputArb, fc.array(fc.nat(), { maxLength: 4 }), fc.integer({ min: 0, max: 5 }), fc.integer(), (input, removeIdx, addCount, seed) => {
        const before = planAllocation(input);
        if (!before.ok) return;
        const removed = new Set(removeIdx.filter(() => input.services.length > 0).map((i) => key(input.services[i % input.services.length]!)));
        const extra: ServiceRequest[] = Array.from({ length: addCount }, (_, i) => ({
          namespace: NAMESPACES[(seed + i) % 3 >= 0 ? (seed + i) % 3 : 0]!,
          name: `added-${i}`,
          ports: [{ port: 80 + i }],
          ...(i % 2 === 0 ? { annotations: { "metallb.io/allow-shared-ip": "k1" } } : {}),
        }));
        const services = shuffle([...input.services.filter((s) => !removed.has(key(s))), ...extra], seed);
        const sharedIpGroups = (input.sharedIpGroups ?? []).map((g) => ({ ...g, services: g.services.filter((m) => !removed.has(m)) })).filter((g) => g.services.length > 0);
        const after = planAllocation({ ...input, services, sharedIpGroups, previous: stateOf(before) });
        assert.ok(after.ok, JSON.stringify(!after.ok && after.problems));
        // A group that lost a member may have lost the request that gave it its address: its other members may move.
        const regrouped = new Set((input.sharedIpGroups ?? []).filter((g) => g.services.some((m) => removed.has(m))).flatMap((g) => g.services));
        for (const [k, out] of Object.entries(before.services)) {
          if (removed.has(k) || regrouped.has(k) || "error" in out) continue;
          assert.deepEqual(after.services[k], out, `${k} moved`);
        }
        for (const k of removed) assert.equal(after.changes.find((c) => c.service === k)?.kind, "error" in (before.services[k] ?? { error: "" }) ? undefined : "released");
        checkInvariants({ ...input, services, sharedIpGroups }, after);
      }),
      RUNS,
    );
  });
});

/** Ways to break a Service (or to put it in a group that may be invalid). */
const BREAKAGES = ["unknownPool", "badAnnotation", "outsidePools", "badPort", "badFamily", "duplicate", "groupWithGhost", "newGroup"] as const;
type Breakage = (typeof BREAKAGES)[number];

/** The input with some Services broken, planned with isolateServiceProblems. */
const brokenInputArb: fc.Arbitrary<{ input: AllocationInput; broken: AllocationInput }> = inputArb.chain((input) =>
  fc.array(fc.record({ kind: fc.constantFrom(...BREAKAGES), target: fc.nat() }), { minLength: 1, maxLength: 4 }).map((breaks) => ({
    input: { ...input, isolateServiceProblems: true },
    broken: breakServices(input, breaks),
  })),
);

function breakServices(input: AllocationInput, breaks: readonly { kind: Breakage; target: number }[]): AllocationInput {
  const services = input.services.map((s) => ({ ...s, ...(s.annotations ? { annotations: { ...s.annotations } } : {}) }));
  const groups = [...(input.sharedIpGroups ?? [])];
  breaks.forEach(({ kind, target }, i) => {
    if (input.services.length === 0) return;
    const s = services[target % input.services.length] as ServiceRequest;
    const next = services[(target + 1) % input.services.length] as ServiceRequest;
    if (kind === "unknownPool") s.annotations = { ...s.annotations, "l2lb.dev/requested-pool": "missing-pool" };
    if (kind === "badAnnotation") s.annotations = { ...s.annotations, "metallb.io/loadBalancerIPs": "not-an-address" };
    if (kind === "outsidePools") s.loadBalancerIP = "192.0.2.1";
    if (kind === "badPort") s.ports = [...(s.ports ?? []), { port: 0 }];
    if (kind === "badFamily") s.ipFamilies = ["IPv5" as "IPv4"];
    if (kind === "duplicate") services.push({ ...s, ports: [] });
    if (kind === "groupWithGhost") groups.push({ name: `ghost-${i}`, services: [key(s), "nowhere/ghost"] });
    if (kind === "newGroup") groups.push({ name: `new-${i}`, services: [key(s), key(next)] });
  });
  return { ...input, services, sharedIpGroups: groups, isolateServiceProblems: true };
}

/** The Services a plan refused: those with a problem of their own, and the members of refused groups. */
function refusedKeys(r: PlanSuccess): Set<string> {
  const groups = r.refused.filter((p) => p.object.startsWith("SharedIpGroup \"")).map((p) => p.object);
  const out = new Set(r.refused.filter((p) => p.object.startsWith('Service "')).map((p) => JSON.parse(p.object.slice("Service ".length)) as string));
  for (const [k, o] of Object.entries(r.services)) {
    if ("error" in o && groups.some((g) => o.error.startsWith(`Service "${k}" is in ${g}, which is invalid: `))) out.add(k);
  }
  return out;
}

function withoutRefused(input: AllocationInput, r: PlanSuccess): AllocationInput {
  const keys = refusedKeys(r);
  const groups = new Set(r.refused.map((p) => p.object));
  const { isolateServiceProblems: _, ...rest } = input;
  return {
    ...rest,
    services: input.services.filter((s) => !keys.has(key(s))),
    sharedIpGroups: (input.sharedIpGroups ?? []).filter((g) => !groups.has(`SharedIpGroup "${g.name}"`)),
  };
}

/** An isolated plan fails only for a problem of a pool or a node. */
function assertPoolOrNodeFailure(r: PlanResult): void {
  assert.ok(
    !r.ok && r.problems.some((p) => /^(AddressPool|Node) /.test(p.object)),
    `isolated plans fail only for pools and nodes: ${JSON.stringify(!r.ok && r.problems)}`,
  );
}

/** {@link permute}, keeping each group's member list as written (problems name its entries by position). */
function permuteKeepingMembers(input: AllocationInput, seed: number): AllocationInput {
  const written = new Map((input.sharedIpGroups ?? []).map((g) => [g.name, g]));
  const out = permute(input, seed);
  return { ...out, sharedIpGroups: (out.sharedIpGroups ?? []).map((g) => written.get(g.name) ?? g) };
}

describe("allocation properties with isolateServiceProblems", () => {
  it("annotations the planner does not read never change a plan, invalid Services included", () => {
    fc.assert(fc.property(brokenInputArb, unreadAnnotationsArb, ({ broken }, extras) => assertUnreadAnnotationsIgnored(broken, extras)), RUNS);
  });
  it("refuses only the invalid Services and groups, and plans the rest exactly as if they were absent", () => {
    let refusing = 0;
    fc.assert(
      fc.property(brokenInputArb, ({ broken }) => {
        const r = planAllocation(broken);
        if (!r.ok) return assertPoolOrNodeFailure(r);
        for (const p of r.refused) assert.match(p.object, /^(Service|SharedIpGroup) "/, p.message);
        if (r.refused.length > 0) refusing++;
        const keys = refusedKeys(r);
        for (const k of keys) assert.ok("error" in (r.services[k] ?? {}), `${k} is refused but has an address`);
        const reducedInput = withoutRefused(broken, r);
        const reduced = planAllocation(reducedInput);
        assert.ok(reduced.ok, JSON.stringify(!reduced.ok && reduced.problems));
        for (const [k, out] of Object.entries(reduced.services)) assert.deepEqual(r.services[k], out, k);
        assert.deepEqual(Object.keys(r.services).filter((k) => !keys.has(k)), Object.keys(reduced.services));
        assert.deepEqual(r.pools, reduced.pools);
        assert.deepEqual(reduced.refused, []);
        checkInvariants(reducedInput, r);
      }),
      RUNS,
    );
    assert.ok(refusing > RUNS.numRuns / 3, `too few configurations with refused Services (${refusing})`);
  });
  it("re-planning with the previous result changes nothing, refused Services included", () => {
    fc.assert(
      fc.property(brokenInputArb, ({ broken }) => {
        const r = planAllocation(broken);
        if (!r.ok) return;
        const again = planAllocation({ ...broken, previous: stateOf(r) });
        assert.ok(again.ok);
        assert.deepEqual(again.refused, r.refused);
        for (const [k, out] of Object.entries(r.services)) {
          if ("error" in out) assert.ok("error" in (again.services[k] ?? {}), `${k} got an address only on re-planning`);
          else assert.deepEqual(again.services[k], out);
        }
        for (const c of again.changes) assert.ok(c.kind === "unchanged" || (c.kind === "new" && c.to === undefined), JSON.stringify(c));
      }),
      RUNS,
    );
  });
  it("breaking Services moves no other Service, and releases the broken ones' addresses", () => {
    fc.assert(
      fc.property(brokenInputArb, ({ input, broken }) => {
        const before = planAllocation(input);
        if (!before.ok) return;
        const after = planAllocation({ ...broken, previous: stateOf(before) });
        if (!after.ok) return assertPoolOrNodeFailure(after);
        const refused = refusedKeys(after);
        const regrouped = new Set((broken.sharedIpGroups ?? []).slice((input.sharedIpGroups ?? []).length).flatMap((g) => g.services));
        for (const [k, out] of Object.entries(before.services)) {
          if ("error" in out) continue;
          const change: Change | undefined = after.changes.find((c) => c.service === k);
          if (refused.has(k)) assert.equal(change?.kind, "released", `${k} is refused: ${JSON.stringify(change)}`);
          else if (!regrouped.has(k)) assert.deepEqual(after.services[k], out, `${k} moved`);
        }
      }),
      RUNS,
    );
  });
  it("same inputs in any order give the same result", () => {
    fc.assert(
      fc.property(brokenInputArb, fc.integer(), ({ broken }, seed) => {
        assert.deepEqual(planAllocation(permuteKeepingMembers(broken, seed)), planAllocation(broken));
      }),
      RUNS,
    );
  });
});

/** Pools that often overlap, sometimes share a name or hold a bad range. */
const clashingPoolsArb: fc.Arbitrary<AddressPool[]> = fc.array(
  fc.record({
    name: fc.integer({ min: 0, max: 6 }),
    ranges: fc.array(fc.oneof({ arbitrary: fc.record({ start: fc.integer({ min: 0, max: 60 }), len: fc.integer({ min: 0, max: 12 }) }), weight: 9 }, { arbitrary: fc.constant(undefined), weight: 1 }), {
      minLength: 1,
      maxLength: 3,
    }),
  }),
  { maxLength: 10 },
).map((list) => list.map((p) => pool(`pool-${p.name}`, p.ranges.map((r) => (r === undefined ? "10.0.0.300" : `10.0.0.${r.start}-10.0.0.${r.start + r.len}`)))));

function pool(name: string, addresses: string[]): AddressPool {
  return { name, spec: { addresses } };
}

describe("usablePools properties", () => {
  it("admits a valid configuration, never changes its mind about an earlier pool, and sets a pool aside only for a reason", () => {
    fc.assert(
      fc.property(clashingPoolsArb, fc.boolean(), (pools, withSubnet) => {
        const subnets = withSubnet ? ["10.0.0.0/27", "bad"] : undefined;
        const r = usablePools(pools, subnets);
        assert.equal(r.usable.length + r.setAside.length, pools.length);
        const planned = planAllocation({ pools: r.usable, services: [], ...(withSubnet ? { nodeSubnets: ["10.0.0.0/27"] } : {}) });
        assert.ok(planned.ok, JSON.stringify(!planned.ok && planned.problems));
        for (const s of r.setAside) assert.ok(s.problems.length > 0 && s.problems.every((p) => p.message.includes(`AddressPool "${s.pool}"`)), JSON.stringify(s));
        for (let k = 0; k < pools.length; k++) {
          const earlier = usablePools(pools.slice(0, k), subnets);
          assert.deepEqual(earlier.usable, r.usable.slice(0, earlier.usable.length));
          assert.deepEqual(earlier.setAside, r.setAside.slice(0, earlier.setAside.length));
        }
        // Each pool set aside repeats an earlier name, or is invalid with the pools admitted before it.
        const setAside = pools.filter((p) => !r.usable.includes(p));
        assert.deepEqual(r.setAside.map((x) => x.pool), setAside.map((p) => p.name));
        setAside.forEach((p, j) => {
          const index = pools.indexOf(p);
          if (pools.slice(0, index).some((q) => q.name === p.name)) {
            assert.ok(r.setAside[j]!.problems.some((x) => x.message.includes("has the name of an older pool")));
            return;
          }
          const admittedBefore = r.usable.filter((q) => pools.indexOf(q) < index);
          assert.equal(planAllocation({ pools: [...admittedBefore, p], services: [], ...(withSubnet ? { nodeSubnets: ["10.0.0.0/27"] } : {}) }).ok, false);
        });
      }),
      RUNS,
    );
  });
});
