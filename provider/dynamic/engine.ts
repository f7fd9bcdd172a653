// The allocation provider's logic. Reached by the serialized provider through the stable package
// subpath `l2lb/dynamic/allocation` (see `provider.ts`), so a stack created by one version of the
// library is refreshed, updated and destroyed by whatever version is installed later: every
// function here must accept the state every earlier version wrote (see `STATE_VERSION`).
//
// Allocation runs in `check`, which the engine calls in preview and in up: the concrete addresses
// therefore appear in `pulumi preview --diff`, and `create`/`update` only persist what `check`
// computed — after making sure no Service outside the stack took one of those addresses since.
import { planAllocation, sizeToString } from "../core/allocation/index.ts";
import type { Assignment, AllocationInput, ConfigProblem, PlanSuccess, ServiceRequest, SharedIpGroup } from "../core/allocation/index.ts";
import type { AddressPool, L2Advertisement } from "../core/model/pool.ts";
import { advertisementSelectsNode, advertisementSelectsPool } from "../core/allocation/advertisement.ts";
import { cidrToRange, parseCidr, parseRange, rangeWithin } from "../core/ip/index.ts";
import { NODE_SUBNETS_ANNOTATION } from "../core/model/contract.ts";
import type { PublishedSubnet } from "../core/model/contract.ts";
import { loadKubeConfig, withTimeout } from "./cluster-access.ts";
import { assignedAddresses, canonicalAddresses, foreignConflicts, foreignServices, heldInput, originOf, stackServicesOf, takenPrevious } from "./foreign-services.ts";
import type { ForeignConflict, ForeignService, ServiceLike, StackServices } from "./foreign-services.ts";

/** The engine's marker for a value not known until apply (`@pulumi/pulumi/runtime/rpc#unknownValue`). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Shape version of the state written by `check`; bump only with a reader for the older shapes. */
export const STATE_VERSION = 1;

/** Inputs of the allocation resource as the program sends them (values may be {@link UNKNOWN} in preview). */
export interface AllocationInputs {
  /** Name of the allocation; a change replaces the resource. */
  identity: string;
  pools: AddressPool[];
  services: ServiceRequest[];
  sharedIpGroups?: SharedIpGroup[];
  /**
   * The stack's L2 advertisements. When given, every pool must be announced by one, and (with
   * subnets published by the speakers) lie on a subnet of a node that advertisement selects.
   */
  advertisements?: L2Advertisement[];
  namespaceLabels?: Record<string, Record<string, string>>;
  /** Explicit node subnets. When set the cluster is not contacted (render-only / GitOps stacks). */
  nodeSubnets?: string[];
  /** Extra addresses never handed out (added to the Nodes' own addresses). */
  nodeAddresses?: string[];
  /** Kubeconfig (content or path) used to read Nodes; defaults to the stack's `kubernetes:kubeconfig`, then the environment. */
  kubeconfig?: string;
  /** Kubeconfig context; defaults to the stack's `kubernetes:context`, then the current context. */
  context?: string;
}

/** What `check` adds to the inputs: the allocation itself. This is the resource's state. */
export interface AllocationState extends AllocationInputs {
  stateVersion: number;
  /** Assigned addresses by `"<namespace>/<name>"`, comma-separated (one per family). */
  assignments: Record<string, string>;
  /** Pool of each assignment, by `"<namespace>/<name>"`. */
  assignedPools: Record<string, string>;
  /** Size (decimal text) and addresses in use of every pool. */
  poolUsage: Record<string, { size: string; used: number }>;
  /** Where node subnets came from: `explicit`, `speakers` or `none`, with a short explanation. */
  subnetSource: string;
  /** The node subnets the pools were checked against (empty when `subnetSource` is `none`). */
  nodeSubnetsUsed: string[];
  /**
   * Why Services that had addresses got different ones, by `"<namespace>/<name>"` (absent when
   * none moved). Shown in the preview; not compared by `diff`.
   */
  moveReasons?: Record<string, string>;
  /**
   * The allocator's warnings (valid but probably not meant, e.g. a node's own address inside a
   * pool), absent when none. Shown in the preview (see {@link WarningSink}); not compared by `diff`.
   */
  warnings?: string[];
}

