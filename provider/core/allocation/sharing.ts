/**
 * MetalLB's sharing rules for two Services that claim one address, for callers that see
 * Services one at a time (the speakers' conflict rule) rather than through the allocator.
 */
import { describeBackend, parseService } from "./requests.ts";
import type { ServiceRequest } from "./types.ts";

/** What decides whether a Service may share its address. */
export interface SharingProfile {
  key: string;
  sharingKey?: string;
  /** `Cluster`, or `Local:` plus the pod selector. */
  backendKey: string;
  /** `PROTOCOL/port` of every port. */
  ports: string[];
}

/** The sharing profile of a Service, or `undefined` when the Service is malformed. */
export function sharingProfile(request: ServiceRequest): SharingProfile | undefined {
  const parsed = parseService(request, 0, []);
  if (parsed === undefined) return undefined;
  const profile: SharingProfile = { key: parsed.key, backendKey: parsed.backendKey, ports: parsed.ports };
  if (parsed.sharingKey !== undefined) profile.sharingKey = parsed.sharingKey;
  return profile;
}

/** Why `claimant` may not share an address with `holder`, or `undefined` when it may. */
export function sharingConflict(claimant: SharingProfile, holder: SharingProfile): string | undefined {
  const who = `Service "${holder.key}"`;
  if (claimant.sharingKey === undefined) return `it is used by ${who}, and Service "${claimant.key}" has no sharing key`;
  if (holder.sharingKey === undefined) return `it is used by ${who}, which has no sharing key`;
  if (holder.sharingKey !== claimant.sharingKey) return `it is used by ${who} with sharing key "${holder.sharingKey}", not "${claimant.sharingKey}"`;
  if (holder.backendKey !== claimant.backendKey) {
    return `it is used by ${who} with ${describeBackend(holder.backendKey)}, but Service "${claimant.key}" has ${describeBackend(claimant.backendKey)}`;
  }
  const theirs = new Set(holder.ports);
  const clash = claimant.ports.filter((p) => theirs.has(p));
  if (clash.length > 0) return `it is used by ${who}, which also uses ${clash.join(", ")}`;
  return undefined;
}
