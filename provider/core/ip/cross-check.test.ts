/**
 * Cross-check of provider/core/ip against two independent implementations: the npm package
 * `ip-address` and Node's own `node:net` (`isIP`, `BlockList`, `SocketAddress`, which formats with
 * libuv's inet_ntop). Property-based (fast-check); FC_RUNS and FC_SEED as in the other property tests.
 *
 * Where they differ on purpose, the test says so and checks our side of the difference:
 * - zone identifiers (`fe80::1%eth0`): both others accept them; we refuse them (a pool or a Service
 *   address is never link-scoped);
 * - prefix lengths with leading zeros (`/024`) are accepted by ip-address, refused by us;
 * - `a/len` with host bits set is one address with a mask to ip-address; as a pool entry we refuse
 *   it (ambiguous), as an interface address (`allowHostBits`) we accept it as node:net does;
 * - IPv4-mapped addresses are written dotted (`::ffff:192.0.2.1`, RFC 5952 §5), as node:net does;
 *   ip-address's `correctForm()` writes them in hex. The deprecated IPv4-compatible block `::/96`
 *   stays hex (node:net writes `::1.2.3.4`, as BSD inet_ntop always did; RFC 4291 deprecates it);
 * - node:net's BlockList treats IPv4 and IPv4-mapped IPv6 as one address; ours keeps the families
 *   apart, so it is asked only about addresses of the block's own family.
 */
import assert from "node:assert/strict";
import { BlockList, isIP, SocketAddress } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Address4, Address6 } from "ip-address";
import { cidrContains, formatAddress, parseCidr, parseRange, rangeContains, tryParseAddress } from "./index.ts";
import type { Address, Family } from "./index.ts";

const RUNS = { numRuns: Number(process.env.FC_RUNS ?? 2000), ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) };

const MAX6 = (1n << 128n) - 1n;
const MAPPED = 0xffff_0000_0000n;

/** ip-address's parse of one address text (dispatching on ':' as we do), or undefined. */
function ipaParse(text: string): Address4 | Address6 | undefined {
  try {
    return text.includes(":") ? new Address6(text) : new Address4(text);
  } catch {
    return undefined;
  }
}

/** node:net's canonical text of an address (libuv inet_ntop). */
function nodeText(a: Address): string {
  return new SocketAddress({ address: formatAddress(a), family: a.family === 4 ? "ipv4" : "ipv6" }).address;
}

const groupsOf = (value: bigint): number[] => Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
const toValue = (groups: readonly number[]): bigint => groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
const dotted = (v: bigint): string => [24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 255n)).join(".");

/** IPv6 values, biased to the interesting ones: zero runs, IPv4-mapped, IPv4-compatible, extremes. */
const v6Value: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: 0n, max: MAX6 }),
  fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }).map(toValue),
  fc.bigInt({ min: 0n, max: 0xffff_ffffn }).map((v) => MAPPED | v),
  fc.bigInt({ min: 0n, max: 0xffff_ffffn }),
  fc.constantFrom(0n, 1n, MAX6, MAPPED, MAPPED - 1n, MAPPED | 0xffff_ffffn, (MAPPED | 0xffff_ffffn) + 1n),
);
const v4Value: fc.Arbitrary<bigint> = fc.oneof(fc.bigInt({ min: 0n, max: 0xffff_ffffn }), fc.constantFrom(0n, 0xffff_ffffn));
const address: fc.Arbitrary<Address> = fc.oneof(
  v4Value.map((value): Address => ({ family: 4, value })),
  v6Value.map((value): Address => ({ family: 6, value })),
);

/** How to spell an IPv6 address: per-group zero padding and case, which zero run to compress, a dotted tail. */
const spelling = fc.record({
  pad: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
  upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  compress: fc.option(fc.nat(), { nil: undefined }),
  dottedTail: fc.boolean(),
});