/** Cluster credentials found by the provider's `configure` (stack configuration). */
export interface ClusterConfig {
  kubeconfig?: string;
  context?: string;
}

export interface CheckFailure {
  property: string;
  reason: string;
}

export interface CheckResult {
  inputs: Record<string, unknown>;
  failures?: CheckFailure[];
}

/**
 * The failures as the Pulumi engine should receive them: each one's property path moved into its
 * sentence (`pools["first-pool"].spec.addresses[0]: AddressPool "first-pool" ...`), the property
 * left empty. The engine prints a failure with a property as `property <p> value <v> has a
 * problem: <reason>`, where `<v>` is `inputs[<p>]` — a top-level lookup, so for a path such as
 * `pools["first-pool"].spec.addresses[0]` it prints `value {<nil>}`, and for a top-level property
 * it dumps the whole input. Without a property it prints `<type> resource '<name>' has a problem:
 * <reason>`: the path and the sentence, nothing else. Applied by the provider (`provider.ts`) at
 * the engine boundary; `check` keeps the structured form for tests and other callers.
 */
export function checkFailuresForEngine(failures: readonly CheckFailure[]): CheckFailure[] {
  return failures.map((f) => ({ property: "", reason: f.property ? `${f.property}: ${f.reason}` : f.reason }));
}

/**
 * Where `check` reports the allocator's warnings. A dynamic provider has no way to return a
 * warning from `check`: its result carries only `failures`, which fail the preview, and
 * `pulumi.log` in the provider process is not connected to the engine (pulumi/pulumi#6065,
 * pulumi/pulumi#18249). So a warning reaches `pulumi preview` two ways:
 * - written to the provider process's stderr (this sink, by default), which the engine relays as
 *   a diagnostic message on every preview and up — also when nothing else changes;
 * - as the `warnings` property of the checked inputs (the state), which `pulumi preview --diff`
 *   shows whenever the allocation is created or updated, and which stays in the stack's state.
 * Neither changes what is allocated, and `diff` ignores `warnings`, so a warning alone is no update.
 */
export type WarningSink = (warning: string) => void;

const warnOnStderr: WarningSink = (warning) => {
  process.stderr.write(`warning: l2lb allocation: ${warning}\n`);
};

/** Reads what the allocation needs to know about the cluster's Nodes. Replaceable in tests. */
export type NodeReader = (cluster: ClusterConfig) => Promise<NodeFacts>;

/**
 * Lists the cluster's Services in every namespace (to learn the addresses already assigned
 * outside the stack). Replaceable in tests.
 */
export type ServiceReader = (cluster: ClusterConfig) => Promise<ServiceLike[]>;

/** A cluster without Services: what a test that replaces only the Node reader sees. */
const noServices: ServiceReader = async () => [];

/** The Nodes as the allocator needs them. */
export interface NodeFacts {
  /** Number of Nodes. */
  nodes: number;
  /** Nodes whose speaker published subnets. */
  publishing: number;
  /** Union of the published subnets, sorted. */
  subnets: string[];
  /** InternalIP / ExternalIP of every Node, sorted. */
  addresses: string[];
  /** Nodes that published subnets: name, labels and subnets (for advertisements' node selectors). */
  publishers?: { name: string; labels: Record<string, string>; subnets: string[] }[];
}

/** Fields that are inputs of the computation (a change in any is a change of the resource). */
const INPUT_KEYS = ["identity", "pools", "services", "sharedIpGroups", "advertisements", "namespaceLabels", "nodeSubnets", "nodeAddresses"] as const;
/**
 * Computed fields shown in the diff. `nodeSubnetsUsed` and `poolUsage` follow from these and are left
 * out to keep diffs readable; `subnetSource` only says where the subnets came from (it changes when
 * the speakers first publish theirs), so it is reported but never makes an update by itself.
 */
const COMPUTED_KEYS = ["assignments", "assignedPools"] as const;

// ---------------------------------------------------------------------------------------------
// check

