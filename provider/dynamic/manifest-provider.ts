// The manifest writer's dynamic provider and resource: one Kubernetes object, server-side applied
// by l2lb itself (field manager `l2lb`) — the second way l2lb's components write to a cluster,
// besides the Kubernetes provider.
//
// Same discipline as the allocation's provider (`provider.ts`): Pulumi serializes this object into
// the state and runs that text for every later operation, so it stays tiny, closes over nothing,
// and imports the implementation by the stable package subpath `l2lb/dynamic/manifest`
// (`package.json#exports` → `manifest-engine.ts`), resolved from the program's node_modules.
import * as pulumi from "@pulumi/pulumi";
import { clusterSettings } from "./cluster-access.ts";
import type { ClusterConfig } from "./engine.ts";
import type { DiffResult, ManifestObject } from "./manifest-engine.ts";

/** Package subpath of the manifest writer's implementation. Part of the public contract: state written by every release refers to it. */
export const MANIFEST_MODULE = "l2lb/dynamic/manifest";

/** The implementation module's surface, as the serialized provider calls it. */
interface ManifestEngine {
  check(olds: Record<string, unknown>, news: Record<string, unknown>): { inputs: Record<string, unknown>; failures?: { property: string; reason: string }[] };
  diff(olds: Record<string, unknown>, news: Record<string, unknown>): DiffResult;
  create(inputs: Record<string, unknown>, cluster: ClusterConfig): Promise<{ id: string; outs: Record<string, unknown> }>;
  update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>, cluster: ClusterConfig): Promise<{ outs: Record<string, unknown> }>;
  read(id: string, props: Record<string, unknown> | undefined, cluster: ClusterConfig): Promise<{ id: string; props: Record<string, unknown> }>;
  remove(id: string, props: Record<string, unknown>, cluster: ClusterConfig): Promise<void>;
}

/**
 * Dynamic provider of {@link Manifest}. Serializable: its only state is the module specifier of
 * the implementation and, after `configure`, the stack's Kubernetes settings.
 */
export class ManifestProvider implements pulumi.dynamic.ResourceProvider {
  /** Module specifier (package subpath or file URL) of the implementation. */
  module: string;
  /** `kubernetes:kubeconfig` / `kubernetes:context` from the stack configuration, set by `configure`. */
  cluster: ClusterConfig;

  /** @param module implementation specifier; the default resolves through the installed `l2lb` package. */
  constructor(module?: string) {
    this.module = module ?? "l2lb/dynamic/manifest";
    this.cluster = {};
  }

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.cluster = clusterSettings(req);
  }

  async check(olds: pulumi.dynamic.CheckResult["inputs"], news: pulumi.Inputs): Promise<pulumi.dynamic.CheckResult> {
    const engine: ManifestEngine = await import(this.module);
    return engine.check(olds ?? {}, news);
  }

  async diff(_id: pulumi.ID, olds: pulumi.Inputs, news: pulumi.Inputs): Promise<pulumi.dynamic.DiffResult> {
    const engine: ManifestEngine = await import(this.module);
    return engine.diff(olds, news);
  }

  async create(inputs: pulumi.Inputs): Promise<pulumi.dynamic.CreateResult> {
    const engine: ManifestEngine = await import(this.module);
    return engine.create(inputs, this.cluster);
  }

  async update(id: pulumi.ID, olds: pulumi.Inputs, news: pulumi.Inputs): Promise<pulumi.dynamic.UpdateResult> {
    const engine: ManifestEngine = await import(this.module);
    return engine.update(id, olds, news, this.cluster);
  }

  async read(id: pulumi.ID, props?: pulumi.Inputs): Promise<pulumi.dynamic.ReadResult> {
    const engine: ManifestEngine = await import(this.module);
    return engine.read(id, props, this.cluster);
  }

  async delete(id: pulumi.ID, props: pulumi.Inputs): Promise<void> {
    const engine: ManifestEngine = await import(this.module);
    await engine.remove(id, props, this.cluster);
  }
}

/** Inputs of {@link Manifest}. */
export interface ManifestArgs {
  /** The object: `apiVersion`, `kind`, `metadata.name` (and `namespace`), and its content. */
  manifest: pulumi.Input<Record<string, unknown>>;
  /**
   * `object` (default): this resource owns the object — create, update and delete it.
   * `patch`: the object exists and belongs to someone else; only the fields in `manifest` are
   * set, and destroy removes exactly those (annotations included) by applying an empty intent.
   */
  mode?: pulumi.Input<"object" | "patch">;
  /** Server-side apply field manager. Default `l2lb`. */
  fieldManager?: pulumi.Input<string>;
  /** Take over fields another manager owns. Default false: such a conflict fails the apply and names the manager. */
  force?: pulumi.Input<boolean>;
  /** Kubeconfig (content or path); kept secret. Default: stack config `kubernetes:kubeconfig`, then `KUBECONFIG` / in-cluster. */
  kubeconfig?: pulumi.Input<string>;
  /** Kubeconfig context. Default: stack config `kubernetes:context`, then the current context. */
  context?: pulumi.Input<string>;
}

/**
 * One Kubernetes object written by server-side apply (field manager `l2lb`), with the Kubernetes
 * provider's waiting rules (`pulumi.com/skipAwait`, `pulumi.com/timeoutSeconds`; CRDs Established,
 * LoadBalancer Services with an ingress address, DaemonSets and Deployments rolled out). Needs
 * only `@kubernetes/client-node`, not the Kubernetes provider plugin.
 */
export class Manifest extends pulumi.dynamic.Resource {
  /** The object as applied. */
  declare readonly manifest: pulumi.Output<ManifestObject>;
  /** `metadata.uid` of the object. */
  declare readonly uid: pulumi.Output<string>;
  /** The object's `status` once ready (e.g. a Service's `loadBalancer.ingress`). */
  declare readonly status: pulumi.Output<Record<string, unknown>>;

  constructor(name: string, args: ManifestArgs, opts?: pulumi.CustomResourceOptions, provider: ManifestProvider = new ManifestProvider()) {
    const props: Record<string, unknown> = {
      ...args,
      kubeconfig: args.kubeconfig === undefined ? undefined : pulumi.secret(args.kubeconfig),
      stateVersion: undefined,
      uid: undefined,
      status: undefined,
    };
    const [module, type] = typeOf(args.manifest);
    super(provider, name, props, { ...opts, additionalSecretOutputs: ["kubeconfig", ...(opts?.additionalSecretOutputs ?? [])] }, module, type);
  }
}

/**
 * Resource type of a manifest: `pulumi-nodejs:dynamic/l2lb/<group>/<version>:<Kind>` (group `core`
 * for the core API) when the manifest's apiVersion and kind are plain strings — so objects of
 * different kinds may share a name, as with the Kubernetes provider, and the preview shows the
 * kind — else `pulumi-nodejs:dynamic/l2lb:Manifest`.
 */
function typeOf(manifest: ManifestArgs["manifest"]): [string, string] {
  if (typeof manifest !== "object" || manifest === null || pulumi.Output.isInstance(manifest) || manifest instanceof Promise) return ["l2lb", "Manifest"];
  const { apiVersion, kind } = manifest as Record<string, unknown>;
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z0-9]+$/.test(kind) || !/^([a-z0-9.-]+\/)?[a-z0-9]+$/.test(apiVersion)) return ["l2lb", "Manifest"];
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  return [`l2lb/${group}/${version}`, kind];
}
