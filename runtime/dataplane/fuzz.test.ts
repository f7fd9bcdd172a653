// Fuzzing the native responder: random, truncated, oversized, wrongly-typed, corrupted and
// VLAN-tagged frames must never crash it and never draw an answer; well-formed requests with
// random field values are always answered correctly.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { formatIp, formatMac } from "./addr.ts";
import { arpFrame, icmp6Checksum, makeResponder, ndFrame, parseArp, parseNa, tagged } from "./testing.ts";

const OUR = "02:00:00:00:00:01";
const V4 = ["192.0.2.100", "198.51.100.7", "203.0.113.255"];
const V6 = ["2001:db8::100", "2001:db8:1::abcd", "2001:db8:ffff::1"];
const RUNS = { numRuns: 3000 };

const unicastMac = fc.uint8Array({ minLength: 6, maxLength: 6 }).filter((b) => (b[0]! & 1) === 0 && b.some((x) => x !== 0) && formatMac(b) !== OUR).map((b) => formatMac(b));
const senderV4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255)).filter(([a]) => a !== 127).map((p) => p.join("."));
const senderV6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).filter((b) => b[0] !== 0xff && b.some((x) => x !== 0)).map((b) => formatIp(b)).filter((ip) => !V6.includes(ip));

function validArp(tpa: string): Buffer {
  return arpFrame({ tpa, spa: "192.0.2.2" });
}
function validNs(target: string): Buffer {
  return ndFrame({ target, src: "2001:db8::2" });
}
const validFrames = [...V4.map(validArp), ...V6.map(validNs)];
const anyValid = fc.constantFrom(...validFrames);