/**
 * Validates the inputs and computes the allocation. `olds` are the previously checked inputs
 * (empty on create or replace): their assignments are the sticky input, so an address moves only
 * when it must. Unknown inputs give unknown assignments, never guessed ones.
 *
 * When the cluster is contacted (no `nodeSubnets`), the addresses Services outside the stack hold
 * count as taken, under MetalLB's sharing rules: a stack Service never gets one it may not share,
 * and one whose previous address was taken moves (`moveReasons` names the holder). `readServices`
 * defaults to the live cluster when the Nodes are read from it, and to no Services when a test
 * replaces only the Node reader.
 */
export async function check(
  olds: Record<string, unknown>,
  news: Record<string, unknown>,
  cluster: ClusterConfig = {},
  readNodes: NodeReader = readNodesFromCluster,
  readServices: ServiceReader = readNodes === readNodesFromCluster ? readServicesFromCluster : noServices,
  warn: WarningSink = warnOnStderr,
): Promise<CheckResult> {
  const inputs: Record<string, unknown> = { ...news, stateVersion: STATE_VERSION };
  const failures = validateShape(news);
  if (failures.length > 0) return { inputs, failures };

  const relevant = INPUT_KEYS.map((k) => news[k]);
  const clusterUnknown = news.nodeSubnets === undefined && (news.kubeconfig === UNKNOWN || news.context === UNKNOWN);
  if (clusterUnknown || relevant.some(containsUnknown)) {
    // Allocation is global (one service can take the address another would get): any unknown
    // input makes every assignment unknown.
    for (const key of ["assignments", "assignedPools", "poolUsage", "subnetSource", "nodeSubnetsUsed"]) inputs[key] = UNKNOWN;
    return { inputs };
  }
  const args = news as unknown as AllocationInputs;

  const view = await readCluster(args, cluster, readNodes, readServices);
  if ("failure" in view) return { inputs, failures: [view.failure] };

  const stack = stackServicesOf(args.services, args.sharedIpGroups ?? []);
  const previous = previousAssignments(olds);
  const taken = takenPrevious(previous, stack, view.foreign);
  const planned = planWithForeignServices(
    {
      pools: args.pools,
      services: args.services,
      sharedIpGroups: args.sharedIpGroups ?? [],
      namespaceLabels: args.namespaceLabels ?? {},
      nodeSubnets: view.nodeSubnets,
      nodeAddresses: sortedUnique(view.nodeAddresses),
      previous: withoutKeys(previous, taken),
    },
    view.foreign,
  );
  if ("failures" in planned) return { inputs, failures: planned.failures };
  if (args.advertisements !== undefined) {
    const reach = advertisementProblems(args.pools, args.advertisements, view.publishers);
    if (reach.length > 0) return { inputs, failures: reach };
  }

  const outcome = stackOutcomes(planned.plan, stack);
  if (outcome.failures.length > 0) return { inputs, failures: outcome.failures };
  const unaccounted = foreignConflicts(assignedAddresses(outcome.assignments), stack, view.foreign);
  if (unaccounted.length > 0) return { inputs, failures: unaccounted.map((c) => unaccountedFailure(c, planned.plan)) };

  const moveReasons = movesOf(previous, outcome.assignments, planned.plan, taken);
  const { warnings } = planned.plan;
  for (const warning of warnings) warn(warning);
  Object.assign(inputs, {
    assignments: outcome.assignments,
    assignedPools: outcome.assignedPools,
    poolUsage: stackPoolUsage(planned.plan, outcome),
    subnetSource: view.subnetSource,
    nodeSubnetsUsed: view.nodeSubnets ?? [],
    ...(Object.keys(moveReasons).length > 0 ? { moveReasons } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  });
  return { inputs };
}

/** What `check` learned about the cluster (or was told instead of contacting it). */
interface ClusterView {
  nodeSubnets: string[] | undefined;
  publishers: NodeFacts["publishers"];
  nodeAddresses: string[];
  subnetSource: string;
  /** Services outside the stack holding addresses (none when the cluster is not contacted). */
  foreign: ForeignService[];
}

async function readCluster(
  args: AllocationInputs,
  cluster: ClusterConfig,
  readNodes: NodeReader,
  readServices: ServiceReader,
): Promise<ClusterView | { failure: CheckFailure }> {
  const given = [...(args.nodeAddresses ?? [])];
  if (args.nodeSubnets !== undefined) {
    const subnetSource = "explicit: the nodeSubnets input (the cluster was not contacted)";
    return { nodeSubnets: [...args.nodeSubnets], publishers: undefined, nodeAddresses: given, subnetSource, foreign: [] };
  }
  const credentials = credentialsOf(args, cluster);
  let facts: NodeFacts;
  try {
    facts = await readNodes(credentials);
  } catch (err) {
    return {
      failure: {
        property: "nodeSubnets",
        reason:
          `cannot read the cluster's Nodes to learn their subnets (${errorText(err)}). ` +
          `Fix the Kubernetes credentials (stack config kubernetes:kubeconfig, KUBECONFIG), or set nodeSubnets ` +
          `explicitly for a render-only stack.`,
      },
    };
  }
  let services: ServiceLike[];
  try {
    services = await readServices(credentials);
  } catch (err) {
    return {
      failure: {
        property: "nodeSubnets",
        reason:
          `cannot list the cluster's Services to learn which addresses are already assigned (${errorText(err)}). ` +
          `Fix the Kubernetes credentials (stack config kubernetes:kubeconfig, KUBECONFIG) or allow them to list Services ` +
          `in every namespace, or set nodeSubnets explicitly for a render-only stack.`,
      },
    };
  }
  const foreign = foreignServices(services, stackServicesOf(args.services, []).keys);
  const nodeAddresses = [...given, ...facts.addresses];
  if (facts.publishing > 0) {
    const subnetSource = `speakers: published by ${facts.publishing} of ${facts.nodes} nodes (${NODE_SUBNETS_ANNOTATION})`;
    return { nodeSubnets: facts.subnets, publishers: facts.publishers, nodeAddresses, subnetSource, foreign };
  }
  const subnetSource =
    `none: no speaker has published subnets yet (${facts.nodes} nodes); pools were not checked against node ` +
    `subnets — set nodeSubnets to check them before the speakers run`;
  return { nodeSubnets: undefined, publishers: undefined, nodeAddresses, subnetSource, foreign };
}

/** The credentials to reach the cluster: the resource's own inputs win over the stack configuration. */
function credentialsOf(args: { kubeconfig?: unknown; context?: unknown }, cluster: ClusterConfig): ClusterConfig {
  return {
    kubeconfig: typeof args.kubeconfig === "string" ? args.kubeconfig : cluster.kubeconfig,
    context: typeof args.context === "string" ? args.context : cluster.context,
  };
}

/**
 * Plans the stack's Services together with the foreign Services holding addresses of its pools.
 * Problems of foreign Services are theirs, not the stack's: they are planned with
 * `isolateServiceProblems` and left out. When the stack itself is invalid, the failures are those
 * of the stack planned alone — the same as without foreign Services.
 */
function planWithForeignServices(input: AllocationInput, foreign: readonly ForeignService[]): { plan: PlanSuccess } | { failures: CheckFailure[] } {
  const held = heldInput(foreign, input.pools);
  if (held.services.length === 0) return planAlone(input);
  const plan = planAllocation({
    ...input,
    services: [...input.services, ...held.services],
    previous: { ...input.previous, ...held.previous },
    isolateServiceProblems: true,
  });
  const foreignObjects = new Set(held.services.map((s) => `Service "${s.namespace}/${s.name}"`));
  const stackProblems = (plan.ok ? plan.refused : plan.problems).filter((p) => !foreignObjects.has(p.object));
  if (plan.ok && stackProblems.length === 0) return { plan };
  const alone = planAlone(input);
  return "failures" in alone ? alone : { failures: stackProblems.map(problemToFailure) };
}

function planAlone(input: AllocationInput): { plan: PlanSuccess } | { failures: CheckFailure[] } {
  const plan = planAllocation(input);
  return plan.ok ? { plan } : { failures: plan.problems.map(problemToFailure) };
}

/** The stack's assignments, or a failure for every stack Service that got none; foreign outcomes are left out. */
function stackOutcomes(plan: PlanSuccess, stack: StackServices): { assignments: Record<string, string>; assignedPools: Record<string, string>; failures: CheckFailure[] } {
  const failures: CheckFailure[] = [];
  const assignments: Record<string, string> = {};
  const assignedPools: Record<string, string> = {};
  for (const [key, outcome] of Object.entries(plan.services)) {
    if (!stack.keys.has(key)) continue;
    if ("error" in outcome) {
      const named = outcome.error.includes(`"${key}"`);
      failures.push({ property: `services[${JSON.stringify(key)}]`, reason: named ? outcome.error : `Service "${key}": ${outcome.error}` });
      continue;
    }
    assignments[key] = outcome.ips.join(",");
    assignedPools[key] = outcome.pool;
  }
  return { assignments, assignedPools, failures };
}

/**
 * A stack Service planned onto an address a foreign Service holds that the plan could not
 * account for (the foreign Service does not fit the stack's pools, e.g. a namespace selector
 * whose namespace labels the stack does not know).
 */
function unaccountedFailure(conflict: ForeignConflict, plan: PlanSuccess): CheckFailure {
  const holder = conflict.holder.key;
  const outcome = plan.services[holder];
  const why = outcome !== undefined && "error" in outcome ? outcome.error : `its assignment is not one this stack's pools allow.`;
  return {
    property: `services[${JSON.stringify(conflict.service)}]`,
    reason:
      `Service "${conflict.service}" would get ${conflict.address}, but ${holdsIt(conflict)}. ` +
      `The allocation could not account for Service "${holder}": ${why} ` +
      `Request another address for Service "${conflict.service}", give namespaceLabels for namespace "${holder.split("/")[0]}" if a pool selects namespaces, or free ${conflict.address}.`,
  };
}

/** Why each stack Service that had addresses got different ones, by key. */
function movesOf(previous: Record<string, Assignment>, assignments: Record<string, string>, plan: PlanSuccess, taken: ReadonlyMap<string, string>): Record<string, string> {
  const moved = new Map(plan.changes.filter((c) => c.kind === "moved").map((c) => [c.service, c.reason]));
  const reasons: Record<string, string> = {};
  for (const [key, before] of Object.entries(previous)) {
    const now = assignments[key];
    if (now === undefined || sameAddresses(before.ips, now.split(","))) continue;
    const reason = taken.get(key) ?? moved.get(key);
    if (reason !== undefined) reasons[key] = reason;
  }
  return reasons;
}

/** Size of every pool, and the distinct addresses the stack's own Services use in it. */
function stackPoolUsage(plan: PlanSuccess, outcome: { assignments: Record<string, string>; assignedPools: Record<string, string> }): AllocationState["poolUsage"] {
  const used = new Map<string, Set<string>>();
  for (const [key, ips] of Object.entries(outcome.assignments)) {
    const pool = outcome.assignedPools[key]!;
    used.set(pool, new Set([...(used.get(pool) ?? []), ...ips.split(",")]));
  }
  const usage: AllocationState["poolUsage"] = {};
  for (const [name, pool] of Object.entries(plan.pools)) usage[name] = { size: sizeToString(pool.size), used: used.get(name)?.size ?? 0 };
  return usage;
}

/**
 * Pools nobody would announce: a pool no advertisement covers, or (when the speakers published
 * per-node subnets) a range outside the subnets of every node its advertisements select.
 */
export function advertisementProblems(
  pools: AddressPool[],
  advertisements: L2Advertisement[],
  publishers: NodeFacts["publishers"],
): CheckFailure[] {
  const failures: CheckFailure[] = [];
  for (const pool of pools) {
    const covering = advertisements.filter((ad) => advertisementSelectsPool(ad, pool));
    const property = `pools[${JSON.stringify(pool.name)}]`;
    if (covering.length === 0) {
      failures.push({
        property,
        reason:
          `AddressPool "${pool.name}" is announced by no L2Advertisement, so no node would answer ARP/NDP for its ` +
          `addresses; name it in an L2Advertisement's pools (or remove the pool).`,
      });
      continue;
    }
    if (!publishers || publishers.length === 0) continue;
    const eligible = publishers.filter((node) => covering.some((ad) => advertisementSelectsNode(ad, node.labels)));
    const subnets = [...new Set(eligible.flatMap((n) => n.subnets))].sort();
    const ads = covering.map((ad) => `"${ad.name}"`).join(", ");
    pool.spec.addresses.forEach((text, i) => {
      let inside: boolean;
      try {
        const range = parseRange(text);
        inside = subnets.some((cidr) => {
          try {
            return rangeWithin(range, cidrToRange(parseCidr(cidr, { allowHostBits: true })));
          } catch {
            return false;
          }
        });
      } catch {
        return; // malformed ranges are reported by the allocator
      }
      if (inside) return;
      failures.push({
        property: `${property}.spec.addresses[${i}]`,
        reason:
          eligible.length === 0
            ? `AddressPool "${pool.name}" spec.addresses[${i}] (${text}): its L2Advertisement ${ads} selects no node running a speaker; ` +
              `fix the advertisement's nodeSelectors or label the nodes.`
            : `AddressPool "${pool.name}" spec.addresses[${i}] (${text}) is on no subnet of the nodes its L2Advertisement ${ads} selects ` +
              `(${eligible.map((n) => n.name).join(", ")}: ${subnets.join(", ") || "none published"}); ` +
              `select nodes on that subnet, or use addresses from theirs.`,
      });
    });
  }
  return failures;
}

function previousAssignments(olds: Record<string, unknown>): Record<string, Assignment> {
  const result: Record<string, Assignment> = {};
  const assignments = olds.assignments;
  const pools = olds.assignedPools;
  if (!isRecord(assignments) || !isRecord(pools)) return result;
  for (const [key, ips] of Object.entries(assignments)) {
    const pool = pools[key];
    if (typeof ips !== "string" || ips === "" || typeof pool !== "string") continue;
    result[key] = { ips: ips.split(","), pool };
  }
  return result;
}

/** Maps an allocator problem onto the input property it is about, e.g. `pools["first-pool"].spec.addresses[1]`. */
export function problemToFailure(problem: ConfigProblem): CheckFailure {
  const match = /^(\w+) "([^"]*)"$/.exec(problem.object);
  const collection: Record<string, string> = {
    AddressPool: "pools",
    Service: "services",
    SharedIpGroup: "sharedIpGroups",
  };
  const base = match && collection[match[1]!] ? `${collection[match[1]!]}[${JSON.stringify(match[2])}]` : problem.object;
  return { property: problem.field ? `${base}.${problem.field}` : base, reason: problem.message };
}

