// The in-cluster allocator against a real kube-apiserver: the blog posts' kubectl workflow
// (examples/kubectl), migration from a previous implementation, a burst of 500 Services with
// the allocating speaker killed in the middle, the planner's fixed point, and pools that are
// invalid together. Speakers run in node namespaces with the installation's RBAC and
// `--default-class`. Skips, saying why, without root, the lab tools or the data plane addon.
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { ANNOTATIONS, API_GROUP, API_VERSION, KINDS } from "../../provider/core/model/contract.ts";
import { sharingConflict, sharingProfile } from "../../provider/core/allocation/sharing.ts";
import { serviceRequestOf } from "../../provider/core/manifests/index.ts";
import { ALLOCATOR_KEY, elect } from "../../runtime/election/rank.ts";
import { applyPool, arping, kubectl, labUnavailable, nodeMacs, root, run, sleep, startLab, startSpeaker, stopSpeaker, waitFor, waitForMembers, type Lab, type SpeakerProcess } from "./harness.ts";

const NODES = ["node-a", "node-b", "node-c"];
const skip = await labUnavailable();
const BURST = 500;

describe("in-cluster allocation on a real API server", { skip: skip ?? false, timeout: 900_000 }, () => {
  let lab: Lab;
  let core: k8s.CoreV1Api;
  let macs: Map<string, string>;
  const speakers = new Map<string, SpeakerProcess>();
  const defaultClass = { L2LB_DEFAULT_CLASS: "true" };

  before(async () => {
    lab = await startLab("alloc", NODES);
    core = lab.admin.makeApiClient(k8s.CoreV1Api);
    macs = await nodeMacs(lab);
    await kubectl(lab, "apply", "-f", join(root, "examples/kubectl/pools.yaml"));
    // What MetalLB left behind: a Service without class, its address in status.
    await core.createNamespacedService({ namespace: "default", body: { metadata: { name: "legacy" }, spec: { type: "LoadBalancer", ports: [{ port: 8080 }], selector: { app: "legacy" } } } });
    await core.patchNamespacedServiceStatus(
      { name: "legacy", namespace: "default", body: { status: { loadBalancer: { ingress: [{ ip: "192.0.2.215" }] } } } },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
    );
    for (const n of NODES) speakers.set(n, startSpeaker(lab, n, defaultClass));
    await waitForMembers(lab, 3);
  });

  after(async () => {
    if (process.env.L2LB_KEEP_LAB === "1") return;
    for (const s of speakers.values()) await stopSpeaker(s);
    if (lab) await lab.down();
  });

  const readSvc = (name: string, namespace: string) => core.readNamespacedService({ name, namespace });
  const ingressOf = async (name: string, namespace: string) => ((await readSvc(name, namespace)).status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? "");
  async function externalIp(name: string, namespace: string): Promise<string> {
    return waitFor(`EXTERNAL-IP of ${namespace}/${name}`, async () => (await ingressOf(name, namespace)).join(",") || undefined, 30_000);
  }
  async function events(namespace: string, name: string, reason: string): Promise<string[]> {
    const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},reason=${reason}` });
    return list.items.map((e) => e.message ?? "");
  }
  async function answeredByOwner(ip: string): Promise<void> {
    const owner = macs.get(elect(NODES, ip) as string);
    const seen = await waitFor(`ARP answer for ${ip}`, async () => {
      const got = await arping(lab, ip, 2);
      return got.length > 0 && got.every((m) => m === owner) ? got : undefined;
    }, 20_000);
    assert.ok(seen.length > 0);
  }

  it("keeps the address a previous implementation left in status (migration)", async () => {
    const svc = await waitFor("legacy assigned", async () => {
      const s = await readSvc("legacy", "default");
      return s.metadata?.annotations?.[ANNOTATIONS.assignedIps] ? s : undefined;
    });
    assert.equal(svc.metadata?.annotations?.[ANNOTATIONS.assignedIps], "192.0.2.215");
    assert.equal(svc.metadata?.annotations?.[ANNOTATIONS.allocatedBy], "cluster");
    assert.equal(await externalIp("legacy", "default"), "192.0.2.215");
  });

  it("MetalLB's nginx, applied with kubectl, gets the pool's first address, answered by the elected node", async () => {
    await kubectl(lab, "apply", "-f", join(root, "examples/kubectl/metallb-nginx.yaml"));
    assert.equal(await externalIp("nginx", "metallb-basic"), "192.0.2.200");
    const table = await kubectl(lab, "get", "svc", "-n", "metallb-basic", "nginx");
    assert.match(table, /nginx\s+LoadBalancer\s+\S+\s+192\.0\.2\.200\s/);
    await answeredByOwner("192.0.2.200");
  });

  it("two Services share one address through MetalLB's sharing key and loadBalancerIP", async () => {
    await kubectl(lab, "apply", "-f", join(root, "examples/kubectl/metallb-shared-ip.yaml"));
    assert.equal(await externalIp("nginx", "metallb-shared"), "192.0.2.211");
    assert.equal(await externalIp("nginx-2", "metallb-shared"), "192.0.2.211");
    await answeredByOwner("192.0.2.211");
  });

  it("OpenELB's annotated Service gets an address from the pool it names", async () => {
    await kubectl(lab, "apply", "-f", join(root, "examples/kubectl/openelb-service.yaml"));
    assert.equal(await externalIp("layer2-svc", "openelb"), "192.0.2.221");
    await answeredByOwner("192.0.2.221");
  });

  it("a Service that cannot get an address gets a Warning event and stays pending; the next one is served", async () => {
    await core.createNamespacedService({ namespace: "default", body: { metadata: { name: "outside", annotations: { "metallb.io/loadBalancerIPs": "198.51.100.9" } }, spec: { type: "LoadBalancer", ports: [{ port: 80 }] } } });
    await core.createNamespacedService({ namespace: "default", body: { metadata: { name: "after-outside" }, spec: { type: "LoadBalancer", ports: [{ port: 80 }] } } });
    const [message] = await waitFor("AllocationFailed event", async () => ((await events("default", "outside", "AllocationFailed")).length > 0 ? events("default", "outside", "AllocationFailed") : undefined));
    assert.match(message ?? "", /198\.51\.100\.9, which is in no address pool/);
    assert.ok((await externalIp("after-outside", "default")).startsWith("192.0.2."));
    assert.deepEqual(await ingressOf("outside", "default"), []);
  });

  it(`${BURST} Services created at once, the allocator killed in the middle: none lost, none doubled, a fixed point of l2lb plan`, async () => {
    await applyPool(lab.admin, "burst", { addresses: ["192.0.2.128-192.0.2.191", "2001:db8:1::1000-2001:db8:1::1fff"] });
    await applyPool(lab.admin, "burst", { ipAddressPools: ["burst"] }, "advertisement");
    const file = join(mkdtempSync(join(tmpdir(), "l2lb-burst-")), "burst.json");
    writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "burst" } }, ...burstServices(BURST)] }));
    const allocator = elect(NODES, ALLOCATOR_KEY) as string;
    const creating = kubectl(lab, "create", "-f", file);
    await waitFor("some burst Services assigned", async () => ((await assignedIn("burst")).size >= 50 ? true : undefined), 120_000, 50);
    await stopSpeaker(speakers.get(allocator) as SpeakerProcess, "SIGKILL");
    await creating;
    await sleep(2000);
    speakers.set(allocator, startSpeaker(lab, allocator, defaultClass));
    let final = await stable(async () => assignedIn("burst"));
    // None lost: every Service still without an address gets one, or an AllocationFailed event
    // saying why (the new allocator may pause longer than the 3 s the assignments held still).
    for (const name of (await core.listNamespacedService({ namespace: "burst" })).items.map((s) => s.metadata?.name ?? "")) {
      if (final.has(name)) continue;
      await waitFor(`an address or AllocationFailed for burst/${name}`, async () => ((await assignedIn("burst")).has(name) || (await events("burst", name, "AllocationFailed")).length > 0 ? true : undefined), 60_000, 250);
    }
    final = await stable(async () => assignedIn("burst"));
    const services = (await core.listNamespacedService({ namespace: "burst" })).items;
    assert.equal(services.length, BURST);
    assertNoForbiddenSharing(services);
    for (let i = 0; i < 10; i++) assert.ok(!final.has(`svc-${String(i).padStart(3, "0")}`), "a request outside every pool is never served");
    assert.ok(final.size > BURST - 200, `most burst Services are served (${final.size})`);
    await assertFixedPoint();
  });

  it("an overlapping pool is set aside with a condition and an event; a malformed one is refused at apply time", async () => {
    await applyPool(lab.admin, "overlapping", { addresses: ["192.0.2.210-192.0.2.225"] });
    await applyPool(lab.admin, "overlapping", { ipAddressPools: ["overlapping"] }, "advertisement");
    const custom = lab.admin.makeApiClient(k8s.CustomObjectsApi);
    // Planned between the two applies, the pool is first set aside for having no advertisement:
    // wait for the reason that stays.
    const condition = await waitFor("Usable=False on the overlapping pool, naming the pool it overlaps", async () => {
      const p = (await custom.getClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: KINDS.addressPool.plural, name: "overlapping" })) as { status?: { conditions?: { type: string; status: string; message: string }[] } };
      const c = p.status?.conditions?.find((x) => x.type === "Usable");
      return c?.status === "False" && c.message.includes("first-pool") ? c : undefined;
    });
    assert.match(condition.message, /first-pool/);
    const poolEvent = await waitFor("PoolSetAside event naming the pool it overlaps", async () => {
      const list = await core.listEventForAllNamespaces({ fieldSelector: "involvedObject.name=overlapping,reason=PoolSetAside" });
      return list.items.find((e) => e.message?.includes("first-pool"));
    });
    assert.equal(poolEvent.type, "Warning");
    const broken = join(mkdtempSync(join(tmpdir(), "l2lb-broken-")), "broken.yaml");
    writeFileSync(broken, "apiVersion: l2lb.dev/v1alpha1\nkind: AddressPool\nmetadata:\n  name: broken\nspec:\n  addresses: [192.0.2.250-192.0.2.240]\n");
    await assert.rejects(kubectl(lab, "apply", "-f", broken), /spec\.addresses/);
    // The burst used every IPv4 address; IPv6 ones are left.
    await core.createNamespacedService({ namespace: "default", body: { metadata: { name: "still-served" }, spec: { type: "LoadBalancer", ipFamilies: ["IPv6"], ports: [{ port: 80 }] } } });
    assert.ok((await externalIp("still-served", "default")).startsWith("2001:db8:1::"));
  });

  /** Names of the Services of a namespace that carry an assignment. */
  async function assignedIn(namespace: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const s of (await core.listNamespacedService({ namespace })).items) {
      const ips = s.metadata?.annotations?.[ANNOTATIONS.assignedIps];
      if (ips) out.set(s.metadata?.name ?? "", ips);
    }
    return out;
  }

  /** Polls until the value stays the same for 3 s. */
  async function stable<T>(read: () => Promise<Map<string, T>>): Promise<Map<string, T>> {
    let last = "";
    let since = Date.now();
    return waitFor("assignments to settle", async () => {
      const now = await read();
      const text = JSON.stringify([...now].sort());
      if (text !== last) {
        last = text;
        since = Date.now();
        return undefined;
      }
      return Date.now() - since > 3000 ? now : undefined;
    }, 180_000, 500);
  }

  function assertNoForbiddenSharing(services: k8s.V1Service[]): void {
    const holders = new Map<string, k8s.V1Service[]>();
    for (const s of services) for (const ip of (s.metadata?.annotations?.[ANNOTATIONS.assignedIps] ?? "").split(",").filter(Boolean)) holders.set(ip, [...(holders.get(ip) ?? []), s]);
    for (const [ip, list] of holders) {
      const profiles = list.map((s) => sharingProfile(serviceRequestOf(s.metadata?.namespace ?? "", s.metadata?.name ?? "", s)));
      for (let i = 1; i < profiles.length; i++) {
        const why = sharingConflict(profiles[i]!, profiles[0]!);
        assert.equal(why, undefined, `${ip} is held by ${list.map((s) => s.metadata?.name).join(", ")}: ${why}`);
      }
    }
  }

  /** `l2lb plan` over the cluster's objects, with the cluster's assignments as its state, changes nothing. */
  async function assertFixedPoint(): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), "l2lb-fixed-"));
    const objects = await kubectl(lab, "get", "services,namespaces,nodes,addresspools,l2advertisements", "-A", "-o", "json");
    writeFileSync(join(dir, "cluster.json"), objects);
    const state: Record<string, { ips: string[]; pool: string }> = {};
    for (const s of (JSON.parse(objects) as { items: k8s.V1Service[] }).items) {
      const ips = s.metadata?.annotations?.[ANNOTATIONS.assignedIps];
      if (s.kind === "Service" && ips) state[`${s.metadata?.namespace}/${s.metadata?.name}`] = { ips: ips.split(","), pool: s.metadata?.annotations?.[ANNOTATIONS.assignedPool] ?? "" };
    }
    writeFileSync(join(dir, "state.json"), JSON.stringify({ services: state, pools: {} }));
    const out = await run("bash", ["-c", `node "${root}/provider/cli/main.ts" plan -f "$1/cluster.json" --state "$1/state.json" -o json; true`, "-", dir]);
    const planned = (JSON.parse(out) as { services: Record<string, { ips?: string[]; error?: string }> }).services;
    for (const [key, was] of Object.entries(state)) assert.deepEqual(planned[key]?.ips, was.ips, `l2lb plan keeps ${key}`);
    for (const [key, outcome] of Object.entries(planned)) if (outcome.ips) assert.ok(state[key], `l2lb plan gives ${key} nothing the cluster did not`);
  }
});

/** Both families, sharing pairs, requests, and impossible ones (outside every pool, taken without a sharing key). */
function burstServices(n: number): k8s.V1Service[] {
  const out: k8s.V1Service[] = [];
  for (let i = 0; i < n; i++) {
    const name = `svc-${String(i).padStart(3, "0")}`;
    const annotations: Record<string, string> = {};
    const spec: k8s.V1ServiceSpec = { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }], selector: { app: name } };
    if (i < 10) annotations["metallb.io/loadBalancerIPs"] = `198.51.100.${i + 1}`;
    else if (i < 20) Object.assign(spec, { ipFamilies: ["IPv6"], loadBalancerIP: "2001:db8:1::1f00" });
    else if (i < 60) {
      annotations["metallb.io/allow-shared-ip"] = `pair-${Math.floor(i / 2)}`;
      spec.ports = [{ port: 80 + (i % 2), protocol: "TCP" }];
    } else if (i < 80) Object.assign(spec, { ipFamilies: ["IPv6"] }, { loadBalancerIP: `2001:db8:1::1e${String(i).padStart(2, "0")}` });
    else if (i < 200) Object.assign(spec, { ipFamilies: ["IPv4"] });
    else if (i % 2 === 0) Object.assign(spec, { ipFamilies: ["IPv6", "IPv4"], ipFamilyPolicy: "PreferDualStack" });
    else Object.assign(spec, { ipFamilies: ["IPv6"], ipFamilyPolicy: "SingleStack" });
    out.push({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: "burst", annotations }, spec });
  }
  return out;
}