/** One of the many valid spellings of an address (any zero run compressed, any padding, any case). */
function spell(a: Address, s: { pad: number[]; upper: boolean[]; compress: number | undefined; dottedTail: boolean }): string {
  if (a.family === 4) return dotted(a.value);
  const groups = groupsOf(a.value);
  let texts = groups.map((g, i) => {
    const h = g.toString(16).padStart(Math.min(4, g.toString(16).length + s.pad[i]!), "0");
    return s.upper[i] ? h.toUpperCase() : h;
  });
  const n = s.dottedTail ? 6 : 8;
  if (s.dottedTail) texts = [...texts.slice(0, 6), dotted(a.value & 0xffff_ffffn)];
  // Zero runs among the first n groups; compress one of them (any length, not only the longest).
  const runs: [number, number][] = [];
  for (let i = 0; i < n; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < n && groups[j] === 0) j++;
    runs.push([i, j]);
    i = j;
  }
  if (s.compress === undefined || runs.length === 0) return texts.join(":");
  const [from, to] = runs[s.compress % runs.length]!;
  const head = texts.slice(0, from).join(":");
  const tail = texts.slice(to).join(":");
  return `${head}::${tail}`;
}

/** RFC 5952 §4 checked directly on a canonical IPv6 text (not IPv4-mapped). */
function assertRfc5952(text: string, value: bigint): void {
  assert.equal(text, text.toLowerCase(), `lower case: ${text}`);
  assert.ok(!/(^|:)0[0-9a-f]/.test(text), `no leading zeros: ${text}`);
  assert.ok(text.split("::").length <= 2, `at most one "::": ${text}`);
  const groups = groupsOf(value);
  let best: [number, number] = [-1, 0];
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best[1]) best = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best[1] < 2) {
    assert.ok(!text.includes("::"), `no "::" for a single zero group: ${text}`);
    assert.equal(text.split(":").length, 8);
  } else {
    const [head, tail] = text.split("::") as [string, string];
    const headCount = head === "" ? 0 : head.split(":").length;
    const tailCount = tail === "" ? 0 : tail.split(":").length;
    assert.equal(headCount, best[0], `the longest zero run, leftmost on a tie, is the one compressed: ${text}`);
    assert.equal(8 - headCount - tailCount, best[1], `the whole run is compressed: ${text}`);
  }
}

