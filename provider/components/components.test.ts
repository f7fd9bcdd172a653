// Components under `pulumi.runtime.setMocks`: which resources, names, parents and inputs they
// register. The allocation's dynamic resource is answered by the real provider logic (check then
// create), so the Services below carry the addresses a real `pulumi up` would give them.
import { test, describe, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as engine from "../dynamic/engine.ts";
import { crds } from "../core/model/crds.ts";
import { speakerRbacRules } from "../core/model/rbac.ts";
import { ANNOTATIONS, LOAD_BALANCER_CLASS } from "../core/model/contract.ts";
import type * as components from "./index.ts";

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  custom: boolean;
}
const registered: Registered[] = [];
let l2lb: typeof components;

before(async () => {
  await pulumi.runtime.setMocks(
    {
      async newResource(args) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs, custom: args.custom ?? false });
        if (args.type === "pulumi-nodejs:dynamic/l2lb:Allocation") {
          const checked = await engine.check({}, args.inputs, {}, async () => {
            throw new Error("tests pass nodeSubnets; the cluster must not be contacted");
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

function value<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}
function find(type: string, name: string): Registered {
  const r = registered.find((x) => x.type === type && x.name === name);
  assert.ok(r, `no ${type} named ${name}; registered: ${registered.map((x) => `${x.type}/${x.name}`).join(", ")}`);
  return r;
}
/** Waits for pending registrations (inputs resolve asynchronously). */
async function settled(resource: pulumi.Resource): Promise<string> {
  return value(resource.urn);
}
const packageVersion = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

describe("Installation", () => {
  test("namespace, CRDs, RBAC, ServiceAccount and DaemonSet, all parented to the component", async () => {
    const install = new l2lb.Installation("l2lb");
    await settled(install.daemonSet);
    const children = [
      install.namespaceResource!,
      ...install.crds,
      install.serviceAccount,
      install.clusterRole,
      install.clusterRoleBinding,
      install.role,
      install.roleBinding,
      install.daemonSet,
    ];
    assert.equal(install.crds.length, 2);
    for (const child of children) {
      const urn = await value(child.urn);
      assert.match(urn, /::l2lb:index:Installation\$kubernetes:/, urn);
      assert.match(urn, /::l2lb-[a-z0-9-]+$/, `child name derived from the component name: ${urn}`);
    }
    const ns = find("kubernetes:core/v1:Namespace", "l2lb-namespace").inputs as { metadata: { name: string } };
    assert.equal(ns.metadata.name, "l2lb-system");
  });

  test("the speaker runs on the host network with only NET_RAW, probes and metrics on 7472, the package's image tag", async () => {
    const ds = find("kubernetes:apps/v1:DaemonSet", "l2lb-speaker").inputs as {
      metadata: { namespace: string; annotations?: Record<string, string> };
      spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[]; tolerations: { key: string }[] } } };
    };
    const pod = ds.spec.template.spec;
    assert.equal(ds.metadata.namespace, "l2lb-system");
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.serviceAccountName, "l2lb-speaker");
    assert.ok(pod.tolerations.some((t) => t.key === "node-role.kubernetes.io/control-plane"));
    const c = pod.containers[0] as {
      image: string;
      securityContext: { capabilities: { add: string[]; drop: string[] }; allowPrivilegeEscalation: boolean };
      ports: { name: string; containerPort: number }[];
      livenessProbe: { httpGet: { path: string; port: string } };
      readinessProbe: { httpGet: { path: string; port: string } };
      env: { name: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
    };
    assert.equal(c.image, `ghcr.io/l2lb/speaker:${packageVersion}`);
    assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"], add: ["NET_RAW"] });
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.ports, [
      { name: "metrics", containerPort: 7472, protocol: "TCP" },
      { name: "heartbeat", containerPort: 7473, protocol: "UDP" },
    ]);
    assert.deepEqual((c as unknown as { args: string[] }).args, ["--metrics-port", "7472"]);
    assert.deepEqual([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path], ["/healthz", "/readyz"]);
    assert.equal(c.livenessProbe.httpGet.port, "metrics");
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.valueFrom?.fieldRef.fieldPath]));
    assert.equal(env.NODE_NAME, "spec.nodeName");
    assert.equal(env.POD_NAMESPACE, "metadata.namespace");
    assert.equal(env.POD_NAME, "metadata.name");
    assert.equal("L2LB_HEARTBEAT_KEY_FILE" in env, false, "no key, no key file");
  });

  test("a heartbeat key goes into a Secret mounted read-only, named by L2LB_HEARTBEAT_KEY_FILE", async () => {
    const install = new l2lb.Installation("keyed", { namespace: "keyed", heartbeatKey: pulumi.secret("s3cret"), interfaces: ["eth0", "bond*"] });
    await settled(install.daemonSet);
    const secret = find("kubernetes:core/v1:Secret", "keyed-heartbeat").inputs as { metadata: { name: string; namespace: string }; stringData: { key: unknown } };
    assert.equal(secret.metadata.name, "l2lb-speaker-heartbeat");
    assert.equal(secret.metadata.namespace, "keyed");
    // The key travels as a secret (the mock monitor shows the secret envelope).
    assert.deepEqual(secret.stringData, { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: { key: "s3cret" } });
    const pod = (find("kubernetes:apps/v1:DaemonSet", "keyed-speaker").inputs as {
      spec: { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[]; containers: { env: { name: string; value?: string }[]; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[] } } };
    }).spec.template.spec;
    const c = pod.containers[0]!;
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    assert.equal(env.L2LB_HEARTBEAT_KEY_FILE, "/etc/l2lb/heartbeat/key");
    assert.equal(env.L2LB_INTERFACES, "eth0,bond*");
    assert.deepEqual(c.volumeMounts.find((m) => m.name === "heartbeat-key"), { name: "heartbeat-key", mountPath: "/etc/l2lb/heartbeat", readOnly: true });
    assert.equal(pod.volumes.find((v) => v.name === "heartbeat-key")?.secret?.secretName, "l2lb-speaker-heartbeat");
    assert.throws(() => new l2lb.Installation("clash", { metricsPort: 7000, heartbeatPort: 7000 }), /must differ/);
  });

  test("RBAC is exactly the speaker's published rules; CRDs are the model's", () => {
    const rules = speakerRbacRules();
    assert.deepEqual(find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", "l2lb-speaker").inputs.rules, rules.cluster);
    assert.deepEqual(find("kubernetes:rbac.authorization.k8s.io/v1:Role", "l2lb-speaker").inputs.rules, rules.namespaced);
    const crb = find("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "l2lb-speaker").inputs as { subjects: unknown[] };
    assert.deepEqual(crb.subjects, [{ kind: "ServiceAccount", name: "l2lb-speaker", namespace: "l2lb-system" }]);
    for (const crd of crds) {
      const r = find("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", `l2lb-${crd.spec.names.singular}`).inputs as unknown as typeof crd;
      assert.deepEqual(r.spec, crd.spec);
      assert.equal(r.metadata.name, crd.metadata.name);
    }
  });

  test("options: own namespace, image, no namespace creation, no CRDs", async () => {
    const install = new l2lb.Installation("alt", { namespace: "lb", image: "registry.local/speaker:dev", createNamespace: false, installCrds: false, metricsPort: 9472 });
    await settled(install.daemonSet);
    assert.equal(install.namespaceResource, undefined);
    assert.deepEqual(install.crds, []);
    const ds = find("kubernetes:apps/v1:DaemonSet", "alt-speaker").inputs as { metadata: { namespace: string }; spec: { template: { spec: { containers: { image: string; ports: { containerPort: number }[] }[] } } } };
    assert.equal(ds.metadata.namespace, "lb");
    assert.equal(ds.spec.template.spec.containers[0]!.image, "registry.local/speaker:dev");
    assert.equal(ds.spec.template.spec.containers[0]!.ports[0]!.containerPort, 9472);
    assert.throws(() => new l2lb.Installation("bad", { metricsPort: 70000 }), /metricsPort/);
  });
});

