import type { PublishedSubnet } from "./contract.ts";

/**
 * The entries of a `l2lb.dev/subnets` annotation (on a Node or a speaker Lease) that are well
 * formed; anything else (not JSON, not a list, entries missing a field) contributes nothing.
 */
export function parsePublishedSubnets(value: string | undefined): PublishedSubnet[] {
  if (!value) return [];
  try {
    const raw: unknown = JSON.parse(value);
    if (!Array.isArray(raw)) return [];
    return raw.filter(
      (s): s is PublishedSubnet =>
        typeof s === "object" && s !== null && typeof s.interface === "string" && typeof s.cidr === "string" && typeof s.address === "string",
    );
  } catch {
    return [];
  }
}