/** Structural checks of the inputs, so a hand-written resource gets sentences, not exceptions. */
function validateShape(news: Record<string, unknown>): CheckFailure[] {
  const failures: CheckFailure[] = [];
  const list = (key: string, required: boolean): void => {
    const value = news[key];
    if (value === UNKNOWN) return;
    if (value === undefined) {
      if (required) failures.push({ property: key, reason: `${key} is required: pass a list (it may be empty).` });
      return;
    }
    if (!Array.isArray(value)) failures.push({ property: key, reason: `${key} must be a list, not ${typeof value}.` });
  };
  if (news.identity !== UNKNOWN && typeof news.identity !== "string") {
    failures.push({ property: "identity", reason: "identity must be a string (the allocation's name)." });
  }
  list("pools", true);
  list("services", true);
  list("sharedIpGroups", false);
  list("advertisements", false);
  list("nodeSubnets", false);
  list("nodeAddresses", false);
  return failures;
}

// ---------------------------------------------------------------------------------------------
// diff, create, read, update, delete

export interface DiffResult {
  changes: boolean;
  replaces: string[];
  deleteBeforeReplace: boolean;
}

/**
 * Compares the stored state with the newly checked inputs. Ignores the serialized provider
 * (`__provider` changes with every library release), the credentials and the derived fields;
 * replaces only when the identity changes.
 */
