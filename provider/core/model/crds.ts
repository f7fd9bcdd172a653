// CustomResourceDefinitions of l2lb's own kinds, as plain objects. Pure data: the Pulumi
// installation applies them, and the runtime's tests apply the very same objects.
// The openAPI schemas mirror `pool.ts`; keep the two in step.
import { API_GROUP, API_VERSION, KINDS } from "./contract.ts";

/** An openAPI v3 schema as the Kubernetes API spells it (JSON keys, not a client library's renames). */
export interface JsonSchema {
  type?: "object" | "array" | "string" | "integer" | "boolean" | "number";
  description?: string;
  required?: string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema;
  items?: JsonSchema;
  enum?: string[];
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  /** CEL rules the API server checks on every create and update (`self` is the value at this node). */
  "x-kubernetes-validations"?: ValidationRule[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  format?: string;
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
}

/** One CEL rule of `x-kubernetes-validations`: the API server refuses the object when `rule` is false. */
export interface ValidationRule {
  rule: string;
  /** The sentence shown when the rule fails (and when `messageExpression` cannot be evaluated). */
  message: string;
  /** CEL giving the sentence, naming the offending value and its fix. */
  messageExpression?: string;
}

/** A printer column of a CRD version. */
export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
}

/** An `apiextensions.k8s.io/v1` CustomResourceDefinition, ready to apply or render. */
export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    scope: "Cluster" | "Namespaced";
    names: { kind: string; plural: string; singular: string; listKind: string; shortNames: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JsonSchema };
    }[];
  };
}

// Apply-time checks: CEL rules (`x-kubernetes-validations`) make the API server refuse, at
// `kubectl apply`, an AddressPool entry or an L2Advertisement interface that `pulumi preview`
// refuses, with a sentence naming the entry and the fix. They mirror `parseRange` (provider/core/ip)
// and the components' checks for one object by itself; overlaps between entries or pools, node
// subnets and everything else that needs other objects stay with the allocator.
//
// How Kubernetes' CEL IP library lines up with provider/core/ip:
// - `isIP`/`ip()` and `isCIDR`/`cidr()` accept the texts parseAddress and parseCidr accept (strict
//   IPv4 octets, no zones, prefix lengths without leading zeros), except IPv4-mapped IPv6
//   addresses (::ffff:0:0/96), which they refuse and provider/core/ip accepts. Those are checked through
//   a stand-in text: the first "ffff" of the lower-cased text becomes "fffe". That maps
//   ::ffff:0:0/96 onto ::fffe:0:0/96, keeps the low 32 bits, and keeps an invalid text invalid.
// - An entry is trimmed as String.prototype.trim trims (an explicit character class: CEL's trim()
//   differs on U+0085 and U+FEFF); so is each end of a range.
// - CEL cannot compare addresses. x < y is decided with CIDRs: at the first bit l where they
//   differ, x has a 0, i.e. masking x to l+1 bits gives the same network as masking it to l bits;
//   l, the longest prefix x/l that contains y, is found by binary search (7 CIDRs). Exact for
//   IPv4 and IPv6.
// - CEL has no `let`: `[e].all(v, body)` evaluates body with v bound to e.
// The API server refuses a CRD whose rules' estimated cost, multiplied by how many values they may
// run on, is too high. So the arrays and strings the rules read are bounded (maxItems,
// maxLength), and the rules only build strings whose length the estimator can bound: no
// string(int) or string(cidr) (prefix lengths come from map literals), no lists of lists.

