/**
 * `l2lb import`: MetalLB and OpenELB pool manifests → the equivalent l2lb `AddressPool` and
 * `L2Advertisement` objects, as YAML to apply or as a Pulumi program. The objects are read by the
 * same reader as `l2lb plan` (`provider/core/manifests`); {@link convertManifests} is pure, the command
 * only adds files and output.
 *
 * What has no l2lb equivalent (BGP objects, fields l2lb lacks, pools no advertisement announces)
 * is listed as one sentence per object, naming it, on stderr.
 */
import { parseAllDocuments, stringify } from "yaml";
import { parseArgs } from "node:util";
import { IpError, parseRange } from "../core/ip/index.ts";
import { readManifests } from "../core/manifests/index.ts";
import type { ManifestSource } from "../core/manifests/index.ts";
import { API_GROUP_VERSION, KINDS } from "../core/model/contract.ts";
import type { AddressPool, AddressPoolSpec, L2Advertisement, L2AdvertisementSpec } from "../core/model/pool.ts";
import { matchesSelector } from "../core/model/selectors.ts";
import type { CommandResult, PlanIo } from "./plan.ts";

/** A translated object and the object it came from, e.g. `IPAddressPool "first-pool" in pools.yaml (document 1)`. */
export interface Imported<T> {
  object: T;
  from: string;
}

