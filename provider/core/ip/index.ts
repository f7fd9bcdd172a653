/**
 * Exact IP address and range maths shared by the allocator, the Pulumi provider and the speaker.
 *
 * - {@link parseAddress} / {@link tryParseAddress} / {@link formatAddress}: text ⇄ `{ family, value: bigint }`.
 * - {@link parseRange}: a single address, a CIDR or `first-last` → `{ family, first, last }`.
 * - {@link parseCidr}: `a/len` (optionally allowing host bits, for interface addresses).
 * - {@link rangeContains}, {@link cidrContains}, {@link rangesOverlap}, {@link rangeSize}, {@link nthAddress}.
 * - {@link subnetOf}, {@link networkAndBroadcast}, {@link reservedOfSubnet}: node-subnet maths.
 */
export * from "./address.ts";
export * from "./range.ts";