describe("AddressPool, L2Advertisement, SharedIpGroup", () => {
  test("AddressPool writes an AddressPool object with the spec, as a child", async () => {
    const pool = new l2lb.AddressPool("first-pool", { addresses: ["192.168.28.210-192.168.28.220"], avoidBuggyIPs: true, labels: { tier: "web" } });
    const urn = await settled(pool.resource);
    assert.match(urn, /l2lb:index:AddressPool\$kubernetes:l2lb.dev\/v1alpha1:AddressPool::first-pool-addresspool$/);
    const cr = find("kubernetes:l2lb.dev/v1alpha1:AddressPool", "first-pool-addresspool").inputs;
    assert.deepEqual(cr.metadata, { name: "first-pool", labels: { tier: "web" } });
    assert.deepEqual(cr.spec, { addresses: ["192.168.28.210-192.168.28.220"], avoidBuggyIPs: true });
    assert.deepEqual(pool.toModel(), { name: "first-pool", labels: { tier: "web" }, spec: { addresses: ["192.168.28.210-192.168.28.220"], avoidBuggyIPs: true } });
  });

  test("AddressPool rejects what can never work, naming the pool", () => {
    assert.throws(() => new l2lb.AddressPool("p1", { addresses: [] }), /AddressPool "p1": addresses must list/);
    assert.throws(() => new l2lb.AddressPool("p2", { addresses: ["192.168.28.300"] }), /AddressPool "p2": addresses\[0\]/);
    assert.throws(() => new l2lb.AddressPool("P_3", { addresses: ["10.0.0.1"] }), /not a valid Kubernetes object name/);
  });

  test("L2Advertisement names its pools, nodes, interfaces and gratuitous settings", async () => {
    const pool = new l2lb.AddressPool("adv-pool", { addresses: ["10.0.0.0/28"] });
    const adv = new l2lb.L2Advertisement("example", {
      pools: [pool, "other"],
      nodeSelectors: [{ matchLabels: { "l2lb.dev/announce": "true" } }],
      interfaces: ["eth0", "en*", "can_reach:192.168.28.1"],
      gratuitous: { count: 3, intervalMs: 500, refreshSeconds: 60 },
    });
    const urn = await settled(adv.resource);
    assert.match(urn, /l2lb:index:L2Advertisement\$kubernetes:l2lb.dev\/v1alpha1:L2Advertisement::example-l2advertisement$/);
    assert.deepEqual(find("kubernetes:l2lb.dev/v1alpha1:L2Advertisement", "example-l2advertisement").inputs.spec, {
      ipAddressPools: ["adv-pool", "other"],
      nodeSelectors: [{ matchLabels: { "l2lb.dev/announce": "true" } }],
      interfaces: ["eth0", "en*", "can_reach:192.168.28.1"],
      gratuitous: { count: 3, intervalMs: 500, refreshSeconds: 60 },
    });
    assert.throws(() => new l2lb.L2Advertisement("a1", { interfaces: ["can_reach:gateway"] }), /can_reach needs an IPv4 or IPv6 address/);
    assert.throws(() => new l2lb.L2Advertisement("a2", { interfaces: ["an interface with spaces"] }), /not an interface name/);
    assert.throws(() => new l2lb.L2Advertisement("a3", { gratuitous: { count: -1 } }), /gratuitous.count/);
  });

  test("SharedIpGroup normalizes members and checks its own arguments", () => {
    const g = new l2lb.SharedIpGroup("web", { services: ["nginx-2", "default/nginx"], ip: "192.168.28.211" });
    assert.deepEqual(g.toModel(), { name: "web", services: ["default/nginx", "default/nginx-2"], ip: "192.168.28.211" });
    assert.throws(() => new l2lb.SharedIpGroup("g1", { services: ["nginx"] }), /at least two/);
    assert.throws(() => new l2lb.SharedIpGroup("g2", { services: ["a", "b"], ip: "192.168.28.999" }), /not an IPv4 or IPv6 address/);
    assert.throws(() => new l2lb.SharedIpGroup("g3", { services: ["a/b/c", "d"] }), /not a Service reference/);
  });
});

