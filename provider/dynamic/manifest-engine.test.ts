// The manifest writer (server-side apply) against a real kube-apiserver: the lab's control plane
// (test/lab/cluster.sh, no network namespaces needed). Pure parts (check, diff, readiness rules)
// run everywhere; the cluster parts skip, saying why, when the lab tools are not built.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import * as pulumi from "@pulumi/pulumi";
import { UNKNOWN } from "./engine.ts";
import * as engine from "./manifest-engine.ts";
import type { ManifestObject } from "./manifest-engine.ts";
import { MANIFEST_MODULE, ManifestProvider } from "./manifest-provider.ts";
import { crds } from "../core/model/crds.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ENGINE_URL = new URL("./manifest-engine.ts", import.meta.url).href;
const require = createRequire(import.meta.url);
const requireFromString = require("require-from-string") as (code: string) => { handler(): ManifestProvider };
const FAST = { pollMs: 100 };

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

const service = (name: string, extra: Partial<ManifestObject> = {}, annotations: Record<string, string> = { "pulumi.com/skipAwait": "true" }): ManifestObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default", annotations },
  spec: { type: "LoadBalancer", ports: [{ name: "http", port: 80 }], selector: { app: name } },
  ...extra,
});

describe("check and diff (no cluster)", () => {
  test("check names every malformed field and lets unknown values through", () => {
    const bad = engine.check({}, { manifest: { apiVersion: "", kind: 3, metadata: { name: "Not_A_Name", namespace: "x y" } }, mode: "copy", force: "yes" });
    assert.deepEqual(bad.failures?.map((f) => f.property), ["manifest.apiVersion", "manifest.kind", "manifest.metadata.name", "manifest.metadata.namespace", "mode", "force"]);
    assert.deepEqual(engine.check({}, { manifest: "text" }).failures?.map((f) => f.property), ["manifest"]);
    assert.equal(engine.check({}, { manifest: UNKNOWN }).failures, undefined);
    assert.equal(engine.check({}, { manifest: { apiVersion: "v1", kind: "Service", metadata: { name: UNKNOWN, namespace: "default" } } }).failures, undefined);
    assert.equal(engine.check({}, { manifest: service("web") }).failures, undefined);
  });

  test("diff ignores the serialized provider and the credentials, sees content, force and unknowns", () => {
    const olds = { __provider: "old code", kubeconfig: "a", manifest: service("web") };
    assert.deepEqual(engine.diff(olds, { __provider: "new code", kubeconfig: "b", manifest: service("web") }), { changes: false, replaces: [], deleteBeforeReplace: false });
    const ports = engine.diff(olds, { manifest: service("web", { spec: { type: "LoadBalancer", ports: [{ name: "http", port: 81 }] } }) });
    assert.deepEqual(ports, { changes: true, replaces: [], deleteBeforeReplace: false });
    assert.equal(engine.diff(olds, { manifest: service("web"), force: true }).changes, true);
    assert.deepEqual(engine.diff(olds, { manifest: UNKNOWN }), { changes: true, replaces: [], deleteBeforeReplace: false });
    const unknownName = engine.diff(olds, { manifest: { ...service("web"), metadata: { name: UNKNOWN, namespace: "default" } } });
    assert.deepEqual(unknownName.replaces, ["manifest.metadata.name"]);
  });

  test("diff replaces on a new identity; the same object is deleted before it is created again", () => {
    const olds = { manifest: service("web") };
    assert.deepEqual(engine.diff(olds, { manifest: service("web2") }), { changes: true, replaces: ["manifest.metadata.name"], deleteBeforeReplace: false });
    const moved = service("web");
    moved.metadata.namespace = "team";
    assert.deepEqual(engine.diff(olds, { manifest: moved }).replaces, ["manifest.metadata.namespace"]);
    const dep = (apiVersion: string): ManifestObject => ({ apiVersion, kind: "Deployment", metadata: { name: "x", namespace: "default" } });
    assert.deepEqual(engine.diff({ manifest: dep("apps/v1beta2") }, { manifest: dep("apps/v1") }), { changes: true, replaces: ["manifest.apiVersion"], deleteBeforeReplace: true });
    assert.deepEqual(engine.diff(olds, { manifest: service("web"), mode: "patch" }), { changes: true, replaces: ["mode"], deleteBeforeReplace: true });
  });

  test("readiness follows the Kubernetes provider's rules for the kinds l2lb writes", () => {
    const svc = service("web");
    assert.match(engine.notReady(svc) ?? "", /no status\.loadBalancer\.ingress/);
    assert.equal(engine.notReady({ ...svc, status: { loadBalancer: { ingress: [{ ip: "192.0.2.200" }] } } }), undefined);
    assert.equal(engine.notReady({ ...svc, spec: { type: "ClusterIP" } }), undefined);
    const ds = (status: Record<string, unknown>): ManifestObject => ({ apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "s", generation: 2 }, status });
    assert.match(engine.notReady(ds({ observedGeneration: 1 })) ?? "", /not observed/);
    assert.match(engine.notReady(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 })) ?? "", /2 of 3 pods available/);
    assert.equal(engine.notReady(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })), undefined);
    assert.match(engine.notReady({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "a.b" }, status: {} }) ?? "", /Established/);
    assert.equal(engine.awaitPolicy(service("web")), undefined);
    assert.deepEqual(engine.awaitPolicy(service("web", {}, { "pulumi.com/timeoutSeconds": "7" })), { seconds: 7 });
    assert.deepEqual(engine.awaitPolicy(service("web", {}, {})), { seconds: engine.DEFAULT_AWAIT_SECONDS });
  });
});

