// The manifest writer's logic: server-side apply of one Kubernetes object with
// `@kubernetes/client-node`, as field manager `l2lb`. Reached by the serialized provider through
// the stable package subpath `l2lb/dynamic/manifest` (see `manifest-provider.ts`), so stacks keep
// working across library versions: every function here must accept the state every earlier
// version wrote (see `MANIFEST_STATE_VERSION`).
//
// Two modes:
//   object  the resource owns the object: apply creates or updates it, delete deletes it;
//   patch   the object belongs to someone else (a Service created by a chart or by hand): apply
//           sets only the fields in the manifest, and delete applies an empty intent with the same
//           field manager, which removes exactly the fields (annotations included) only we own.
//
// Waiting follows the Kubernetes provider's conventions, read from the manifest's own annotations:
// `pulumi.com/skipAwait: "true"` turns it off, `pulumi.com/timeoutSeconds` bounds it.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { CheckFailure, ClusterConfig, DiffResult } from "./engine.ts";
import { UNKNOWN, containsUnknown, deepEqual, isRecord, normalize } from "./engine.ts";
import { loadKubeConfig } from "./cluster-access.ts";

export { loadKubeConfig };

/** Shape version of the state written by `create`/`update`. */
export const MANIFEST_STATE_VERSION = 1;

/** Field manager of every apply unless the inputs name another. */
export const DEFAULT_FIELD_MANAGER = "l2lb";

/** Seconds a create or update waits for readiness when the manifest does not say (`pulumi.com/timeoutSeconds`). */
export const DEFAULT_AWAIT_SECONDS = 120;

/** A Kubernetes object as written: `apiVersion`, `kind`, `metadata.name` (and `namespace` for namespaced kinds). */
export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

/** Inputs of the manifest resource. */
export interface ManifestInputs {
  /** The object to apply. */
  manifest: ManifestObject;
  /** `object` (default): the resource owns the object. `patch`: only our fields of an existing object. */
  mode?: "object" | "patch";
  /** Field manager of the apply. Default `l2lb`. */
  fieldManager?: string;
  /** Take over fields another manager owns (server-side apply `force`). Default false: such a conflict fails the apply, naming the manager. */
  force?: boolean;
  /** Kubeconfig (content or path); defaults to the stack's `kubernetes:kubeconfig`, then the environment. */
  kubeconfig?: string;
  /** Kubeconfig context; defaults to the stack's `kubernetes:context`, then the current context. */
  context?: string;
}

/** State of the manifest resource: its inputs plus what the cluster said. */
export interface ManifestState extends ManifestInputs {
  stateVersion: number;
  /** `metadata.uid` of the object after the apply. */
  uid: string;
  /** `status` of the object once ready (e.g. a Service's `loadBalancer.ingress`), `{}` when it has none. */
  status: Record<string, unknown>;
}

export type { CheckFailure, DiffResult };

/** The client operations the engine needs; {@link connect} makes the real one, tests may pass their own. */
export interface ObjectClient {
  apply(manifest: ManifestObject, fieldManager: string, force: boolean): Promise<ManifestObject>;
  /** The live object, or undefined when it does not exist. */
  get(ref: ObjectRef): Promise<ManifestObject | undefined>;
  /** Deletes the object; false when it did not exist. */
  remove(ref: ObjectRef): Promise<boolean>;
}

/** What identifies an object. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/** Makes a client for the given credentials. Replaceable in tests. */
export type Connect = (cluster: ClusterConfig) => Promise<ObjectClient>;

/** Timing of the readiness and deletion polls; tests shorten them. */
export interface Timing {
  pollMs: number;
}

const TIMING: Timing = { pollMs: 500 };

// ---------------------------------------------------------------------------------------------
// check, diff

