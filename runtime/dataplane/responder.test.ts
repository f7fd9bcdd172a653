// The native responder's decisions, frame by frame, checked against independently built frames.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatIp, parseIp } from "./addr.ts";
import { COUNTER, COUNTERS_PER_SLOT } from "./socket.ts";
import { BROADCAST, arpFrame, makeResponder, ndFrame, parseArp, parseNa, solicitedNodeOf } from "./testing.ts";

const OUR = "02:00:00:00:00:01";
const OTHER = "02:00:00:00:00:02";
const V4 = "192.0.2.100";
const V6 = "2001:db8::100";

function setup() {
  return makeResponder(OUR, [V4, V6]);
}
const count = (c: Uint32Array, slot: number, which: keyof typeof COUNTER): number => c[slot * COUNTERS_PER_SLOT + COUNTER[which]]!;

describe("ARP", () => {
  it("answers a broadcast request for an owned address with the interface MAC", () => {
    const { responder, out, counters } = setup();
    const n = responder.handle(arpFrame({ tpa: V4, sha: OTHER, spa: "192.0.2.2" }), out);
    assert.equal(n, 60);
    const r = parseArp(out.subarray(0, 60));
    assert.deepEqual(r, { ethDst: OTHER, ethSrc: OUR, op: 2, sha: OUR, spa: V4, tha: OTHER, tpa: "192.0.2.2" });
    assert.ok(out.subarray(42, 60).every((b) => b === 0), "padding is zero");
    assert.equal(count(counters, 0, "requests"), 1);
  });

  it("answers a request unicast to our MAC (the kernel's ARP refresh)", () => {
    const { responder, out } = setup();
    assert.equal(responder.handle(arpFrame({ tpa: V4, ethDst: OUR }), out), 60);
  });

  it("answers with padding after the body (minimum-size Ethernet frames)", () => {
    const { responder, out } = setup();
    assert.equal(responder.handle(arpFrame({ tpa: V4, trailer: 18 }), out), 60);
  });

  it("answers an RFC 5227 probe (sender 0.0.0.0) to the prober's hardware address", () => {
    const { responder, out } = setup();
    assert.equal(responder.handle(arpFrame({ tpa: V4, spa: "0.0.0.0" }), out), 60);
    assert.equal(parseArp(out).tpa, "0.0.0.0");
    assert.equal(parseArp(out).ethDst, OTHER);
  });

  it("ignores requests unicast to another MAC (seen in promiscuous mode)", () => {
    const { responder, out } = setup();
    assert.equal(responder.handle(arpFrame({ tpa: V4, ethDst: "02:00:00:00:00:77" }), out), 0);
  });

  it("ignores requests for addresses it does not own, and replies", () => {
    const { responder, out, counters } = setup();
    assert.equal(responder.handle(arpFrame({ tpa: "192.0.2.101" }), out), 0);
    assert.equal(responder.handle(arpFrame({ tpa: V4, op: 2, spa: "192.0.2.2" }), out), 0);
    assert.equal(count(counters, 0, "requests"), 0);
  });

  it("ignores malformed headers and senders that cannot be answered", () => {
    const { responder, out } = setup();
    for (const f of [
      { htype: 6 }, { ptype: 0x86dd }, { hlen: 8 }, { plen: 16 }, { op: 3 }, { op: 0 },
      { sha: BROADCAST }, { sha: "01:00:5e:00:00:01" }, { sha: "00:00:00:00:00:00" },
      { spa: "127.0.0.1" }, { spa: "224.0.0.1" }, { spa: "255.255.255.255" },
    ]) assert.equal(responder.handle(arpFrame({ tpa: V4, ...f }), out), 0, JSON.stringify(f));
    assert.equal(responder.handle(arpFrame({ tpa: V4 }).subarray(0, 41), out), 0, "truncated");
  });

  it("a gratuitous ARP from another station for an owned address is a duplicate, not answered", () => {
    const { responder, out, counters } = setup();
    assert.deepEqual(responder.handle(arpFrame({ tpa: V4, spa: V4, sha: OTHER }), out), [0, OTHER, "arp"]);
    assert.deepEqual(responder.handle(arpFrame({ tpa: V4, spa: V4, sha: OTHER, op: 2 }), out), [0, OTHER, "arp"]);
    assert.equal(count(counters, 0, "duplicates"), 2);
    assert.equal(count(counters, 0, "requests"), 0);
  });

  it("frames from our own MACs are never duplicates", () => {
    const { responder, out, counters } = setup();
    responder.setOurMacs(Buffer.from("020000000009", "hex"));
    assert.equal(responder.handle(arpFrame({ tpa: V4, spa: V4, sha: "02:00:00:00:00:09" }), out), 0);
    assert.equal(responder.handle(arpFrame({ tpa: V4, spa: V4, sha: OUR }), out), 0);
    assert.equal(count(counters, 0, "duplicates"), 0);
  });

  it("stops answering the moment an address is removed", () => {
    const { responder, out } = setup();
    responder.remove(parseIp(V4));
    assert.equal(responder.handle(arpFrame({ tpa: V4 }), out), 0);
    responder.add(parseIp(V4), 0);
    assert.equal(responder.handle(arpFrame({ tpa: V4 }), out), 60);
  });

  it("announces with a gratuitous request and a gratuitous reply, broadcast", () => {
    const { responder } = setup();
    const [req, rep] = responder.announcement(parseIp(V4));
    assert.deepEqual(parseArp(req!), { ethDst: BROADCAST, ethSrc: OUR, op: 1, sha: OUR, spa: V4, tha: "00:00:00:00:00:00", tpa: V4 });
    assert.deepEqual(parseArp(rep!), { ethDst: BROADCAST, ethSrc: OUR, op: 2, sha: OUR, spa: V4, tha: BROADCAST, tpa: V4 });
  });

  it("keeps many addresses apart (hash table growth and deletion)", () => {
    const ips = Array.from({ length: 1000 }, (_, i) => `198.51.${100 + (i >> 8)}.${i & 0xff}`);
    const { responder, out } = makeResponder(OUR, []);
    ips.forEach((ip) => responder.add(parseIp(ip), 1));
    for (let i = 0; i < ips.length; i += 2) responder.remove(parseIp(ips[i]!));
    ips.forEach((ip, i) => {
      const n = responder.handle(arpFrame({ tpa: ip }), out);
      assert.equal(n, i % 2 ? 60 : 0, ip);
      if (n) assert.equal(parseArp(out).spa, ip);
    });
  });
});

