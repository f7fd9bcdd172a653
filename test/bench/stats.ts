// Percentiles and the summaries the side-by-side benchmark prints.

/** The p-th percentile (nearest rank) of `xs`, or NaN when empty. */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

/** "p50 / p90 / max" in ms, with the count, or `n/a (why)` when nothing was measured. */
export function p50p90max(xs: readonly number[], why = "no sample"): string {
  if (xs.length === 0) return `n/a (${why})`;
  const f = (v: number): string => (v >= 10_000 ? `${(v / 1000).toFixed(1)}s` : `${v.toFixed(0)}`);
  return `${f(pct(xs, 50))} / ${f(pct(xs, 90))} / ${f(Math.max(...xs))} (n=${xs.length})`;
}

/** Median of `xs` (NaN when empty). */
export const median = (xs: readonly number[]): number => pct(xs, 50);