export interface Conversion {
  pools: Imported<AddressPool>[];
  advertisements: Imported<L2Advertisement>[];
  /** What was not carried over: one sentence per object or field, naming it. */
  untranslated: string[];
  /** Why the input is invalid (unreadable YAML, unnamed objects, bad addresses, duplicate names). */
  problems: string[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function text(v: unknown): string {
  return typeof v === "string" ? v : "";
}

// ---------------------------------------------------------------------------------------------
// Reading documents.

interface Located {
  value: Obj;
  where: string;
}

/** Every object of every source (List items included), with where it was written. */
function objectsOf(sources: readonly ManifestSource[], problems: string[]): Located[] {
  const out: Located[] = [];
  for (const { source, text: content } of sources) {
    const docs = parseAllDocuments(content, { prettyErrors: false });
    const list = Array.isArray(docs) ? docs : [docs];
    list.forEach((doc, i) => {
      const where = list.length > 1 ? `${source} (document ${i + 1})` : source;
      if (doc.errors.length > 0) {
        const line = doc.errors[0]!.linePos?.[0]?.line;
        problems.push(`${where} is not valid YAML${line ? ` (line ${line})` : ""}: ${doc.errors[0]!.message.split("\n")[0]}; fix the syntax.`);
        return;
      }
      collect(doc.toJS(), where, out);
    });
  }
  return out;
}

function collect(value: unknown, where: string, out: Located[]): void {
  if (!isObj(value)) return;
  if (text(value.kind).endsWith("List") && Array.isArray(value.items)) {
    value.items.forEach((item, i) => collect(item, `${where} item ${i + 1}`, out));
    return;
  }
  out.push({ value, where });
}

// ---------------------------------------------------------------------------------------------
// What each source kind may say, and what l2lb can carry over.

const METALLB_POOL_FIELDS = ["addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"];
/** MetalLB's deprecated `AddressPool` kind also has `protocol`, handled below. */
const METALLB_LEGACY_POOL_FIELDS = [...METALLB_POOL_FIELDS, "protocol"];
const SERVICE_ALLOCATION_FIELDS = ["priority", "namespaces", "namespaceSelectors", "serviceSelectors"];
const METALLB_ADVERTISEMENT_FIELDS = ["ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors", "interfaces"];
const OPENELB_EIP_FIELDS = ["address", "protocol", "interface", "disable"];
const LEGACY_CONFIG_FIELDS = ["address-pools"];
const LEGACY_CONFIG_POOL_FIELDS = ["name", "protocol", "addresses", "auto-assign", "avoid-buggy-ips"];
const BGP_KINDS = new Set(["BGPPeer", "BGPAdvertisement", "BFDProfile", "Community", "BgpConf", "BgpPeer"]);

/** Sentences for the fields of `spec` (at `path`) outside `known`. */
function unknownFields(label: string, spec: unknown, path: string, known: readonly string[]): string[] {
  if (!isObj(spec)) return [];
  return Object.keys(spec)
    .filter((field) => !known.includes(field))
    .map((field) => `${label}: ${path}.${field} has no l2lb equivalent and was not carried over.`);
}

function bgpOnly(label: string, kind: string): string {
  return `${label}: l2lb announces with layer 2 (ARP/NDP) only; ${kind} has no equivalent and was not carried over.`;
}

/** The pools and advertisements `readManifests` makes of one object, marked with their origin. */
function translate(value: Obj, where: string, label: string, c: Conversion): { pools: AddressPool[]; advertisements: L2Advertisement[] } {
  const set = readManifests([{ source: where, text: JSON.stringify(value) }]);
  c.problems.push(...set.problems.map((p) => p.message));
  c.pools.push(...set.pools.map((object) => ({ object, from: label })));
  c.advertisements.push(...set.advertisements.map((object) => ({ object, from: label })));
  return { pools: set.pools, advertisements: set.advertisements };
}

/** MetalLB before 0.13 announced every layer-2 pool without an advertisement: one is made per pool. */
function legacyAdvertisement(pool: string, from: string, c: Conversion): void {
  c.advertisements.push({ object: { name: `metallb-${pool}`, spec: { ipAddressPools: [pool] } }, from });
}

function convertMetalLB(value: Obj, kind: string, where: string, label: string, c: Conversion, notLayer2: Set<string>): void {
  const spec = value.spec;
  if (kind === "IPAddressPool" || kind === "AddressPool") {
    c.untranslated.push(...unknownFields(label, spec, "spec", kind === "AddressPool" ? METALLB_LEGACY_POOL_FIELDS : METALLB_POOL_FIELDS));
    if (isObj(spec)) c.untranslated.push(...unknownFields(label, spec.serviceAllocation, "spec.serviceAllocation", SERVICE_ALLOCATION_FIELDS));
    const { pools } = translate(value, where, label, c);
    if (kind !== "AddressPool") return;
    const protocol = isObj(spec) ? text(spec.protocol) : "";
    for (const pool of pools) {
      if (protocol === "layer2") legacyAdvertisement(pool.name, label, c);
      else {
        notLayer2.add(pool.name);
        c.untranslated.push(notLayer2Sentence(label, `protocol ${protocol || "(none)"}`));
      }
    }
  } else if (kind === "L2Advertisement") {
    c.untranslated.push(...unknownFields(label, spec, "spec", METALLB_ADVERTISEMENT_FIELDS));
    translate(value, where, label, c);
  } else if (BGP_KINDS.has(kind)) {
    c.untranslated.push(bgpOnly(label, `MetalLB's ${kind}`));
  } else {
    c.untranslated.push(`${label}: MetalLB's ${kind} has no l2lb equivalent and was not carried over.`);
  }
}

function notLayer2Sentence(label: string, how: string): string {
  return (
    `${label} is announced with ${how}, and l2lb announces only with layer 2 (ARP/NDP): its AddressPool gets no L2Advertisement, ` +
    `so l2lb would assign its addresses without announcing them; add an L2Advertisement if they lie on the nodes' subnets, or leave the pool out.`
  );
}

function convertOpenELB(value: Obj, kind: string, where: string, label: string, c: Conversion, notLayer2: Set<string>): void {
  if (BGP_KINDS.has(kind)) {
    c.untranslated.push(bgpOnly(label, `OpenELB's ${kind}`));
    return;
  }
  if (kind !== "Eip") {
    c.untranslated.push(`${label}: OpenELB's ${kind} has no l2lb equivalent and was not carried over.`);
    return;
  }
  const spec = isObj(value.spec) ? value.spec : {};
  c.untranslated.push(...unknownFields(label, spec, "spec", OPENELB_EIP_FIELDS));
  const { pools, advertisements } = translate(value, where, label, c);
  if (spec.disable === true || text(spec.disable).toLowerCase() === "true") {
    c.untranslated.push(`${label} is disabled in OpenELB; its AddressPool gets autoAssign: false, so l2lb still gives its addresses to Services that request the pool or one of them — leave the pool out to stop that.`);
  }
  const protocol = text(spec.protocol);
  if (protocol === "layer2") return;
  const how = protocol === "" ? "bgp (OpenELB's default: it sets no protocol)" : `protocol ${protocol}`;
  if (advertisements.length > 0) {
    c.untranslated.push(`${label} is announced with ${how} in OpenELB; l2lb announces it with layer 2 (ARP/NDP) on interface ${text(spec.interface)} instead.`);
    return;
  }
  for (const pool of pools) {
    notLayer2.add(pool.name);
    c.untranslated.push(notLayer2Sentence(label, how));
  }
}

/** MetalLB < 0.13: ConfigMap `metallb-system/config`, `data.config` holding `address-pools`. */
function convertLegacyConfig(value: Obj, where: string, c: Conversion, notLayer2: Set<string>): void {
  const label = `ConfigMap "metallb-system/config" in ${where}`;
  const { pools } = translate(value, where, label, c);
  const data = isObj(value.data) ? value.data : {};
  const config: unknown = typeof data.config === "string" ? parseAllDocuments(data.config)[0]?.toJS() : undefined;
  if (!isObj(config)) return;
  c.untranslated.push(...unknownFields(label, config, "data.config", LEGACY_CONFIG_FIELDS));
  const entries = Array.isArray(config["address-pools"]) ? config["address-pools"].filter(isObj) : [];
  for (const pool of pools) {
    const entry = entries.find((e) => e.name === pool.name) ?? {};
    const poolLabel = `address pool "${pool.name}" of ${label}`;
    c.untranslated.push(...unknownFields(poolLabel, entry, "address-pools[]", LEGACY_CONFIG_POOL_FIELDS));
    const protocol = text(entry.protocol);
    if (protocol === "layer2") legacyAdvertisement(pool.name, label, c);
    else {
      notLayer2.add(pool.name);
      c.untranslated.push(notLayer2Sentence(poolLabel, `protocol ${protocol || "(none)"}`));
    }
  }
}

function convertObject({ value, where }: Located, c: Conversion, notLayer2: Set<string>): void {
  const apiVersion = text(value.apiVersion);
  const kind = text(value.kind);
  const meta = isObj(value.metadata) ? value.metadata : {};
  const label = `${kind} "${text(meta.name)}" in ${where}`;
  if (apiVersion.startsWith("metallb.io/")) convertMetalLB(value, kind, where, label, c, notLayer2);
  else if (apiVersion.startsWith("network.kubesphere.io/")) convertOpenELB(value, kind, where, label, c, notLayer2);
  else if (apiVersion === "v1" && kind === "ConfigMap" && meta.name === "config" && meta.namespace === "metallb-system") convertLegacyConfig(value, where, c, notLayer2);
  else if (apiVersion === API_GROUP_VERSION) c.untranslated.push(`${label} is already an l2lb object; it was left out of the output (apply it as it is).`);
  // Everything else (Services, Deployments, ...) is not a pool: l2lb reads Services as they are.
}

// ---------------------------------------------------------------------------------------------
// Checks over the translated whole.

function addressProblems(pools: readonly Imported<AddressPool>[]): string[] {
  const out: string[] = [];
  for (const { object: pool, from } of pools) {
    const addresses: unknown = pool.spec.addresses;
    if (!Array.isArray(addresses) || addresses.length === 0) {
      out.push(`${from} lists no addresses; give it at least one address, CIDR or first-last range.`);
      continue;
    }
    addresses.forEach((entry: unknown, i) => {
      try {
        parseRange(String(entry));
      } catch (err) {
        if (!(err instanceof IpError)) throw err;
        out.push(`${from}: address ${i + 1} of the pool: ${err.message}`);
      }
    });
  }
  return out;
}

/** Keeps the first of several identical definitions (the same pool in two files is one pool). */
function withoutRepeats<T extends { name: string }>(items: readonly Imported<T>[]): Imported<T>[] {
  const kept: Imported<T>[] = [];
  for (const item of items) {
    const same = JSON.stringify(item.object);
    if (!kept.some((k) => JSON.stringify(k.object) === same)) kept.push(item);
  }
  return kept;
}

function duplicateNames<T extends { name: string }>(kind: string, items: readonly Imported<T>[]): string[] {
  const seen = new Map<string, string[]>();
  for (const { object, from } of items) seen.set(object.name, [...(seen.get(object.name) ?? []), from]);
  return [...seen]
    .filter(([, froms]) => froms.length > 1)
    .map(
      ([name, froms]) =>
        `${kind} "${name}" would come from ${froms.join(" and ")}, which differ; l2lb's ${kind}s are cluster-wide, so rename all but one (or import only the namespace MetalLB reads).`,
    );
}

function selectsPool(advertisement: L2AdvertisementSpec, pool: AddressPool): boolean {
  const names = advertisement.ipAddressPools ?? [];
  const selectors = advertisement.ipAddressPoolSelectors ?? [];
  if (names.length === 0 && selectors.length === 0) return true;
  return names.includes(pool.name) || selectors.some((s) => matchesSelector(s, pool.labels));
}

/** Pools no translated advertisement announces (those already explained as not layer 2 aside). */
function unannouncedPools(c: Conversion, notLayer2: ReadonlySet<string>): string[] {
  return c.pools
    .filter(({ object: pool }) => !notLayer2.has(pool.name) && !c.advertisements.some(({ object: a }) => selectsPool(a.spec, pool)))
    .map(
      ({ object: pool, from }) =>
        `AddressPool "${pool.name}" (from ${from}) is selected by no L2Advertisement in the input (MetalLB announced it with BGP, or with an advertisement not given to l2lb import), ` +
        `so l2lb would assign its addresses without announcing them; import its L2Advertisement too, add one, or leave the pool out.`,
    );
}

/** Translates every MetalLB and OpenELB pool and advertisement of `sources`. Pure. */
export function convertManifests(sources: readonly ManifestSource[]): Conversion {
  const c: Conversion = { pools: [], advertisements: [], untranslated: [], problems: [] };
  const notLayer2 = new Set<string>();
  for (const located of objectsOf(sources, c.problems)) convertObject(located, c, notLayer2);
  c.pools = withoutRepeats(c.pools);
  c.advertisements = withoutRepeats(c.advertisements);
  c.problems.push(...addressProblems(c.pools), ...duplicateNames("AddressPool", c.pools), ...duplicateNames("L2Advertisement", c.advertisements));
  c.untranslated.push(...unannouncedPools(c, notLayer2));
  return c;
}

// ---------------------------------------------------------------------------------------------
// Output: the objects as the CRDs define them (provider/core/model/crds.ts).

/** The spec with exactly the CRD's fields, in the CRD's order. */
export function addressPoolSpec(spec: AddressPoolSpec): AddressPoolSpec {
  const out: AddressPoolSpec = { addresses: [...spec.addresses] };
  if (spec.autoAssign !== undefined) out.autoAssign = spec.autoAssign;
  if (spec.avoidBuggyIPs !== undefined) out.avoidBuggyIPs = spec.avoidBuggyIPs;
  if (spec.allowFirstLastIPs !== undefined) out.allowFirstLastIPs = spec.allowFirstLastIPs;
  if (spec.serviceAllocation !== undefined) {
    const { priority, namespaces, namespaceSelectors, serviceSelectors } = spec.serviceAllocation;
    out.serviceAllocation = {
      ...(priority !== undefined ? { priority } : {}),
      ...(namespaces !== undefined ? { namespaces } : {}),
      ...(namespaceSelectors !== undefined ? { namespaceSelectors } : {}),
      ...(serviceSelectors !== undefined ? { serviceSelectors } : {}),
    };
  }
  return out;
}

export function l2AdvertisementSpec(spec: L2AdvertisementSpec): L2AdvertisementSpec {
  const out: L2AdvertisementSpec = {};
  if (spec.ipAddressPools?.length) out.ipAddressPools = [...spec.ipAddressPools];
  if (spec.ipAddressPoolSelectors?.length) out.ipAddressPoolSelectors = spec.ipAddressPoolSelectors;
  if (spec.nodeSelectors?.length) out.nodeSelectors = spec.nodeSelectors;
  if (spec.interfaces?.length) out.interfaces = [...spec.interfaces];
  if (spec.gratuitous !== undefined) out.gratuitous = spec.gratuitous;
  return out;
}

/** An `AddressPool` object (cluster-scoped, so no namespace). */
export function addressPoolObject(pool: AddressPool): Obj {
  const labels = pool.labels && Object.keys(pool.labels).length > 0 ? { labels: pool.labels } : {};
  return { apiVersion: API_GROUP_VERSION, kind: KINDS.addressPool.kind, metadata: { name: pool.name, ...labels }, spec: addressPoolSpec(pool.spec) };
}

export function l2AdvertisementObject(advertisement: L2Advertisement): Obj {
  return { apiVersion: API_GROUP_VERSION, kind: KINDS.l2Advertisement.kind, metadata: { name: advertisement.name }, spec: l2AdvertisementSpec(advertisement.spec) };
}

function yamlDocument(object: Obj, from: string): string {
  return `# from ${from}\n${stringify(object)}`;
}

/** Multi-document YAML: the pools, then the advertisements. */
export function renderYaml(c: Conversion): string {
  const docs = [
    ...c.pools.map(({ object, from }) => yamlDocument(addressPoolObject(object), from)),
    ...c.advertisements.map(({ object, from }) => yamlDocument(l2AdvertisementObject(object), from)),
  ];
  return docs.join("---\n");
}

// Pulumi program.

const RESERVED = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends false finally for function if import in " +
    "instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package " +
    "private protected public await async of undefined l2lb installation importedPools"
  ).split(" "),
);