/** Validates the inputs' shape; unknown values (preview) pass. */
export function check(_olds: Record<string, unknown>, news: Record<string, unknown>): { inputs: Record<string, unknown>; failures?: CheckFailure[] } {
  const failures: CheckFailure[] = [];
  const manifest = news.manifest;
  if (manifest === UNKNOWN) return { inputs: news };
  if (!isRecord(manifest)) {
    return { inputs: news, failures: [{ property: "manifest", reason: "manifest must be a Kubernetes object with apiVersion, kind and metadata.name." }] };
  }
  const known = (v: unknown): boolean => v !== UNKNOWN;
  for (const key of ["apiVersion", "kind"] as const) {
    const v = manifest[key];
    if (known(v) && (typeof v !== "string" || v === "")) failures.push({ property: `manifest.${key}`, reason: `manifest.${key} must be a non-empty string.` });
  }
  const meta = manifest.metadata;
  if (meta === UNKNOWN) {
    // known later
  } else if (!isRecord(meta)) {
    failures.push({ property: "manifest.metadata", reason: "manifest.metadata must be an object with a name." });
  } else {
    if (known(meta.name) && (typeof meta.name !== "string" || !/^[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/.test(meta.name))) {
      failures.push({ property: "manifest.metadata.name", reason: `manifest.metadata.name must be a Kubernetes object name, not ${JSON.stringify(meta.name)}.` });
    }
    if (meta.namespace !== undefined && known(meta.namespace) && (typeof meta.namespace !== "string" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(meta.namespace))) {
      failures.push({ property: "manifest.metadata.namespace", reason: `manifest.metadata.namespace must be a namespace name, not ${JSON.stringify(meta.namespace)}.` });
    }
  }
  if (news.mode !== undefined && news.mode !== "object" && news.mode !== "patch" && known(news.mode)) {
    failures.push({ property: "mode", reason: `mode must be "object" or "patch", not ${JSON.stringify(news.mode)}.` });
  }
  if (news.force !== undefined && typeof news.force !== "boolean" && known(news.force)) failures.push({ property: "force", reason: "force must be true or false." });
  return failures.length > 0 ? { inputs: news, failures } : { inputs: news };
}

/** Identity of the object: a change of any of these replaces the resource. */
function identity(inputs: Record<string, unknown>): unknown[] {
  const m = isRecord(inputs.manifest) ? inputs.manifest : {};
  const meta = isRecord(m.metadata) ? m.metadata : {};
  return [m.apiVersion, m.kind, meta.name, meta.namespace ?? "", inputs.mode ?? "object", inputs.fieldManager ?? DEFAULT_FIELD_MANAGER];
}

const IDENTITY_NAMES = ["manifest.apiVersion", "manifest.kind", "manifest.metadata.name", "manifest.metadata.namespace", "mode", "fieldManager"];

/**
 * Compares the desired manifest (and mode, manager, force) with the stored one. The serialized
 * provider and the credentials are ignored. A new apiVersion, kind, name, namespace, mode or field
 * manager replaces the resource; when the replacement is the same object (only the apiVersion
 * changed), the old one is deleted first.
 */
export function diff(olds: Record<string, unknown>, news: Record<string, unknown>): DiffResult {
  const before = identity(olds);
  const after = identity(news);
  // A manifest (or metadata) unknown as a whole at preview: a change, its kind not known yet.
  const opaque = news.manifest === UNKNOWN || (isRecord(news.manifest) && news.manifest.metadata === UNKNOWN);
  const replaces = opaque ? [] : IDENTITY_NAMES.filter((_, i) => after[i] === UNKNOWN || !deepEqual(before[i], after[i]));
  const changes =
    replaces.length > 0 ||
    containsUnknown(news.manifest) ||
    !deepEqual(normalize(olds.manifest), normalize(news.manifest)) ||
    Boolean(olds.force) !== Boolean(news.force);
  // Same kind, name and namespace: the replacement is the same object, so delete before creating.
  const sameObject = [1, 2, 3].every((i) => after[i] !== UNKNOWN && deepEqual(before[i], after[i]));
  return { changes, replaces, deleteBeforeReplace: replaces.length > 0 && sameObject };
}

// ---------------------------------------------------------------------------------------------
// create, update, read, delete

function refOf(manifest: ManifestObject): ObjectRef {
  const ref: ObjectRef = { apiVersion: manifest.apiVersion, kind: manifest.kind, name: manifest.metadata.name };
  if (typeof manifest.metadata.namespace === "string" && manifest.metadata.namespace !== "") ref.namespace = manifest.metadata.namespace;
  return ref;
}

/** Resource id: `<apiVersion>:<kind>:<namespace>/<name>` (`<name>` alone when cluster-scoped). */
export function idOf(manifest: ManifestObject): string {
  const ref = refOf(manifest);
  return `${ref.apiVersion}:${ref.kind}:${ref.namespace ? `${ref.namespace}/` : ""}${ref.name}`;
}

function credentials(inputs: Record<string, unknown>, cluster: ClusterConfig): ClusterConfig {
  return {
    kubeconfig: typeof inputs.kubeconfig === "string" && inputs.kubeconfig !== "" ? inputs.kubeconfig : cluster.kubeconfig,
    context: typeof inputs.context === "string" && inputs.context !== "" ? inputs.context : cluster.context,
  };
}

/** Applies the manifest, waits for readiness as its annotations say, and returns the complete state. */
export async function create(
  inputs: Record<string, unknown>,
  cluster: ClusterConfig = {},
  connect: Connect = connectToCluster,
  timing: Timing = TIMING,
): Promise<{ id: string; outs: Record<string, unknown> }> {
  const manifest = inputs.manifest as ManifestObject;
  const outs = await applyAndAwait(inputs, cluster, connect, timing);
  return { id: idOf(manifest), outs };
}

/** Applies the new manifest: fields this manager owned and no longer lists are removed by the API server. */
export async function update(
  _id: string,
  _olds: Record<string, unknown>,
  news: Record<string, unknown>,
  cluster: ClusterConfig = {},
  connect: Connect = connectToCluster,
  timing: Timing = TIMING,
): Promise<{ outs: Record<string, unknown> }> {
  return { outs: await applyAndAwait(news, cluster, connect, timing) };
}

async function applyAndAwait(inputs: Record<string, unknown>, cluster: ClusterConfig, connect: Connect, timing: Timing): Promise<Record<string, unknown>> {
  const manifest = inputs.manifest as ManifestObject;
  const client = await connect(credentials(inputs, cluster));
  const fieldManager = typeof inputs.fieldManager === "string" ? inputs.fieldManager : DEFAULT_FIELD_MANAGER;
  const force = inputs.force === true;
  if (inputs.mode === "patch" && (await client.get(refOf(manifest))) === undefined) {
    throw new Error(`${describe(manifest)} does not exist; a patch only changes an existing object (create it first, or use mode "object").`);
  }
  let live: ManifestObject;
  try {
    live = await retryDiscovery(() => client.apply(manifest, fieldManager, force), timing);
  } catch (err) {
    throw new Error(`server-side apply of ${describe(manifest)} as field manager "${fieldManager}" failed: ${errorText(err)}`, { cause: err });
  }
  const wait = awaitPolicy(manifest);
  if (wait !== undefined) live = await awaitReady(client, manifest, live, wait, timing);
  const outs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(inputs)) if (key !== "__provider") outs[key] = value;
  outs.stateVersion = MANIFEST_STATE_VERSION;
  outs.uid = live.metadata?.uid ?? "";
  outs.status = isRecord(live.status) ? live.status : {};
  return outs;
}

