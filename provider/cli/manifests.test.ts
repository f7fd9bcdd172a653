// `l2lb manifests`: the Installation's objects as YAML (the same objects the Pulumi component
// registers), its flags and their errors, and the checked-in examples/plain-yaml/l2lb.yaml.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { parseAllDocuments } from "yaml";
import type * as components from "../components/index.ts";
import { manifestsCommand } from "./manifests.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const CHECKED_IN = "examples/plain-yaml/l2lb.yaml";
const REGENERATE = `node provider/cli/main.ts manifests > ${CHECKED_IN}`;
const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

type Obj = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } };

function documents(text: string): Obj[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Obj);
}

function render(...args: string[]): Obj[] {
  const r = manifestsCommand(args);
  assert.equal(r.code, 0, r.stderr);
  return documents(r.stdout);
}

function usageError(...args: string[]): string {
  const r = manifestsCommand(args);
  assert.equal(r.code, 2, `${args.join(" ")} must be a usage error`);
  assert.equal(r.stdout, "");
  return r.stderr;
}

function daemonSetContainer(objects: Obj[]): { image: string; args: string[]; env: { name: string; value?: string }[]; volumeMounts: { name: string }[] } {
  const ds = objects.find((o) => o.kind === "DaemonSet") as unknown as { spec: { template: { spec: { containers: ReturnType<typeof daemonSetContainer>[] } } } };
  return ds.spec.template.spec.containers[0]!;
}

