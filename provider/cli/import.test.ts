import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";
import { addressPoolCrd, l2AdvertisementCrd } from "../core/model/crds.ts";
import type { JsonSchema } from "../core/model/crds.ts";
import { convertManifests, identifierFor, importCommand, renderPulumi } from "./import.ts";
import type { PlanIo } from "./plan.ts";
import { memoryIo } from "./testing.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const example = (f: string): string => join(root, "examples/plan", f);


function seeds(...names: string[]): PlanIo {
  return memoryIo(Object.fromEntries(names.map((n) => [n, readFileSync(example(n), "utf8")])));
}

function documents(yamlText: string): Record<string, unknown>[] {
  return parseAllDocuments(yamlText).map((d) => d.toJS() as Record<string, unknown>);
}

/** The structural checks the API server applies with these schemas: types, required, enums, bounds, and no unknown fields (CEL rules are test/control's). */
function schemaViolations(value: unknown, schema: JsonSchema, path: string): string[] {
  const out: string[] = [];
  const type = Array.isArray(value) ? "array" : value === null ? "null" : typeof value === "number" ? (Number.isInteger(value) ? "integer" : "number") : typeof value;
  if (schema.type !== undefined && type !== schema.type && !(schema.type === "number" && type === "integer")) return [`${path}: ${type} instead of ${schema.type}`];
  if (schema.enum && !schema.enum.includes(value as string)) out.push(`${path}: ${String(value)} not in ${schema.enum.join(",")}`);
  if (schema.minLength !== undefined && (value as string).length < schema.minLength) out.push(`${path}: shorter than ${schema.minLength}`);
  if (schema.maxLength !== undefined && (value as string).length > schema.maxLength) out.push(`${path}: longer than ${schema.maxLength}`);
  if (schema.minimum !== undefined && (value as number) < schema.minimum) out.push(`${path}: below ${schema.minimum}`);
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) out.push(`${path}: more than ${schema.maxItems} items`);
    value.forEach((item, i) => out.push(...(schema.items ? schemaViolations(item, schema.items, `${path}[${i}]`) : [])));
  } else if (type === "object" && !schema["x-kubernetes-preserve-unknown-fields"]) {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) out.push(`${path}.${key}: missing`);
    for (const [key, v] of Object.entries(object)) {
      const sub = schema.properties?.[key] ?? schema.additionalProperties;
      if (sub === undefined) out.push(`${path}.${key}: not in the schema`);
      else out.push(...schemaViolations(v, sub, `${path}.${key}`));
    }
  }
  return out;
}

/** Checks an imported object against l2lb's CRDs (spec) and the object envelope. */
function assertValidL2lbObject(doc: Record<string, unknown>): void {
  assert.equal(doc.apiVersion, "l2lb.dev/v1alpha1");
  const crd = doc.kind === "AddressPool" ? addressPoolCrd : doc.kind === "L2Advertisement" ? l2AdvertisementCrd : undefined;
  assert.ok(crd, `unexpected kind ${String(doc.kind)}`);
  assert.deepEqual(Object.keys(doc).sort(), ["apiVersion", "kind", "metadata", "spec"]);
  const metadata = doc.metadata as Record<string, unknown>;
  assert.ok(typeof metadata.name === "string" && metadata.name !== "");
  assert.equal(metadata.namespace, undefined, "l2lb's kinds are cluster-scoped");
  const specSchema = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!;
  assert.deepEqual(schemaViolations(doc.spec, specSchema, "spec"), []);
}