/** Reads the live object. A vanished object (mode `object`) reads as gone, so refresh drops it from the state. */
export async function read(
  id: string,
  props: Record<string, unknown> = {},
  cluster: ClusterConfig = {},
  connect: Connect = connectToCluster,
): Promise<{ id: string; props: Record<string, unknown> }> {
  const manifest = props.manifest as ManifestObject | undefined;
  if (!manifest) return { id, props };
  const client = await connect(credentials(props, cluster));
  const live = await client.get(refOf(manifest));
  if (live === undefined) return { id: "", props: {} };
  const out: Record<string, unknown> = { ...props, stateVersion: MANIFEST_STATE_VERSION, uid: live.metadata?.uid ?? "", status: isRecord(live.status) ? live.status : {} };
  delete out.__provider;
  return { id, props: out };
}

/**
 * Mode `object`: deletes the object and waits (as long as a create would) until it is gone.
 * Mode `patch`: applies an empty intent with the same field manager, so the API server removes
 * every field only this manager owned — our annotations and settings — and leaves the object.
 */
export async function remove(
  _id: string,
  props: Record<string, unknown>,
  cluster: ClusterConfig = {},
  connect: Connect = connectToCluster,
  timing: Timing = TIMING,
): Promise<void> {
  const manifest = props.manifest as ManifestObject | undefined;
  if (!manifest) return;
  const client = await connect(credentials(props, cluster));
  const ref = refOf(manifest);
  const fieldManager = typeof props.fieldManager === "string" ? props.fieldManager : DEFAULT_FIELD_MANAGER;
  if (props.mode === "patch") {
    if ((await client.get(ref)) === undefined) return;
    const empty: ManifestObject = { apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } };
    await client.apply(empty, fieldManager, props.force === true);
    return;
  }
  if (!(await client.remove(ref))) return;
  const seconds = awaitPolicy(manifest)?.seconds ?? DEFAULT_AWAIT_SECONDS;
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    if ((await client.get(ref)) === undefined) return;
    if (Date.now() > deadline) throw new Error(`${describe(manifest)} was deleted but is still there after ${seconds} s (finalizers?)`);
    await sleep(timing.pollMs);
  }
}

