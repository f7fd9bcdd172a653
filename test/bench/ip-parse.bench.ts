/**
 * Address parsing benchmark (not a test): ns/op for parsing and canonicalising 100k random IPv4 /
 * IPv6 addresses and 100k ranges (CIDRs and first-last), with provider/core/ip and with the npm
 * package `ip-address`, so the README's choice between them rests on figures. Small: a few seconds.
 *
 *   node test/bench/ip-parse.bench.ts [count]      # default 100000 per set
 *
 * Each set is generated once from a fixed seed (same texts for both), then each parser runs over
 * it 3 warm-up + 5 measured rounds; the median round is printed. "ip-address → bigint" adds
 * `.bigInt()` (and the range's start/end), i.e. what the allocator needs beneath its range layer.
 */
import { Address4, Address6 } from "ip-address";
import { canonicalAddress, formatRange, parseRange } from "../../provider/core/ip/index.ts";

const N = Number(process.argv[2] ?? 100_000);

// xorshift32, fixed seed: the same texts every run.
let seed = 0x2545f491;
const rand = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x1_0000_0000;
};
const int = (n: number): number => Math.floor(rand() * n);

function v4(): string {
  return [int(256), int(256), int(256), int(256)].join(".");
}

/** A random IPv6 text in one of several spellings: full, compressed, upper-case, zero runs, v4 tail. */
function v6(): string {
  const groups = Array.from({ length: 8 }, () => (rand() < 0.35 ? 0 : int(0x10000)));
  const style = int(5);
  if (style === 0) return groups.map((g) => g.toString(16).padStart(4, "0")).join(":");
  if (style === 1) return groups.map((g) => g.toString(16).toUpperCase()).join(":");
  if (style === 2) return `2001:db8::${groups.slice(4).map((g) => g.toString(16)).join(":")}`;
  if (style === 3) return `::ffff:${v4()}`;
  return groups.map((g) => g.toString(16)).join(":");
}

function addresses(): string[] {
  return Array.from({ length: N }, () => (rand() < 0.5 ? v4() : v6()));
}

/** CIDRs (network addresses) and first-last ranges, half IPv4, half IPv6. */
function ranges(): string[] {
  return Array.from({ length: N }, () => {
    const six = rand() < 0.5;
    if (rand() < 0.5) {
      // A CIDR without host bits.
      const len = six ? 48 + int(81) : 8 + int(25);
      const text = six ? v6().replace(/^::ffff:.*/, "2001:db8::") : v4();
      const r = parseRange(text);
      const bits = six ? 128n : 32n;
      const mask = ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(len))) - 1n);
      return formatRange({ family: r.family, first: r.first & mask, last: r.first & mask, kind: "cidr", prefixLength: len });
    }
    const [a, b] = six ? [v6(), v6()] : [v4(), v4()];
    const [ra, rb] = [parseRange(a), parseRange(b)];
    return ra.first <= rb.first ? `${a}-${b}` : `${b}-${a}`;
  });
}

function timeIt(label: string, items: string[], fn: (text: string) => unknown): number {
  let sink = 0;
  const rounds: number[] = [];
  for (let round = 0; round < 8; round++) {
    const t0 = process.hrtime.bigint();
    for (const text of items) if (fn(text)) sink++;
    const ns = Number(process.hrtime.bigint() - t0) / items.length;
    if (round >= 3) rounds.push(ns);
  }
  rounds.sort((a, b) => a - b);
  const median = rounds[2]!;
  console.log(`  ${label.padEnd(44)} ${median.toFixed(0).padStart(6)} ns/op${sink < 0 ? "" : ""}`);
  return median;
}

/** ip-address: one address to canonical text (RFC 5952 for IPv6). */
const ipaAddressText = (t: string): string => (t.includes(":") ? new Address6(t).correctForm() : new Address4(t).correctForm());
/** ip-address: one address to its value. */
const ipaAddressValue = (t: string): bigint => (t.includes(":") ? new Address6(t).bigInt() : new Address4(t).bigInt());

/** ip-address: a range to canonical text (a CIDR as network/len, first-last as two addresses). */
function ipaRangeText(t: string): string {
  if (t.includes("/")) {
    const a = t.includes(":") ? new Address6(t) : new Address4(t);
    return `${a.startAddress().correctForm()}/${a.subnetMask}`;
  }
  const [x, y] = t.split("-") as [string, string];
  return `${ipaAddressText(x)}-${ipaAddressText(y)}`;
}
/** ip-address: a range to exact bounds. */
function ipaRangeBounds(t: string): [bigint, bigint] {
  if (t.includes("/")) {
    const a = t.includes(":") ? new Address6(t) : new Address4(t);
    return [a.startAddress().bigInt(), a.endAddress().bigInt()];
  }
  const [x, y] = t.split("-") as [string, string];
  return [ipaAddressValue(x), ipaAddressValue(y)];
}

const addrs = addresses();
const rngs = ranges();
console.log(`node ${process.version}, ${N} texts per set (median of 5 rounds after 3 warm-up)`);
console.log("addresses (half IPv4, half IPv6 in mixed spellings):");
timeIt("l2lb canonicalAddress (parse → bigint → text)", addrs, canonicalAddress);
timeIt("ip-address new Address4/6().correctForm()", addrs, ipaAddressText);
timeIt("ip-address new Address4/6().bigInt()", addrs, ipaAddressValue);
console.log("ranges (half CIDRs, half first-last):");
timeIt("l2lb formatRange(parseRange())", rngs, (t) => formatRange(parseRange(t)));
timeIt("ip-address start/end correctForm()", rngs, ipaRangeText);
timeIt("ip-address start/end bigInt()", rngs, ipaRangeBounds);