const missing = (await sh("bash", ["-c", `. "${ROOT}scripts/env.sh" && . "${ROOT}test/lab/tools.sh" && lab_tools_missing kubernetes etcd kwok`])).trim();
const skip = missing ? `lab tools not built (${missing.replace(/\n/g, ", ")}); run test/lab/build-tools.sh` : false;

describe("server-side apply against a real API server", { skip, timeout: 300_000 }, () => {
  let scratch = "";
  let labEnv: NodeJS.ProcessEnv = {};
  let cluster: { kubeconfig: string };
  let core: k8s.CoreV1Api;
  let objects: k8s.KubernetesObjectApi;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "l2lb-manifest-"));
    labEnv = { ...process.env, L2LB_LAB_DIR: join(scratch, "lab") };
    await sh("bash", [join(ROOT, "test/lab/cluster.sh"), "up", "node-a=192.0.2.11"], labEnv);
    cluster = { kubeconfig: join(scratch, "lab", "kubeconfig") };
    const kc = await engine.loadKubeConfig(cluster);
    core = kc.makeApiClient(k8s.CoreV1Api);
    objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  });

  after(async () => {
    if (!scratch) return;
    await sh("bash", [join(ROOT, "test/lab/cluster.sh"), "down"], labEnv).catch(() => {});
    rmSync(scratch, { recursive: true, force: true });
  });

  const live = (name: string) => core.readNamespacedService({ name, namespace: "default" });
  const managers = async (name: string) => ((await live(name)).metadata?.managedFields ?? []).map((m) => `${m.manager}:${m.operation}`).sort();

  test("create applies as field manager l2lb and returns the complete state", async () => {
    const { id, outs } = await engine.create({ manifest: service("web"), __provider: "code" }, cluster);
    assert.equal(id, "v1:Service:default/web");
    const svc = await live("web");
    assert.equal(outs.uid, svc.metadata?.uid);
    assert.equal(outs.stateVersion, engine.MANIFEST_STATE_VERSION);
    assert.equal(outs.__provider, undefined);
    assert.deepEqual(outs.manifest, service("web"));
    assert.deepEqual(await managers("web"), ["l2lb:Apply"]);
    assert.equal(svc.spec?.type, "LoadBalancer");
    // Applying the same manifest again changes nothing.
    const again = await engine.update(id, outs, { manifest: service("web") }, cluster);
    assert.equal(again.outs.uid, svc.metadata?.uid);
    assert.equal((await live("web")).metadata?.resourceVersion, svc.metadata?.resourceVersion);
  });

  test("update removes what the manifest no longer lists, keeps what others set", async () => {
    const withLabel = service("web", { metadata: { name: "web", namespace: "default", labels: { tier: "front" }, annotations: { "pulumi.com/skipAwait": "true" } } });
    await engine.update("", {}, { manifest: withLabel }, cluster);
    assert.equal((await live("web")).metadata?.labels?.tier, "front");
    await core.patchNamespacedService(
      { name: "web", namespace: "default", body: { metadata: { labels: { owner: "ops" } } }, fieldManager: "kubectl-label" },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    await engine.update("", {}, { manifest: service("web") }, cluster);
    const labels = (await live("web")).metadata?.labels ?? {};
    assert.equal(labels.tier, undefined, "our label is gone");
    assert.equal(labels.owner, "ops", "someone else's label stays");
  });

  test("a field another manager owns is a conflict naming it, unless force", async () => {
    await core.patchNamespacedService(
      { name: "web", namespace: "default", body: { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "default" }, spec: { ports: [{ port: 80, protocol: "TCP", targetPort: 8080 }] } }, fieldManager: "ops-tool", force: true },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply),
    );
    const desired = service("web", { spec: { type: "LoadBalancer", ports: [{ name: "http", port: 80, targetPort: 9090 }], selector: { app: "web" } } });
    await assert.rejects(engine.update("", {}, { manifest: desired }, cluster), (err: Error) => {
      assert.match(err.message, /server-side apply of Service default\/web as field manager "l2lb" failed/);
      assert.match(err.message, /conflict/i);
      assert.match(err.message, /ops-tool/);
      return true;
    });
    await engine.update("", {}, { manifest: desired, force: true }, cluster);
    assert.equal((await live("web")).spec?.ports?.[0]?.targetPort, 9090);
  });

  test("waits for an EXTERNAL-IP as the manifest's annotations say, and fails after the timeout", async () => {
    const short = service("waiting", {}, { "pulumi.com/timeoutSeconds": "1" });
    const started = Date.now();
    await assert.rejects(engine.create({ manifest: short }, cluster, undefined, FAST), /not ready after 1 s: no status\.loadBalancer\.ingress yet/);
    assert.ok(Date.now() - started < 5000);
    // A status writer (the speaker's job) gives the address while create waits.
    const waiting = service("waiting", {}, { "pulumi.com/timeoutSeconds": "20" });
    const writer = (async () => {
      await new Promise((r) => setTimeout(r, 700));
      await core.patchNamespacedServiceStatus(
        { name: "waiting", namespace: "default", body: { status: { loadBalancer: { ingress: [{ ip: "192.0.2.201", ipMode: "VIP" }] } } } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      );
    })();
    const { outs } = await engine.create({ manifest: waiting }, cluster, undefined, FAST);
    await writer;
    assert.deepEqual((outs.status as { loadBalancer?: { ingress?: { ip: string }[] } }).loadBalancer?.ingress?.map((i) => i.ip), ["192.0.2.201"]);
    const read = await engine.read("v1:Service:default/waiting", outs, cluster);
    assert.deepEqual(read.props.status, outs.status);
  });

  test("patch mode sets only our fields on someone else's object and removes exactly them on delete", async () => {
    await core.createNamespacedService({
      namespace: "default",
      body: { metadata: { name: "theirs", annotations: { team: "web" } }, spec: { ports: [{ port: 443 }], selector: { app: "theirs" } } },
    });
    const patch: ManifestObject = { apiVersion: "v1", kind: "Service", metadata: { name: "theirs", namespace: "default", annotations: { "l2lb.dev/load-balancer-ips": "192.0.2.202", "pulumi.com/skipAwait": "true" } } };
    const { id, outs } = await engine.create({ manifest: patch, mode: "patch" }, cluster);
    let svc = await live("theirs");
    assert.equal(svc.metadata?.annotations?.["l2lb.dev/load-balancer-ips"], "192.0.2.202");
    assert.equal(svc.metadata?.annotations?.team, "web");
    await engine.remove(id, outs, cluster);
    svc = await live("theirs");
    assert.deepEqual(svc.metadata?.annotations, { team: "web" }, "our annotations are gone, theirs stay");
    assert.equal(svc.spec?.ports?.[0]?.port, 443);
    assert.ok(!(svc.metadata?.managedFields ?? []).some((m) => m.manager === "l2lb" && m.fieldsV1 && JSON.stringify(m.fieldsV1).includes("annotations")));
    await assert.rejects(engine.create({ manifest: { ...patch, metadata: { ...patch.metadata, name: "nobody" } }, mode: "patch" }, cluster), /does not exist; a patch only changes an existing object/);
  });

  test("a CRD waits until Established, and its kind can be applied right after", async () => {
    for (const crd of crds) await engine.create({ manifest: structuredClone(crd) as unknown as ManifestObject }, cluster, undefined, FAST);
    const pool: ManifestObject = { apiVersion: "l2lb.dev/v1alpha1", kind: "AddressPool", metadata: { name: "lan" }, spec: { addresses: ["192.0.2.200-192.0.2.220"] } };
    const { id, outs } = await engine.create({ manifest: pool }, cluster, undefined, FAST);
    assert.equal(id, "l2lb.dev/v1alpha1:AddressPool:lan");
    const got = (await objects.read({ apiVersion: "l2lb.dev/v1alpha1", kind: "AddressPool", metadata: { name: "lan" } })) as ManifestObject;
    assert.deepEqual(got.spec, { addresses: ["192.0.2.200-192.0.2.220"] });
    await engine.remove(id, outs, cluster, undefined, FAST);
    await assert.rejects(objects.read({ apiVersion: "l2lb.dev/v1alpha1", kind: "AddressPool", metadata: { name: "lan" } }), (e: { code?: number }) => e.code === 404);
  });

  test("delete waits until a Namespace is gone; read reports a vanished object as gone", async () => {
    const ns: ManifestObject = { apiVersion: "v1", kind: "Namespace", metadata: { name: "scratch" } };
    const { id, outs } = await engine.create({ manifest: ns }, cluster, undefined, FAST);
    await engine.remove(id, outs, cluster, undefined, FAST);
    await assert.rejects(core.readNamespace({ name: "scratch" }), (e: { code?: number }) => e.code === 404);
    assert.deepEqual(await engine.read(id, outs, cluster), { id: "", props: {} });
    await engine.remove(id, outs, cluster, undefined, FAST); // already gone: nothing to do
  });

  test("after a serialization round trip the provider applies with the stack's kubeconfig", async () => {
    const sf = await pulumi.runtime.serializeFunction(() => new ManifestProvider(ENGINE_URL), { allowSecrets: true });
    assert.ok(sf.text.length < 8000, `serialized provider is ${sf.text.length} bytes`);
    for (const word of ["KubernetesObjectApi", "notReady", "loadKubeConfig", "node_modules"]) assert.equal(sf.text.includes(word), false, `captures ${word}`);
    assert.ok((await pulumi.runtime.serializeFunction(() => new ManifestProvider(), { allowSecrets: true })).text.includes(JSON.stringify(MANIFEST_MODULE)));
    const revived = requireFromString(sf.text).handler();
    assert.notEqual(revived.constructor, ManifestProvider);
    await revived.configure!({ config: { get: (k: string) => (k === "kubernetes:kubeconfig" ? cluster.kubeconfig : undefined), require: () => "" } } as never);
    const manifest = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "record", namespace: "default" }, data: { a: "1" } };
    const checked = await revived.check!({}, { manifest });
    assert.equal(checked.failures, undefined);
    const created = await revived.create(checked.inputs);
    assert.equal(created.id, "v1:ConfigMap:default/record");
    assert.deepEqual((await core.readNamespacedConfigMap({ name: "record", namespace: "default" })).data, { a: "1" });
    const changed = { ...manifest, data: { b: "2" } };
    assert.equal((await revived.diff!(created.id, created.outs, { manifest: changed })).changes, true);
    await revived.update!(created.id, created.outs, { manifest: changed });
    assert.deepEqual((await core.readNamespacedConfigMap({ name: "record", namespace: "default" })).data, { b: "2" });
    await revived.delete!(created.id, { ...created.outs, manifest: changed });
    await assert.rejects(core.readNamespacedConfigMap({ name: "record", namespace: "default" }), (e: { code?: number }) => e.code === 404);
  });
});
