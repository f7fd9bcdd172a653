// The allocation's dynamic provider and resource.
//
// Pulumi serializes the provider object into the stack's state and runs that serialized code in
// a separate process (`@pulumi/pulumi/cmd/dynamic-provider`, started in the program's directory)
// for check, diff, create, update, read and delete — including refresh and destroy months later,
// with whatever library version is installed then. So the serialized object is kept tiny and
// closes over nothing: each method imports the implementation by a *package specifier* that
// `package.json#exports` keeps stable (`l2lb/dynamic/allocation` → `engine.ts`), resolved from
// the program's own node_modules at run time. Never add captured values, clients, Outputs or
// `pulumi.Config` here; the one captured function, `clusterSettings` (`cluster-access.ts`), is
// self-contained.
import * as pulumi from "@pulumi/pulumi";
import { clusterSettings } from "./cluster-access.ts";
import type { AllocationInputs, CheckFailure, CheckResult, ClusterConfig, DiffResult } from "./engine.ts";
import type { ServiceRequest, SharedIpGroup } from "../core/allocation/index.ts";
import type { AddressPool, L2Advertisement } from "../core/model/pool.ts";

/** Package subpath of the provider implementation. Part of the public contract: state written by every release refers to it. */
export const ALLOCATION_MODULE = "l2lb/dynamic/allocation";

/** The implementation module's surface, as the serialized provider calls it. */
interface Engine {
  check(olds: Record<string, unknown>, news: Record<string, unknown>, cluster: ClusterConfig): Promise<CheckResult>;
  /** The failures with their property paths moved into the sentences, as the engine prints them well. */
  checkFailuresForEngine(failures: readonly CheckFailure[]): CheckFailure[];
  diff(olds: Record<string, unknown>, news: Record<string, unknown>): DiffResult;
  /** Given the stack's cluster settings, first confirms no Service outside the stack took a planned address since `check`. */
  create(inputs: Record<string, unknown>, cluster: ClusterConfig): Promise<{ id: string; outs: Record<string, unknown> }>;
  update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>, cluster: ClusterConfig): Promise<{ outs: Record<string, unknown> }>;
  read(id: string, props?: Record<string, unknown>): { id: string; props: Record<string, unknown> };
  remove(id: string, props: Record<string, unknown>): void;
}

/**
 * Dynamic provider of {@link AllocationResource}. Serializable: its only state is the module
 * specifier of the implementation and, after `configure`, the stack's Kubernetes settings.
 */
export class AllocationProvider implements pulumi.dynamic.ResourceProvider {
  /** Module specifier (package subpath or file URL) of the implementation. */
  module: string;
  /** `kubernetes:kubeconfig` / `kubernetes:context` from the stack configuration, set by `configure`. */
  cluster: ClusterConfig;

  /** @param module implementation specifier; the default resolves through the installed `l2lb` package. */
  constructor(module?: string) {
    this.module = module ?? "l2lb/dynamic/allocation";
    this.cluster = {};
  }

  async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
    this.cluster = clusterSettings(req);
  }

  async check(olds: pulumi.dynamic.CheckResult["inputs"], news: pulumi.Inputs): Promise<pulumi.dynamic.CheckResult> {
    const engine: Engine = await import(this.module);
    const result = await engine.check(olds ?? {}, news, this.cluster);
    // The engine would print a nested property path as `value {<nil>}`; see checkFailuresForEngine.
    if (!result.failures?.length || typeof engine.checkFailuresForEngine !== "function") return result;
    return { inputs: result.inputs, failures: engine.checkFailuresForEngine(result.failures) };
  }

  async diff(_id: pulumi.ID, olds: pulumi.Inputs, news: pulumi.Inputs): Promise<pulumi.dynamic.DiffResult> {
    const engine: Engine = await import(this.module);
    return engine.diff(olds, news);
  }

  async create(inputs: pulumi.Inputs): Promise<pulumi.dynamic.CreateResult> {
    const engine: Engine = await import(this.module);
    return engine.create(inputs, this.cluster);
  }

  async update(id: pulumi.ID, olds: pulumi.Inputs, news: pulumi.Inputs): Promise<pulumi.dynamic.UpdateResult> {
    const engine: Engine = await import(this.module);
    return engine.update(id, olds, news, this.cluster);
  }

  async read(id: pulumi.ID, props?: pulumi.Inputs): Promise<pulumi.dynamic.ReadResult> {
    const engine: Engine = await import(this.module);
    return engine.read(id, props);
  }

  async delete(id: pulumi.ID, props: pulumi.Inputs): Promise<void> {
    const engine: Engine = await import(this.module);
    engine.remove(id, props);
  }
}

