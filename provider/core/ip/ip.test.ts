import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  cidrContains,
  compareAddresses,
  familyOf,
  formatAddress,
  formatRange,
  IpError,
  networkAndBroadcast,
  nthAddress,
  offsetOf,
  parseAddress,
  parseCidr,
  parseRange,
  rangeContains,
  rangeSize,
  rangesOverlap,
  reservedOfSubnet,
  subnetOf,
  formatCidr,
  tryParseAddress,
} from "./index.ts";

describe("addresses", () => {
  const valid: [string, 4 | 6, bigint, string][] = [
    ["0.0.0.0", 4, 0n, "0.0.0.0"],
    ["192.168.28.210", 4, 0xc0a81cd2n, "192.168.28.210"],
    ["255.255.255.255", 4, 0xffffffffn, "255.255.255.255"],
    ["::", 6, 0n, "::"],
    ["::1", 6, 1n, "::1"],
    ["2001:DB8::1", 6, 0x20010db8000000000000000000000001n, "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", 6, 0x20010db8000000000001000000000001n, "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", 6, 0x20010db8000000000000000000000001n, "2001:db8::1"],
    ["::ffff:192.0.2.1", 6, 0xffffc0000201n, "::ffff:192.0.2.1"],
    ["1:2:3:4:5:6:7:8", 6, 0x00010002000300040005000600070008n, "1:2:3:4:5:6:7:8"],
    ["1:0:0:2:0:0:0:3", 6, 0x00010000000000020000000000000003n, "1:0:0:2::3"],
    ["fe80::", 6, 0xfe800000000000000000000000000000n, "fe80::"],
    ["1:2:3:4:5:6:1.2.3.4", 6, 0x00010002000300040005000601020304n, "1:2:3:4:5:6:102:304"],
    // RFC 5952 §5: only IPv4-mapped addresses (::ffff:0:0/96) are written with a dotted tail.
    ["::FFFF:C000:201", 6, 0xffffc0000201n, "::ffff:192.0.2.1"],
    ["0:0:0:0:0:ffff:0:0", 6, 0xffff00000000n, "::ffff:0.0.0.0"],
    ["::ffff:ffff:ffff", 6, 0xffffffffffffn, "::ffff:255.255.255.255"],
    ["::fffe:ffff:ffff", 6, 0xfffeffffffffn, "::fffe:ffff:ffff"],
    ["::1:0:0:0", 6, 0x1000000000000n, "::1:0:0:0"],
    ["::1.2.3.4", 6, 0x01020304n, "::102:304"],
    ["::ffff:0:1.2.3.4", 6, 0xffff000001020304n, "::ffff:0:102:304"],
    ["1::ffff:1.2.3.4", 6, (1n << 112n) | 0xffff01020304n, "1::ffff:102:304"],
  ];
  for (const [text, family, value, canonical] of valid) {
    it(`parses ${text}`, () => {
      assert.deepEqual(parseAddress(text), { family, value });
      assert.equal(formatAddress({ family, value }), canonical);
      assert.equal(familyOf(text), family);
    });
  }
  const invalid = ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-1", " 1.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "fe80::1%eth0", "::g", "1:2:3:4:5:6:7::8:9", "1.2.3.4/24", "abc"];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(tryParseAddress(text), undefined);
      assert.throws(() => parseAddress(text), IpError);
      assert.equal(familyOf(text), undefined);
    });
  }
  it("explains leading zeros and zones", () => {
    assert.throws(() => parseAddress("010.1.1.1"), /leading zeros/);
    assert.throws(() => parseAddress("fe80::1%eth0"), /zone/);
  });
  it("orders IPv4 before IPv6, then by value", () => {
    const list = ["::1", "10.0.0.2", "10.0.0.10", "::"].map(parseAddress).sort(compareAddresses).map(formatAddress);
    assert.deepEqual(list, ["10.0.0.2", "10.0.0.10", "::", "::1"]);
  });
});