export function diff(olds: Record<string, unknown>, news: Record<string, unknown>): DiffResult {
  const changed = [...INPUT_KEYS, ...COMPUTED_KEYS].filter((key) => containsUnknown(news[key]) || !deepEqual(normalize(olds[key]), normalize(news[key])));
  const replaces = changed.includes("identity") ? ["identity"] : [];
  return { changes: changed.length > 0, replaces, deleteBeforeReplace: false };
}

/** What `create` returns: the id and the full state. */
export interface CreateResult {
  id: string;
  outs: Record<string, unknown>;
}

/**
 * The full state: everything `check` computed (outs must be complete, or state is lost). Given
 * the stack's cluster settings (as the provider passes them), it first confirms the planned
 * addresses are still free (see {@link confirmAddressesFree}), so it returns a promise.
 */
export function create(inputs: Record<string, unknown>): CreateResult;
export function create(inputs: Record<string, unknown>, cluster: ClusterConfig, readServices?: ServiceReader): Promise<CreateResult>;
export function create(inputs: Record<string, unknown>, cluster?: ClusterConfig, readServices: ServiceReader = readServicesFromCluster): CreateResult | Promise<CreateResult> {
  const result = (): CreateResult => ({ id: idOf(inputs), outs: outputsOf(inputs) });
  if (cluster === undefined) return result();
  return confirmAddressesFree(inputs, cluster, readServices).then(result);
}