/** Inputs of {@link AllocationResource}; see `AllocationInputs` in `engine.ts` for their meaning. */
export interface AllocationResourceArgs {
  /** Name of the allocation; changing it replaces the resource. */
  identity: pulumi.Input<string>;
  /** Every pool of the stack. */
  pools: pulumi.Input<pulumi.Input<AddressPool>[]>;
  /** Every Service of the stack that gets an address. */
  services: pulumi.Input<pulumi.Input<ServiceRequest>[]>;
  /** Groups of Services on one address. */
  sharedIpGroups?: pulumi.Input<pulumi.Input<SharedIpGroup>[]>;
  /** The stack's L2 advertisements (checks that every pool is announced from nodes that reach it). */
  advertisements?: pulumi.Input<pulumi.Input<L2Advertisement>[]>;
  /** Namespace labels for pools restricted by namespace selectors. */
  namespaceLabels?: pulumi.Input<Record<string, Record<string, string>>>;
  /** Explicit node subnets; when set, the cluster is not contacted. */
  nodeSubnets?: pulumi.Input<pulumi.Input<string>[]>;
  /** Extra addresses that must never be handed out. */
  nodeAddresses?: pulumi.Input<pulumi.Input<string>[]>;
  /** Kubeconfig (content or path) for reading Nodes; kept secret in the state. */
  kubeconfig?: pulumi.Input<string>;
  /** Kubeconfig context for reading Nodes. */
  context?: pulumi.Input<string>;
}

/**
 * The stack's allocation: one per program, so every pool, group and Service allocates together
 * and the result is deterministic. Its outputs (known at preview) are the addresses of every
 * Service.
 */
export class AllocationResource extends pulumi.dynamic.Resource {
  /** Assigned addresses by `"<namespace>/<name>"`, comma-separated (one per family). */
  declare readonly assignments: pulumi.Output<Record<string, string>>;
  /** Pool of each assignment by `"<namespace>/<name>"`. */
  declare readonly assignedPools: pulumi.Output<Record<string, string>>;
  /** Size and use of every pool. */
  declare readonly poolUsage: pulumi.Output<Record<string, { size: string; used: number }>>;
  /** Where node subnets came from (`explicit`, `speakers` or `none`, with an explanation). */
  declare readonly subnetSource: pulumi.Output<string>;
  /** Node subnets the pools were checked against. */
  declare readonly nodeSubnetsUsed: pulumi.Output<string[]>;

  constructor(name: string, args: AllocationResourceArgs, opts?: pulumi.CustomResourceOptions, provider: AllocationProvider = new AllocationProvider()) {
    const props: Record<string, unknown> = {
      ...args,
      kubeconfig: args.kubeconfig === undefined ? undefined : pulumi.secret(args.kubeconfig),
      stateVersion: undefined,
      assignments: undefined,
      assignedPools: undefined,
      poolUsage: undefined,
      subnetSource: undefined,
      nodeSubnetsUsed: undefined,
    };
    super(provider, name, props, { ...opts, additionalSecretOutputs: ["kubeconfig", ...(opts?.additionalSecretOutputs ?? [])] }, "l2lb", "Allocation");
  }
}

export type { AllocationInputs };