/** Characters String.prototype.trim removes (Unicode Z = Zs, Zl, Zp), as the body of an RE2 character class. */
const TRIM_SPACE = String.raw`\t\n\v\f\r\x{feff}\pZ`;
/** CEL: the string `x` trimmed like String.prototype.trim ("" when it is only spaces). */
const trim = (x: string): string => `${x}.find(r'(?s)[^${TRIM_SPACE}](?:.*[^${TRIM_SPACE}])?')`;
/** CEL: the text of `x` before its first `sep`, and after its last. */
const before = (x: string, sep: string): string => `${x}.find('^[^${sep}]*')`;
const after = (x: string, sep: string): string => `${x}.find('[^${sep}]*$')`;
/** CEL: `x` holds `sep` exactly once. */
const once = (x: string, sep: string): string => `${x}.matches('^[^${sep}]*${sep}[^${sep}]*$')`;
/** CEL: the stand-in of an IPv4-mapped IPv6 text (see above). */
const standIn = (x: string): string => `${x}.lowerAscii().replace('ffff', 'fffe', 1)`;
const STAND_IN_BLOCK = "cidr('::fffe:0:0/96')";
/** The addresses just below and just above ::ffff:0:0/96. */
const BELOW_MAPPED = "'::fffe:ffff:ffff'";
const ABOVE_MAPPED = "'::1:0:0:0'";
/** CEL map literal from each prefix length "0" .. "127" to the next one. */
const NEXT_PREFIX = `{${Array.from({ length: 128 }, (_, i) => `'${i}': '${i + 1}'`).join(", ")}}`;
/** CEL map literal, for a binary-search step `s` (64 .. 1), from each prefix length that is a multiple of 2s to that length + s. */
const stepFrom = (s: number): string => `{${Array.from({ length: 64 / s }, (_, k) => `'${2 * s * k}': '${2 * s * k + s}'`).join(", ")}}`;

/** CEL: `x` is an address parseAddress accepts. */
const isAddress = (x: string): string => `(isIP(${x}) || [${standIn(x)}].all(s, isIP(s) && ${STAND_IN_BLOCK}.containsIP(s)))`;
/** CEL: `x` is a CIDR parseCidr accepts, host bits aside. */
const isCidr = (x: string): string => `(isCIDR(${x}) || [${standIn(x)}].all(s, isCIDR(s) && ${STAND_IN_BLOCK}.containsIP(cidr(s).ip())))`;
/** CEL: the CIDR `x` (isCidr) has no host bits. An IPv4-mapped one shorter than /96 always has. */
const noHostBits = (x: string): string =>
  `(isCIDR(${x}) ? cidr(${x}) == cidr(${x}).masked() : [cidr(${standIn(x)})].all(s, s.prefixLength() >= 96 && s == s.masked()))`;
/** CEL: 4 or 6, the family of the address `x` (isAddress). */
const familyOf = (x: string): string => `(isIP(${x}) ? ip(${x}).family() : 6)`;
/**
 * CEL: `done(l)` with `l` bound to the length of the longest prefix `x` and `y` share (as text),
 * found by binary search over the steps 64, 32, .. 1 from prefix length `from`. `x` ≠ `y`.
 */
const sharedPrefix = (x: string, y: string, from: string, steps: readonly number[], done: (l: string) => string): string => {
  const [step, ...rest] = steps;
  if (step === undefined) return done(from);
  const [candidate, next] = [`k${step}`, `p${step}`];
  return (
    `[${stepFrom(step)}[${from}]].all(${candidate}, [int(${candidate}) <= bits && cidr(${x} + '/' + ${candidate}).containsIP(${y}) ? ${candidate} : ${from}].all(${next}, ` +
    `${sharedPrefix(x, y, next, rest, done)}))`
  );
};
/** CEL: x ≤ y, for addresses of one family that ip() accepts (see above). */
const ipLessOrEqual = (x: string, y: string): string =>
  `(ip(${x}) == ip(${y}) || [ip(${x}).family() == 4 ? 32 : 128].all(bits, ` +
  sharedPrefix(x, y, "'0'", [64, 32, 16, 8, 4, 2, 1], (l) => `cidr(${x} + '/' + ${NEXT_PREFIX}[${l}]).masked().ip() == cidr(${x} + '/' + ${l}).masked().ip()`) +
  `))`;
