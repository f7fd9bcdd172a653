// The components' writers under `pulumi.runtime.setMocks`: with `applyWith: "server-side-apply"`
// every Kubernetes object becomes an l2lb `Manifest` (dynamic resource) carrying exactly the
// object the Kubernetes provider would have been given, plus its apiVersion and kind; the choice
// is inherited from the installation, and the default stays the Kubernetes provider.
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as engine from "../dynamic/engine.ts";
import { ANNOTATIONS, LOAD_BALANCER_CLASS } from "../core/model/contract.ts";
import type * as components from "./index.ts";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const registered: Registered[] = [];
let l2lb: typeof components;
const ssaType = (apiVersion: string, kind: string): string => `pulumi-nodejs:dynamic/l2lb/${apiVersion.includes("/") ? apiVersion : `core/${apiVersion}`}:${kind}`;

before(async () => {
  await pulumi.runtime.setMocks(
    {
      async newResource(args) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        if (args.type === "pulumi-nodejs:dynamic/l2lb:Allocation") {
          const checked = await engine.check({}, args.inputs, {}, async () => {
            throw new Error("tests pass nodeSubnets");
          });
          if (checked.failures?.length) throw new Error(JSON.stringify(checked.failures));
          const created = engine.create(checked.inputs);
          return { id: created.id, state: created.outs };
        }
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    "l2lb-test",
    "unit",
    false,
  );
  l2lb = await import("./index.ts");
});

const value = <T>(output: pulumi.Input<T>): Promise<T> => new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
const settled = (r: pulumi.Resource): Promise<string> => value(r.urn);
function find(type: string, name: string): Registered {
  const r = registered.find((x) => x.type === type && x.name === name);
  assert.ok(r, `no ${type} named ${name}; registered: ${registered.map((x) => `${x.type}/${x.name}`).join(", ")}`);
  return r;
}
const strip = ({ apiVersion: _a, kind: _k, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;

describe("applyWith", () => {
  test("server-side-apply: the installation's objects are Manifests of exactly the provider's objects", async () => {
    const viaProvider = new l2lb.Installation("kp", { namespace: "kp-system" });
    const viaSsa = new l2lb.Installation("ssa", { namespace: "kp-system", applyWith: "server-side-apply" });
    assert.equal(viaProvider.applyWith, "kubernetes-provider");
    assert.equal(viaSsa.applyWith, "server-side-apply");
    await settled(viaProvider.daemonSet);
    await settled(viaSsa.daemonSet);
    const pairs: [string, string, string, string][] = [
      ["kubernetes:core/v1:Namespace", "namespace", "v1", "Namespace"],
      ["kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "addresspool", "apiextensions.k8s.io/v1", "CustomResourceDefinition"],
      ["kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", "l2advertisement", "apiextensions.k8s.io/v1", "CustomResourceDefinition"],
      ["kubernetes:core/v1:ServiceAccount", "speaker", "v1", "ServiceAccount"],
      ["kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "speaker", "rbac.authorization.k8s.io/v1", "ClusterRole"],
      ["kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "speaker", "rbac.authorization.k8s.io/v1", "ClusterRoleBinding"],
      ["kubernetes:rbac.authorization.k8s.io/v1:Role", "speaker", "rbac.authorization.k8s.io/v1", "Role"],
      ["kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "speaker", "rbac.authorization.k8s.io/v1", "RoleBinding"],
      ["kubernetes:flowcontrol.apiserver.k8s.io/v1:FlowSchema", "leases", "flowcontrol.apiserver.k8s.io/v1", "FlowSchema"],
      ["kubernetes:apps/v1:DaemonSet", "speaker", "apps/v1", "DaemonSet"],
    ];
    const ssaObjects = registered.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/l2lb/") && r.name.startsWith("ssa-"));
    assert.equal(ssaObjects.length, pairs.length, "one Manifest per object, nothing else");
    assert.equal(registered.filter((r) => r.name.startsWith("ssa-") && r.type.startsWith("kubernetes:")).length, 0, "no Kubernetes provider resource");
    for (const [type, suffix, apiVersion, kind] of pairs) {
      const expected = find(type, `kp-${suffix}`).inputs;
      const ssa = find(ssaType(apiVersion, kind), `ssa-${suffix}`).inputs as { manifest: Record<string, unknown>; mode: string };
      assert.equal(ssa.mode, "object");
      assert.equal(ssa.manifest.apiVersion, apiVersion);
      assert.equal(ssa.manifest.kind, kind);
      assert.deepEqual(strip(ssa.manifest), strip(expected), `${kind} ${suffix}`);
    }
    // Bindings name their subjects through the written objects (and so depend on them).
    for (const kind of ["ClusterRoleBinding", "RoleBinding"]) {
      const rb = find(ssaType("rbac.authorization.k8s.io/v1", kind), "ssa-speaker").inputs.manifest as { subjects: { name: string }[]; roleRef: { name: string } };
      assert.deepEqual([rb.subjects[0]?.name, rb.roleRef.name], ["l2lb-speaker", "l2lb-speaker"]);
    }
  });

  test("pools, advertisements and the allocation inherit the installation's writer", async () => {
    const install = new l2lb.Installation("inh", { namespace: "inh-system", applyWith: "server-side-apply" });
    const pool = new l2lb.AddressPool("inh-pool", { addresses: ["192.0.2.200-192.0.2.220"], installation: install });
    const adv = new l2lb.L2Advertisement("inh-adv", { pools: [pool], installation: install });
    const lb = new l2lb.Allocation("inh-lb", {
      pools: [pool],
      advertisements: [adv],
      installation: install,
      services: { web: { spec: { ports: [{ port: 80 }], selector: { app: "web" } } } },
      existing: { "kube-system/traefik": { ports: [{ port: 443 }] } },
      nodeSubnets: ["192.0.2.0/24"],
    });
    await Promise.all([settled(pool.resource), settled(adv.resource), settled(lb.services.web!), settled(lb.record!), settled(lb.patches["kube-system/traefik"]!)]);
    const poolObj = find(ssaType("l2lb.dev/v1alpha1", "AddressPool"), "inh-pool-addresspool").inputs.manifest as { apiVersion: string; kind: string; spec: unknown };
    assert.deepEqual([poolObj.apiVersion, poolObj.kind, poolObj.spec], ["l2lb.dev/v1alpha1", "AddressPool", { addresses: ["192.0.2.200-192.0.2.220"] }]);
    assert.equal((find(ssaType("l2lb.dev/v1alpha1", "L2Advertisement"), "inh-adv-l2advertisement").inputs.manifest as { kind: string }).kind, "L2Advertisement");
    const svc = find(ssaType("v1", "Service"), "inh-lb-web").inputs as { mode: string; manifest: { apiVersion: string; kind: string; metadata: { name: string; namespace: string; annotations: Record<string, string> }; spec: Record<string, unknown> } };
    assert.equal(svc.mode, "object");
    assert.deepEqual([svc.manifest.apiVersion, svc.manifest.kind, svc.manifest.metadata.namespace, svc.manifest.metadata.name], ["v1", "Service", "default", "web"]);
    assert.equal(svc.manifest.metadata.annotations[ANNOTATIONS.assignedIps], "192.0.2.200");
    assert.equal(svc.manifest.metadata.annotations["pulumi.com/timeoutSeconds"], "60", "the writer waits for the EXTERNAL-IP like the provider would");
    assert.equal(svc.manifest.spec.loadBalancerClass, LOAD_BALANCER_CLASS);
    const patch = find(ssaType("v1", "Service"), "inh-lb-kube-system-traefik").inputs as { mode: string; manifest: { kind: string; metadata: { annotations: Record<string, string> }; spec: unknown } };
    assert.equal(patch.mode, "patch", "an existing Service is patched, never owned");
    assert.equal((find(ssaType("v1", "Service"), "inh-lb-kube-system-traefik").inputs as { force?: boolean }).force, true, "its type and class are taken over");
    assert.equal((svc as { force?: boolean }).force, undefined, "objects l2lb owns never force");
    assert.equal(patch.manifest.kind, "Service");
    assert.equal(patch.manifest.metadata.annotations[ANNOTATIONS.assignedIps], "192.0.2.201");
    assert.deepEqual(patch.manifest.spec, { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS });
    const record = find(ssaType("v1", "ConfigMap"), "inh-lb-record").inputs.manifest as { kind: string; metadata: { namespace: string } };
    assert.deepEqual([record.kind, record.metadata.namespace], ["ConfigMap", "inh-system"]);
  });

  test("a component may choose otherwise than its installation; a wrong value is refused", async () => {
    const install = new l2lb.Installation("mix", { namespace: "mix-system", applyWith: "server-side-apply" });
    const pool = new l2lb.AddressPool("mix-pool", { addresses: ["192.0.2.230/32"], installation: install, applyWith: "kubernetes-provider" });
    await settled(pool.resource);
    assert.ok(find("kubernetes:l2lb.dev/v1alpha1:AddressPool", "mix-pool-addresspool"));
    assert.throws(() => new l2lb.AddressPool("bad-pool", { addresses: ["192.0.2.231/32"], applyWith: "kubectl" as never }), /AddressPool "bad-pool": applyWith must be "kubernetes-provider" or "server-side-apply", not "kubectl"/);
  });
});
