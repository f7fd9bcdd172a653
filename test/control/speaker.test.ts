// Speakers against a real kube-apiserver (RBAC on), each in its own node namespace on one L2
// segment, running with a token of a ServiceAccount bound to exactly the installation's rules.
// Skips, saying why, without root, the lab tools or the data plane addon.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { ANNOTATIONS, API_GROUP, API_VERSION, GENERATED_HEARTBEAT_KEY_SECRET, KINDS, LOAD_BALANCER_CLASS, NODE_SUBNETS_ANNOTATION } from "../../provider/core/model/contract.ts";
import { elect } from "../../runtime/election/rank.ts";
import { ClientWatch, nowMs } from "../bench/client-watch.ts";
import { applyPool, arping, kubectl, labUnavailable, nodeMacs, run, sleep, startLab, startSpeaker, speakerObjects, stopSpeaker, waitFor, waitForMembers, type Lab, type SpeakerProcess } from "./harness.ts";

const NODES = ["node-a", "node-b", "node-c"];
const skip = await labUnavailable();

describe("speaker control plane on a real API server", { skip: skip ?? false, timeout: 600_000 }, () => {
  let lab: Lab;
  let core: k8s.CoreV1Api;
  let macs: Map<string, string>;
  const speakers = new Map<string, SpeakerProcess>();

  before(async () => {
    lab = await startLab("ctl", NODES);
    core = lab.admin.makeApiClient(k8s.CoreV1Api);
    macs = await nodeMacs(lab);
    await applyPool(lab.admin, "lan", { addresses: ["192.0.2.200-192.0.2.230"] });
    await applyPool(lab.admin, "dual", { addresses: ["192.0.2.232/30", "2001:db8:1::200/124"] });
    await applyPool(lab.admin, "team-only", { addresses: ["192.0.2.240/29"], serviceAllocation: { namespaces: ["team"] } });
    await applyPool(lab.admin, "all", { ipAddressPools: ["lan", "team-only", "dual"] }, "advertisement");
    for (const n of NODES) speakers.set(n, startSpeaker(lab, n));
    await waitForMembers(lab, 3);
  });

  after(async () => {
    // L2LB_KEEP_LAB=1 leaves everything running for inspection (then: network.sh/cluster.sh down).
    if (process.env.L2LB_KEEP_LAB === "1") return;
    for (const s of speakers.values()) await stopSpeaker(s);
    if (lab) await lab.down();
  });

  async function service(name: string, ips: string, extra: Partial<k8s.V1ServiceSpec> = {}, namespace = "default"): Promise<void> {
    await core.createNamespacedService({
      namespace,
      body: {
        metadata: { name, namespace, annotations: { [ANNOTATIONS.assignedIps]: ips, [ANNOTATIONS.sharingKey]: "shared" } },
        spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS, ports: [{ name: `p-${name}`, port: 80 + name.length, protocol: "TCP" }], selector: { app: name }, ...extra },
      },
    });
  }
  const readSvc = (name: string, namespace = "default") => core.readNamespacedService({ name, namespace });
  const mergePatch = () => k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
  /** What `pulumi destroy` of a Service patch does: back to ClusterIP, without class and assignment. */
  const leave = (name: string) =>
    core.patchNamespacedService(
      { name, namespace: "default", body: { metadata: { annotations: { [ANNOTATIONS.assignedIps]: null, [ANNOTATIONS.sharingKey]: null } }, spec: { type: "ClusterIP", loadBalancerClass: null } } },
      mergePatch(),
    );
  const announcedBy = async (name: string) => (await readSvc(name)).metadata?.annotations?.[ANNOTATIONS.announcedBy];
  const ingressOf = async (name: string) => ((await readSvc(name)).status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname);
  /** Every address of the earlier tests back on its winner (after speakers were restarted). */
  // By process id: a handle's exit fields say nothing about a process that was never reaped.
  function running(p: SpeakerProcess | undefined): boolean {
    if (p?.child.pid === undefined || p.child.exitCode !== null || p.child.signalCode !== null) return false;
    try {
      process.kill(p.child.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async function settled(): Promise<void> {
    for (const n of NODES) assert.ok(running(speakers.get(n)), `the speaker on ${n} is running`);
    // Three leases renewed within the last 3 s: a killed speaker's lease lingers until it expires.
    await waitFor("three fresh speaker leases", async () => {
      const items = await speakerObjects(lab, "lease");
      const fresh = items.filter((l) => l.spec?.renewTime !== undefined && Date.now() - new Date(l.spec.renewTime).getTime() < 3000);
      return fresh.length === 3 ? true : undefined;
    }, 30_000);
    for (const [name, ip] of [["web", "192.0.2.201"], ["shared-tcp", "192.0.2.210"]] as const) {
      await waitFor(`${name} back on its winner`, async () => ((await announcedBy(name)) === `${ip}=${elect(NODES, ip)}/eth0` ? true : undefined), 30_000);
    }
  }

  it("runs with exactly the granted permissions (and no more)", async () => {
    const sa = new k8s.KubeConfig();
    sa.loadFromFile(lab.speakerKubeconfig);
    await assert.rejects(sa.makeApiClient(k8s.CoreV1Api).listSecretForAllNamespaces(), (e: { code?: number }) => e.code === 403);
    await assert.rejects(sa.makeApiClient(k8s.CoreV1Api).deleteNamespacedService({ name: "x", namespace: "default" }), (e: { code?: number }) => e.code === 403);
    const nodes = await sa.makeApiClient(k8s.CoreV1Api).listNode();
    assert.equal(nodes.items.length, 3);
  });

  it("authenticates heartbeats by default: the speakers share a generated key only they (and admins) may read", async () => {
    const sa = new k8s.KubeConfig();
    sa.loadFromFile(lab.speakerKubeconfig);
    const asSpeaker = sa.makeApiClient(k8s.CoreV1Api);
    const namespace = "l2lb-system";
    const secret = await asSpeaker.readNamespacedSecret({ name: GENERATED_HEARTBEAT_KEY_SECRET, namespace });
    assert.match(Buffer.from(secret.data?.key ?? "", "base64").toString(), /^[0-9a-f]{64}$/);
    await core.createNamespacedSecret({ namespace, body: { metadata: { name: "someone-elses" }, stringData: { password: "x" } } });
    await assert.rejects(asSpeaker.readNamespacedSecret({ name: "someone-elses", namespace }), (e: { code?: number }) => e.code === 403);
    await assert.rejects(asSpeaker.listNamespacedSecret({ namespace }), (e: { code?: number }) => e.code === 403);
    for (const n of NODES) assert.ok(!(await readFile(speakers.get(n)?.logPath as string, "utf8")).includes("heartbeats unauthenticated: no heartbeat key"), `${n} runs with a key`);
  });

  it("publishes each node's subnets on its Node", async () => {
    for (const n of NODES) {
      const subnets = await waitFor(`subnets of ${n}`, async () => {
        const v = (await core.readNode({ name: n })).metadata?.annotations?.[NODE_SUBNETS_ANNOTATION];
        return v ? (JSON.parse(v) as { interface: string; cidr: string }[]) : undefined;
      });
      assert.ok(subnets.some((s) => s.interface === "eth0" && s.cidr === "192.0.2.0/24"), JSON.stringify(subnets));
    }
  });

  it("gives a Service of our class its EXTERNAL-IP and announces it from the elected node", async () => {
    const ip = "192.0.2.201";
    await service("web", ip);
    const svc = await waitFor("ingress of web", async () => {
      const s = await readSvc("web");
      return s.status?.loadBalancer?.ingress?.[0]?.ip === ip ? s : undefined;
    });
    assert.deepEqual(svc.status?.loadBalancer?.ingress?.map((i) => i.ip), [ip]);
    const owner = elect(NODES, ip) as string;
    const ann = await waitFor("announced-by", async () => (await readSvc("web")).metadata?.annotations?.[ANNOTATIONS.announcedBy]);
    assert.equal(ann, `${ip}=${owner}/eth0`);
    const replies = await waitFor("ARP replies", async () => {
      const r = await arping(lab, ip, 3);
      return r.length >= 3 ? r : undefined;
    });
    assert.deepEqual([...new Set(replies)], [macs.get(owner)]);
    const events = await waitFor("Announcing event", async () => {
      const ev = await core.listNamespacedEvent({ namespace: "default", fieldSelector: "involvedObject.name=web" });
      return ev.items.some((e) => e.reason === "Announcing") ? ev.items : undefined;
    });
    assert.ok(events.some((e) => e.reason === "Announcing" && e.message?.includes(`from node ${owner}`)));
  });

  it("refuses an address outside its pools (the gateway) with a Warning event and never answers for it", async () => {
    await service("gateway-thief", "192.0.2.1");
    const ev = await waitFor("AddressRefused event", async () => {
      const list = await core.listNamespacedEvent({ namespace: "default", fieldSelector: "involvedObject.name=gateway-thief" });
      return list.items.find((e) => e.reason === "AddressRefused");
    });
    assert.equal(ev.type, "Warning");
    assert.match(ev.message ?? "", /192\.0\.2\.1 is not in any AddressPool/);
    await sleep(1000);
    assert.equal((await readSvc("gateway-thief")).status?.loadBalancer?.ingress, undefined);
    assert.deepEqual(await arping(lab, "192.0.2.1", 2), []);
  });

  it("refuses an address of a pool that does not serve the Service's namespace", async () => {
    await service("intruder", "192.0.2.241");
    const ev = await waitFor("AddressRefused event", async () => {
      const list = await core.listNamespacedEvent({ namespace: "default", fieldSelector: "involvedObject.name=intruder" });
      return list.items.find((e) => e.reason === "AddressRefused");
    });
    assert.match(ev.message ?? "", /team-only/);
    assert.deepEqual(await arping(lab, "192.0.2.241", 2), []);
  });

  it("announces an address shared by two Services from one node", async () => {
    const ip = "192.0.2.210";
    await service("shared-tcp", ip);
    await service("shared-udp", ip, { ports: [{ name: "dns", port: 53, protocol: "UDP" }] });
    const owner = elect(NODES, ip) as string;
    for (const name of ["shared-tcp", "shared-udp"]) {
      await waitFor(`ingress of ${name}`, async () => ((await readSvc(name)).status?.loadBalancer?.ingress?.[0]?.ip === ip ? true : undefined));
      const ann = await waitFor(`announced-by of ${name}`, async () => (await readSvc(name)).metadata?.annotations?.[ANNOTATIONS.announcedBy]);
      assert.equal(ann, `${ip}=${owner}/eth0`);
    }
    const replies = await arping(lab, ip, 5);
    assert.equal(replies.length, 5);
    assert.deepEqual([...new Set(replies)], [macs.get(owner)]);
  });

  it("Local policy: announced only from a node running a ready endpoint, by nobody without one", async () => {
    const ip = "192.0.2.220";
    const winner = elect(NODES, ip) as string;
    const target = NODES.find((n) => n !== winner) as string;
    await core.createNamespacedPod({
      namespace: "default",
      body: { metadata: { name: "local-app", labels: { app: "local-app" } }, spec: { nodeName: target, containers: [{ name: "app", image: "registry.invalid/app:1" }] } },
    });
    await service("local", ip, { externalTrafficPolicy: "Local", selector: { app: "local-app" } });
    await waitFor("announced from the endpoint's node", async () => ((await readSvc("local")).metadata?.annotations?.[ANNOTATIONS.announcedBy] === `${ip}=${target}/eth0` ? true : undefined), 60_000);
    assert.deepEqual([...new Set(await arping(lab, ip, 3))], [macs.get(target)]);
    await core.deleteNamespacedPod({ name: "local-app", namespace: "default", gracePeriodSeconds: 0 });
    await waitFor("NoReadyEndpoint event", async () => {
      const list = await core.listNamespacedEvent({ namespace: "default", fieldSelector: "involvedObject.name=local" });
      return list.items.some((e) => e.reason === "NoReadyEndpoint") || undefined;
    }, 60_000);
    await waitFor("announced-by removed", async () => ((await readSvc("local")).metadata?.annotations?.[ANNOTATIONS.announcedBy] === undefined ? true : undefined), 15_000);
    assert.deepEqual(await arping(lab, ip, 2), []);
    assert.deepEqual((await readSvc("local")).status?.loadBalancer?.ingress?.map((i) => i.ip), [ip], "the address stays assigned");
    await core.deleteNamespacedService({ name: "local", namespace: "default" });
  });

  it("dual-stack: one election per family, NDP answered by the IPv6 address's owner", async () => {
    const v4 = "192.0.2.233";
    const v6 = "2001:db8:1::201";
    await service("dual", `${v4},${v6}`);
    const o4 = elect(NODES, v4) as string;
    const o6 = elect(NODES, v6) as string;
    const want = [`${v4}=${o4}/eth0`, `${v6}=${o6}/eth0`].sort().join(",");
    await waitFor("announced-by for both families", async () => ((await readSvc("dual")).metadata?.annotations?.[ANNOTATIONS.announcedBy] === want ? true : undefined), 20_000);
    assert.deepEqual((await readSvc("dual")).status?.loadBalancer?.ingress?.map((i) => i.ip), [v4, v6]);
    const text = await run("ip", ["netns", "exec", lab.clientNs, "ndisc6", "-n", "-r", "3", "-w", "500", v6, "eth0"]).catch((e: Error) => e.message);
    const mac = /Target link-layer address:\s*([0-9A-Fa-f:]{17})/.exec(text)?.[1]?.toLowerCase();
    assert.equal(mac, macs.get(o6), text);
    await core.deleteNamespacedService({ name: "dual", namespace: "default" });
  });

  it("stops announcing a Service that leaves l2lb; its announcer removes announced-by", async () => {
    const ip = "192.0.2.225";
    await service("leaver", ip);
    const owner = elect(NODES, ip) as string;
    const announced = async (): Promise<void> => {
      await waitFor("announced-by of leaver", async () => ((await announcedBy("leaver")) === `${ip}=${owner}/eth0` ? true : undefined));
      await waitFor("ingress of leaver", async () => ((await ingressOf("leaver")).join() === ip ? true : undefined));
      assert.deepEqual([...new Set(await arping(lab, ip, 2))], [macs.get(owner)]);
    };
    const gone = async (): Promise<void> => {
      await waitFor("announced-by removed", async () => ((await announcedBy("leaver")) === undefined ? true : undefined), 10_000);
      await waitFor("ingress removed", async () => ((await ingressOf("leaver")).length === 0 ? true : undefined), 10_000);
      await waitFor(`silence for ${ip}`, async () => ((await arping(lab, ip, 1)).length === 0 ? true : undefined), 10_000);
    };
    await announced();
    // (Removing only the assignment no longer makes a Service leave: still of l2lb's class, the
    // in-cluster allocator gives it an address again — test/control/allocator.test.ts.)
    // Out of l2lb altogether, as pulumi destroy of a Service patch leaves it.
    await leave("leaver");
    await gone();
    const s = await readSvc("leaver");
    assert.equal(s.spec?.type, "ClusterIP");
    assert.deepEqual(Object.keys(s.metadata?.annotations ?? {}).filter((k) => k.startsWith("l2lb.dev/")), []);
    // And it stays clean: no speaker writes anything back.
    await sleep(1500);
    assert.equal(await announcedBy("leaver"), undefined);
    await core.deleteNamespacedService({ name: "leaver", namespace: "default" });
  });

  it("a restarted speaker removes its stale announced-by, and only its own ingress entries, from a Service that left while it was down", async () => {
    const ip = "192.0.2.226";
    const foreign = "198.51.100.7";
    const name = "left-while-down";
    await service(name, ip);
    const owner = elect(NODES, ip) as string;
    await waitFor("announced-by", async () => ((await announcedBy(name)) === `${ip}=${owner}/eth0` ? true : undefined));
    await waitFor("ingress", async () => ((await ingressOf(name)).join() === ip ? true : undefined));
    // Every speaker dies at once: nobody is left to clean up.
    await Promise.all([...speakers.values()].map((p) => stopSpeaker(p, "SIGKILL")));
    try {
      // Meanwhile the Service goes to another implementation (the API server drops the ingress
      // with the type), which publishes its own address; the stale ingress entry stands for one
      // that a speaker could not remove in time.
      await leave(name);
      await core.patchNamespacedService({ name, namespace: "default", body: { spec: { type: "LoadBalancer", loadBalancerClass: "example.com/other" } } }, mergePatch());
      await core.patchNamespacedServiceStatus({ name, namespace: "default", body: { status: { loadBalancer: { ingress: [{ ip }, { ip: foreign }] } } } }, mergePatch());
      assert.equal(await announcedBy(name), `${ip}=${owner}/eth0`);
      assert.deepEqual(await ingressOf(name), [ip, foreign]);
      // The announcer comes back first: it removes its entries, and nothing else.
      speakers.set(owner, startSpeaker(lab, owner));
      await waitFor("stale announced-by removed", async () => ((await announcedBy(name)) === undefined ? true : undefined), 30_000);
      assert.deepEqual(await ingressOf(name), [foreign], "the other implementation's entry stays");
    } finally {
      for (const n of NODES) if (!running(speakers.get(n))) speakers.set(n, startSpeaker(lab, n));
    }
    await settled();
    assert.deepEqual(await ingressOf(name), [foreign]);
    assert.equal(await announcedBy(name), undefined);
    await core.deleteNamespacedService({ name, namespace: "default" });
  });

  it("shows pool usage on the AddressPool status", async () => {
    const custom = lab.admin.makeApiClient(k8s.CustomObjectsApi);
    const status = await waitFor("pool status", async () => {
      const p = (await custom.getClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural: KINDS.addressPool.plural, name: "lan" })) as { status?: { assigned?: number; announced?: number; services?: number; addresses?: string } };
      return p.status?.assigned === 2 && p.status.services === 3 ? p.status : undefined;
    });
    const { conditions, ...usage } = status as typeof status & { conditions?: { type: string; status: string }[] };
    assert.deepEqual(usage, { assigned: 2, announced: 2, services: 3, addresses: "31" });
    assert.deepEqual(conditions?.map((c) => [c.type, c.status]), [["Usable", "True"]]);
    // kubectl get shows the usage columns with these numbers.
    const cols = await kubectl(lab, "get", "addresspools", "lan", "-o", "custom-columns=NAME:.metadata.name,TOTAL:.status.addresses,ASSIGNED:.status.assigned,ANNOUNCED:.status.announced,SERVICES:.status.services", "--no-headers");
    assert.deepEqual(cols.trim().split(/\s+/), ["lan", "31", "2", "2", "3"]);
    const table = await kubectl(lab, "get", "addresspools", "-o", "wide");
    process.stderr.write(table.replace(/^/gm, "    "));
    const lines = table.trim().split("\n");
    assert.match(lines[0] ?? "", /^NAME\s+ADDRESSES\s+TOTAL\s+ASSIGNED\s+ANNOUNCED\s+SERVICES\s+USABLE\s+AUTO ASSIGN\s+AVOID BUGGY IPS\s+AGE$/);
    assert.match(lines.find((l) => l.startsWith("lan ")) ?? "", /^lan\s+\["192\.0\.2\.200-192\.0\.2\.230"\]\s+31\s+2\s+2\s+3\s+True\s+/);
  });

  it("hands an address over at once on graceful shutdown", async () => {
    const ip = "192.0.2.201";
    const owner = elect(NODES, ip) as string;
    const next = elect(NODES.filter((n) => n !== owner), ip) as string;
    await settled();
    await stopSpeaker(speakers.get(owner) as SpeakerProcess, "SIGTERM");
    const ann = await waitFor("new announcer", async () => {
      const a = (await readSvc("web")).metadata?.annotations?.[ANNOTATIONS.announcedBy];
      return a?.startsWith(`${ip}=${next}/`) ? a : undefined;
    }, 15_000);
    assert.equal(ann, `${ip}=${next}/eth0`);
    const replies = await arping(lab, ip, 3);
    assert.deepEqual([...new Set(replies)], [macs.get(next)]);
    // The Lease and member record of the stopped speaker are gone.
    const names = async (kind: "member" | "lease"): Promise<string[]> => (await speakerObjects(lab, kind)).map((l) => l.metadata?.name ?? "").sort();
    assert.deepEqual(await names("lease"), NODES.filter((n) => n !== owner).map((n) => `l2lb-speaker-${n}`).sort());
    assert.deepEqual(await names("member"), NODES.filter((n) => n !== owner).map((n) => `l2lb-member-${n}`).sort());
    // Back again: the address returns to its winner, still answered by exactly one node.
    speakers.set(owner, startSpeaker(lab, owner));
    await waitFor("address back on its winner", async () => {
      const a = (await readSvc("web")).metadata?.annotations?.[ANNOTATIONS.announcedBy];
      return a === `${ip}=${owner}/eth0` || undefined;
    }, 30_000);
    const back = await arping(lab, ip, 3);
    assert.deepEqual([...new Set(back)], [macs.get(owner)]);
  });

  it("a speaker frozen for 10 s (SIGSTOP) sends nothing for the address its peer took over, not even the requests queued while it was stopped", async (t) => {
    const ip = "192.0.2.201";
    const owner = elect(NODES, ip) as string;
    const next = elect(NODES.filter((n) => n !== owner), ip) as string;
    const [ownerMac, nextMac] = [macs.get(owner) as string, macs.get(next) as string];
    await settled();
    const watch = ClientWatch.start(lab, [ip], 10, { frames: true });
    try {
      await watch.waitAnsweredBy(ip, ownerMac, 15_000);
      const child = (speakers.get(owner) as SpeakerProcess).child;
      const stoppedAt = nowMs();
      child.kill("SIGSTOP");
      await watch.waitAnsweredBy(ip, nextMac, 15_000);
      await sleep(Math.max(0, stoppedAt + 10_000 - nowMs()));
      const resumedAt = nowMs();
      child.kill("SIGCONT");
      // It is alive again and the election's winner: the address comes back by the usual hand-over.
      await watch.waitAnsweredBy(ip, ownerMac, 30_000);
      await sleep(2000);
      const after = (mac: string) => watch.frames.filter((f) => f.vip === ip && f.mac === mac && f.ts >= resumedAt).map((f) => f.ts);
      const fromOwner = after(ownerMac);
      const lastFromNext = Math.max(...after(nextMac));
      const overlapping = fromOwner.filter((ts) => ts <= lastFromNext);
      t.diagnostic(`frozen ${owner}: ${next} answered ${((watch.firstAnswerNotFrom(ip, ownerMac, stoppedAt)?.ts ?? NaN) - stoppedAt).toFixed(0)} ms after SIGSTOP; after SIGCONT ${owner} sent its first frame for ${ip} at +${((fromOwner[0] ?? NaN) - resumedAt).toFixed(0)} ms, ${next} its last at +${(lastFromNext - resumedAt).toFixed(0)} ms`);
      assert.deepEqual(overlapping.map((ts) => Math.round(ts - resumedAt)), [], `frames from the resumed ${owner} while ${next} still answered (ms after SIGCONT)`);
      assert.equal(watch.dualsBetween(ip, stoppedAt, nowMs()), 0, "probe rounds answered by two nodes");
    } finally {
      watch.stop();
      (speakers.get(owner) as SpeakerProcess).child.kill("SIGCONT");
    }
  });

  it("gives an address up when the announcing interface goes down, and takes it back when it returns", async () => {
    const ip = "192.0.2.210";
    const owner = elect(NODES, ip) as string;
    const next = elect(NODES.filter((n) => n !== owner), ip) as string;
    await run("ip", ["-n", lab.ns(owner), "link", "set", "eth0", "down"]);
    try {
      await waitFor("announced by the next node", async () => ((await readSvc("shared-tcp")).metadata?.annotations?.[ANNOTATIONS.announcedBy] === `${ip}=${next}/eth0` ? true : undefined), 15_000);
      const replies = await arping(lab, ip, 3);
      assert.deepEqual([...new Set(replies)], [macs.get(next)]);
      const subnets = JSON.parse((await core.readNode({ name: owner })).metadata?.annotations?.[NODE_SUBNETS_ANNOTATION] ?? "[]") as unknown[];
      assert.deepEqual(subnets, [], "a node publishes no subnet of a down interface");
    } finally {
      await run("ip", ["-n", lab.ns(owner), "link", "set", "eth0", "up"]);
    }
    await waitFor("back on its winner", async () => ((await readSvc("shared-tcp")).metadata?.annotations?.[ANNOTATIONS.announcedBy] === `${ip}=${owner}/eth0` ? true : undefined), 30_000);
    await waitFor("answered by its winner again", async () => {
      const r = await arping(lab, ip, 2);
      return r.length === 2 && r.every((m) => m === macs.get(owner)) ? true : undefined;
    }, 15_000, 500);
  });

  it("exposes metrics, /healthz and /readyz", async () => {
    const node = NODES[0] as string;
    const get = (path: string) => run("ip", ["netns", "exec", lab.ns(node), "curl", "-s", "-o", "-", "-w", "\n%{http_code}", `http://127.0.0.1:7472${path}`]);
    assert.match(await get("/readyz"), /ok\n+200$/);
    assert.match(await get("/healthz"), /ok\n+200$/);
    const metrics = await get("/metrics");
    for (const name of ["l2lb_speaker_announced", "l2lb_election_changes_total", "l2lb_lease_renew_seconds_bucket", "l2lb_heartbeats_received_total", "l2lb_api_healthy 1"]) {
      assert.ok(metrics.includes(name), `${name} missing`);
    }
  });
});