describe("NDP", () => {
  it("answers a solicitation to the solicited-node group with S=1, O=1, hop limit 255 and a valid checksum", () => {
    const { responder, out, counters } = setup();
    const n = responder.handle(ndFrame({ target: V6, src: "2001:db8::2", ethSrc: OTHER }), out);
    assert.equal(n, 86);
    const na = parseNa(out.subarray(0, n as number));
    assert.equal(na.ethDst, OTHER);
    assert.equal(na.ethSrc, OUR);
    assert.equal(formatIp(na.src), V6);
    assert.equal(formatIp(na.dst), "2001:db8::2");
    assert.equal(na.hopLimit, 255);
    assert.equal(na.flags, 0x60);
    assert.equal(formatIp(na.target), V6);
    assert.equal(na.tlla, OUR);
    assert.ok(na.checksumOk);
    assert.equal(count(counters, 1, "requests"), 1);
  });

  it("answers a unicast solicitation to the address itself (neighbour unreachability detection)", () => {
    const { responder, out } = setup();
    assert.equal(responder.handle(ndFrame({ target: V6, dst: V6, ethDst: OUR }), out), 86);
    // Without a source link-layer option: answered to the Ethernet source.
    assert.equal(responder.handle(ndFrame({ target: V6, dst: V6, ethDst: OUR, lla: null, ethSrc: "02:00:00:00:00:33" }), out), 86);
    assert.equal(parseNa(out).ethDst, "02:00:00:00:00:33");
  });

  it("sends the answer to the source link-layer address when it differs from the Ethernet source", () => {
    const { responder, out } = setup();
    assert.equal(responder.handle(ndFrame({ target: V6, ethSrc: OTHER, lla: "02:00:00:00:00:44" }), out), 86);
    assert.equal(parseNa(out).ethDst, "02:00:00:00:00:44");
  });

  it("accepts unknown options of valid length", () => {
    const { responder, out } = setup();
    assert.equal(responder.handle(ndFrame({ target: V6, options: Buffer.from([14, 1, 1, 2, 3, 4, 5, 6]) }), out), 86);
  });

  it("ignores DAD probes from the unspecified address", () => {
    const { responder, out, counters } = setup();
    assert.equal(responder.handle(ndFrame({ target: V6, src: "::", lla: null }), out), 0);
    assert.equal(count(counters, 1, "requests"), 0);
    assert.equal(count(counters, 1, "duplicates"), 0);
  });

  it("discards what RFC 4861 §7.1.1 says to discard", () => {
    const { responder, out, counters } = setup();
    const bad: Array<[string, Partial<Parameters<typeof ndFrame>[0]>]> = [
      ["hop limit 254", { hopLimit: 254 }],
      ["hop limit 64", { hopLimit: 64 }],
      ["code 1", { code: 1 }],
      ["bad checksum", { checksum: 0x1234 }],
      ["zero-length option", { options: Buffer.from([14, 0, 0, 0, 0, 0, 0, 0]) }],
      ["option past the end", { options: Buffer.from([14, 2, 0, 0, 0, 0, 0, 0]) }],
      ["source multicast", { src: "ff02::1" }],
      ["not IPv6", { version: 4 }],
      ["extension header", { nextHeader: 0 }],
      ["payload length beyond the frame", { payloadLength: 200 }],
      ["payload length below 24", { payloadLength: 16 }],
      ["another group", { dst: "ff02::1" }],
      ["another node's solicited-node group", { dst: solicitedNodeOf("2001:db8::101") }],
      ["unicast to another address", { dst: "2001:db8::101", ethDst: OUR }],
      ["unicast to another MAC", { dst: V6, ethDst: "02:00:00:00:00:77" }],
      ["group address with our unicast MAC", { ethDst: OUR }],
      ["multicast source link-layer address", { lla: "33:33:00:00:00:01" }],
    ];
    for (const [why, f] of bad) assert.equal(responder.handle(ndFrame({ target: V6, ...f }), out), 0, why);
    assert.equal(responder.handle(ndFrame({ target: "ff02::1", dst: "ff02::1:ff00:1" }), out), 0, "multicast target");
    assert.equal(responder.handle(ndFrame({ target: "2001:db8::101" }), out), 0, "not owned");
    assert.equal(count(counters, 1, "requests"), 0);
  });

  it("another station advertising or soliciting from an owned address is a duplicate", () => {
    const { responder, out, counters } = setup();
    assert.deepEqual(responder.handle(ndFrame({ type: 136, target: V6, dst: "ff02::1", ethDst: "33:33:00:00:00:01", lla: OTHER, flags: 0x20 }), out), [1, OTHER, "ndp"]);
    assert.deepEqual(responder.handle(ndFrame({ target: V6, src: V6, ethSrc: OTHER }), out), [1, OTHER, "ndp"]);
    assert.equal(responder.handle(ndFrame({ type: 136, target: V6, dst: "ff02::1", ethDst: "33:33:00:00:00:01", lla: OUR }), out), 0);
    assert.equal(count(counters, 1, "duplicates"), 2);
  });

  it("announces with one unsolicited NA (S=0, O=1) to all nodes", () => {
    const { responder } = setup();
    const [na, more] = responder.announcement(parseIp(V6));
    assert.equal(more, undefined);
    const p = parseNa(na!);
    assert.equal(p.ethDst, "33:33:00:00:00:01");
    assert.equal(formatIp(p.dst), "ff02::1");
    assert.equal(formatIp(p.src), V6);
    assert.equal(p.flags, 0x20);
    assert.equal(p.hopLimit, 255);
    assert.equal(p.tlla, OUR);
    assert.ok(p.checksumOk);
  });
});

