// Which Services a pool serves (its serviceAllocation). One rule for the allocator, which places
// addresses by it, and the election, which refuses to announce what it does not admit.
import type { AddressPool } from "../model/pool.ts";
import { anySelectorMatches } from "../model/selectors.ts";

/** What admission reads of a Service. */
export interface AdmissionSubject {
  namespace: string;
  labels?: Readonly<Record<string, string>> | undefined;
  /** Labels of the Service's namespace as far as they are known (absent: the namespace is not known). */
  namespaceLabels?: Readonly<Record<string, string>> | undefined;
}

/** The part of a serviceAllocation that refuses a Service. */
export type AdmissionRefusal = "namespaces" | "namespaceSelectors" | "serviceSelectors";

/**
 * Namespace labels as namespaceSelectors see them. The API server labels every namespace with
 * `kubernetes.io/metadata.name`; it is added here so a namespace not (yet) in a cache, or from an
 * older server, is matched the same way by both halves.
 */
export function selectableNamespaceLabels(namespace: string, labels: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return { "kubernetes.io/metadata.name": namespace, ...(labels ?? {}) };
}

/** Which part of the pool's serviceAllocation refuses the Service, or `undefined` when it admits it. */
export function admissionRefusal(pool: AddressPool, svc: AdmissionSubject): AdmissionRefusal | undefined {
  const sa = pool.spec.serviceAllocation;
  if (sa === undefined || sa === null) return undefined;
  if (sa.namespaces !== undefined && sa.namespaces.length > 0 && !sa.namespaces.includes(svc.namespace)) return "namespaces";
  if (!anySelectorMatches(sa.namespaceSelectors, selectableNamespaceLabels(svc.namespace, svc.namespaceLabels))) return "namespaceSelectors";
  if (!anySelectorMatches(sa.serviceSelectors, svc.labels)) return "serviceSelectors";
  return undefined;
}

/** Does the pool's serviceAllocation admit the Service (namespace AND selectors)? */
export function poolAdmits(pool: AddressPool, svc: AdmissionSubject): boolean {
  return admissionRefusal(pool, svc) === undefined;
}