/** The new state in full; like {@link create}, given the stack's cluster settings it first confirms the addresses are free. */
export function update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>): { outs: Record<string, unknown> };
export function update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>, cluster: ClusterConfig, readServices?: ServiceReader): Promise<{ outs: Record<string, unknown> }>;
export function update(
  _id: string,
  _olds: Record<string, unknown>,
  news: Record<string, unknown>,
  cluster?: ClusterConfig,
  readServices: ServiceReader = readServicesFromCluster,
): { outs: Record<string, unknown> } | Promise<{ outs: Record<string, unknown> }> {
  const result = (): { outs: Record<string, unknown> } => ({ outs: outputsOf(news) });
  if (cluster === undefined) return result();
  return confirmAddressesFree(news, cluster, readServices).then(result);
}

/**
 * Right before the allocation is stored (and the Services written), lists the Services again and
 * throws — so nothing is written — when a Service outside the stack took one of the planned
 * addresses since `check` and may not share it; the next `check` sees the address as taken.
 * Render-only stacks (`nodeSubnets` given) are not contacted.
 */
export async function confirmAddressesFree(state: Record<string, unknown>, cluster: ClusterConfig, readServices: ServiceReader = readServicesFromCluster): Promise<void> {
  if (state.nodeSubnets !== undefined || !isRecord(state.assignments)) return;
  let services: ServiceLike[];
  try {
    services = await readServices(credentialsOf(state, cluster));
  } catch (err) {
    throw new Error(
      `Cannot list the cluster's Services to confirm that the planned addresses are still free (${errorText(err)}); nothing was written. ` +
        `Fix the Kubernetes credentials (stack config kubernetes:kubeconfig, KUBECONFIG), then run pulumi up again.`,
      { cause: err },
    );
  }
  const args = state as unknown as AllocationInputs;
  const stack = stackServicesOf(Array.isArray(args.services) ? args.services : [], Array.isArray(args.sharedIpGroups) ? args.sharedIpGroups : []);
  const conflicts = foreignConflicts(assignedAddresses(state.assignments), stack, foreignServices(services, stack.keys));
  if (conflicts.length > 0) throw new Error(conflicts.map(raceMessage).join(" "));
}

