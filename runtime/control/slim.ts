// What the speaker's caches drop from every object they hold: the fields the API server keeps
// for writers (managedFields: one entry per writer of the object) and kubectl's copy of the
// whole applied object. The speaker only reads, and writes by merge patch, so neither is ever
// needed; together they are often larger than the rest of a Service.
import type * as k8s from "@kubernetes/client-node";

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * Drops the writer-only fields from `obj` in place (the informer caches the same object). The
 * objects holding them are rebuilt, not `delete`d from: a deletion turns a V8 object into a hash
 * table, about 450 bytes more per cached Service.
 */
export function slimForCache(obj: k8s.KubernetesObject): void {
  const meta = obj.metadata;
  if (meta === undefined) return;
  const { managedFields, annotations, ...kept } = meta;
  if (managedFields === undefined && (annotations === undefined || !(LAST_APPLIED_ANNOTATION in annotations))) return;
  const slim: k8s.V1ObjectMeta = kept;
  if (annotations !== undefined) {
    const { [LAST_APPLIED_ANNOTATION]: _applied, ...rest } = annotations;
    slim.annotations = rest;
  }
  obj.metadata = slim;
}

/**
 * What the speaker reads of a Service's spec (election, allocator, sharing rules): everything
 * else (cluster IPs, node ports, target ports, session affinity...) is dropped before caching.
 * At 10,000 Services that is about a third of each cached object. A new reader of another
 * field adds it here.
 */
export const SERVICE_SPEC_FIELDS = ["type", "loadBalancerClass", "loadBalancerIP", "ipFamilies", "ipFamilyPolicy", "externalTrafficPolicy", "selector"] as const;

/** {@link slimForCache}, and a Service's spec cut to {@link SERVICE_SPEC_FIELDS} and its ports to port and protocol. */
export function slimService(svc: k8s.V1Service): void {
  slimForCache(svc);
  const spec = svc.spec;
  if (spec === undefined) return;
  const kept: k8s.V1ServiceSpec = {};
  for (const field of SERVICE_SPEC_FIELDS) if (spec[field] !== undefined) (kept as Record<string, unknown>)[field] = spec[field];
  if (spec.ports !== undefined) kept.ports = spec.ports.map((p) => ({ port: p.port, ...(p.protocol !== undefined ? { protocol: p.protocol } : {}) }));
  svc.spec = kept;
}