describe("ranges", () => {
  const cases: [string, string, bigint, "single" | "cidr" | "range"][] = [
    ["192.168.28.210-192.168.28.220", "192.168.28.210-192.168.28.220", 11n, "range"],
    ["192.168.0.91 - 192.168.0.100", "192.168.0.91-192.168.0.100", 10n, "range"],
    ["10.0.0.0/24", "10.0.0.0/24", 256n, "cidr"],
    ["10.0.0.7/32", "10.0.0.7/32", 1n, "cidr"],
    ["10.0.0.0/31", "10.0.0.0/31", 2n, "cidr"],
    ["0.0.0.0/0", "0.0.0.0/0", 1n << 32n, "cidr"],
    ["192.0.2.5", "192.0.2.5", 1n, "single"],
    ["2001:db8::/64", "2001:db8::/64", 1n << 64n, "cidr"],
    ["::/0", "::/0", 1n << 128n, "cidr"],
    ["2001:db8::10-2001:db8::1:0", "2001:db8::10-2001:db8::1:0", 0x10000n - 0x10n + 1n, "range"],
    ["10.0.0.5-10.0.0.5", "10.0.0.5", 1n, "range"],
  ];
  for (const [text, canonical, size, kind] of cases) {
    it(`parses ${text}`, () => {
      const r = parseRange(text);
      assert.equal(formatRange(r), canonical);
      assert.equal(rangeSize(r), size);
      assert.equal(r.kind, kind);
    });
  }
  const bad: [string, RegExp][] = [
    ["10.0.0.1/24", /host bits set; write the network as 10\.0\.0\.0\/24/],
    ["10.0.0.0/33", /invalid prefix length "33".*0 to 32/],
    ["2001:db8::/129", /invalid prefix length "129".*0 to 128/],
    ["10.0.0.0/-1", /invalid prefix length/],
    ["10.0.0.0/", /invalid prefix length/],
    ["10.0.0.0/08", /invalid prefix length/],
    ["10.0.0.300/24", /not an IPv4 or IPv6 address/],
    ["10.0.0.9-10.0.0.1", /starts after it ends; write it as 10\.0\.0\.1-10\.0\.0\.9/],
    ["10.0.0.1-2001:db8::1", /mixes IPv4 and IPv6/],
    ["10.0.0.1-10.0.0.2-10.0.0.3", /exactly two addresses/],
    ["10.0.0.1-", /not an IPv4 or IPv6 address/],
    ["", /empty/],
    ["banana", /neither an address, a CIDR nor a first-last range/],
    ["10.0.0.0/24/8", /not a CIDR/],
  ];
  for (const [text, message] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseRange(text), (e: unknown) => e instanceof IpError && message.test(e.message));
    });
  }
  it("answers containment without enumerating", () => {
    const big = parseRange("2001:db8::/64");
    assert.equal(rangeContains(big, "2001:db8::ffff:ffff:ffff:ffff"), true);
    assert.equal(rangeContains(big, "2001:db8:0:1::"), false);
    assert.equal(rangeContains(big, "10.0.0.1"), false);
    assert.equal(rangeContains("192.168.28.210-192.168.28.220", "192.168.28.220"), true);
    assert.equal(rangeContains("192.168.28.210-192.168.28.220", "192.168.28.221"), false);
    assert.equal(rangeContains("192.168.28.210-192.168.28.220", "not-an-ip"), false);
    assert.equal(formatAddress(nthAddress(big, (1n << 64n) - 1n)), "2001:db8::ffff:ffff:ffff:ffff");
    assert.throws(() => nthAddress(big, 1n << 64n), IpError);
    assert.equal(offsetOf(big, parseAddress("2001:db8::1:0")), 0x10000n);
    assert.equal(offsetOf(big, parseAddress("10.0.0.1")), undefined);
  });
  it("detects overlap only within a family", () => {
    const o = (a: string, b: string): boolean => rangesOverlap(parseRange(a), parseRange(b));
    assert.equal(o("10.0.0.0/24", "10.0.0.255-10.0.1.3"), true);
    assert.equal(o("10.0.0.0/24", "10.0.1.0-10.0.1.3"), false);
    assert.equal(o("10.0.0.5", "10.0.0.0/29"), true);
    assert.equal(o("0.0.0.0/0", "::/0"), false);
  });
});

