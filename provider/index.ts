// Public entry point of the l2lb package; re-exports the stable API.

// Pulumi components.
export * from "./components/index.ts";

// The allocation's dynamic resource and provider (one per program; normally created by `Allocation`).
export { ALLOCATION_MODULE, AllocationProvider, AllocationResource } from "./dynamic/provider.ts";
export type { AllocationResourceArgs } from "./dynamic/provider.ts";
export type { AllocationInputs, AllocationState, ClusterConfig } from "./dynamic/engine.ts";

// The shared contract with the runtime: API group, kinds, annotations, load-balancer class, CRDs.
export * from "./core/model/contract.ts";
export type { LabelSelector, LabelSelectorRequirement } from "./core/model/labels.ts";
export type {
  AddressPool as AddressPoolModel,
  AddressPoolSpec,
  GratuitousSettings,
  L2Advertisement as L2AdvertisementModel,
  L2AdvertisementSpec,
  ServiceAllocation,
} from "./core/model/pool.ts";
export type { PolicyRule } from "./core/model/rbac.ts";
export { crds, addressPoolCrd, l2AdvertisementCrd } from "./core/model/crds.ts";
export type { CustomResourceDefinition, JsonSchema, PrinterColumn } from "./core/model/crds.ts";

// The allocator's data types (inputs and results).
export type {
  AllocationFailure,
  AllocationInput,
  AllocationResult,
  AllocationSuccess,
  Assignment,
  IpFamilyName,
  IpFamilyPolicy,
  PlanFailure,
  PlanResult,
  PlanSuccess,
  ConfigProblem,
  Change,
  PoolUsage,
  ServiceOutcome,
  ServicePort,
  ServiceRequest,
  SharedIpGroup as SharedIpGroupModel,
} from "./core/allocation/index.ts";
