// What the speaker's caches drop from every object they hold: the fields the API server keeps
// for writers (managedFields: one entry per writer of the object) and kubectl's copy of the
// whole applied object. The speaker only reads, and writes by merge patch, so neither is ever
// needed; together they are often larger than the rest of a Service.
import type * as k8s from "@kubernetes/client-node";

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/** Drops the writer-only fields from `obj` in place (the informer caches the same object). */
export function slimForCache(obj: k8s.KubernetesObject): void {
  const meta = obj.metadata;
  if (meta === undefined) return;
  if (meta.managedFields !== undefined) delete meta.managedFields;
  if (meta.annotations !== undefined && LAST_APPLIED_ANNOTATION in meta.annotations) delete meta.annotations[LAST_APPLIED_ANNOTATION];
}