/** E.g. `Service "ops/x" holds it (assigned in the cluster) and they may not share it (it is used by ..., which has no sharing key)`. */
function holdsIt(conflict: ForeignConflict): string {
  return `Service "${conflict.holder.key}" holds it (${originOf(conflict.holder)}) and they may not share it (${conflict.reason})`;
}

function raceMessage(conflict: ForeignConflict): string {
  return (
    `Service "${conflict.service}" cannot be given ${conflict.address}: since it was planned, ${holdsIt(conflict)}. ` +
    `Nothing was written: run pulumi up again to pick another address, or free it.`
  );
}

/** The allocation lives in the stack's state (the cluster copies live in Services and the ConfigMap): refresh keeps it. */
export function read(id: string, props: Record<string, unknown> = {}): { id: string; props: Record<string, unknown> } {
  return { id, props: outputsOf(props) };
}

/** Nothing to delete outside the state: the Kubernetes objects belong to the Kubernetes provider. */
export function remove(_id: string, _props: Record<string, unknown>): void {}

function idOf(inputs: Record<string, unknown>): string {
  return typeof inputs.identity === "string" && inputs.identity !== "" ? `l2lb-allocation-${inputs.identity}` : "l2lb-allocation";
}

function outputsOf(inputs: Record<string, unknown>): Record<string, unknown> {
  const outs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(inputs)) {
    if (key === "__provider") continue;
    outs[key] = value;
  }
  // State written before stateVersion existed has the same shape as version 1.
  if (outs.stateVersion === undefined) outs.stateVersion = STATE_VERSION;
  return outs;
}