describe("provider/core/ip agrees with ip-address and node:net", () => {
  it("parses every valid spelling to the same value and family", () => {
    fc.assert(
      fc.property(address, spelling, (a, s) => {
        const text = spell(a, s);
        assert.deepEqual(tryParseAddress(text), a, text);
        assert.equal(isIP(text), a.family, text);
        const ipa = ipaParse(text);
        assert.ok(ipa, `ip-address accepts ${text}`);
        assert.equal(ipa.bigInt(), a.value, text);
      }),
      RUNS,
    );
  });

  it("writes canonical text: RFC 5952, as ip-address does, and as node:net does outside ::/96", () => {
    fc.assert(
      fc.property(address, (a) => {
        const text = formatAddress(a);
        assert.deepEqual(tryParseAddress(text), a);
        if (a.family === 4) {
          assert.equal(text, new Address4(text).correctForm());
          assert.equal(text, nodeText(a));
          return;
        }
        const mapped = a.value >> 32n === 0xffffn;
        if (mapped) {
          assert.equal(text, `::ffff:${dotted(a.value & 0xffff_ffffn)}`, "RFC 5952 §5: IPv4-mapped, dotted");
          assert.equal(text, new Address6(text).to4in6());
        } else {
          assertRfc5952(text, a.value);
          assert.equal(text, new Address6(text).correctForm());
        }
        // libuv writes ::/96 (deprecated IPv4-compatible) dotted too, except :: and ::1; we do not.
        if (a.value >> 32n !== 0n) assert.equal(text, nodeText(a));
      }),
      RUNS,
    );
  });

  it("contains exactly what both others contain (CIDRs, with host bits allowed, and first-last ranges)", () => {
    const block = address.chain((net) =>
      fc.record({
        net: fc.constant(net),
        len: fc.integer({ min: 0, max: net.family === 4 ? 32 : 128 }),
        // Near the block (same high bits, random low bits) or anywhere.
        probe: fc.oneof(
          fc.bigInt({ min: 0n, max: net.family === 4 ? 0xffff_ffffn : MAX6 }),
          fc.bigInt({ min: 0n, max: 0xffffn }).map((low) => net.value ^ low),
          fc.bigInt({ min: 0n, max: 0xffffn }).map((low) => (net.value + low) & (net.family === 4 ? 0xffff_ffffn : MAX6)),
        ),
        last: fc.bigInt({ min: 0n, max: net.family === 4 ? 0xffff_ffffn : MAX6 }),
      }),
    );
    fc.assert(
      fc.property(block, ({ net, len, probe, last }) => {
        const family = net.family;
        const kind = family === 4 ? "ipv4" : "ipv6";
        const netText = formatAddress(net);
        const probeText = formatAddress({ family, value: probe });
        const ours = cidrContains(`${netText}/${len}`, probeText);
        const list = new BlockList();
        list.addSubnet(netText, len, kind);
        assert.equal(ours, list.check(probeText, kind), `${netText}/${len} ∋ ${probeText}`);
        const ipa = (s: string): Address4 | Address6 => (family === 4 ? new Address4(s) : new Address6(s));
        assert.equal(ours, ipa(probeText).isInSubnet(ipa(`${netText}/${len}`)), `${netText}/${len} ∋ ${probeText} (ip-address)`);

        const [lo, hi] = net.value <= last ? [net.value, last] : [last, net.value];
        const range = `${formatAddress({ family, value: lo })}-${formatAddress({ family, value: hi })}`;
        const rangeList = new BlockList();
        rangeList.addRange(formatAddress({ family, value: lo }), formatAddress({ family, value: hi }), kind);
        assert.equal(rangeContains(range, probeText), rangeList.check(probeText, kind), `${range} ∋ ${probeText}`);
      }),
      RUNS,
    );
  });

  it("refuses host bits in a pool CIDR exactly when ip-address's network address differs", () => {
    fc.assert(
      fc.property(address, fc.nat(128), (a, n) => {
        const len = n % ((a.family === 4 ? 32 : 128) + 1);
        const text = `${formatAddress(a)}/${len}`;
        const ipa = a.family === 4 ? new Address4(text) : new Address6(text);
        const hostBits = ipa.startAddress().bigInt() !== a.value;
        let strict: boolean;
        try {
          parseRange(text);
          strict = true;
        } catch {
          strict = false;
        }
        assert.equal(strict, !hostBits, text);
        assert.equal(parseCidr(text, { allowHostBits: true }).network, ipa.startAddress().bigInt(), text);
      }),
      RUNS,
    );
  });

  it("refuses malformed text that either other refuses, and zone identifiers they accept", () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant("insert" as const), at: fc.nat(), char: fc.constantFrom(":", ".", "0", "1", "f", "F", "g", "%", " ", "/", "-", "[", "]", "x", "\t", "::") }),
      fc.record({ op: fc.constant("delete" as const), at: fc.nat(), char: fc.constant("") }),
      fc.record({ op: fc.constant("zone" as const), at: fc.constant(0), char: fc.constantFrom("%eth0", "%25eth0", "%1", "%") }),
      fc.record({ op: fc.constant("zeroOctet" as const), at: fc.nat(), char: fc.constant("0") }),
    );
    fc.assert(
      fc.property(address, spelling, fc.array(mutation, { minLength: 1, maxLength: 3 }), (a, s, mutations) => {
        let text = spell(a, s);
        for (const m of mutations) {
          if (m.op === "insert") text = text.slice(0, m.at % (text.length + 1)) + m.char + text.slice(m.at % (text.length + 1));
          else if (m.op === "delete" && text.length > 0) text = text.slice(0, m.at % text.length) + text.slice((m.at % text.length) + 1);
          else if (m.op === "zone") text += m.char;
          else if (m.op === "zeroOctet") {
            // A leading zero on one IPv4 octet (of an IPv4 address or a dotted tail).
            const octets = [...text.matchAll(/(^|[.:])(\d+)(?=\.|$)/g)];
            const hit = octets[m.at % Math.max(1, octets.length)];
            if (hit?.index !== undefined && text.includes(".")) {
              const at = hit.index + hit[1]!.length;
              text = `${text.slice(0, at)}0${text.slice(at)}`;
            }
          }
        }
        const ours = tryParseAddress(text);
        const zoned = text.includes("%");
        const nodeSays = isIP(text) !== 0 && !zoned;
        const ipa = text.includes("/") || zoned ? undefined : ipaParse(text);
        assert.equal(ours !== undefined, nodeSays, `node:net isIP and ours on ${JSON.stringify(text)}`);
        assert.equal(ours !== undefined, ipa !== undefined, `ip-address and ours on ${JSON.stringify(text)}`);
        if (ours !== undefined) assert.equal(ipa!.bigInt(), ours.value, text);
      }),
      RUNS,
    );
  });

  it("names the differences on purpose", () => {
    // Zones: accepted by both others, refused here.
    assert.equal(isIP("fe80::1%eth0"), 6);
    assert.ok(Address6.isValid("fe80::1%eth0"));
    assert.equal(tryParseAddress("fe80::1%eth0"), undefined);
    // Leading zeros in IPv4 octets: refused by all three.
    for (const t of ["010.1.1.1", "::ffff:1.2.3.04"]) {
      assert.equal(isIP(t), 0, t);
      assert.equal(ipaParse(t), undefined, t);
      assert.equal(tryParseAddress(t), undefined, t);
    }
    // A prefix length with a leading zero: ip-address reads an IPv6 /064 as /64; we refuse it.
    assert.equal(new Address6("2001:db8::/064").subnetMask, 64);
    assert.throws(() => parseRange("2001:db8::/064"), /invalid prefix length "064"/);
    // Host bits: an address with a mask to ip-address; refused as a pool entry, accepted for an interface.
    assert.ok(Address4.isValid("192.0.2.7/24"));
    assert.throws(() => parseRange("192.0.2.7/24"), /host bits set; write the network as 192\.0\.2\.0\/24/);
    assert.equal(parseCidr("192.0.2.7/24", { allowHostBits: true }).network, 0xc0000200n);
    // IPv4-mapped text: dotted here and in node:net; hex in ip-address's correctForm().
    const mapped: Address = { family: 6, value: MAPPED | 0xc0000201n };
    assert.equal(formatAddress(mapped), "::ffff:192.0.2.1");
    assert.equal(nodeText(mapped), "::ffff:192.0.2.1");
    assert.equal(new Address6("::ffff:192.0.2.1").correctForm(), "::ffff:c000:201");
    // IPv4-compatible (deprecated): hex here and in ip-address, dotted in node:net.
    const compatible: Address = { family: 6, value: 0x01020304n };
    assert.equal(formatAddress(compatible), "::102:304");
    assert.equal(nodeText(compatible), "::1.2.3.4");
    // BlockList matches IPv4 against IPv4-mapped blocks; ours keeps families apart.
    const list = new BlockList();
    list.addSubnet("::ffff:192.0.2.0", 120, "ipv6");
    assert.equal(list.check("192.0.2.5", "ipv4"), true);
    assert.equal(cidrContains("::ffff:192.0.2.0/120", "192.0.2.5"), false);
    const family: Family = 6;
    assert.equal(cidrContains("::ffff:192.0.2.0/120", { family, value: MAPPED | 0xc0000205n }), true);
  });
});