describe("l2lb import on the seeds' examples", () => {
  it("metallb-basic.yaml: the pool and its advertisement, as l2lb objects", () => {
    const r = importCommand(["-f", "metallb-basic.yaml"], seeds("metallb-basic.yaml"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.equal(
      r.stdout,
      [
        '# from IPAddressPool "first-pool" in metallb-basic.yaml (document 1)',
        "apiVersion: l2lb.dev/v1alpha1",
        "kind: AddressPool",
        "metadata:",
        "  name: first-pool",
        "spec:",
        "  addresses:",
        "    - 192.168.28.210-192.168.28.220",
        "---",
        '# from L2Advertisement "example" in metallb-basic.yaml (document 2)',
        "apiVersion: l2lb.dev/v1alpha1",
        "kind: L2Advertisement",
        "metadata:",
        "  name: example",
        "spec:",
        "  ipAddressPools:",
        "    - first-pool",
        "",
      ].join("\n"),
    );
  });

  it("openelb-eip.yaml: the default Eip auto-assigns; its interface becomes an advertisement", () => {
    const r = importCommand(["-f", "openelb-eip.yaml"], seeds("openelb-eip.yaml"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.deepEqual(documents(r.stdout), [
      { apiVersion: "l2lb.dev/v1alpha1", kind: "AddressPool", metadata: { name: "eip-sample-pool" }, spec: { addresses: ["192.168.0.91-192.168.0.100"], autoAssign: true } },
      { apiVersion: "l2lb.dev/v1alpha1", kind: "L2Advertisement", metadata: { name: "eip-eip-sample-pool" }, spec: { ipAddressPools: ["eip-sample-pool"], interfaces: ["eth0"] } },
    ]);
  });

  it("a directory with both MetalLB examples: the identical pool and advertisement are imported once", () => {
    const r = importCommand(["-f", "plan"], memoryIo({ "plan/metallb-basic.yaml": readFileSync(example("metallb-basic.yaml"), "utf8"), "plan/metallb-shared-ip.yaml": readFileSync(example("metallb-shared-ip.yaml"), "utf8") }));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(documents(r.stdout).map((d) => `${String(d.kind)}/${String((d.metadata as { name: string }).name)}`), ["AddressPool/first-pool", "L2Advertisement/example"]);
  });

  it("the README's example is what the command prints", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const blocks = [...readme.matchAll(/```console\n\$ (l2lb import [^\n]+)\n([\s\S]*?)```/g)];
    assert.ok(blocks.length >= 1, "the README shows l2lb import and its output");
    for (const [, command, output] of blocks) {
      const r = spawnSync(process.execPath, [join(root, "provider/cli/main.ts"), ...command!.split(/\s+/).slice(1)], { cwd: root, encoding: "utf8" });
      assert.equal(r.stdout + r.stderr, output, `output of: ${command}`);
    }
  });

  it("the real command reads files and directories like l2lb plan", () => {
    const r = spawnSync(process.execPath, [join(root, "provider/cli/main.ts"), "import", "-f", example("openelb-eip.yaml"), "-o", "pulumi"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /new l2lb\.AddressPool\("eip-sample-pool", \{/);
  });
});

const LEGACY_CONFIG = `
apiVersion: v1
kind: ConfigMap
metadata:
  namespace: metallb-system
  name: config
data:
  config: |
    peers:
    - peer-address: 10.0.0.1
      peer-asn: 64501
      my-asn: 64500
    address-pools:
    - name: default
      protocol: layer2
      addresses:
      - 192.168.1.240-192.168.1.250
      avoid-buggy-ips: true
    - name: bgp-pool
      protocol: bgp
      addresses:
      - 198.51.100.0/24
      bgp-advertisements:
      - aggregation-length: 32
`;

const METALLB_MIXED = `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: gold, namespace: metallb-system, labels: {tier: gold}}
spec:
  addresses: [192.0.2.0/28, "2001:db8::/124"]
  autoAssign: false
  serviceAllocation:
    priority: 10
    namespaces: [prod]
    serviceSelectors: [{matchExpressions: [{key: app, operator: In, values: [web]}]}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp-only, namespace: metallb-system}
spec:
  addresses: [203.0.113.0/28]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: gold-l2, namespace: metallb-system}
spec:
  ipAddressPoolSelectors: [{matchLabels: {tier: gold}}]
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node-a}}]
  interfaces: [eth0]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec:
  ipAddressPools: [bgp-only]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 10.0.0.1}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: future, namespace: metallb-system}
spec:
  ipAddressPools: [gold]
  someFutureField: true
---
apiVersion: l2lb.dev/v1alpha1
kind: AddressPool
metadata: {name: native}
spec: {addresses: [192.0.2.200/32]}
---
apiVersion: v1
kind: Service
metadata: {name: web, annotations: {metallb.io/address-pool: gold}}
spec: {type: LoadBalancer, ports: [{port: 80}]}
`;

const OPENELB_BGP = `
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata: {name: bgp-eip}
spec:
  address: 172.22.0.2-172.22.0.10
  usingKnownIPs: true
---
apiVersion: network.kubesphere.io/v1alpha2
kind: BgpConf
metadata: {name: default}
spec: {as: 50000, listenPort: 17900, routerId: 172.22.0.10}
`;

describe("convertManifests: what is carried over and what is not", () => {
  it("MetalLB's pre-0.13 ConfigMap: layer-2 pools get an advertisement; BGP pools, peers and bgp-advertisements are listed", () => {
    const c = convertManifests([{ source: "config.yaml", text: LEGACY_CONFIG }]);
    assert.deepEqual(c.problems, []);
    assert.deepEqual(
      c.pools.map((p) => p.object),
      [
        { name: "default", spec: { addresses: ["192.168.1.240-192.168.1.250"], avoidBuggyIPs: true } },
        { name: "bgp-pool", spec: { addresses: ["198.51.100.0/24"] } },
      ],
    );
    assert.deepEqual(c.advertisements.map((a) => a.object), [{ name: "metallb-default", spec: { ipAddressPools: ["default"] } }]);
    assert.deepEqual(c.untranslated, [
      'ConfigMap "metallb-system/config" in config.yaml: data.config.peers has no l2lb equivalent and was not carried over.',
      'address pool "bgp-pool" of ConfigMap "metallb-system/config" in config.yaml: address-pools[].bgp-advertisements has no l2lb equivalent and was not carried over.',
      'address pool "bgp-pool" of ConfigMap "metallb-system/config" in config.yaml is announced with protocol bgp, and l2lb announces only with layer 2 (ARP/NDP): its AddressPool gets no L2Advertisement, so l2lb would assign its addresses without announcing them; add an L2Advertisement if they lie on the nodes\' subnets, or leave the pool out.',
    ]);
  });

  it("MetalLB CRDs: selectors and serviceAllocation carried over; BGP objects, unknown fields, BGP-only pools and l2lb's own objects listed", () => {
    const c = convertManifests([{ source: "metallb.yaml", text: METALLB_MIXED }]);
    assert.deepEqual(c.problems, []);
    assert.deepEqual(
      c.pools.map((p) => p.object),
      [
        {
          name: "gold",
          labels: { tier: "gold" },
          spec: {
            addresses: ["192.0.2.0/28", "2001:db8::/124"],
            autoAssign: false,
            serviceAllocation: { priority: 10, namespaces: ["prod"], serviceSelectors: [{ matchExpressions: [{ key: "app", operator: "In", values: ["web"] }] }] },
          },
        },
        { name: "bgp-only", spec: { addresses: ["203.0.113.0/28"] } },
      ],
    );
    assert.deepEqual(
      c.advertisements.map((a) => a.object),
      [
        { name: "gold-l2", spec: { ipAddressPoolSelectors: [{ matchLabels: { tier: "gold" } }], nodeSelectors: [{ matchLabels: { "kubernetes.io/hostname": "node-a" } }], interfaces: ["eth0"] } },
        { name: "future", spec: { ipAddressPools: ["gold"] } },
      ],
    );
    assert.deepEqual(c.untranslated, [
      'BGPAdvertisement "bgp" in metallb.yaml (document 4): l2lb announces with layer 2 (ARP/NDP) only; MetalLB\'s BGPAdvertisement has no equivalent and was not carried over.',
      'BGPPeer "router" in metallb.yaml (document 5): l2lb announces with layer 2 (ARP/NDP) only; MetalLB\'s BGPPeer has no equivalent and was not carried over.',
      'L2Advertisement "future" in metallb.yaml (document 6): spec.someFutureField has no l2lb equivalent and was not carried over.',
      'AddressPool "native" in metallb.yaml (document 7) is already an l2lb object; it was left out of the output (apply it as it is).',
      'AddressPool "bgp-only" (from IPAddressPool "bgp-only" in metallb.yaml (document 2)) is selected by no L2Advertisement in the input (MetalLB announced it with BGP, or with an advertisement not given to l2lb import), so l2lb would assign its addresses without announcing them; import its L2Advertisement too, add one, or leave the pool out.',
    ]);
  });

  it("OpenELB: a BGP Eip (no protocol) and BgpConf are listed; unknown Eip fields too", () => {
    const c = convertManifests([{ source: "openelb.yaml", text: OPENELB_BGP }]);
    assert.deepEqual(c.problems, []);
    assert.deepEqual(c.pools.map((p) => p.object), [{ name: "bgp-eip", spec: { addresses: ["172.22.0.2-172.22.0.10"], autoAssign: false } }]);
    assert.deepEqual(c.advertisements, []);
    assert.deepEqual(c.untranslated, [
      'Eip "bgp-eip" in openelb.yaml (document 1): spec.usingKnownIPs has no l2lb equivalent and was not carried over.',
      'Eip "bgp-eip" in openelb.yaml (document 1) is announced with bgp (OpenELB\'s default: it sets no protocol), and l2lb announces only with layer 2 (ARP/NDP): its AddressPool gets no L2Advertisement, so l2lb would assign its addresses without announcing them; add an L2Advertisement if they lie on the nodes\' subnets, or leave the pool out.',
      'BgpConf "default" in openelb.yaml (document 2): l2lb announces with layer 2 (ARP/NDP) only; OpenELB\'s BgpConf has no equivalent and was not carried over.',
    ]);
  });

  it("a disabled Eip keeps only the Services that ask for it, and says so", () => {
    const c = convertManifests([{ source: "eip.yaml", text: "apiVersion: network.kubesphere.io/v1alpha2\nkind: Eip\nmetadata: {name: off}\nspec: {address: 192.0.2.8/29, protocol: layer2, interface: eth0, disable: true}\n" }]);
    assert.deepEqual(c.pools.map((p) => p.object), [{ name: "off", spec: { addresses: ["192.0.2.8/29"], autoAssign: false } }]);
    assert.deepEqual(c.untranslated, [
      'Eip "off" in eip.yaml is disabled in OpenELB; its AddressPool gets autoAssign: false, so l2lb still gives its addresses to Services that request the pool or one of them — leave the pool out to stop that.',
    ]);
  });

  it("kubectl's List output is read item by item", () => {
    const list = {
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "p", namespace: "metallb-system", uid: "x" }, spec: { addresses: ["192.0.2.0/29"] }, status: { assignedIPv4: 1 } },
        { apiVersion: "metallb.io/v1beta1", kind: "L2Advertisement", metadata: { name: "a", namespace: "metallb-system" }, spec: {} },
      ],
    };
    const c = convertManifests([{ source: "cluster.json", text: JSON.stringify(list) }]);
    assert.deepEqual(c.problems, []);
    assert.deepEqual(c.untranslated, []);
    assert.deepEqual(c.pools.map((p) => [p.object, p.from]), [[{ name: "p", spec: { addresses: ["192.0.2.0/29"] } }, 'IPAddressPool "p" in cluster.json item 1']]);
    assert.deepEqual(c.advertisements.map((a) => a.object), [{ name: "a", spec: {} }]);
  });

  const invalid: { name: string; text: string; problem: RegExp }[] = [
    { name: "an address l2lb cannot read", text: "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [192.0.2.300/32]}\n", problem: /^IPAddressPool "p" in in\.yaml: address 1 of the pool: / },
    { name: "a pool without addresses", text: "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {}\n", problem: /^IPAddressPool "p" in in\.yaml lists no addresses; give it at least one address, CIDR or first-last range\.$/ },
    { name: "an unnamed pool", text: "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nspec: {addresses: [192.0.2.1]}\n", problem: /has no metadata\.name; give it a name\./ },
    { name: "YAML that does not parse", text: "kind: [\n", problem: /^in\.yaml is not valid YAML/ },
    {
      name: "two different pools of one name (two MetalLB namespaces)",
      text: "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: a}\nspec: {addresses: [192.0.2.1]}\n---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: b}\nspec: {addresses: [192.0.2.2]}\n",
      problem: /^AddressPool "p" would come from IPAddressPool "p" in in\.yaml \(document 1\) and IPAddressPool "p" in in\.yaml \(document 2\), which differ; .* rename all but one/,
    },
  ];
  for (const c of invalid) {
    it(`invalid input: ${c.name} (exit 1, nothing printed)`, () => {
      const r = importCommand(["-f", "in.yaml"], memoryIo({ "in.yaml": c.text }));
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      const problems = r.stderr.split("\n").filter((l) => l.startsWith("  - ")).map((l) => l.slice(4));
      assert.ok(problems.some((p) => c.problem.test(p)), r.stderr);
    });
  }
});

describe("the YAML output is exactly l2lb's CRD schema", () => {
  const inputs = {
    "metallb-basic.yaml": readFileSync(example("metallb-basic.yaml"), "utf8"),
    "openelb-eip.yaml": readFileSync(example("openelb-eip.yaml"), "utf8"),
    "config.yaml": LEGACY_CONFIG,
    "metallb.yaml": METALLB_MIXED.replace("metadata: {name: gold,", "metadata: {annotations: {l2lb.dev/allow-first-last-ips: 'true'}, name: gold,"),
    "openelb.yaml": OPENELB_BGP,
  };
  for (const file of Object.keys(inputs)) {
    it(file, () => {
      const r = importCommand(["-f", file], memoryIo(inputs));
      assert.equal(r.code, 0, r.stderr);
      const docs = documents(r.stdout);
      assert.ok(docs.length > 0);
      for (const doc of docs) assertValidL2lbObject(doc);
    });
  }
});

describe("l2lb import (the command)", () => {
  it("stderr lists what was not carried over, one warning per line; stdout stays valid YAML", () => {
    const r = importCommand(["-f", "-"], memoryIo({}, OPENELB_BGP));
    assert.equal(r.code, 0);
    assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("warning: ")).length, 3);
    assert.equal(documents(r.stdout).length, 1);
  });

  it("nothing to import: exit 1 with the fix", () => {
    const r = importCommand(["-f", "svc.yaml"], memoryIo({ "svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: LoadBalancer}\n" }));
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "l2lb import: svc.yaml holds no MetalLB or OpenELB pool or advertisement; point -f at the manifests that define them.\n");
  });

  it("usage errors exit 2; --help exits 0; a missing file exits 1", () => {
    assert.equal(importCommand([], memoryIo({})).code, 2);
    const bad = importCommand(["-f", "x", "-o", "json"], memoryIo({}));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /output format "json" is not supported; use -o yaml or -o pulumi\./);
    assert.equal(importCommand(["--help"], memoryIo({})).code, 0);
    const missing = importCommand(["-f", "absent.yaml"], memoryIo({}));
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "l2lb import: absent.yaml does not exist; pass an existing file or directory to -f.\n");
  });
});