/**
 * CEL: a ≤ b, for addresses of one family (isAddress). An IPv4-mapped address is compared as its
 * stand-in with another one, and as the block ::ffff:0:0/96 with any other address.
 */
const addressLessOrEqual = (a: string, b: string): string =>
  `[isIP(${a}) ? ${a} : isIP(${b}) ? ${ABOVE_MAPPED} : ${standIn(a)}].all(x, ` +
  `[isIP(${b}) ? ${b} : isIP(${a}) ? ${BELOW_MAPPED} : ${standIn(b)}].all(y, ${ipLessOrEqual("x", "y")}))`;

/** CEL: `body` with `c` bound to the trimmed entry. */
const onEntry = (body: string): string => `[${trim("self")}].all(c, ${body})`;
/** CEL: `body` with `first` and `last` bound to the trimmed ends of the range `c` (one dash). */
const onEnds = (body: string): string => `[${trim(before("c", "-"))}].all(first, [${trim(after("c", "-"))}].all(last, ${body}))`;
/** CEL: `body` for a range of two ends; true for any other entry. */
const onRange = (body: string): string => `c.contains('/') || !${once("c", "-")} || ${onEnds(body)}`;
/** CEL: a message about the trimmed entry `c`. */
const aboutEntry = (message: string): string => `[${trim("self")}].map(c, ${message})[0]`;

/** Maximum entries of `spec.addresses`, and length of one entry. */
export const MAX_POOL_ENTRIES = 256;
export const MAX_POOL_ENTRY_LENGTH = 128;
/** Maximum entries of `spec.interfaces`, and length of one entry. */
export const MAX_INTERFACE_ENTRIES = 64;
export const MAX_INTERFACE_ENTRY_LENGTH = 64;
/** Maximum selectors in a list of a pool's `serviceAllocation`, and expressions in one selector. */
export const MAX_SELECTORS = 16;

/** Rules on one `spec.addresses` entry: what parseRange accepts, with its sentences. */
const poolEntryRules: ValidationRule[] = [
  {
    rule: onEntry(
      `c != '' && (c.contains('/') ? ${isCidr("c")} : c.contains('-') ? ${once("c", "-")} && ${onEnds(`${isAddress("first")} && ${isAddress("last")}`)} : ${isAddress("c")})`,
    ),
    message:
      "spec.addresses: each entry must be an IP address, a CIDR such as 192.0.2.0/24, or a range first-last of one family; fix or remove the entry.",
    messageExpression: aboutEntry(
      `c == '' ? 'spec.addresses has an empty entry; write an IP address, a CIDR or a first-last range, or remove the entry.'` +
        ` : c.contains('/') ? (!${once("c", "/")}` +
        ` ? 'spec.addresses entry "' + c + '" is not a CIDR; write an address, one slash and a prefix length, e.g. 192.0.2.0/24.'` +
        ` : !${isAddress(before("c", "/"))} ? 'spec.addresses entry "' + c + '" is not a CIDR: "' + ${before("c", "/")} + '" is not an IPv4 or IPv6 address; write e.g. 192.0.2.0/24.'` +
        ` : 'spec.addresses entry "' + c + '" has an invalid prefix length "' + ${after("c", "/")} + '"; write a whole number from 0 to 32 for IPv4, 0 to 128 for IPv6, without leading zeros.')` +
        ` : c.contains('-') ? (!${once("c", "-")}` +
        ` ? 'spec.addresses entry "' + c + '" is not a range; write exactly two addresses joined by one dash, e.g. 192.0.2.10-192.0.2.20.'` +
        ` : 'spec.addresses entry "' + c + '" is not a range: "' + (${isAddress(trim(before("c", "-")))} ? ${trim(after("c", "-"))} : ${trim(before("c", "-"))}) + '" is not an IPv4 or IPv6 address; write e.g. 192.0.2.10-192.0.2.20.')` +
        ` : 'spec.addresses entry "' + c + '" is neither an IP address, a CIDR nor a first-last range; write e.g. 192.0.2.5, 192.0.2.0/28 or 192.0.2.10-192.0.2.20.'`,
    ),
  },
  {
    rule: onEntry(`!c.contains('/') || !${isCidr("c")} || ${noHostBits("c")}`),
    message: "spec.addresses: a CIDR entry has host bits set; use the network address (every bit after the prefix length cleared: 192.0.2.0/24, not 192.0.2.7/24), or a first-last range.",
    messageExpression: aboutEntry(
      `'spec.addresses entry "' + c + '" has host bits set; use the network address (every bit after the prefix length cleared: 192.0.2.0/24, not 192.0.2.7/24), or a first-last range.'`,
    ),
  },
  {
    rule: onEntry(onRange(`!${isAddress("first")} || !${isAddress("last")} || ${familyOf("first")} == ${familyOf("last")}`)),
    message: "spec.addresses: a range mixes IPv4 and IPv6; a range needs both ends in one family, so split it into one range per family.",
    messageExpression: aboutEntry(
      `'spec.addresses entry "' + c + '" mixes IPv4 and IPv6; a range needs both ends in one family, so split it into one range per family.'`,
    ),
  },
  {
    rule: onEntry(
      onRange(`!${isAddress("first")} || !${isAddress("last")} || ${familyOf("first")} != ${familyOf("last")} || ${addressLessOrEqual("first", "last")}`),
    ),
    message: "spec.addresses: a range starts after it ends; write the lower address first (first-last).",
    messageExpression: aboutEntry(
      `'spec.addresses entry "' + c + '" starts after it ends; write it as ' + ${trim(after("c", "-"))} + '-' + ${trim(before("c", "-"))} + '.'`,
    ),
  },
];

