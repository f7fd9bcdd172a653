// Pure owner election for the speaker: ranks, label selectors, eligibility and the per-address plan.
export * from "./rank.ts";
export * from "./selectors.ts";
export * from "./plan.ts";