describe("responder fuzzing", () => {
  const { responder, out, counters } = makeResponder(OUR, [...V4, ...V6]);
  const handle = (f: Buffer): ReturnType<typeof responder.handle> => responder.handle(f, out);

  it("the seed frames are answered (so that the properties below test something)", () => {
    for (const f of validFrames) assert.ok((handle(f) as number) > 0);
  });

  it("random bytes: no crash, no answer", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), (b) => handle(Buffer.from(b)) === 0), RUNS);
  });

  it("random bytes behind a valid ARP or IPv6 Ethernet header: no answer", () => {
    fc.assert(
      fc.property(fc.constantFrom(0x0806, 0x86dd), fc.uint8Array({ maxLength: 200 }), (type, body) => {
        const f = Buffer.concat([Buffer.from("ffffffffffff020000000002", "hex"), Buffer.from([type >> 8, type & 0xff]), body]);
        return handle(f) === 0;
      }),
      RUNS,
    );
  });

  it("truncated frames: no answer", () => {
    fc.assert(
      fc.property(anyValid, fc.nat(), (f, cut) => {
        const need = f.readUInt16BE(12) === 0x0806 ? 42 : 54 + f.readUInt16BE(18);
        return handle(f.subarray(0, cut % need)) === 0;
      }),
      RUNS,
    );
  });

  it("oversized frames (beyond any receive slot): no answer; padding within a slot is tolerated", () => {
    fc.assert(
      fc.property(anyValid, fc.integer({ min: 2049, max: 9000 }), (f, size) => handle(Buffer.concat([f, Buffer.alloc(size - f.length)])) === 0),
      { numRuns: 300 },
    );
    fc.assert(fc.property(anyValid, fc.integer({ min: 0, max: 1900 }), (f, pad) => (handle(Buffer.concat([f, Buffer.alloc(pad, 0xa5)])) as number) > 0), { numRuns: 300 });
  });

  it("VLAN-tagged frames (802.1Q and 802.1ad): no answer", () => {
    fc.assert(fc.property(anyValid, fc.integer({ min: 0, max: 4095 }), fc.constantFrom(0x8100, 0x88a8), (f, vid, tpid) => handle(tagged(f, vid, tpid)) === 0), RUNS);
  });

  it("wrongly-typed frames: no answer", () => {
    const fields: Array<[offset: number, width: 1 | 2, valid: number, arp: boolean]> = [
      [12, 2, 0x0806, true], [14, 2, 1, true], [16, 2, 0x0800, true], [18, 1, 6, true], [19, 1, 4, true], [20, 2, 1, true],
      [12, 2, 0x86dd, false], [20, 1, 58, false], [54, 1, 135, false], [55, 1, 0, false], [21, 1, 255, false],
    ];
    fc.assert(
      fc.property(fc.nat(validFrames.length - 1), fc.nat(fields.length - 1), fc.nat(0xffff), (fi, ki, value) => {
        const f = Buffer.from(validFrames[fi]!);
        const [off, width, valid, arp] = fields[ki]!;
        if ((f.readUInt16BE(12) === 0x0806) !== arp) return true;
        const v = width === 1 ? value & 0xff : value;
        if (v === valid) return true;
        if (width === 1) f[off] = v;
        else f.writeUInt16BE(v, off);
        // ICMPv6 fields: keep the checksum right so that only the type is wrong.
        if (!arp && off >= 54) {
          f.writeUInt16BE(0, 56);
          f.writeUInt16BE(icmp6Checksum(f.subarray(22, 38), f.subarray(38, 54), f.subarray(54)), 56);
        }
        const result = handle(f);
        // Turning the NS into an NA for our own address makes it another station's claim: it is
        // counted as a duplicate (an array), never answered.
        if (Array.isArray(result)) return !arp && off === 54 && v === 136;
        return result === 0;
      }),
      RUNS,
    );
  });

  it("any single corrupted byte in an NS's checksummed part (addresses, ICMPv6) without a fixed checksum: no answer", () => {
    fc.assert(
      fc.property(fc.constantFrom(...V6.map(validNs)), fc.nat(), fc.integer({ min: 1, max: 255 }), (f0, at, xor) => {
        const f = Buffer.from(f0);
        const i = 22 + (at % (f.length - 22));
        f[i] = f[i]! ^ xor;
        return handle(f) === 0;
      }),
      RUNS,
    );
  });

  it("well-formed requests with random senders for owned addresses are answered correctly", () => {
    fc.assert(
      fc.property(fc.constantFrom(...V4), unicastMac, senderV4, fc.boolean(), (tpa, sha, spa, unicast) => {
        if (V4.includes(spa)) return true;
        const n = handle(arpFrame({ tpa, sha, spa, ethDst: unicast ? OUR : undefined }));
        if (n !== 60) return false;
        const r = parseArp(out.subarray(0, 60));
        return r.op === 2 && r.ethDst === sha && r.ethSrc === OUR && r.sha === OUR && r.spa === tpa && r.tha === sha && r.tpa === spa;
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.constantFrom(...V6), unicastMac, senderV6, fc.boolean(), (target, mac, src, nud) => {
        const n = handle(ndFrame({ target, src, ethSrc: mac, ...(nud ? { dst: target, ethDst: OUR } : {}) }));
        if (n !== 86) return false;
        const na = parseNa(out.subarray(0, 86));
        return na.ethDst === mac && na.checksumOk && na.hopLimit === 255 && na.flags === 0x60 && formatIp(na.target) === target && formatIp(na.dst) === src && na.tlla === OUR;
      }),
      RUNS,
    );
  });

  it("requests for addresses not owned are never answered", () => {
    const owned = new Set([...V4, ...V6]);
    fc.assert(fc.property(senderV4, (tpa) => owned.has(tpa) || handle(arpFrame({ tpa })) === 0), RUNS);
    fc.assert(fc.property(senderV6, (target) => handle(ndFrame({ target })) === 0), RUNS);
  });

  it("counters only moved for answered frames", () => {
    // Every answered request above was counted once per address slot; nothing malformed was.
    let total = 0;
    for (let s = 0; s < V4.length + V6.length; s++) total += counters[s * 4]!;
    assert.ok(total > 0);
    assert.equal(responder.handle(Buffer.alloc(60), out), 0);
    let after = 0;
    for (let s = 0; s < V4.length + V6.length; s++) after += counters[s * 4]!;
    assert.equal(after, total);
  });
});
