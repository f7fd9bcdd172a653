import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { ALLOCATION_MODULE, AllocationProvider } from "./provider.ts";
import { check, checkFailuresForEngine, UNKNOWN } from "./engine.ts";
import { startDynamicHost } from "../../test/pulumi/dynamic-host.ts";
import type { HostClient } from "../../test/pulumi/dynamic-host.ts";
import { node, startFakeApiServer } from "../../test/pulumi/fake-apiserver.ts";
import type { FakeApiServer } from "../../test/pulumi/fake-apiserver.ts";

const require = createRequire(import.meta.url);
const requireFromString = require("require-from-string") as (code: string) => { handler(): AllocationProvider };
const ENGINE_URL = new URL("./engine.ts", import.meta.url).href;
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const POOL = { name: "first-pool", spec: { addresses: ["192.168.28.210-192.168.28.220"] } };
const nginx = { namespace: "default", name: "nginx", ports: [{ port: 80, protocol: "TCP" }] };
const news = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  identity: "lb",
  pools: [POOL],
  services: [nginx],
  nodeSubnets: ["192.168.28.0/24"],
  ...extra,
});

/** The type token of the allocation's dynamic resource. */
const ALLOCATION_TYPE = "pulumi-nodejs:dynamic/l2lb:Allocation";

/**
 * The line the Pulumi engine prints for one check failure of the resource named `lb`, as
 * `issueCheckFailures` (pulumi/pkg/resource/deploy/step_generator.go, v3.274) formats it with
 * `diag.GetResourcePropertyInvalidValueError` / `GetResourceInvalidError`: with a property, the
 * value is looked up as a *top-level* input (`{<nil>}` when the property is a nested path).
 */
function engineDiagnostic(f: { property: string; reason: string }, inputs: Record<string, unknown>): string {
  if (f.property === "") return `${ALLOCATION_TYPE} resource 'lb' has a problem: ${f.reason}`;
  const value = f.property in inputs ? `{${JSON.stringify(inputs[f.property])}}` : "{<nil>}";
  return `${ALLOCATION_TYPE} resource 'lb': property ${f.property} value ${value} has a problem: ${f.reason}`;
}

/** What `pulumi.dynamic.Resource` stores in `__provider`. */
async function serialize(provider: AllocationProvider): Promise<string> {
  const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  return sf.text;
}

describe("serialization", () => {
  test("the serialized provider is small, captures no implementation and names the stable subpath", async () => {
    const text = await serialize(new AllocationProvider());
    assert.ok(text.length < 8000, `serialized provider is ${text.length} bytes`);
    assert.ok(text.includes(JSON.stringify(ALLOCATION_MODULE)), "default module specifier is stored");
    for (const word of ["planAllocation", "KubeConfig", "readNodesFromCluster", "node_modules"]) {
      assert.equal(text.includes(word), false, `serialized provider must not capture ${word}`);
    }
  });

  test("after a round trip, every method works", async () => {
    const revived = requireFromString(await serialize(new AllocationProvider(ENGINE_URL))).handler();
    assert.notEqual(revived.constructor, AllocationProvider, "a fresh class from the serialized text");
    await revived.configure!({ config: { get: (k: string) => (k === "kubernetes:context" ? "lab" : undefined), require: () => "" } } as never);
    assert.deepEqual(revived.cluster, { kubeconfig: undefined, context: "lab" });

    const checked = await revived.check!({}, news());
    assert.deepEqual(checked.failures, undefined);
    assert.deepEqual(checked.inputs.assignments, { "default/nginx": "192.168.28.210" });

    const created = await revived.create(checked.inputs);
    assert.equal(created.id, "l2lb-allocation-lb");
    assert.deepEqual(created.outs.assignments, { "default/nginx": "192.168.28.210" });

    const moved = await revived.check!(created.outs, news({ pools: [{ name: "first-pool", spec: { addresses: ["192.168.28.230/32"] } }] }));
    assert.deepEqual(moved.inputs.assignments, { "default/nginx": "192.168.28.230" });
    const d = await revived.diff!(created.id, created.outs, moved.inputs);
    assert.equal(d.changes, true);
    assert.deepEqual(d.replaces, []);

    const updated = await revived.update!(created.id, created.outs, moved.inputs);
    assert.deepEqual(updated.outs?.assignments, { "default/nginx": "192.168.28.230" });
    const refreshed = await revived.read!(created.id, updated.outs);
    assert.deepEqual(refreshed.props, updated.outs);
    await revived.delete!(created.id, updated.outs!);
  });

  test("package.json exports the implementation at the stable subpath, where the build puts engine.ts", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, { default: string; types: string }> };
    const entry = pkg.exports["./" + ALLOCATION_MODULE.slice("l2lb/".length)];
    assert.ok(entry, `package.json#exports lacks ${ALLOCATION_MODULE}`);
    assert.equal(entry.default, "./dist/provider/dynamic/engine.js");
    assert.equal(entry.types, "./dist/provider/dynamic/engine.d.ts");
  });
});

