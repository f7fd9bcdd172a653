// What the writers read of the controller's decisions: the current plan, who is alive, what this
// node answers for. The controller implements it; the writers never change it.
import type { AddressPlan, Plan } from "../election/plan.ts";
import type { Liveness } from "./liveness.ts";
import type { Owned } from "./ownership.ts";

export interface ControlState {
  readonly node: string;
  /** Also serve LoadBalancer Services without a loadBalancerClass. */
  readonly defaultClass: boolean;
  plan(): Plan;
  /** Bumped whenever a new plan is computed. */
  planVersion(): number;
  /** The plan's addresses by IP. */
  addressPlans(): ReadonlyMap<string, AddressPlan>;
  /** Live speakers (this node included once its Lease is held). */
  alive(): ReadonlyMap<string, Liveness>;
  owned(): ReadonlyMap<string, Owned>;
  /**
   * Moves whenever something the writers read of a Service (`namespace/name`) other than the
   * Service object changes: its planned addresses, their plans, this node's entries for them, the
   * live speakers (service-stamps.ts).
   */
  serviceStamp(key: string): number;
  /** This node is the status writer elected among the live speakers. */
  isStatusWriter(): boolean;
}