describe("Allocation", () => {
  const nginxSpec = { ports: [{ name: "http", port: 80 }], selector: { app: "nginx" } };

  test("seed 000: the Service gets its address, class and no 10-minute wait; the provider is serialized", async () => {
    const pool = new l2lb.AddressPool("seed0-pool", { addresses: ["192.168.28.210-192.168.28.220"], name: "first-pool" });
    const adv = new l2lb.L2Advertisement("seed0-example", { pools: [pool], name: "example" });
    const lb = new l2lb.Allocation("seed0", { pools: [pool], advertisements: [adv], services: { nginx: { spec: nginxSpec } }, nodeSubnets: ["192.168.28.0/24"] });
    const svc = lb.services.nginx!;
    assert.match(await settled(svc), /l2lb:index:Allocation\$kubernetes:core\/v1:Service::seed0-nginx$/);
    assert.match(await value(lb.plan.urn), /l2lb:index:Allocation\$pulumi-nodejs:dynamic\/l2lb:Allocation::seed0-plan$/);
    const inputs = find("kubernetes:core/v1:Service", "seed0-nginx").inputs as {
      metadata: { name: string; namespace: string; annotations: Record<string, string> };
      spec: { type: string; loadBalancerClass: string; ports: unknown };
    };
    assert.equal(inputs.metadata.name, "nginx");
    assert.equal(inputs.metadata.namespace, "default");
    assert.equal(inputs.metadata.annotations[ANNOTATIONS.assignedIps], "192.168.28.210");
    assert.equal(inputs.metadata.annotations[ANNOTATIONS.assignedPool], "first-pool");
    assert.equal(inputs.metadata.annotations["pulumi.com/skipAwait"], "true");
    assert.equal(inputs.spec.type, "LoadBalancer");
    assert.equal(inputs.spec.loadBalancerClass, LOAD_BALANCER_CLASS);
    assert.equal(await value(lb.ipFor("default/nginx")), "192.168.28.210");
    assert.equal(await value(lb.ipFor("nginx")), "192.168.28.210");

    const plan = find("pulumi-nodejs:dynamic/l2lb:Allocation", "seed0-plan").inputs as Record<string, unknown>;
    assert.equal(typeof plan.__provider, "string");
    assert.ok((plan.__provider as string).includes('"l2lb/dynamic/allocation"'));
    assert.deepEqual(plan.services, [
      { namespace: "default", name: "nginx", labels: {}, annotations: {}, ports: [{ port: 80, protocol: "TCP" }], selector: { app: "nginx" } },
    ]);
    assert.deepEqual(plan.pools, [{ name: "first-pool", labels: {}, spec: { addresses: ["192.168.28.210-192.168.28.220"] } }]);
    assert.deepEqual(plan.advertisements, [{ name: "example", spec: { ipAddressPools: ["first-pool"] } }]);
  });

  test("seed 002 shared IP: nginx (80, 443) and nginx-2 (81) on 192.168.28.211", async () => {
    const pool = new l2lb.AddressPool("seed2-pool", { addresses: ["192.168.28.210-192.168.28.220"], name: "shared-pool" });
    const group = new l2lb.SharedIpGroup("seed2-web", { services: ["default/nginx", "default/nginx-2"], ip: "192.168.28.211", name: "web" });
    const lb = new l2lb.Allocation("seed2", {
      pools: [pool],
      sharedIpGroups: [group],
      services: {
        nginx: { spec: { ports: [{ name: "http", port: 80 }, { name: "https", port: 443 }], selector: { app: "nginx" } } },
        "nginx-2": { spec: { ports: [{ name: "http", port: 81 }], selector: { app: "nginx" } } },
      },
      nodeSubnets: ["192.168.28.0/24"],
    });
    await settled(lb.services["nginx-2"]!);
    for (const name of ["seed2-nginx", "seed2-nginx-2"]) {
      const svc = find("kubernetes:core/v1:Service", name).inputs as { metadata: { annotations: Record<string, string> } };
      assert.equal(svc.metadata.annotations[ANNOTATIONS.assignedIps], "192.168.28.211", name);
    }
    const plan = find("pulumi-nodejs:dynamic/l2lb:Allocation", "seed2-plan").inputs as { sharedIpGroups: unknown };
    assert.deepEqual(plan.sharedIpGroups, [{ name: "web", services: ["default/nginx", "default/nginx-2"], ip: "192.168.28.211" }]);
  });

  test("with an installation: waits briefly for the address, after the speakers, and records the allocation", async () => {
    const install = new l2lb.Installation("inst", { namespace: "lb-system" });
    const pool = new l2lb.AddressPool("inst-pool", { addresses: ["10.1.0.0/29"], installation: install });
    const lb = new l2lb.Allocation("inst-lb", {
      pools: [pool],
      installation: install,
      services: { api: { metadata: { name: "api", namespace: "prod", annotations: { "team": "a", "metallb.io/allow-shared-ip": "k" } }, spec: { ports: [{ port: 443 }] }, ips: ["10.1.0.5"] } },
      nodeSubnets: ["10.1.0.0/24"],
    });
    await settled(lb.services.api!);
    await settled(lb.record!);
    const svc = find("kubernetes:core/v1:Service", "inst-lb-api").inputs as { metadata: { annotations: Record<string, string> } };
    assert.equal(svc.metadata.annotations["pulumi.com/timeoutSeconds"], "60");
    assert.equal(svc.metadata.annotations["pulumi.com/skipAwait"], undefined);
    assert.equal(svc.metadata.annotations.team, "a", "the user's own annotations are kept");
    assert.equal(svc.metadata.annotations[ANNOTATIONS.assignedIps], "10.1.0.5");
    const plan = find("pulumi-nodejs:dynamic/l2lb:Allocation", "inst-lb-plan").inputs as { services: { annotations: Record<string, string> }[] };
    assert.deepEqual(plan.services[0]!.annotations, { "metallb.io/allow-shared-ip": "k", [ANNOTATIONS.requestedIps]: "10.1.0.5" }, "only request annotations reach the allocator");
    const cm = find("kubernetes:core/v1:ConfigMap", "inst-lb-record").inputs as { metadata: { name: string; namespace: string }; data: Record<string, string> };
    assert.deepEqual(cm.metadata.name, "l2lb-allocation-inst-lb");
    assert.equal(cm.metadata.namespace, "lb-system");
    assert.deepEqual(JSON.parse(cm.data["assignments.json"]!), { "prod/api": { ips: ["10.1.0.5"], pool: "inst-pool" } });
    const cr = find("kubernetes:l2lb.dev/v1alpha1:AddressPool", "inst-pool-addresspool");
    assert.ok(cr);
  });

  test("a chart's Service gets its address as an Output; an existing Service is patched", async () => {
    const pool = new l2lb.AddressPool("ext-pool", { addresses: ["10.2.0.10-10.2.0.20"] });
    const lb = new l2lb.Allocation("ext", {
      pools: [pool],
      external: { "ingress/ingress-nginx-controller": { ports: [{ port: 80 }, { port: 443 }] } },
      existing: { "kube-system/traefik": { ports: [{ port: 80 }] } },
      nodeSubnets: ["10.2.0.0/24"],
    });
    assert.deepEqual(await value(lb.annotationsFor("ingress/ingress-nginx-controller")), {
      [ANNOTATIONS.assignedIps]: "10.2.0.10",
      [ANNOTATIONS.assignedPool]: "ext-pool",
      "pulumi.com/skipAwait": "true",
    });
    const patch = lb.patches["kube-system/traefik"]!;
    assert.match(await settled(patch), /l2lb:index:Allocation\$kubernetes:core\/v1:ServicePatch::ext-kube-system-traefik$/);
    const inputs = find("kubernetes:core/v1:ServicePatch", "ext-kube-system-traefik").inputs as {
      metadata: { name: string; namespace: string; annotations: Record<string, string> };
      spec: Record<string, string>;
    };
    assert.deepEqual([inputs.metadata.namespace, inputs.metadata.name], ["kube-system", "traefik"]);
    assert.equal(inputs.metadata.annotations[ANNOTATIONS.assignedIps], "10.2.0.11");
    assert.equal(inputs.metadata.annotations["pulumi.com/patchForce"], "true", "the patch takes type and class over from their current manager");
    assert.deepEqual(inputs.spec, { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS });
    assert.throws(() => lb.ipFor("default/unknown"), /no Service "default\/unknown"/);
  });

  test("mistakes in the program are caught before anything is sent", () => {
    const pool = new l2lb.AddressPool("bad-pool", { addresses: ["10.3.0.0/28"] });
    assert.throws(
      () => new l2lb.Allocation("dup", { pools: [pool], services: { a: { metadata: { name: "x" }, spec: {} } }, external: { "default/x": {} } }),
      /Service "default\/x" is declared twice/,
    );
    const group = new l2lb.SharedIpGroup("lonely", { services: ["a", "b"] });
    assert.throws(() => new l2lb.Allocation("grp", { pools: [pool], sharedIpGroups: [group], services: { a: { spec: {} } } }), /names Service "default\/b"/);
    assert.throws(() => new l2lb.Allocation("wait", { pools: [pool], waitSeconds: 0 }), /waitSeconds/);
    assert.throws(() => new l2lb.Allocation("ref", { pools: [pool], existing: { traefik: {} } }), /"<namespace>\/<name>"/);
    assert.throws(
      () => new l2lb.Allocation("out", { pools: [pool], services: { a: { metadata: { name: pulumi.output("a") }, spec: {} } } }),
      /must be a plain string/,
    );
  });
});
