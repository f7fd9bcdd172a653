export * from "./contract.ts";
export type * from "./labels.ts";
export type * from "./pool.ts";
export * from "./served.ts";
export * from "./published.ts";