/** Rules on one `spec.interfaces` entry: what the L2Advertisement component accepts, and `!<glob>` exclusions. */
const interfaceEntryRules: ValidationRule[] = [
  {
    rule: `!self.startsWith('can_reach:') || ${isAddress("self.substring(10)")}`,
    message: "spec.interfaces: a can_reach entry needs an IPv4 or IPv6 address, e.g. can_reach:192.168.28.1; fix or remove the entry.",
    messageExpression: `'spec.interfaces entry "' + self + '": can_reach needs an IPv4 or IPv6 address, e.g. can_reach:192.168.28.1; fix or remove the entry.'`,
  },
  {
    rule: String.raw`self.startsWith('can_reach:') || self.matches(r'^!?[A-Za-z0-9_.:@*?\[\]-]{1,15}$')`,
    message:
      "spec.interfaces: each entry must be an interface name or glob of at most 15 letters, digits or _ . : @ * ? [ ] - (e.g. eth0, eth*, or !docker* to exclude), or can_reach:<ip>; fix or remove the entry.",
    messageExpression:
      `'spec.interfaces entry "' + self + '" is not an interface name or glob; write at most 15 letters, digits or _ . : @ * ? [ ] - (e.g. eth0, eth*, or !docker* to exclude), or can_reach:<ip>.'`,
  },
];

const labelSelector: JsonSchema = {
  type: "object",
  description: "A Kubernetes label selector; an empty selector matches everything.",
  properties: {
    matchLabels: { type: "object", additionalProperties: { type: "string" } },
    matchExpressions: {
      type: "array",
      items: {
        type: "object",
        required: ["key", "operator"],
        properties: {
          key: { type: "string", minLength: 1 },
          operator: { type: "string", enum: ["In", "NotIn", "Exists", "DoesNotExist"] },
          values: { type: "array", items: { type: "string" } },
        },
      },
    },
  },
};

/**
 * The label selector of a pool's `serviceAllocation`, checked as the allocator checks it: In and
 * NotIn need values, Exists and DoesNotExist take none.
 */