describe("identifierFor", () => {
  const cases: [string, string, string[], string][] = [
    ["first-pool", "Pool", [], "firstPool"],
    ["default", "Pool", [], "defaultPool"],
    ["10-net", "Pool", [], "pool10Net"],
    ["example", "Advertisement", ["example"], "exampleAdvertisement"],
    ["example", "Advertisement", ["example", "exampleAdvertisement"], "exampleAdvertisement2"],
    ["installation", "Pool", [], "installationPool"],
    ["eip.sample_pool", "Pool", [], "eipSamplePool"],
  ];
  for (const [name, suffix, taken, want] of cases) {
    it(`${name} (taken: ${taken.join(", ") || "none"}) → ${want}`, () => assert.equal(identifierFor(name, suffix, new Set(taken)), want));
  }
});

describe("the Pulumi output creates the same objects as the YAML output", () => {
  it("under Pulumi mocks, importedPools() registers exactly the YAML's AddressPools and L2Advertisements", async () => {
    const pulumi = await import("@pulumi/pulumi");
    const registered: { type: string; inputs: Record<string, unknown> }[] = [];
    await pulumi.runtime.setMocks(
      {
        newResource: async (args) => {
          registered.push({ type: args.type, inputs: args.inputs });
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "l2lb-import",
      "unit",
      false,
    );
    const sources = [
      { source: "metallb.yaml", text: METALLB_MIXED },
      { source: "config.yaml", text: LEGACY_CONFIG },
      { source: "openelb-eip.yaml", text: readFileSync(example("openelb-eip.yaml"), "utf8") },
    ];
    const conversion = convertManifests(sources);
    const program = renderPulumi(conversion).replace('from "l2lb"', `from ${JSON.stringify(pathToFileURL(join(root, "provider/index.ts")).href)}`);
    const file = join(mkdtempSync(join(tmpdir(), "l2lb-import-")), "pools.ts");
    writeFileSync(file, program);
    const module = (await import(pathToFileURL(file).href)) as { importedPools: () => { pools: { resource: { urn: unknown } }[]; advertisements: { resource: { urn: unknown } }[] } };
    const made = module.importedPools();
    await Promise.all([...made.pools, ...made.advertisements].map((c) => new Promise((resolve) => pulumi.output(c.resource.urn as string).apply(resolve))));

    const objects = (kind: string) =>
      registered
        .filter((r) => r.type === `kubernetes:l2lb.dev/v1alpha1:${kind}`)
        .map((r) => {
          const metadata = r.inputs.metadata as { name: string; labels?: Record<string, string> };
          const labels = metadata.labels && Object.keys(metadata.labels).length > 0 ? { labels: metadata.labels } : {};
          return { apiVersion: r.inputs.apiVersion, kind: r.inputs.kind, metadata: { name: metadata.name, ...labels }, spec: r.inputs.spec };
        });
    const yamlDocs = documents(importCommand(["-f", "-"], memoryIo({}, sources.map((s) => s.text).join("\n---\n"))).stdout);
    // Pulumi registers asynchronously, so compare in one order: by kind and name.
    const byKindAndName = (d: Record<string, unknown>): string => `${String(d.kind)}/${(d.metadata as { name: string }).name}`;
    const sorted = (docs: Record<string, unknown>[]) => [...docs].sort((a, b) => byKindAndName(a).localeCompare(byKindAndName(b)));
    assert.deepEqual(sorted([...objects("AddressPool"), ...objects("L2Advertisement")]), sorted(yamlDocs));
    assert.equal(made.pools.length, 5);
    assert.equal(made.advertisements.length, 4);
  });
});