/** A camelCase identifier for an object name, unique among `taken` (which it joins). */
export function identifierFor(name: string, suffix: string, taken: Set<string>): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter((w) => w !== "");
  let base = words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase())).join("") || suffix.toLowerCase();
  if (/^[0-9]/.test(base)) base = `${suffix.toLowerCase()}${base}`;
  let candidate = RESERVED.has(base) || taken.has(base) ? `${base}${suffix}` : base;
  for (let n = 2; RESERVED.has(candidate) || taken.has(candidate); n++) candidate = `${base}${suffix}${n}`;
  taken.add(candidate);
  return candidate;
}

/** A TypeScript literal for plain data (JSON values), keys unquoted where they are identifiers. */
function literal(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(literal).join(", ")}]`;
  if (isObj(value)) {
    const entries = Object.entries(value).map(([k, v]) => `${/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k)}: ${literal(v)}`);
    return entries.length === 0 ? "{}" : `{ ${entries.join(", ")} }`;
  }
  return JSON.stringify(value);
}

function argsBlock(entries: [string, string][]): string {
  return `{\n${entries.map(([k, v]) => (k === v ? `    ${k},\n` : `    ${k}: ${v},\n`)).join("")}  }`;
}

function poolStatement(pool: AddressPool, variable: string, from: string): string {
  const spec = addressPoolSpec(pool.spec);
  const entries: [string, string][] = Object.entries(spec).map(([k, v]) => [k, literal(v)]);
  if (pool.labels && Object.keys(pool.labels).length > 0) entries.push(["labels", literal(pool.labels)]);
  entries.push(["installation", "installation"]);
  return `  // from ${from}\n  const ${variable} = new l2lb.AddressPool(${JSON.stringify(pool.name)}, ${argsBlock(entries)});\n`;
}

