// API load over a window, from the API server's own counters (api-breakdown.ts): every request it
// served and every watch event it sent, as rates, less the lab's own load.
import type { Lab } from "../control/harness.ts";
import { breakdownGrowth, DISPATCHED, readApiBreakdown, type ApiBreakdown } from "./api-breakdown.ts";

export interface ApiCounters {
  at: number;
  breakdown: ApiBreakdown;
}

export interface ApiRates {
  requestsPerS: number;
  watchEventsPerS: number;
  /** Requests sent with ServiceAccount tokens (the implementations'; the lab's own components use certificates). */
  serviceAccountRequestsPerS?: number;
}

/** FlowSchemas that classify ServiceAccount clients: the API server's catch-all for them, and l2lb's for its Lease renewals. */
const SERVICE_ACCOUNT_SCHEMAS = new Set([`${DISPATCHED}service-accounts`, `${DISPATCHED}l2lb-speaker-leases`]);

const isWatch = (key: string): boolean => key.startsWith("watch events ");

export async function apiCounters(lab: Lab): Promise<ApiCounters> {
  return { at: Date.now(), breakdown: await readApiBreakdown(lab) };
}

/** Requests and watch events between two readings. */
export function growth(a: ApiCounters, b: ApiCounters): { requests: number; watchEvents: number; serviceAccountRequests: number } {
  let requests = 0;
  let watchEvents = 0;
  let serviceAccountRequests = 0;
  for (const [key, d] of breakdownGrowth(a.breakdown, b.breakdown, 0)) {
    if (SERVICE_ACCOUNT_SCHEMAS.has(key)) serviceAccountRequests += d;
    else if (key.startsWith(DISPATCHED)) continue;
    else if (isWatch(key)) watchEvents += d;
    else requests += d;
  }
  return { requests, watchEvents, serviceAccountRequests };
}

/** Rates over windows (summed), less `baseline` (the lab's own load, measured with no implementation running). */
export function ratesOver(windows: [ApiCounters, ApiCounters][], baseline?: ApiRates): ApiRates {
  let s = 0;
  let requests = 0;
  let watchEvents = 0;
  let serviceAccountRequests = 0;
  for (const [a, b] of windows) {
    const g = growth(a, b);
    s += (b.at - a.at) / 1000;
    requests += g.requests;
    watchEvents += g.watchEvents;
    serviceAccountRequests += g.serviceAccountRequests;
  }
  s = Math.max(0.001, s);
  return {
    requestsPerS: requests / s - (baseline?.requestsPerS ?? 0),
    watchEventsPerS: watchEvents / s - (baseline?.watchEventsPerS ?? 0),
    serviceAccountRequestsPerS: serviceAccountRequests / s,
  };
}

export const ratesBetween = (a: ApiCounters, b: ApiCounters, baseline?: ApiRates): ApiRates => ratesOver([[a, b]], baseline);

/** The `n` series that grew most between two readings, as "series +delta". */
export function topSeries(a: ApiCounters, b: ApiCounters, n = 6): string {
  return breakdownGrowth(a.breakdown, b.breakdown)
    .slice(0, n)
    .map(([k, d]) => `${k} +${d}`)
    .join(", ");
}

export const formatRates = (r: ApiRates): string =>
  `${r.requestsPerS.toFixed(1)} req/s, ${r.watchEventsPerS.toFixed(1)} watch ev/s${r.serviceAccountRequestsPerS === undefined ? "" : ` (own requests ${r.serviceAccountRequestsPerS.toFixed(1)}/s)`}`;