const checkedLabelSelector: JsonSchema = {
  ...labelSelector,
  properties: {
    ...labelSelector.properties,
    matchExpressions: {
      type: "array",
      maxItems: MAX_SELECTORS,
      items: {
        type: "object",
        required: ["key", "operator"],
        properties: {
          key: { type: "string", minLength: 1, maxLength: 317 },
          operator: { type: "string", enum: ["In", "NotIn", "Exists", "DoesNotExist"] },
          values: { type: "array", items: { type: "string" } },
        },
        "x-kubernetes-validations": [
          {
            rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
            message: "spec.serviceAllocation: a matchExpressions entry with operator In or NotIn needs a non-empty list of values, and one with Exists or DoesNotExist takes none; fix the values or the operator.",
            messageExpression:
              "self.operator in ['In', 'NotIn'] ? 'spec.serviceAllocation: the matchExpressions entry for key \"' + self.key + '\" uses ' + self.operator + ' and needs a non-empty list of values; add them, or use Exists.' : 'spec.serviceAllocation: the matchExpressions entry for key \"' + self.key + '\" uses ' + self.operator + ', which takes no values; remove them.'",
          },
        ],
      },
    },
  },
};

const addressPoolSpec: JsonSchema = {
  type: "object",
  required: ["addresses"],
  properties: {
    addresses: {
      type: "array",
      minItems: 1,
      maxItems: MAX_POOL_ENTRIES,
      description: "Single IPs, CIDRs or first-last ranges; IPv4 and IPv6 may be mixed in one pool (not in one range).",
      items: { type: "string", minLength: 1, maxLength: MAX_POOL_ENTRY_LENGTH, "x-kubernetes-validations": poolEntryRules },
    },
    autoAssign: {
      type: "boolean",
      description: "When false, only Services that name this pool or request an address in it get one. Default true.",
    },
    avoidBuggyIPs: { type: "boolean", description: "Skip every IPv4 address ending in .0 or .255. Default false." },
    allowFirstLastIPs: {
      type: "boolean",
      description: "Hand out the first and last address of each CIDR too (skipped by default unless the prefix is /31, /32, /127 or /128).",
    },
    serviceAllocation: {
      type: "object",
      description: "Restricts the pool to some Services and orders it among pools.",
      properties: {
        priority: { type: "integer", minimum: 0, description: "Lower is tried first; 0 or unset = lowest precedence." },
        namespaces: { type: "array", items: { type: "string", minLength: 1 } },
        namespaceSelectors: { type: "array", maxItems: MAX_SELECTORS, items: checkedLabelSelector },
        serviceSelectors: { type: "array", maxItems: MAX_SELECTORS, items: checkedLabelSelector },
      },
    },
  },
};

const l2AdvertisementSpec: JsonSchema = {
  type: "object",
  properties: {
    ipAddressPools: {
      type: "array",
      description: "Pool names; empty with no selectors = every pool.",
      items: { type: "string", minLength: 1 },
    },
    ipAddressPoolSelectors: { type: "array", items: labelSelector },
    nodeSelectors: { type: "array", description: "Nodes allowed to announce; empty = every node.", items: labelSelector },
    interfaces: {
      type: "array",
      maxItems: MAX_INTERFACE_ENTRIES,
      description: "Interface names, glob patterns (eth*), !<glob> exclusions, or can_reach:<ip>. Empty = every eligible interface.",
      items: { type: "string", minLength: 1, maxLength: MAX_INTERFACE_ENTRY_LENGTH, "x-kubernetes-validations": interfaceEntryRules },
    },
    gratuitous: {
      type: "object",
      description: "Gratuitous ARP / unsolicited NA burst sent on takeover.",
      properties: {
        count: { type: "integer", minimum: 0, description: "Rounds in the burst. Default 5." },
        intervalMs: { type: "integer", minimum: 0, description: "Milliseconds between rounds. Default 1100." },
        refreshSeconds: { type: "integer", minimum: 0, description: "Seconds between periodic refreshes; 0 disables. Default 0." },
      },
    },
  },
};