// ---------------------------------------------------------------------------------------------
// readiness

interface AwaitPolicy {
  seconds: number;
}

/** Undefined when the manifest says `pulumi.com/skipAwait: "true"`. */
export function awaitPolicy(manifest: ManifestObject): AwaitPolicy | undefined {
  const ann = manifest.metadata?.annotations ?? {};
  if (ann["pulumi.com/skipAwait"] === "true") return undefined;
  const raw = ann["pulumi.com/timeoutSeconds"];
  const seconds = raw !== undefined && /^\d+$/.test(raw) && Number(raw) > 0 ? Number(raw) : DEFAULT_AWAIT_SECONDS;
  return { seconds };
}

/**
 * Why the object is not ready yet, or undefined when it is — the Kubernetes provider's rules for
 * the kinds l2lb writes: a CRD is Established, a Namespace Active, a LoadBalancer Service has an
 * ingress address, a Deployment or DaemonSet has rolled out; anything else is ready once applied.
 */
export function notReady(live: ManifestObject): string | undefined {
  const status = isRecord(live.status) ? live.status : {};
  const spec = isRecord(live.spec) ? live.spec : {};
  const generation = typeof live.metadata?.generation === "number" ? live.metadata.generation : 0;
  const observed = typeof status.observedGeneration === "number" ? status.observedGeneration : -1;
  const num = (v: unknown): number => (typeof v === "number" ? v : 0);
  switch (live.kind) {
    case "CustomResourceDefinition": {
      const conditions = Array.isArray(status.conditions) ? (status.conditions as { type?: string; status?: string }[]) : [];
      return conditions.some((c) => c.type === "Established" && c.status === "True") ? undefined : "not Established yet";
    }
    case "Namespace":
      return status.phase === undefined || status.phase === "Active" ? undefined : `phase ${String(status.phase)}`;
    case "Service": {
      if (spec.type !== "LoadBalancer") return undefined;
      const lb = isRecord(status.loadBalancer) ? status.loadBalancer : {};
      const ingress = Array.isArray(lb.ingress) ? lb.ingress : [];
      return ingress.length > 0 ? undefined : "no status.loadBalancer.ingress yet (no EXTERNAL-IP)";
    }
    case "Deployment": {
      const want = typeof spec.replicas === "number" ? spec.replicas : 1;
      if (observed < generation) return "the controller has not observed the new generation yet";
      if (num(status.updatedReplicas) < want) return `${num(status.updatedReplicas)} of ${want} replicas updated`;
      if (num(status.availableReplicas) < want) return `${num(status.availableReplicas)} of ${want} replicas available`;
      return undefined;
    }
    case "DaemonSet": {
      if (observed < generation) return "the controller has not observed the new generation yet";
      const want = num(status.desiredNumberScheduled);
      if (num(status.updatedNumberScheduled) < want) return `${num(status.updatedNumberScheduled)} of ${want} pods updated`;
      if (num(status.numberAvailable) < want) return `${num(status.numberAvailable)} of ${want} pods available`;
      return undefined;
    }
    default:
      return undefined;
  }
}