function advertisementStatement(advertisement: L2Advertisement, variable: string, from: string, poolVariables: ReadonlyMap<string, string>): string {
  const spec = l2AdvertisementSpec(advertisement.spec);
  const entries: [string, string][] = [];
  if (spec.ipAddressPools) entries.push(["pools", `[${spec.ipAddressPools.map((p) => poolVariables.get(p) ?? JSON.stringify(p)).join(", ")}]`]);
  if (spec.ipAddressPoolSelectors) entries.push(["poolSelectors", literal(spec.ipAddressPoolSelectors)]);
  if (spec.nodeSelectors) entries.push(["nodeSelectors", literal(spec.nodeSelectors)]);
  if (spec.interfaces) entries.push(["interfaces", literal(spec.interfaces)]);
  if (spec.gratuitous) entries.push(["gratuitous", literal(spec.gratuitous)]);
  entries.push(["installation", "installation"]);
  return `  // from ${from}\n  const ${variable} = new l2lb.L2Advertisement(${JSON.stringify(advertisement.name)}, ${argsBlock(entries)});\n`;
}

/**
 * A TypeScript module for a Pulumi program: `importedPools(installation)` creates the pools and
 * advertisements and returns them, ready for `Allocation`'s `pools` and `advertisements`.
 */
export function renderPulumi(c: Conversion): string {
  const taken = new Set<string>();
  const poolVariables = new Map<string, string>();
  const statements: string[] = [];
  for (const { object, from } of c.pools) {
    const variable = identifierFor(object.name, "Pool", taken);
    poolVariables.set(object.name, variable);
    statements.push(poolStatement(object, variable, from));
  }
  const advertisementVariables: string[] = [];
  for (const { object, from } of c.advertisements) {
    const variable = identifierFor(object.name, "Advertisement", taken);
    advertisementVariables.push(variable);
    statements.push(advertisementStatement(object, variable, from, poolVariables));
  }
  return [
    "// The l2lb pools and advertisements equivalent to the MetalLB / OpenELB objects they were imported from (`l2lb import -o pulumi`).",
    'import * as l2lb from "l2lb";',
    "",
    "/** Creates the imported pools and advertisements; pass the program's `l2lb.Installation` so their CRDs exist first. */",
    "export function importedPools(installation?: l2lb.Installation): { pools: l2lb.AddressPool[]; advertisements: l2lb.L2Advertisement[] } {",
    statements.join("\n"),
    `  return { pools: [${[...poolVariables.values()].join(", ")}], advertisements: [${advertisementVariables.join(", ")}] };`,
    "}",
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// The command.

export const IMPORT_USAGE = `Usage: l2lb import -f <file|dir|-> [-f ...] [-o yaml|pulumi]

Translates MetalLB (metallb.io IPAddressPool, L2Advertisement, the deprecated AddressPool kind
and the pre-0.13 metallb-system/config ConfigMap) and OpenELB (network.kubesphere.io Eip) objects
into l2lb AddressPools and L2Advertisements. Whatever has no l2lb equivalent (BGP objects,
fields l2lb lacks, pools no advertisement announces) is listed on stderr, naming the object.

  -f, --filename  YAML/JSON file, directory (read recursively) or - for stdin; repeatable
                  (e.g. the output of: kubectl get ipaddresspools.metallb.io,l2advertisements.metallb.io -A -o yaml)
  -o, --output    yaml (default): l2lb.dev/v1alpha1 objects to apply;
                  pulumi: a TypeScript module for a Pulumi program (new l2lb.AddressPool(...), ...)

Exit status: 0 when something was translated (stderr lists what was not carried over), 1 when the
input is invalid or holds no MetalLB or OpenELB pool, 2 on a usage error.`;

function usageError(message: string): CommandResult {
  return { code: 2, stdout: "", stderr: `l2lb import: ${message}\n\n${IMPORT_USAGE}\n` };
}

function readSources(filenames: readonly string[], io: PlanIo): ManifestSource[] {
  const sources: ManifestSource[] = [];
  for (const f of filenames) {
    if (f === "-") sources.push({ source: "<stdin>", text: io.readStdin() });
    else for (const path of io.expand(f)) sources.push({ source: path, text: io.readFile(path) });
  }
  return sources;
}

/** Runs `l2lb import` with its arguments (after the word `import`). */
export function importCommand(args: readonly string[], io: PlanIo): CommandResult {
  let values: { filename?: string[]; output?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: { filename: { type: "string", short: "f", multiple: true }, output: { type: "string", short: "o" }, help: { type: "boolean", short: "h" } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help) return { code: 0, stdout: `${IMPORT_USAGE}\n`, stderr: "" };
  const output = values.output ?? "yaml";
  if (output !== "yaml" && output !== "pulumi") return usageError(`output format "${output}" is not supported; use -o yaml or -o pulumi.`);
  if (!values.filename || values.filename.length === 0) return usageError("no manifests given; pass -f <file|dir|->.");

  let sources: ManifestSource[];
  try {
    sources = readSources(values.filename, io);
  } catch (e) {
    return { code: 1, stdout: "", stderr: `l2lb import: ${(e as Error).message}\n` };
  }
  const c = convertManifests(sources);
  const warnings = c.untranslated.map((w) => `warning: ${w}\n`).join("");
  if (c.problems.length > 0) {
    return { code: 1, stdout: "", stderr: `${warnings}l2lb import: the manifests are invalid:\n${c.problems.map((p) => `  - ${p}`).join("\n")}\n` };
  }
  if (c.pools.length === 0 && c.advertisements.length === 0) {
    const names = values.filename.map((f) => (f === "-" ? "stdin" : f)).join(", ");
    return { code: 1, stdout: "", stderr: `${warnings}l2lb import: ${names} holds no MetalLB or OpenELB pool or advertisement; point -f at the manifests that define them.\n` };
  }
  return { code: 0, stdout: output === "yaml" ? renderYaml(c) : renderPulumi(c), stderr: warnings };
}
