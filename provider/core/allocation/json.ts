import type { AllocationSuccess, Assignment } from "./types.ts";

/** Decimal text of a pool size (bigint is not JSON-serialisable). */
export function sizeToString(size: bigint): string {
  return size.toString(10);
}

/** The `l2lb plan -o json` document: `{ services, pools }` with sizes as decimal strings. */
export interface PlanJson {
  services: Record<string, Assignment | { error: string }>;
  pools: Record<string, { size: string; used: number }>;
}

/** Converts a successful plan into its JSON document (the format `--state` reads back). */
export function planToJson(result: AllocationSuccess): PlanJson {
  const pools: PlanJson["pools"] = {};
  for (const [name, usage] of Object.entries(result.pools)) pools[name] = { size: sizeToString(usage.size), used: usage.used };
  return { services: result.services, pools };
}
