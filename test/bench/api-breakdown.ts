// The API server's request and watch-event counters broken down by verb and resource (its
// /metrics), so a benchmark can say which writes an implementation makes per object.
import { kubectl, type Lab } from "../control/harness.ts";

/** Counter values keyed like `PATCH services/status`, `watch events Service` or `dispatched by flow schema service-accounts`. */
export type ApiBreakdown = Map<string, number>;

const LINE = /^(apiserver_request_total|apiserver_watch_events_total|apiserver_flowcontrol_dispatched_requests_total)\{([^}]*)\}\s+([0-9.e+]+)$/;

/** Prefix of the keys counting requests by the FlowSchema that classified them (who sent them). */
export const DISPATCHED = "dispatched by flow schema ";

function keyOf(metric: string, l: Record<string, string>): string {
  if (metric === "apiserver_request_total") return `${l.verb} ${l.resource}${l.subresource ? `/${l.subresource}` : ""}`;
  if (metric === "apiserver_watch_events_total") return `watch events ${l.kind ?? l.resource ?? "?"}`;
  return `${DISPATCHED}${l.flow_schema ?? "?"}`;
}

function labels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)="([^"]*)"/g)) out[m[1] as string] = m[2] as string;
  return out;
}

/** Parses /metrics text into request counts by verb and resource, and watch events by kind. */
export function parseApiBreakdown(text: string): ApiBreakdown {
  const out: ApiBreakdown = new Map();
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (!m) continue;
    const l = labels(m[2] as string);
    const key = keyOf(m[1] as string, l);
    out.set(key, (out.get(key) ?? 0) + Number(m[3]));
  }
  return out;
}

/** Reads the breakdown as the lab's admin. */
export async function readApiBreakdown(lab: Lab): Promise<ApiBreakdown> {
  return parseApiBreakdown(await kubectl(lab, "get", "--raw", "/metrics"));
}

/** What grew between two readings, largest first, skipping the lines under `min`. */
export function breakdownGrowth(before: ApiBreakdown, after: ApiBreakdown, min = 1): [string, number][] {
  return [...after]
    .map(([k, v]): [string, number] => [k, v - (before.get(k) ?? 0)])
    .filter(([, d]) => d >= min)
    .sort((a, b) => b[1] - a[1]);
}