describe("through the dynamic-provider host (gRPC)", () => {
  let program: string;
  let host: HostClient;
  let api: FakeApiServer;
  let provider: string;

  before(async () => {
    // A program directory whose node_modules/l2lb resolves `l2lb/dynamic/allocation` through
    // package exports — the default specifier, exactly as a user's program resolves it.
    program = mkdtempSync(join(tmpdir(), "l2lb-host-"));
    const pkg = join(program, "pkg");
    mkdirSync(pkg);
    writeFileSync(
      join(pkg, "package.json"),
      JSON.stringify({ name: "l2lb", type: "module", exports: { "./dynamic/allocation": "./provider/dynamic/engine.ts" } }),
    );
    symlinkSync(join(ROOT, "provider"), join(pkg, "provider"));
    mkdirSync(join(program, "node_modules"));
    symlinkSync(pkg, join(program, "node_modules", "l2lb"));
    symlinkSync(join(ROOT, "node_modules", "@kubernetes"), join(program, "node_modules", "@kubernetes"));

    api = await startFakeApiServer([node("n1", "192.168.28.10", [{ interface: "eth0", cidr: "192.168.28.0/24", address: "192.168.28.10" }])]);
    provider = await serialize(new AllocationProvider());
    host = await startDynamicHost(program);
    await host.configure({ "kubernetes:kubeconfig": api.kubeconfig });
  });

  after(async () => {
    await host?.close();
    await api?.close();
    rmSync(program, { recursive: true, force: true });
  });

  test("check allocates with the stack's kubeconfig, reading the Nodes' published subnets", async () => {
    const r = await host.check({}, { ...news({ nodeSubnets: undefined }), __provider: provider });
    assert.deepEqual(r.failures, [], host.stderr());
    assert.deepEqual(r.inputs.assignments, { "default/nginx": "192.168.28.210" });
    assert.match(String(r.inputs.subnetSource), /^speakers: published by 1 of 1 nodes/);
    assert.equal(r.inputs.__provider, provider);
    assert.ok(api.requests.some((q) => q.startsWith("GET /api/v1/nodes")));
  });

  test("unknown inputs come back as unknown assignments", async () => {
    const r = await host.check({}, { ...news({ services: [{ ...nginx, ports: UNKNOWN }] }), __provider: provider });
    assert.deepEqual(r.failures, []);
    assert.equal(r.inputs.assignments, UNKNOWN);
    assert.equal(r.inputs.assignedPools, UNKNOWN);
  });

  test("failures reach the engine as sentences that start with the property path", async () => {
    api.setNodes([node("n1", "10.0.0.10", [{ interface: "eth0", cidr: "10.0.0.0/24", address: "10.0.0.10" }])]);
    try {
      const inputs = { ...news({ nodeSubnets: undefined }), __provider: provider };
      const r = await host.check({}, inputs);
      assert.ok(r.failures.length > 0);
      const lines = r.failures.map((f) => engineDiagnostic(f, inputs));
      assert.match(
        lines[0]!,
        /^pulumi-nodejs:dynamic\/l2lb:Allocation resource 'lb' has a problem: pools\["first-pool"\]\.spec\.addresses\[0\]: AddressPool "first-pool" .*lies outside every node subnet \(the node subnets are 10\.0\.0\.0\/24\).*\.$/,
      );
      for (const line of lines) assert.doesNotMatch(line, /<nil>|value \{/, line);
      // Every structured failure of the engine module is there, path and whole sentence.
      const structured = await check({}, inputs, { kubeconfig: api.kubeconfig });
      assert.deepEqual(lines, structured.failures!.map((f) => `${ALLOCATION_TYPE} resource 'lb' has a problem: ${f.property}: ${f.reason}`));
    } finally {
      api.setNodes([node("n1", "192.168.28.10", [{ interface: "eth0", cidr: "192.168.28.0/24", address: "192.168.28.10" }])]);
    }
  });

  test("create, diff, update, read and delete round-trip the state", async () => {
    const checked = await host.check({}, { ...news(), __provider: provider });
    const created = await host.create(checked.inputs);
    assert.equal(created.id, "l2lb-allocation-lb");
    assert.deepEqual(created.properties.assignments, { "default/nginx": "192.168.28.210" });
    assert.equal(created.properties.__provider, provider, "the host keeps the provider in the state");

    // A newer library serializes a different provider: no change by itself.
    const same = await host.check(created.properties, { ...news(), __provider: provider + "\n// newer release" });
    assert.deepEqual(await host.diff(created.id, created.properties, same.inputs), { changes: "none", replaces: [] });

    const web = { namespace: "default", name: "web", ports: [{ port: 80, protocol: "TCP" }] };
    const grown = await host.check(created.properties, { ...news({ services: [nginx, web] }), __provider: provider });
    assert.deepEqual(grown.inputs.assignments, { "default/nginx": "192.168.28.210", "default/web": "192.168.28.211" });
    assert.deepEqual(await host.diff(created.id, created.properties, grown.inputs), { changes: "some", replaces: [] });
    const updated = await host.update(created.id, created.properties, grown.inputs);
    assert.deepEqual(updated.assignments, grown.inputs.assignments);

    const refreshed = await host.read(created.id, updated);
    assert.equal(refreshed.id, created.id);
    assert.deepEqual(refreshed.properties.assignments, grown.inputs.assignments);
    await host.delete(created.id, refreshed.properties);

    const renamed = await host.check(updated, { ...news({ identity: "other" }), __provider: provider });
    assert.deepEqual((await host.diff(created.id, updated, renamed.inputs)).replaces, ["identity"]);
  });
});

describe("check failures for the engine", () => {
  test("move the property path into the sentence and leave the property empty", () => {
    assert.deepEqual(
      checkFailuresForEngine([
        { property: 'services["default/web"]', reason: 'Service "default/web" asks for 192.0.2.9, which no pool contains.' },
        { property: "", reason: "Already a sentence about the whole resource." },
      ]),
      [
        { property: "", reason: 'services["default/web"]: Service "default/web" asks for 192.0.2.9, which no pool contains.' },
        { property: "", reason: "Already a sentence about the whole resource." },
      ],
    );
  });
});
