// The `Usable` condition the allocator writes on each AddressPool's status. Pure.
import { POOL_USABLE_CONDITION } from "../../provider/core/model/contract.ts";
import type { SetAsidePool } from "./pool-selection.ts";

export interface PoolCondition {
  type: string;
  status: "True" | "False";
  reason: string;
  message: string;
  lastTransitionTime?: string;
}

export function poolCondition(setAside: SetAsidePool | undefined): PoolCondition {
  if (setAside === undefined) return { type: POOL_USABLE_CONDITION, status: "True", reason: "Valid", message: "The pool is valid and announced; the in-cluster allocator assigns from it." };
  return { type: POOL_USABLE_CONDITION, status: "False", reason: setAside.reason, message: setAside.message };
}

export function sameCondition(current: PoolCondition | undefined, next: PoolCondition): boolean {
  return current !== undefined && current.status === next.status && current.reason === next.reason && current.message === next.message;
}
