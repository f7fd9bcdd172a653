// How the components write their Kubernetes objects: through the Kubernetes provider (the
// default: `@pulumi/kubernetes` resources, its plugin, its await logic) or by l2lb's own
// server-side apply (`Manifest`, a dynamic resource that needs only `@kubernetes/client-node`).
// Both produce the same objects with the same names, labels and annotations.
import * as pulumi from "@pulumi/pulumi";
import { Manifest } from "../dynamic/manifest-provider.ts";
import type { ManifestObject } from "../dynamic/manifest-engine.ts";

/**
 * Which writer creates the components' Kubernetes objects.
 *
 * - `"kubernetes-provider"` (default): `@pulumi/kubernetes` resources, applied and awaited by the
 *   Pulumi Kubernetes provider plugin.
 * - `"server-side-apply"`: l2lb's own dynamic resource `Manifest` server-side-applies each object
 *   with field manager `l2lb` using the stack's `kubernetes:kubeconfig` / `kubernetes:context`
 *   (else `KUBECONFIG` / in-cluster), and waits like the Kubernetes provider (CRDs Established,
 *   DaemonSets rolled out, LoadBalancer Services with an EXTERNAL-IP; `pulumi.com/skipAwait` and
 *   `pulumi.com/timeoutSeconds` are honoured). For clusters or pipelines where the Kubernetes
 *   provider plugin cannot be installed. Switching an existing stack from one writer to the other
 *   replaces every object (delete, then create): do it on a fresh stack.
 */
export type ApplyWith = "kubernetes-provider" | "server-side-apply";

/** The default writer. */
export const DEFAULT_APPLY_WITH: ApplyWith = "kubernetes-provider";

/** An object written by either writer: the Kubernetes provider's resource `T`, or a {@link Manifest}. */
export type Written<T> = T | Manifest;

/** A `@pulumi/kubernetes` resource class: `(name, args, opts)`. */
type ResourceClass = new (name: string, args: never, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

/** Checks an `applyWith` argument (the programs may be plain JavaScript). */
export function applyWithOf(component: string, name: string, value: unknown, fallback: ApplyWith = DEFAULT_APPLY_WITH): ApplyWith {
  if (value === undefined) return fallback;
  if (value === "kubernetes-provider" || value === "server-side-apply") return value;
  throw new pulumi.RunError(`${component} "${name}": applyWith must be "kubernetes-provider" or "server-side-apply", not ${JSON.stringify(value)}.`);
}

/**
 * Creates one object with the chosen writer. With the Kubernetes provider, `new cls(name, args,
 * opts)`; with server-side apply, a `Manifest` named alike whose manifest is `{apiVersion, kind,
 * ...args}` (mode `patch` for `*Patch` resources: only our fields of an existing object). A
 * patch takes its fields over from their current managers (server-side apply `force`): listing a
 * Service under `existing` means l2lb sets its type, class and annotations, whoever set them
 * before (e.g. `kubectl create service clusterip` owns `spec.type`); destroy gives them back by
 * removing exactly l2lb's fields.
 */
export function writeObject<C extends ResourceClass>(
  applyWith: ApplyWith,
  cls: C,
  type: { apiVersion: string; kind: string; patch?: boolean },
  name: string,
  args: NonNullable<ConstructorParameters<C>[1]>,
  opts: pulumi.CustomResourceOptions = {},
): Written<InstanceType<C>> {
  if (applyWith === "kubernetes-provider") {
    return new cls(name, (type.patch ? withPatchForce(args as PatchArgs) : args) as never, opts) as InstanceType<C>;
  }
  const manifest = { ...(args as Record<string, unknown>), apiVersion: type.apiVersion, kind: type.kind };
  return new Manifest(name, type.patch ? { manifest, mode: "patch", force: true } : { manifest, mode: "object" }, opts);
}

type PatchArgs = { metadata?: pulumi.Input<{ annotations?: pulumi.Input<Record<string, pulumi.Input<string>>> }> };

/** The Kubernetes provider's spelling of server-side apply `force` for `*Patch` resources. */
function withPatchForce(args: PatchArgs): PatchArgs {
  const metadata = pulumi.output(args.metadata ?? {}).apply((m) => ({
    ...m,
    annotations: { ...(m.annotations ?? {}), "pulumi.com/patchForce": "true" },
  }));
  return { ...args, metadata };
}

/** `metadata.name` of a written object, as an Output that depends on it (so bindings wait for their subjects). */
export function nameOf(resource: Written<{ metadata: pulumi.Output<{ name?: string }> }>): pulumi.Output<string> {
  if (resource instanceof Manifest) return resource.manifest.apply((m: ManifestObject) => m.metadata.name);
  return resource.metadata.apply((m) => m.name ?? "");
}