async function awaitReady(client: ObjectClient, manifest: ManifestObject, applied: ManifestObject, policy: AwaitPolicy, timing: Timing): Promise<ManifestObject> {
  const deadline = Date.now() + policy.seconds * 1000;
  let live: ManifestObject | undefined = applied;
  for (;;) {
    const why: string | undefined = live === undefined ? "the object disappeared" : notReady(live);
    if (why === undefined && live !== undefined) return live;
    if (Date.now() > deadline) {
      throw new Error(
        `${describe(manifest)} was applied but is not ready after ${policy.seconds} s: ${why}. ` +
          `It stays in the cluster; the next \`pulumi up\` applies it again. ` +
          `Set the annotation pulumi.com/timeoutSeconds to wait longer, or pulumi.com/skipAwait: "true" not to wait.`,
      );
    }
    await sleep(timing.pollMs);
    live = await client.get(refOf(manifest));
  }
}

/** Right after a CRD becomes Established, discovery can lag for a moment: retry "not found in discovery" briefly. */
async function retryDiscovery<T>(fn: () => Promise<T>, timing: Timing): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const text = errorText(err);
      const discovery = /Unrecognized API version and kind|resource .* not found|could not find the requested resource|no matches for kind/i.test(text);
      if (!discovery || Date.now() > deadline) throw err;
      await sleep(Math.max(timing.pollMs, 200));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the real client

/** A client over `KubernetesObjectApi` (server-side apply with `application/apply-patch+yaml`). */
export async function connectToCluster(cluster: ClusterConfig): Promise<ObjectClient> {
  const k8s = await import("@kubernetes/client-node");
  const api = k8s.KubernetesObjectApi.makeApiClient(await loadKubeConfig(cluster));
  const header = (ref: ObjectRef) => ({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } });
  return {
    async apply(manifest, fieldManager, force) {
      const body = structuredClone(manifest) as KubernetesObject;
      return (await api.patch(body, undefined, undefined, fieldManager, force, k8s.PatchStrategy.ServerSideApply)) as ManifestObject;
    },
    async get(ref) {
      try {
        return (await api.read(header(ref))) as ManifestObject;
      } catch (err) {
        if (statusCode(err) === 404) return undefined;
        throw err;
      }
    },
    async remove(ref) {
      try {
        await api.delete(header(ref), undefined, undefined, undefined, undefined, "Background");
        return true;
      } catch (err) {
        if (statusCode(err) === 404) return false;
        throw err;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// helpers

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? code : undefined;
}

function describe(manifest: ManifestObject): string {
  const ns = manifest.metadata?.namespace;
  return `${manifest.kind} ${ns ? `${ns}/` : ""}${manifest.metadata?.name}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const body = (err as { body?: unknown }).body;
    if (body) {
      const parsed = typeof body === "string" ? tryJson(body) : body;
      const message = isRecord(parsed) && typeof parsed.message === "string" ? parsed.message : typeof body === "string" ? body : JSON.stringify(body);
      return message;
    }
    return err.message;
  }
  return String(err);
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
