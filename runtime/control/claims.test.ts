import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AddressFilter, ClaimsBook, MAX_CLAIMS_PER_MESSAGE, claimsMayInclude, filteredClaims } from "./claims.ts";
import { SendLog } from "./heartbeat.ts";

const v6 = (i: number): string => `2001:db8:1::${i.toString(16)}`;
const v4 = (i: number): string => `198.51.100.${i % 256}`;
const range = (n: number, f: (i: number) => string = v6): string[] => Array.from({ length: n }, (_, i) => f(i));

describe("address filter", () => {
  it("never leaves out an address it was built from, and lets few others through", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 60_000 }), { maxLength: 4000 }), (ids) => {
        const f = AddressFilter.of(ids.map((i) => v6(i)));
        for (const i of ids) assert.ok(f.has(v6(i)), `${v6(i)} left out`);
      }),
      { numRuns: 40 },
    );
    const f = AddressFilter.of(range(1000));
    const others = range(10_000).slice(1000).filter((ip) => f.has(ip)).length;
    assert.ok(others < 300, `${others} of 9,000 other addresses let through`);
  });

  it("travels as base64 and reads back the same; malformed filters are refused", () => {
    const f = AddressFilter.of([v4(1), v6(2)]);
    const { w, k } = f.encode();
    const back = AddressFilter.decode(w, k)!;
    assert.ok(back.has(v4(1)) && back.has(v6(2)));
    assert.equal(AddressFilter.decode(w, 0), undefined);
    assert.equal(AddressFilter.decode(w, 9), undefined);
    assert.equal(AddressFilter.decode("AAAA", k), undefined, "24 bits: too small");
    assert.equal(AddressFilter.decode(Buffer.alloc(48).toString("base64"), k), undefined, "384 bits: not a power of two");
    assert.equal(AddressFilter.decode(Buffer.alloc(8192).toString("base64"), k), undefined, "65,536 bits: too large");
    assert.equal(AddressFilter.decode(42, k), undefined);
  });

  it("stays within 4 KB however many addresses it holds", () => {
    assert.equal(Buffer.from(AddressFilter.of(range(50_000)).encode().w, "base64").length, 4096);
    assert.equal(Buffer.from(AddressFilter.of([]).encode().w, "base64").length, 32);
  });
});

describe("claims a message carries", () => {
  it("tells the asker about every wanted address it claims, even when cut short (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.uniqueArray(fc.integer({ min: 0, max: 4000 }), { maxLength: 3000 }), (claimed, wantedIds) => {
        const claims = range(claimed).sort();
        const wanted = wantedIds.map((i) => v6(i));
        const part = filteredClaims(claims, AddressFilter.of(wanted));
        assert.ok(part.claims.length <= MAX_CLAIMS_PER_MESSAGE);
        const set = new Set(claims);
        for (const ip of wanted) if (set.has(ip)) assert.ok(claimsMayInclude(part, ip), `${ip} is claimed but the message says it is not`);
      }),
      { numRuns: 30 },
    );
  });

  it("cuts at the cap and names the last claim it carries", () => {
    const claims = range(2500).sort();
    const part = filteredClaims(claims, AddressFilter.of(claims));
    assert.equal(part.claims.length, MAX_CLAIMS_PER_MESSAGE);
    assert.equal(part.cut, claims[MAX_CLAIMS_PER_MESSAGE - 1]);
    assert.ok(claimsMayInclude(part, claims[2000]!), "after the cut: may be claimed");
    const small = filteredClaims(claims, AddressFilter.of([claims[7]!]));
    assert.equal(small.cut, undefined);
    assert.ok(small.claims.includes(claims[7]!) && small.claims.length < 20);
  });

  const book = (full: boolean): ClaimsBook => {
    const b = new ClaimsBook(full);
    b.set([v6(3), v6(1), v6(2)]);
    return b;
  };
  const cases: { name: string; full: boolean; filter?: string[]; leaving?: boolean; answer?: boolean; want: string[] | undefined }[] = [
    { name: "mesh: every claim, sorted", full: true, want: [v6(1), v6(2), v6(3)] },
    { name: "ring, plain heartbeat to a peer that never asked: nothing", full: false, want: undefined },
    { name: "ring, answer to a query without a filter: none of what it wants", full: false, answer: true, want: [] },
    { name: "ring, to a peer that asked: what its filter lets through", full: false, filter: [v6(2), v6(9)], want: [v6(2)] },
    { name: "leaving: no claims, whoever asks", full: false, filter: [v6(2)], leaving: true, want: [] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const b = book(c.full);
      if (c.filter) b.noteFilter("p", AddressFilter.of(c.filter), 0);
      assert.deepEqual(b.outgoing("p", c.leaving ?? false, c.answer ?? false)?.claims, c.want);
    });
  }

  it("cuts again after the claims change, and forgets a filter a minute after the last query", () => {
    const b = book(false);
    b.noteFilter("p", AddressFilter.of([v6(2), v6(4)]), 0);
    assert.deepEqual(b.outgoing("p", false, false)?.claims, [v6(2)]);
    b.set([v6(4)]);
    assert.deepEqual(b.outgoing("p", false, false)?.claims, [v6(4)]);
    b.noteFilter("q", undefined, 61_000);
    assert.equal(b.outgoing("p", false, false), undefined);
  });

  it("bumps the interest version only when the wanted set changes, and stamps answers with their query's", () => {
    const b = new ClaimsBook(false);
    const first = b.setInterest(new Set([v6(1)]));
    assert.equal(b.setInterest(new Set([v6(1)])), first);
    const second = b.setInterest(new Set([v6(1), v6(2)]));
    assert.ok(second > first);
    assert.ok(b.interest()!.has(v6(2)));
    const log = new SendLog();
    log.sent(10, 5, first);
    log.sent(11, 6, second);
    const m = { node: "p", incarnation: "i", seq: 1, leaving: false };
    assert.equal(log.stamp({ ...m, answer: 10 }).askedInterest, first);
    assert.deepEqual([log.stamp({ ...m, answer: 11 }).askedAt, log.stamp({ ...m, answer: 11 }).askedInterest], [6, second]);
  });
});