// ---------------------------------------------------------------------------------------------
// Nodes

/** Reads Nodes with `@kubernetes/client-node` (imported here, not at module load). */
export async function readNodesFromCluster(cluster: ClusterConfig): Promise<NodeFacts> {
  const k8s = await import("@kubernetes/client-node");
  const kc = await loadKubeConfig(cluster, "no Kubernetes cluster is configured");
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const list = await withTimeout(core.listNode({ timeoutSeconds: 10 }), 15_000, "listing Nodes timed out after 15 s");
  return nodeFacts(list.items);
}

/**
 * Lists Services in every namespace with `@kubernetes/client-node`. An API server that serves no
 * Services (404) has none holding an address.
 */
export async function readServicesFromCluster(cluster: ClusterConfig): Promise<ServiceLike[]> {
  const k8s = await import("@kubernetes/client-node");
  const kc = await loadKubeConfig(cluster, "no Kubernetes cluster is configured");
  const core = kc.makeApiClient(k8s.CoreV1Api);
  try {
    const list = await withTimeout(core.listServiceForAllNamespaces({ timeoutSeconds: 10 }), 15_000, "listing Services timed out after 15 s");
    return list.items;
  } catch (err) {
    if ((err as { code?: unknown }).code === 404) return [];
    throw err;
  }
}

/** The subset of a Node object read here. */
export interface NodeLike {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  status?: { addresses?: { type: string; address: string }[] };
}

/** Summarizes Nodes: published subnets (malformed annotations are ignored) and node addresses. */
export function nodeFacts(nodes: NodeLike[]): NodeFacts {
  const subnets = new Set<string>();
  const addresses = new Set<string>();
  const publishers: NonNullable<NodeFacts["publishers"]> = [];
  let publishing = 0;
  for (const node of nodes) {
    for (const a of node.status?.addresses ?? []) {
      if (a.type === "InternalIP" || a.type === "ExternalIP") addresses.add(a.address);
    }
    const raw = node.metadata?.annotations?.[NODE_SUBNETS_ANNOTATION];
    if (raw === undefined) continue;
    let published: unknown;
    try {
      published = JSON.parse(raw);
    } catch {
      continue;
    }
    if (!Array.isArray(published)) continue;
    const own = new Set<string>();
    for (const entry of published as Partial<PublishedSubnet>[]) {
      if (entry && typeof entry.cidr === "string") {
        subnets.add(entry.cidr);
        own.add(entry.cidr);
      }
    }
    if (own.size > 0) {
      publishing++;
      publishers.push({ name: node.metadata?.name ?? "", labels: { ...node.metadata?.labels }, subnets: [...own].sort() });
    }
  }
  publishers.sort((a, b) => a.name.localeCompare(b.name));
  return { nodes: nodes.length, publishing, subnets: [...subnets].sort(), addresses: [...addresses].sort(), publishers };
}

// ---------------------------------------------------------------------------------------------
// helpers

export function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (isRecord(value)) return Object.values(value).some(containsUnknown);
  return false;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Treats an absent value, an empty list and an empty map alike (the wire drops some of them); keys sorted. */
export function normalize(value: unknown): unknown {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(normalize);
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const inner = normalize(value[key]);
      if (inner !== undefined) out[key] = inner;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return value;
}

/** Equal once {@link normalize}d (absent, empty and `null` alike; key order ignored). */
export function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a)) === JSON.stringify(normalize(b));
}

function withoutKeys<T>(record: Record<string, T>, keys: ReadonlyMap<string, unknown>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).filter(([key]) => !keys.has(key)));
}

/** Same addresses, in any order and spelling. */
function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  const canonical = (list: readonly string[]): string => canonicalAddresses(list.join(",")).sort().join(",");
  return canonical(a) === canonical(b);
}

function sortedUnique(values: string[]): string[] {
  return [...new Set(values)].sort();
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const body = (err as { body?: unknown }).body;
    return body ? `${err.message}: ${typeof body === "string" ? body : JSON.stringify(body)}` : err.message;
  }
  return String(err);
}