describe("subnets", () => {
  it("parses interface CIDRs with host bits when allowed", () => {
    const c = parseCidr("192.168.28.7/24", { allowHostBits: true });
    assert.equal(formatCidr(c), "192.168.28.0/24");
    assert.equal(c.address, parseAddress("192.168.28.7").value);
  });
  it("computes subnetOf, network and broadcast", () => {
    assert.equal(formatCidr(subnetOf("192.168.28.211", 24)), "192.168.28.0/24");
    assert.equal(formatCidr(subnetOf("2001:db8::abcd", 64)), "2001:db8::/64");
    assert.throws(() => subnetOf("10.0.0.1", 33), IpError);
    const nb = networkAndBroadcast("192.168.28.7/24");
    assert.equal(formatAddress(nb.network), "192.168.28.0");
    assert.equal(formatAddress(nb.broadcast), "192.168.28.255");
    const nb6 = networkAndBroadcast("2001:db8::/126");
    assert.equal(formatAddress(nb6.broadcast), "2001:db8::3");
  });
  it("knows which subnet addresses are reserved", () => {
    const r = (t: string): string[] => reservedOfSubnet(parseCidr(t, { allowHostBits: true })).map(formatAddress);
    assert.deepEqual(r("192.168.28.0/24"), ["192.168.28.0", "192.168.28.255"]);
    assert.deepEqual(r("10.0.0.0/31"), []);
    assert.deepEqual(r("10.0.0.1/32"), []);
    assert.deepEqual(r("2001:db8::/64"), ["2001:db8::"]);
    assert.deepEqual(r("2001:db8::/127"), []);
  });
  it("cidrContains ignores host bits of the subnet", () => {
    assert.equal(cidrContains("192.168.28.7/24", "192.168.28.250"), true);
    assert.equal(cidrContains("192.168.28.7/24", "192.168.29.1"), false);
    assert.equal(cidrContains("2001:db8::/64", "2001:db8::1"), true);
    assert.equal(cidrContains("2001:db8::/64", "192.168.28.1"), false);
  });
});

describe("properties", () => {
  const v6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n });
  const v4 = fc.bigInt({ min: 0n, max: 0xffffffffn });
  it("formatting then parsing gives the same address (IPv4 and IPv6)", () => {
    fc.assert(
      fc.property(fc.oneof(v4.map((value) => ({ family: 4 as const, value })), v6.map((value) => ({ family: 6 as const, value }))), (a) => {
        assert.deepEqual(parseAddress(formatAddress(a)), a);
      }),
      { numRuns: 2000 },
    );
  });
  it("the canonical IPv6 text is stable and the expanded form parses to the same value", () => {
    fc.assert(
      fc.property(v6, (value) => {
        const text = formatAddress({ family: 6, value });
        assert.equal(formatAddress(parseAddress(text)), text);
        const full = Array.from({ length: 8 }, (_, i) => ((value >> BigInt((7 - i) * 16)) & 0xffffn).toString(16).padStart(4, "0")).join(":");
        assert.equal(parseAddress(full).value, value);
        assert.equal(parseAddress(full.toUpperCase()).value, value);
      }),
      { numRuns: 2000 },
    );
  });
  it("a CIDR contains exactly the addresses sharing its prefix; subnetOf agrees", () => {
    fc.assert(
      fc.property(v6, v6, fc.integer({ min: 0, max: 128 }), (base, probe, len) => {
        const cidr = subnetOf({ family: 6, value: base }, len);
        const text = formatCidr(cidr);
        const shift = BigInt(128 - len);
        const inside = probe >> shift === base >> shift;
        assert.equal(cidrContains(text, { family: 6, value: probe }), inside);
        assert.equal(rangeContains(parseRange(text), { family: 6, value: probe }), inside);
        assert.equal(rangeSize(parseRange(text)), 1n << shift);
      }),
      { numRuns: 2000 },
    );
  });
});