describe("l2lb manifests", () => {
  it(`prints exactly ${CHECKED_IN} without flags (regenerate it with: ${REGENERATE})`, () => {
    const r = manifestsCommand([]);
    const checkedIn = readFileSync(join(root, CHECKED_IN), "utf8");
    assert.ok(r.stdout === checkedIn, `${CHECKED_IN} is stale: the installation's objects changed. Regenerate it: ${REGENERATE}`);
  });

  it("prints the namespace, the CRDs, RBAC, ServiceAccount and DaemonSet, in the order kubectl must apply them", () => {
    const kinds = render().map((o) => `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(kinds, [
      "Namespace/l2lb-system",
      "CustomResourceDefinition/addresspools.l2lb.dev",
      "CustomResourceDefinition/l2advertisements.l2lb.dev",
      "ServiceAccount/l2lb-speaker",
      "ClusterRole/l2lb-speaker",
      "ClusterRoleBinding/l2lb-speaker",
      "Role/l2lb-speaker",
      "RoleBinding/l2lb-speaker",
      "FlowSchema/l2lb-speaker-leases",
      "DaemonSet/l2lb-speaker",
    ]);
    assert.equal(daemonSetContainer(render()).image, `ghcr.io/l2lb/speaker:${version}`);
  });

  it("the flags reach the objects: image, namespace, default class, heartbeat key", () => {
    const objects = render("--image", "registry.example.com:5000/l2lb/speaker:dev", "--namespace", "lb", "--default-class", "--heartbeat-key", "k3y");
    const c = daemonSetContainer(objects);
    assert.equal(c.image, "registry.example.com:5000/l2lb/speaker:dev");
    assert.deepEqual(c.args, ["--metrics-port", "7472", "--default-class"]);
    assert.equal(objects[0]?.metadata.name, "lb");
    for (const o of objects.filter((x) => !["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "FlowSchema"].includes(x.kind))) assert.equal(o.metadata.namespace, "lb", o.kind);
    const flow = objects.find((o) => o.kind === "FlowSchema") as unknown as { spec: { rules: { subjects: unknown[]; resourceRules: { namespaces: string[]; verbs: string[] }[] }[] } };
    assert.deepEqual(flow.spec.rules[0]?.resourceRules[0]?.verbs, ["get", "create", "update", "patch", "delete"], "lists and watches of member records stay out of the leader-election level");
    assert.deepEqual(flow.spec.rules[0]?.subjects, [{ kind: "ServiceAccount", serviceAccount: { name: "l2lb-speaker", namespace: "lb" } }]);
    assert.deepEqual(flow.spec.rules[0]?.resourceRules[0]?.namespaces, ["lb"]);
    for (const binding of objects.filter((o) => o.kind.endsWith("Binding"))) assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "l2lb-speaker", namespace: "lb" }]);
    const secret = objects.find((o) => o.kind === "Secret");
    assert.deepEqual(secret?.stringData, { key: "k3y" });
    assert.ok(c.env.some((e) => e.name === "L2LB_HEARTBEAT_KEY_FILE"));
    assert.ok(c.volumeMounts.some((m) => m.name === "heartbeat-key"));
    assert.doesNotMatch(manifestsCommand(["--heartbeat-key", "k3y"]).stdout.split("\n").slice(0, 3).join("\n"), /k3y/, "the header names the flag, never the key");
  });

  it("refuses bad flags with one sentence naming the flag and the fix", () => {
    assert.match(usageError("--image"), /--image needs a value; pass the speaker image you pushed, e\.g\. --image registry/);
    assert.match(usageError("--image", "Registry/Speaker"), /--image "Registry\/Speaker" is not an image reference; pass/);
    assert.match(usageError("--namespace", "L2LB"), /--namespace "L2LB" is not a valid namespace name; pass a namespace name of lowercase letters/);
    assert.match(usageError("--namespace", "--default-class"), /--namespace needs a value/);
    assert.match(usageError("--heartbeat-key", ""), /--heartbeat-key needs a value; pass a secret of your own/);
    assert.match(usageError("--heartbeat-key", " key "), /--heartbeat-key starts or ends with whitespace/);
    assert.match(usageError("--default-class=true"), /--default-class takes no value \(it is a switch\); write --default-class alone\./);
    assert.match(usageError("--imagee", "x"), /there is no option --imagee; the options are --image, --namespace, --default-class and --heartbeat-key\./);
    assert.match(usageError("--image", "a:1", "--image", "b:2"), /--image is given twice; give it once\./);
    assert.match(usageError("speaker:dev"), /"speaker:dev" is not an option; every value follows its flag/);
  });

  it("is the l2lb command's `manifests` (help, exit status)", () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "provider/cli/main.ts"), "manifests", ...args], { encoding: "utf8" });
    const help = cli("--help");
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: l2lb manifests/);
    const bad = cli("--nope");
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /there is no option --nope/);
    assert.equal(cli("--image", "localhost/l2lb-speaker:dev").stdout, manifestsCommand(["--image", "localhost/l2lb-speaker:dev"]).stdout);
  });
});

describe("the same objects as the Pulumi Installation", () => {
  const registered: { type: string; name: string; inputs: Record<string, unknown> }[] = [];
  let l2lb: typeof components;

  before(async () => {
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          registered.push({ type: args.type, name: args.name, inputs: args.inputs });
          return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args) => args.inputs,
      },
      "l2lb-manifests",
      "unit",
      false,
    );
    l2lb = await import("../components/index.ts");
  });

  /** The component's objects as registered, in YAML form: without the label saying Pulumi manages them. */
  async function installed(name: string, args: components.InstallationArgs): Promise<Obj[]> {
    const install = new l2lb.Installation(name, args);
    await new Promise((resolve) => install.urn.apply(resolve));
    await new Promise((resolve) => pulumi.output(install.daemonSet.urn).apply(resolve));
    return registered
      .filter((r) => r.name.startsWith(`${name}-`) && r.type.startsWith("kubernetes:"))
      .map((r) => {
        const o = structuredClone(r.inputs) as Obj;
        delete o.metadata.labels?.["app.kubernetes.io/managed-by"];
        const template = (o.spec as { template?: { metadata: { labels: Record<string, string> } } } | undefined)?.template;
        delete template?.metadata.labels["app.kubernetes.io/managed-by"];
        return o;
      });
  }

  const key = (o: Obj): string => `${o.kind}/${o.metadata.name}`;
  const byKey = (objects: Obj[]): Obj[] => [...objects].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

  it("defaults", async () => {
    assert.deepEqual(byKey(await installed("defaults", {})), byKey(render()));
  });

  it("image, namespace and default class", async () => {
    const args = { image: "registry.example.com/l2lb/speaker:dev", namespace: "lb", defaultClass: true };
    assert.deepEqual(byKey(await installed("options", args)), byKey(render("--image", args.image, "--namespace", "lb", "--default-class")));
  });
});