/** Status is written by the runtime; its shape is the runtime's to evolve. */
const status: JsonSchema = { type: "object", "x-kubernetes-preserve-unknown-fields": true };

/**
 * `AddressPool` status as the speaker's status writer writes it (`runtime/control/status.ts`
 * `PoolUsage`). Explicit, so that nothing depends on `x-kubernetes-preserve-unknown-fields`
 * surviving the client that applies the CRD (without it every unknown field is pruned).
 */
const addressPoolStatus: JsonSchema = {
  type: "object",
  description: "Usage of the pool, written by the speakers.",
  properties: {
    addresses: { type: "string", description: "Number of addresses in the pool (decimal string: an IPv6 pool may exceed 2^53)." },
    assigned: { type: "integer", minimum: 0, description: "Addresses of the pool assigned to Services." },
    announced: { type: "integer", minimum: 0, description: "Of the assigned addresses, those a node announces." },
    services: { type: "integer", minimum: 0, description: "Services holding an address of the pool." },
    conditions: {
      type: "array",
      description: "`Usable`: True when the in-cluster allocator assigns from the pool; False (with reason and message) when the pool is set aside because it is invalid together with other objects.",
      items: {
        type: "object",
        required: ["type", "status"],
        properties: {
          type: { type: "string" },
          status: { type: "string", enum: ["True", "False", "Unknown"] },
          reason: { type: "string" },
          message: { type: "string" },
          lastTransitionTime: { type: "string", format: "date-time" },
        },
      },
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
    },
  },
};

function crd(
  names: { kind: string; plural: string; singular: string },
  spec: JsonSchema,
  columns: PrinterColumn[],
  shortNames: string[],
  statusSchema: JsonSchema = status,
): CustomResourceDefinition {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${names.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      scope: "Cluster",
      names: { kind: names.kind, plural: names.plural, singular: names.singular, listKind: `${names.kind}List`, shortNames, categories: ["l2lb"] },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [...columns, { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }],
          schema: { openAPIV3Schema: { type: "object", required: ["spec"], properties: { spec, status: statusSchema } } },
        },
      ],
    },
  };
}

/** CRD of `AddressPool` (cluster-scoped). */
export const addressPoolCrd: CustomResourceDefinition = crd(
  KINDS.addressPool,
  addressPoolSpec,
  [
    { name: "Addresses", type: "string", jsonPath: ".spec.addresses" },
    // Usage, from the status the speakers write (empty until a speaker runs).
    { name: "Total", type: "string", jsonPath: ".status.addresses" },
    { name: "Assigned", type: "integer", jsonPath: ".status.assigned" },
    { name: "Announced", type: "integer", jsonPath: ".status.announced" },
    { name: "Services", type: "integer", jsonPath: ".status.services", priority: 1 },
    { name: "Usable", type: "string", jsonPath: '.status.conditions[?(@.type=="Usable")].status' },
    { name: "Auto Assign", type: "boolean", jsonPath: ".spec.autoAssign" },
    { name: "Avoid Buggy IPs", type: "boolean", jsonPath: ".spec.avoidBuggyIPs", priority: 1 },
  ],
  ["l2pool"],
  addressPoolStatus,
);

/** CRD of `L2Advertisement` (cluster-scoped). */
export const l2AdvertisementCrd: CustomResourceDefinition = crd(
  KINDS.l2Advertisement,
  l2AdvertisementSpec,
  [
    { name: "Pools", type: "string", jsonPath: ".spec.ipAddressPools" },
    { name: "Interfaces", type: "string", jsonPath: ".spec.interfaces" },
    { name: "Node Selectors", type: "string", jsonPath: ".spec.nodeSelectors", priority: 1 },
  ],
  ["l2adv"],
);

/** Every CRD l2lb installs, in apply order. */
export const crds: readonly CustomResourceDefinition[] = [addressPoolCrd, l2AdvertisementCrd];