describe("non-ARP, non-NDP frames", () => {
  it("are ignored: IPv4, other ICMPv6, empty and short frames", () => {
    const { responder, out } = setup();
    const ipv4 = Buffer.alloc(60);
    ipv4.writeUInt16BE(0x0800, 12);
    assert.equal(responder.handle(ipv4, out), 0);
    assert.equal(responder.handle(ndFrame({ type: 128, target: V6 }), out), 0);
    assert.equal(responder.handle(Buffer.alloc(0), out), 0);
    assert.equal(responder.handle(Buffer.alloc(13), out), 0);
  });

  it("rejects a reply buffer too small to write into", () => {
    const { responder } = setup();
    assert.throws(() => responder.handle(arpFrame({ tpa: V4 }), Buffer.alloc(42)), TypeError);
  });
});

describe("answer deadline (the control plane's confirmation)", () => {
  const arp = () => arpFrame({ tpa: V4, sha: OTHER, spa: "192.0.2.2" });
  const ns = () => ndFrame({ target: V6, src: "2001:db8::2", ethSrc: OTHER });

  it("answers without a deadline, and while the last confirmation holds", () => {
    const { responder, out } = setup();
    assert.equal(responder.handle(arp(), out), 60, "no deadline (standalone mode)");
    responder.answerFor(60_000);
    assert.equal(responder.handle(arp(), out), 60);
    assert.equal(responder.handle(ns(), out), 86);
  });

  it("is silent, ARP and NDP, once the deadline passed, and answers again when confirmed", async () => {
    const { responder, out, counters } = setup();
    responder.answerFor(0);
    assert.equal(responder.handle(arp(), out), 0);
    assert.equal(responder.handle(ns(), out), 0);
    assert.equal(count(counters, 0, "requests"), 0);
    responder.answerFor(20);
    assert.equal(responder.handle(arp(), out), 60);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(responder.handle(arp(), out), 0, "20 ms later");
    responder.answerFor(Infinity);
    assert.equal(responder.handle(arp(), out), 60, "deadline removed");
  });

  it("still reports another station claiming an owned address while silent", () => {
    const { responder, out } = setup();
    responder.answerFor(0);
    assert.deepEqual(responder.handle(arpFrame({ tpa: V4, spa: V4, sha: OTHER }), out), [0, OTHER, "arp"]);
  });

  it("rejects a deadline that is not a number", () => {
    const { responder } = setup();
    assert.throws(() => responder.answerFor(Number.NaN), TypeError);
  });
});
