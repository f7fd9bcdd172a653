import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { canonicalIp, cidrContains, formatIp, formatMac, multicastMac, parseIp, parseMac, solicitedNode, subnetOf } from "./addr.ts";

describe("addresses", () => {
  it("parses and formats IPv4 and IPv6 canonically", () => {
    assert.deepEqual([...parseIp("192.0.2.1")], [192, 0, 2, 1]);
    assert.equal(canonicalIp("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
    assert.equal(canonicalIp("2001:db8::0:1:0:0:1"), "2001:db8::1:0:0:1");
    assert.equal(canonicalIp("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
    assert.equal(canonicalIp("::"), "::");
    assert.equal(canonicalIp("::1"), "::1");
    assert.equal(canonicalIp("fe80::"), "fe80::");
    assert.equal(canonicalIp("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2:3:4:5:6");
    assert.equal(canonicalIp("::ffff:192.0.2.1"), "::ffff:192.0.2.1");
    assert.equal(canonicalIp("::FFFF:C000:201"), "::ffff:192.0.2.1"); // RFC 5952 §5: IPv4-mapped, dotted
    assert.equal(canonicalIp("2001:db8:0:1:0:0:0:0"), "2001:db8:0:1::");
  });

  it("rejects what is not an address", () => {
    for (const bad of ["", "192.0.2", "192.0.2.256", "2001:db8::1::2", "fe80::1%eth0", "a.b.c.d", "192.0.2.1/24"]) assert.throws(() => parseIp(bad), /not an IP/, bad);
  });

  it("round-trips any IPv6 address", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => parseIp(formatIp(b)).equals(Buffer.from(b))));
  });

  it("computes subnets and containment", () => {
    assert.equal(subnetOf("192.0.2.77", 24), "192.0.2.0/24");
    assert.equal(subnetOf("192.0.2.77", 25), "192.0.2.0/25");
    assert.equal(subnetOf("192.0.2.200", 25), "192.0.2.128/25");
    assert.equal(subnetOf("2001:db8:1:2::5", 64), "2001:db8:1:2::/64");
    assert.equal(subnetOf("2001:db8::5", 128), "2001:db8::5/128");
    assert.ok(cidrContains("192.0.2.0/24", "192.0.2.255"));
    assert.ok(!cidrContains("192.0.2.0/24", "198.51.100.1"));
    assert.ok(!cidrContains("192.0.2.0/24", "2001:db8::1"));
    assert.ok(cidrContains("2001:db8::/32", "2001:db8:ffff::1"));
    assert.ok(cidrContains("0.0.0.0/0", "203.0.113.9"));
  });

  it("MACs and solicited-node groups", () => {
    assert.equal(formatMac(parseMac("02:AB:0:1:2:3")), "02:ab:00:01:02:03");
    assert.throws(() => parseMac("02:ab:00:01:02"));
    const snm = solicitedNode(parseIp("2001:db8::12:3456"));
    assert.equal(formatIp(snm), "ff02::1:ff12:3456");
    assert.equal(formatMac(multicastMac(snm)), "33:33:ff:12:34:56");
  });
});
