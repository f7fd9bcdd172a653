// The side-by-side benchmark's one table: a row per measurement, a column per implementation,
// `n/a (reason)` where a measurement could not be taken.
import { formatRates } from "./apiserver-metrics.ts";
import type { FailoverKind, RoundResult } from "./failover-rounds.ts";
import type { LatencyRow } from "./reply-latency.ts";
import type { Results } from "./side-by-side.ts";
import { p50p90max, pct } from "./stats.ts";

type Cell = (r: Results) => string;

function failoverCell(kind: FailoverKind, pick: (x: RoundResult) => number | undefined): Cell {
  return (r) => {
    const rounds = r.failover[kind];
    if (rounds.length === 0) return "n/a (not run)";
    const xs = rounds.map(pick).filter((x): x is number => x !== undefined);
    const missed = rounds.length - xs.length;
    return p50p90max(xs, "no other node answered") + (missed > 0 && xs.length > 0 ? `, ${missed} of ${rounds.length} never` : "");
  };
}

function latencyCell(proto: "ARP" | "NDP", rate: number): Cell {
  return (r) => {
    const row = r.latency?.find((x: LatencyRow) => x.proto === proto && x.rate === rate);
    if (!row) return "n/a (not run)";
    const o = row.ours;
    return `${o.p50}/${o.p99} µs, loss ${(o.loss * 100).toFixed(2)}%, ${(o.p50 / row.kernel.p50).toFixed(1)}×/${(o.p99 / row.kernel.p99).toFixed(1)}× kernel`;
  };
}

function kernelLine(rows: LatencyRow[] | undefined): string {
  return (rows ?? []).map((x) => `${x.proto} ${x.rate}/s ${x.kernel.p50}/${x.kernel.p99} µs loss ${(x.kernel.loss * 100).toFixed(2)}%`).join("; ");
}

function rows(results: Results[], rates: number[]): [string, Cell][] {
  const seedKeys = [...new Set(results.flatMap((r) => [...r.seeds.keys()]))].sort();
  const out: [string, Cell][] = [
    ["SIGKILL → first ARP reply from new owner, ms p50/p90/max", failoverCell("SIGKILL", (x) => x.answerMs)],
    ["SIGKILL → client neighbour entry moved", failoverCell("SIGKILL", (x) => x.neighbourMs)],
    ["SIGTERM → first ARP reply from new owner", failoverCell("SIGTERM", (x) => x.answerMs)],
    ["SIGTERM → client neighbour entry moved", failoverCell("SIGTERM", (x) => x.neighbourMs)],
    ["node loss → first ARP reply from new owner", failoverCell("node loss", (x) => x.answerMs)],
    ["node loss → client neighbour entry moved", failoverCell("node loss", (x) => x.neighbourMs)],
    ["10-ms probe rounds answered by two MACs: failing / old owner back", (r) => {
      const all = [...r.failover.SIGKILL, ...r.failover.SIGTERM, ...r.failover["node loss"]];
      return all.length ? `${all.reduce((a, x) => a + x.dualsFailing, 0)} / ${all.reduce((a, x) => a + x.dualsReturning, 0)} (${all.length} rounds)` : "n/a (not run)";
    }],
  ];
  for (const proto of ["ARP", "NDP"] as const) for (const rate of rates) out.push([`${proto} at ${rate / 1000}k req/s: p50/p99, loss, ratio to kernel`, latencyCell(proto, rate)]);
  out.push(
    ["speaker RSS, 1 address (max of 3)", (r) => (r.rss ? `${r.rss.one.toFixed(0)} MB` : "n/a (not run)")],
    ["speaker RSS, 1000 addresses (max of 3)", (r) => (r.rss ? `${r.rss.many.toFixed(0)} MB (${r.rss.addresses} addresses)` : "n/a (not run)")],
    ["API at rest (3 nodes, 100+ Services)", (r) => (r.apiRest ? formatRates(r.apiRest) : "n/a (not run)")],
    ["API during SIGKILL failovers", (r) => (r.apiFailover ? formatRates(r.apiFailover) : "n/a (no failover measured)")],
    ["kubectl apply → EXTERNAL-IP, ms p50 (max)", (r) => {
      const xs = r.apply.filter((x): x is number => x !== undefined);
      if (xs.length === 0) return r.apply.length ? "n/a (no EXTERNAL-IP within 30 s)" : "n/a (not run)";
      return `${pct(xs, 50).toFixed(0)} (${Math.max(...xs).toFixed(0)}), n=${xs.length}${xs.length < r.apply.length ? `, ${r.apply.length - xs.length} never` : ""}`;
    }],
  );
  for (const key of seedKeys) out.push([`seed ${key}`, (r) => (r.seeds.has(key) ? `${(r.seeds.get(key) ?? []).join(",") || "<pending>"} (pool ${r.seedPools.get(key) ?? "-"})` : "n/a (not run)")]);
  return out;
}

/** For each seed Service the implementations placed differently: what it asks for, and each one's pool. */
function seedDifferences(results: Results[]): string[] {
  const keys = [...new Set(results.flatMap((r) => [...r.seeds.keys()]))].sort();
  const out: string[] = [];
  for (const key of keys) {
    const answers = results.filter((r) => r.seeds.has(key));
    if (answers.length < 2 || new Set(answers.map((r) => (r.seeds.get(key) ?? []).join(","))).size === 1) continue;
    const asks = answers.map((r) => r.seedRequests.get(key)).find(Boolean) ?? "nothing";
    out.push(`seed ${key} differs: it asks for ${asks}; ${answers.map((r) => `${r.name} took pool ${r.seedPools.get(key) ?? "-"}`).join(", ")}`);
  }
  return out;
}

export function printTable(results: Results[], rates: number[], print: (s: string) => void): void {
  const cells = rows(results, rates).map(([label, cell]) => [label, ...results.map((r) => (r.error && cell(r).startsWith("n/a (not") ? `n/a (${r.name} failed)` : cell(r)))]);
  const header = ["measurement", ...results.map((r) => r.name)];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: string[]): string => c.map((x, i) => x.padEnd(widths[i] as number)).join("  ").trimEnd();
  print(line(header));
  for (const c of cells) print(line(c));
  for (const line of seedDifferences(results)) print(line);
  for (const r of results) {
    if (r.latency) print(`kernel baseline during ${r.name}'s run: ${kernelLine(r.latency)}`);
    if (r.error) print(`${r.name} failed: ${r.error}`);
  }
}
