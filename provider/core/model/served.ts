import { LOAD_BALANCER_CLASS } from "./contract.ts";

/** The fields of a Service that decide whether l2lb serves it. */
export interface ServedFields {
  spec?: { type?: string | undefined; loadBalancerClass?: string | null | undefined } | undefined;
}

/**
 * Does l2lb serve this Service? `type: LoadBalancer` with l2lb's class always; with no class at
 * all only when the installation opted in (`defaultClass`), as MetalLB and OpenELB serve them.
 * A Service of another class belongs to another implementation and is never touched.
 */
export function servedByL2lb(service: ServedFields, defaultClass: boolean): boolean {
  if (service.spec?.type !== "LoadBalancer") return false;
  const cls = service.spec.loadBalancerClass;
  if (cls === LOAD_BALANCER_CLASS) return true;
  return defaultClass && (cls === undefined || cls === null || cls === "");
}
