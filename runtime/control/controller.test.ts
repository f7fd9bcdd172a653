// The controller against fakes (testing.ts): an in-memory API server, an in-memory heartbeat
// network, a recording data plane and a fake clock. No root, no lab, no real time: what the
// real-apiserver tests (test/control/) prove slowly, the main paths proved in a second.
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { ANNOTATIONS, API_GROUP_VERSION, KINDS, LOAD_BALANCER_CLASS, NODE_SUBNETS_ANNOTATION } from "../../provider/core/model/contract.ts";
import { inProcessPlanner } from "../allocator/planner.ts";
import { ALLOCATOR_KEY, STATUS_WRITER_KEY, elect } from "../election/rank.ts";
import { Controller, type LivenessMode } from "./controller.ts";
import { ringOrder, successors } from "./ring.ts";
import type { ControlApi } from "./kube-api.ts";
import { FakeApiServer, FakeDataPlane, FakeHeartbeatNetwork, FreezableClock, TestClock } from "./testing.ts";

const NAMESPACE = "l2lb-system";

interface Speaker {
  controller: Controller;
  dataPlane: FakeDataPlane;
  /** Freezes the whole speaker (its timers, heartbeats and informer events), as SIGSTOP does. */
  clock: FreezableClock;
  registry: Registry;
}

/** A cluster of `nodes` on 192.0.2.0/24 with one pool and one advertisement, and its speakers. */
class Cluster {
  readonly clock = new TestClock();
  readonly api = new FakeApiServer(this.clock);
  readonly net = new FakeHeartbeatNetwork(this.clock);
  readonly speakers = new Map<string, Speaker>();
  readonly nodes: string[];
  readonly liveness: LivenessMode;

  constructor(nodes: string[], liveness: LivenessMode = "ring") {
    this.nodes = nodes;
    this.liveness = liveness;
    this.api.put("namespace", { metadata: { name: "default" } });
    this.api.put("pool", { apiVersion: API_GROUP_VERSION, kind: KINDS.addressPool.kind, metadata: { name: "lan", creationTimestamp: new Date("2026-01-01T00:00:00Z") }, spec: { addresses: ["192.0.2.100-192.0.2.199"] } });
    this.api.put("advertisement", { apiVersion: API_GROUP_VERSION, kind: KINDS.l2Advertisement.kind, metadata: { name: "all" }, spec: {} });
    nodes.forEach((name, i) => this.api.put("node", { metadata: { name }, status: { addresses: [{ type: "InternalIP", address: this.addressOf(i) }] } }));
  }

  private addressOf(i: number): string {
    return `192.0.2.${11 + i}`;
  }

  async start(nodes = this.nodes): Promise<void> {
    for (const node of nodes) await this.startNode(node);
  }

  /** Starts the speaker of `node` (one of the cluster's nodes). */
  async startNode(node: string): Promise<void> {
    const i = this.nodes.indexOf(node);
    // The data plane's deadline runs on real (shared) time, like CLOCK_MONOTONIC in the addon.
    const dataPlane = new FakeDataPlane(this.clock, this.addressOf(i));
    const clock = new FreezableClock(this.clock);
    const registry = new Registry();
    const sources = this.api.sources(node);
    const controller = new Controller({
      node,
      namespace: NAMESPACE,
      api: this.api.client(node),
      sources: (o) => sources({ ...o, onChange: clock.gate(o.onChange) }),
      clock,
      heartbeat: (o) => this.net.endpoint(o, clock),
      planner: inProcessPlanner(),
      logger: pino({ level: "silent" }),
      registry,
      dataPlane,
      heartbeatPort: 7473,
      liveness: this.liveness,
    });
    await controller.start();
    this.speakers.set(node, { controller, dataPlane, clock, registry });
  }

  /** Checks every 10 ms for `ms` that no address of `ips` has two announcers. */
  async neverTwo(ips: string[], ms: number): Promise<void> {
    const since = this.clock.now();
    while (this.clock.now() - since < ms) {
      await this.clock.advance(10);
      for (const ip of ips) assert.ok(this.announcers(ip).length <= 1, `two answer for ${ip}: ${this.announcers(ip).join()}`);
    }
  }

  service(name: string, ip: string): void {
    this.api.put("service", {
      metadata: { name, namespace: "default", annotations: { [ANNOTATIONS.assignedIps]: ip } },
      spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS, ports: [{ port: 80, protocol: "TCP" }] },
    });
  }

  svc(name: string): k8s.V1Service | undefined {
    return this.api.get<k8s.V1Service>("service", "default", name);
  }

  /** The nodes whose data plane answers for `ip`. */
  announcers(ip: string): string[] {
    return [...this.speakers].filter(([, s]) => s.dataPlane.ips().includes(ip)).map(([n]) => n);
  }

  /** Times at which `node`'s data plane was told to answer for `ip` after `since`. */
  gained(node: string, ip: string, since = -Infinity): number[] {
    return (this.speakers.get(node)?.dataPlane.history ?? []).filter((h) => h.at > since && h.ips.includes(ip)).map((h) => h.at);
  }

  async stop(): Promise<void> {
    for (const s of this.speakers.values()) s.clock.thaw();
    this.api.down = false;
    this.api.blocked.clear();
    const stopped = Promise.all([...this.speakers.values()].map((s) => s.controller.stop()));
    await this.clock.advance(2000);
    await stopped;
  }
}

/** An address of the pool whose winner among `among` is `node`. */
function ipWonBy(node: string, among: string[], exclude: string[] = []): string {
  for (let i = 100; i < 200; i++) {
    const ip = `192.0.2.${i}`;
    if (!exclude.includes(ip) && elect(among, ip) === node) return ip;
  }
  throw new Error(`no address won by ${node}`);
}

/** Three speakers answering a Service whose address node-b wins; `next` wins it without node-b. */
async function threeNodesWithAddressOfNodeB(liveness: LivenessMode): Promise<{ c: Cluster; ip: string; next: string }> {
  const nodes = ["node-a", "node-b", "node-c"];
  const ip = ipWonBy("node-b", nodes);
  const next = elect(["node-a", "node-c"], ip) as string;
  const c = (cluster = new Cluster(nodes, liveness));
  c.service("web", ip);
  await c.start();
  await c.clock.advance(3000);
  assert.deepEqual(c.announcers(ip), ["node-b"]);
  return { c, ip, next };
}

/** Gaps between successive times. */
const gaps = (times: number[]): number[] => times.slice(1).map((t, i) => t - (times[i] as number));

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

for (const liveness of ["ring", "mesh"] as const)
describe(`controller with a fake API server, heartbeat network and clock (${liveness} liveness)`, () => {
  it("announces a Service's assigned address and writes its status, announced-by, events, pool usage and node subnets", async () => {
    const c = (cluster = new Cluster(["node-a"], liveness));
    c.service("web", "192.0.2.150");
    await c.start();
    await c.clock.advance(3000);
    const { dataPlane } = c.speakers.get("node-a") as Speaker;
    assert.deepEqual(dataPlane.owned, [{ ip: "192.0.2.150", interfaces: ["eth0"] }]);
    const svc = c.svc("web");
    assert.deepEqual(svc?.status?.loadBalancer?.ingress, [{ ip: "192.0.2.150" }]);
    assert.equal(svc?.metadata?.annotations?.[ANNOTATIONS.announcedBy], "192.0.2.150=node-a/eth0");
    const reasons = c.api.events.filter((e) => e.involvedObject.name === "web").map((e) => e.reason);
    assert.ok(reasons.includes("Announcing") && reasons.includes("AddressAssigned"), reasons.join());
    const pool = c.api.get<{ status?: Record<string, unknown> } & k8s.KubernetesObject>("pool", undefined, "lan");
    assert.equal(pool?.status?.assigned, 1);
    assert.equal(pool?.status?.announced, 1);
    const node = c.api.get<k8s.V1Node>("node", undefined, "node-a");
    assert.equal(node?.metadata?.annotations?.[NODE_SUBNETS_ANNOTATION], JSON.stringify([{ interface: "eth0", cidr: "192.0.2.0/24", address: "192.0.2.11" }]));
  });

  it("a peer that loses one signal keeps its address; one that loses both is taken over by the next node, before its Lease expires", async () => {
    const { c, ip, next } = await threeNodesWithAddressOfNodeB(liveness);

    // Heartbeats lost (UDP dropped both ways), renewals go on: nobody moves.
    let since = c.clock.now();
    c.net.isolate("node-b");
    await c.clock.advance(8000);
    assert.deepEqual(c.announcers(ip), ["node-b"], "heartbeats lost alone");
    assert.deepEqual(c.gained(next, ip, since), [], "no takeover on lost heartbeats alone");
    c.net.dropped.clear();
    await c.clock.advance(1000);

    // API lost (renewals fail, its Lease expires), heartbeats go on: fail-static, nobody moves.
    since = c.clock.now();
    c.api.blocked.add("node-b");
    await c.clock.advance(10_000);
    assert.deepEqual(c.announcers(ip), ["node-b"], "API lost alone");
    assert.deepEqual(c.gained(next, ip, since), [], "no takeover on lost renewals alone");
    c.api.blocked.delete("node-b");
    await c.clock.advance(3000);
    assert.deepEqual(c.announcers(ip), ["node-b"]);

    // Both lost (a crash, or a partition from the API and the peers): the next node takes over on
    // the quick path, and node-b, isolated, stops answering.
    since = c.clock.now();
    c.net.isolate("node-b");
    c.api.blocked.add("node-b");
    while (!c.announcers(ip).includes(next) && c.clock.now() - since < 10_000) await c.clock.advance(100);
    const took = c.clock.now() - since;
    assert.ok(took >= 700 && took < 5000, `taken over after ${took} ms (quick path, before the 5 s Lease expiry)`);
    await c.clock.advance(3000);
    assert.deepEqual(c.announcers(ip), [next], "only the next node answers; the isolated one released");
  });

  it("a write the API server keeps refusing (403) is retried with exponential backoff, and the address stays announced", async () => {
    const c = (cluster = new Cluster(["node-a"], liveness));
    const refused: (keyof ControlApi)[] = ["patchServiceIngress", "patchServiceAnnotations", "patchNodeAnnotations"];
    c.api.refuse = (method) => (refused.includes(method) ? 403 : undefined);
    c.service("web", "192.0.2.150");
    await c.start();
    await c.clock.advance(120_000);
    assert.deepEqual(c.speakers.get("node-a")?.dataPlane.ips(), ["192.0.2.150"]);
    for (const [method, target] of [
      ["patchServiceIngress", "default/web"],
      ["patchServiceAnnotations", "default/web"],
      ["patchNodeAnnotations", "node-a"],
    ] as const) {
      const times = c.api.callsOf(method, target).map((x) => x.at);
      // 100 ms doubling per failure up to the 30 s cap, each ± 10 % (jitter; the fake clock runs
      // timers in 100 ms steps, hence the slack): 11 to 13 attempts in two minutes, not ~1200.
      const doubling = [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000, 30_000];
      gaps(times).forEach((g, i) => {
        const want = doubling[i] as number;
        assert.ok(g >= want * 0.9 - 100 && g <= want * 1.1 + 100, `${method}: gap ${i} is ${g} ms, want ${want} ± 10 %: ${gaps(times).join(", ")}`);
      });
      assert.ok(times.length >= 10 && times.length <= 13, `${method}: ${times.length} attempts`);
    }
  });

  it("an API outage keeps every data plane answering (fail-static), with no hand-over during or after it", async () => {
    const nodes = ["node-a", "node-b", "node-c"];
    const ips: string[] = [];
    for (const n of nodes) ips.push(ipWonBy(n, nodes, ips));
    const c = (cluster = new Cluster(nodes, liveness));
    ips.forEach((ip, i) => c.service(`web-${i}`, ip));
    await c.start();
    await c.clock.advance(3000);
    const owners = (): string[][] => ips.map((ip) => c.announcers(ip));
    assert.deepEqual(owners(), nodes.map((n) => [n]));
    const since = c.clock.now();
    c.api.down = true;
    await c.clock.advance(60_000);
    assert.deepEqual(owners(), nodes.map((n) => [n]), "during the outage");
    for (const n of nodes) assert.deepEqual(c.speakers.get(n)?.dataPlane.history.filter((h) => h.at > since), [], `${n}: data plane untouched during the outage`);
    // Renewals keep trying, about once a second per node, not in a tight loop.
    const renewals = c.api.calls.filter((x) => x.at > since && x.method === "replaceLease").length;
    assert.ok(renewals <= 3 * 61, `${renewals} lease writes in 60 s`);
    c.api.down = false;
    await c.clock.advance(10_000);
    assert.deepEqual(owners(), nodes.map((n) => [n]), "after the outage");
    for (const n of nodes) assert.deepEqual(c.speakers.get(n)?.dataPlane.history.filter((h) => h.at > since), [], `${n}: data plane untouched after the outage`);
  });

  it("a frozen speaker stops answering before a peer can take over, and after it resumes answers nothing the peer holds until the peer let go", async () => {
    const { c, ip, next } = await threeNodesWithAddressOfNodeB(liveness);
    const frozen = c.speakers.get("node-b") as Speaker;

    // SIGSTOP for 10 s: node-b falls silent by itself, then the next node takes over.
    const since = c.clock.now();
    frozen.clock.freeze();
    let silentAt = Infinity;
    let tookAt = Infinity;
    while (c.clock.now() - since < 10_000) {
      await c.clock.advance(10);
      const answering = c.announcers(ip);
      assert.ok(answering.length <= 1, `two answer for ${ip} at +${c.clock.now() - since} ms: ${answering.join()}`);
      if (!answering.includes("node-b")) silentAt = Math.min(silentAt, c.clock.now());
      if (answering.includes(next)) tookAt = Math.min(tookAt, c.clock.now());
    }
    // At the latest a renewal interval plus grace after its last renewal: no peer can act sooner.
    assert.ok(silentAt - since <= 1300, `node-b silent ${silentAt - since} ms after it froze`);
    assert.ok(tookAt < Infinity && tookAt > silentAt, `taken over at +${tookAt - since} ms, after node-b fell silent`);

    // SIGCONT: its timers and the events it missed run at once; it answers nothing node-c holds.
    frozen.clock.thaw();
    let back = Infinity;
    const resumed = c.clock.now();
    while (c.clock.now() - resumed < 5000) {
      await c.clock.advance(10);
      const answering = c.announcers(ip);
      assert.ok(answering.length <= 1, `two answer for ${ip} at +${c.clock.now() - resumed} ms after resuming: ${answering.join()}`);
      if (answering.includes("node-b")) back = Math.min(back, c.clock.now());
    }
    // It is alive again and wins the address back, by the usual hand-over.
    assert.deepEqual(c.announcers(ip), ["node-b"]);
    assert.ok(back - resumed >= 700, `answering again ${back - resumed} ms after resuming, after listening to its peers`);
    assert.match(await frozen.registry.getSingleMetricAsString("l2lb_answer_pauses_total"), / 1$/m);
  });
});

describe("ring liveness at twelve nodes (fakes)", () => {
  const NODES = Array.from({ length: 12 }, (_, i) => `node-${String.fromCharCode(97 + i)}`);

  /** Twelve speakers, one address won by each, settled. */
  async function twelve(): Promise<{ c: Cluster; ips: string[] }> {
    const ips: string[] = [];
    for (const n of NODES) ips.push(ipWonBy(n, NODES, ips));
    const c = (cluster = new Cluster(NODES, "ring"));
    ips.forEach((ip, i) => c.service(`web-${i}`, ip));
    await c.start();
    await c.clock.advance(5000);
    assert.deepEqual(ips.map((ip) => c.announcers(ip)), NODES.map((n) => [n]));
    return { c, ips };
  }

  /** Twelve speakers, not started, with one address won by each of the first `owned`. */
  function ownedByFirst(owned: number): { c: Cluster; ips: string[]; owners: string[] } {
    const owners = NODES.slice(0, owned);
    const ips: string[] = [];
    for (const n of owners) ips.push(ipWonBy(n, NODES, ips));
    const c = (cluster = new Cluster(NODES, "ring"));
    ips.forEach((ip, i) => c.service(`web-${i}`, ip));
    return { c, ips, owners };
  }

  const counter = async (s: Speaker, name: string): Promise<number> => Number(/ (\d+)$/m.exec(await s.registry.getSingleMetricAsString(name))?.[1]);
  const sentBy = (s: Speaker): Promise<number> => counter(s, "l2lb_heartbeats_sent_total");

  it("idle: three heartbeat targets per node (30 datagrams a second with the acknowledgements), one renewal a second, no Lease read, no re-plan", async () => {
    const { c } = await twelve();
    const since = c.clock.now();
    const sentBefore = await Promise.all([...c.speakers.values()].map(sentBy));
    const plansBefore = [...c.speakers.values()].map((s) => s.controller.planVersion());
    await c.clock.advance(10_000);
    const sent = (await Promise.all([...c.speakers.values()].map(sentBy))).map((x, i) => (x - (sentBefore[i] as number)) / 10);
    // Five a second to each of three successors, and an acknowledgement of each of the fifteen heard.
    for (const perSecond of sent) assert.ok(perSecond >= 29 && perSecond <= 31, `datagrams per node per second: ${sent.join(", ")}`);
    const calls = c.api.calls.filter((x) => x.at > since);
    const renewals = calls.filter((x) => x.method === "replaceLease").length / 10 / NODES.length;
    assert.ok(renewals >= 0.9 && renewals <= 1.1, `renewals per node per second: ${renewals}`);
    assert.deepEqual(calls.filter((x) => x.method === "readLease" || x.method === "deleteLease"), [], "no Lease read or deleted while everyone is alive");
    assert.deepEqual([...c.speakers.values()].map((s) => s.controller.planVersion()), plansBefore, "no re-plan without a change");

    // A Node status rewrite (the kubelet's periodic one) is no input of the election; a label is.
    const speaker = c.speakers.get("node-a") as Speaker;
    const node = c.api.get<k8s.V1Node>("node", undefined, "node-a") as k8s.V1Node;
    const plans = speaker.controller.planVersion();
    c.api.put("node", { ...node, status: { ...node.status, conditions: [{ type: "Ready", status: "True", lastHeartbeatTime: new Date() }] } });
    await c.clock.advance(1000);
    assert.equal(speaker.controller.planVersion(), plans, "no re-plan on a Node status rewrite");
    c.api.put("node", { ...node, metadata: { ...node.metadata, labels: { zone: "b" } } });
    await c.clock.advance(1000);
    assert.equal(speaker.controller.planVersion(), plans + 1, "a re-plan on a Node label change");
  });

  it("a speaker with nothing at stake renews and sends heartbeats 3 times less often, its heartbeats saying so first; its monitors wait for that period, not one second; elected, it renews and sends at once, then at the usual pace", async () => {
    const { c, ips, owners } = ownedByFirst(6);
    const periods = new Map<string, number | undefined>();
    /** Plain heartbeats (neither acknowledgements nor answers) sent, per node, with their times. */
    const plain = new Map<string, number[]>();
    const deliver = c.net.deliver.bind(c.net);
    c.net.deliver = (from, to, m) => {
      periods.set(from, m.renewPeriodMs);
      if (m.ack === undefined && m.answer === undefined) plain.set(from, [...(plain.get(from) ?? []), c.clock.now()]);
      return deliver(from, to, m);
    };
    const plainRate = (node: string, from: number, to: number): number => (plain.get(node) ?? []).filter((t) => t >= from && t < to).length / ((to - from) / 1000);
    const pauses = (node: string): Promise<number> => counter(c.speakers.get(node) as Speaker, "l2lb_answer_pauses_total");
    await c.start();
    const roles = new Set([elect(NODES, STATUS_WRITER_KEY), elect(NODES, ALLOCATOR_KEY)]);
    const idle = NODES.find((n) => !owners.includes(n) && !roles.has(n)) as string;
    const owner = owners.find((n) => !roles.has(n)) as string;
    const renewalsOf = (node: string, from: number): number[] => c.api.callsOf("replaceLease", `${NAMESPACE}/l2lb-speaker-${node}`).filter((x) => x.ok && x.at >= from).map((x) => x.at);
    const gaps = (xs: number[]): number[] => xs.slice(1).map((x, i) => x - (xs[i] as number));
    await c.clock.advance(15_000);
    const from = c.clock.now();
    await c.clock.advance(9_000);
    assert.equal(periods.get(idle), 3000, "an idle speaker's heartbeats carry its stretched period");
    assert.equal(periods.get(owner), undefined, "an owner's carry none (its member record's one second)");
    assert.ok(renewalsOf(idle, from).length <= 4 && gaps(renewalsOf(idle, from)).every((g) => g >= 2900), `idle renewals at ${renewalsOf(idle, from).map((t) => t - from).join(", ")}`);
    assert.ok(renewalsOf(owner, from).length >= 8, "an owner renews every second");
    const idleRate = plainRate(idle, from, c.clock.now());
    const ownerRate = plainRate(owner, from, c.clock.now());
    assert.ok(idleRate <= ownerRate / 2.5, `heartbeats per second: idle ${idleRate.toFixed(1)}, owner ${ownerRate.toFixed(1)}`);

    // Its heartbeats to every monitor lost for 1.5 s: it answers nothing, so its answer bound
    // allows its slow pace's timeout and it does not count itself away (no pause, no listening).
    const pausesBefore = await pauses(idle);
    for (const other of NODES) c.net.dropped.add(`${idle}>${other}`);
    await c.clock.advance(1500);
    for (const other of NODES) c.net.dropped.delete(`${idle}>${other}`);
    await c.clock.advance(1000);
    assert.equal(await pauses(idle), pausesBefore, "an idle speaker missing acknowledgements for 1.5 s does not pause");

    // Its heartbeats lost for 4 s (its API fine): its monitors read its Lease, find it renewed within its period, and give no verdict.
    const cut = c.clock.now();
    for (const other of NODES) c.net.dropped.add(`${idle}>${other}`);
    await c.clock.advance(4000);
    for (const other of NODES) c.net.dropped.delete(`${idle}>${other}`);
    await c.clock.advance(1000);
    assert.deepEqual(c.api.callsOf("deleteLease").filter((x) => x.at >= cut), [], "no verdict on a live idle speaker");
    assert.ok(c.api.callsOf("readLease", `${NAMESPACE}/l2lb-speaker-${idle}`).some((x) => x.at >= cut), "its monitors read its Lease");

    // Its heartbeats lost for 1.2 s, while its monitors already miss its next renewal: they
    // allow its slow pace's silence, so they do not even read its Lease.
    const lastRenewal = renewalsOf(idle, from).at(-1) as number;
    await c.clock.advance(lastRenewal + 3000 * 2 + 350 - c.clock.now());
    const short = c.clock.now();
    for (const other of NODES) c.net.dropped.add(`${idle}>${other}`);
    await c.clock.advance(1200);
    for (const other of NODES) c.net.dropped.delete(`${idle}>${other}`);
    await c.clock.advance(500);
    assert.deepEqual(c.api.callsOf("readLease", `${NAMESPACE}/l2lb-speaker-${idle}`).filter((x) => x.at >= short), [], "no Lease read for 1.2 s of silence at the slow pace");

    const ip = ipWonBy(idle, NODES, ips);
    const elected = c.clock.now();
    c.service("late", ip);
    await c.clock.advance(5_000);
    assert.deepEqual(c.announcers(ip), [idle]);
    const renewals = renewalsOf(idle, elected);
    assert.ok(renewals.length >= 5 && (renewals[0] as number) - elected < 300, `renewals after the election at ${renewals.map((t) => t - elected).join(", ")}`);
    assert.equal(periods.get(idle), undefined, "its heartbeats carry no stretched period any more");
    const firstFast = (plain.get(idle) ?? []).find((t) => t >= elected) as number;
    assert.ok(firstFast - elected < 300, `first heartbeat ${firstFast - elected} ms after the election`);
    assert.ok(plainRate(idle, elected + 1000, c.clock.now()) >= ownerRate * 0.8, `heartbeats per second once elected: ${plainRate(idle, elected + 1000, c.clock.now()).toFixed(1)}`);
  });

  it("an idle speaker whose successor crashes does not count itself away: its bound rests on its stretched renewals too", async () => {
    const { c, owners } = ownedByFirst(4);
    await c.start();
    await c.clock.advance(15_000);
    const busy = new Set([...owners, elect(NODES, STATUS_WRITER_KEY), elect(NODES, ALLOCATOR_KEY)]);
    const ring = ringOrder(NODES);
    const idle = NODES.find((n) => !busy.has(n) && successors(ring, n).some((s) => !busy.has(s))) as string;
    const victim = successors(ring, idle).find((s) => !busy.has(s)) as string;
    const pauses = (): Promise<number> => counter(c.speakers.get(idle) as Speaker, "l2lb_answer_pauses_total");
    const before = await pauses();
    // Just after one of its renewals: the next is 3 s away, the successor's silence counts from now.
    const renewals = c.api.callsOf("replaceLease", `${NAMESPACE}/l2lb-speaker-${idle}`).filter((x) => x.ok);
    await c.clock.advance((renewals.at(-1)?.at as number) + 3000 + 100 - c.clock.now());
    (c.speakers.get(victim) as Speaker).clock.freeze();
    c.net.isolate(victim);
    await c.clock.advance(8000);
    assert.equal(c.api.get("lease", NAMESPACE, `l2lb-member-${victim}`), undefined, "the crashed successor is declared dead");
    assert.equal(await pauses(), before, `${idle} paused after its successor ${victim} crashed`);
  });

  it("a crashed owner is declared dead by its monitors (one member record deleted) and its address taken over on the quick path, never by two", async () => {
    const { c, ips } = await twelve();
    const victim = "node-e";
    const ip = ips[NODES.indexOf(victim)] as string;
    const next = elect(NODES.filter((n) => n !== victim), ip) as string;
    const since = c.clock.now();
    // A crash: no timer, no datagram, no renewal any more.
    (c.speakers.get(victim) as Speaker).clock.freeze();
    c.net.isolate(victim);
    let tookAt = Infinity;
    while (c.clock.now() - since < 6000) {
      await c.clock.advance(10);
      for (const x of ips) assert.ok(c.announcers(x).length <= 1, `two answer for ${x}: ${c.announcers(x).join()}`);
      if (c.announcers(ip).includes(next)) tookAt = Math.min(tookAt, c.clock.now());
    }
    assert.ok(tookAt - since >= 700 && tookAt - since <= 1500, `taken over ${tookAt - since} ms after the crash`);
    assert.equal(c.api.get("lease", NAMESPACE, `l2lb-member-${victim}`), undefined, "the member record is deleted");
    assert.equal(c.api.callsOf("deleteLease").filter((x) => x.ok).length, 1, "one verdict");
    const reads = c.api.callsOf("readLease").filter((x) => x.at > since);
    assert.ok(reads.length >= 1 && reads.length <= 3 * 3, `${reads.length} Lease reads, all by the victim's monitors`);
    assert.deepEqual(ips.filter((x) => x !== ip).map((x) => c.announcers(x)), NODES.filter((n) => n !== victim).map((n) => [n]), "nobody else moved");
  });

  it("a node that can no longer send (egress and API cut, still hearing its peers) falls silent before its address is taken over", async () => {
    const { c, ips } = await twelve();
    const victim = "node-c";
    const ip = ips[NODES.indexOf(victim)] as string;
    const next = elect(NODES.filter((n) => n !== victim), ip) as string;
    const since = c.clock.now();
    for (const other of NODES) if (other !== victim) c.net.dropped.add(`${victim}>${other}`);
    c.api.blocked.add(victim);
    let silentAt = Infinity;
    let tookAt = Infinity;
    while (c.clock.now() - since < 6000) {
      await c.clock.advance(10);
      const answering = c.announcers(ip);
      assert.ok(answering.length <= 1, `two answer for ${ip} at +${c.clock.now() - since} ms: ${answering.join()}`);
      if (!answering.includes(victim)) silentAt = Math.min(silentAt, c.clock.now());
      if (answering.includes(next)) tookAt = Math.min(tookAt, c.clock.now());
    }
    assert.ok(tookAt < Infinity && silentAt < tookAt, `silent at +${silentAt - since} ms, taken over at +${tookAt - since} ms`);
  });

  it("during an API outage, a pause for lost acknowledgements keeps what nobody else claims (fail-static)", async () => {
    const { c, ips } = await twelve();
    const node = "node-f";
    const ip = ips[NODES.indexOf(node)] as string;
    c.api.down = true;
    await c.clock.advance(3000);
    // Its monitors' datagrams (the acknowledgements) lost for a second: its answers pause, while it
    // still hears its predecessors (not isolated).
    for (const monitor of successors(ringOrder(NODES), node)) c.net.dropped.add(`${monitor}>${node}`);
    await c.clock.advance(1000);
    assert.deepEqual(c.announcers(ip), [], "paused while unacknowledged");
    c.net.dropped.clear();
    await c.clock.advance(3000);
    assert.deepEqual(ips.map((x) => c.announcers(x)), NODES.map((n) => [n]), "every address answered by its owner again, without the API server");
    assert.match(await (c.speakers.get(node) as Speaker).registry.getSingleMetricAsString("l2lb_answer_pauses_total"), / [1-9]\d*$/m);
  });

  it("during an API outage, a speaker stopped for 1.5 s keeps its address once it has heard its peers again", async () => {
    const { c, ips } = await twelve();
    const node = "node-h";
    c.api.down = true;
    await c.clock.advance(3000);
    const frozen = c.speakers.get(node) as Speaker;
    frozen.clock.freeze();
    await c.clock.advance(1500);
    frozen.clock.thaw();
    await c.clock.advance(3000);
    assert.deepEqual(ips.map((x) => c.announcers(x)), NODES.map((n) => [n]), "every address answered by its owner, without the API server");
  });

  it("a node joining later takes the addresses it wins only after their previous owner let go", async () => {
    const late = "node-m";
    const all = [...NODES, late];
    const ips: string[] = [];
    for (let i = 0; i < 4; i++) ips.push(ipWonBy(late, all, ips));
    const c = (cluster = new Cluster(all, "ring"));
    ips.forEach((ip, i) => c.service(`late-${i}`, ip));
    await c.start(NODES);
    await c.clock.advance(5000);
    for (const ip of ips) assert.equal(c.announcers(ip).length, 1);
    await c.startNode(late);
    await c.neverTwo(ips, 5000);
    assert.deepEqual(ips.map((ip) => c.announcers(ip)), ips.map(() => [late]));
  });
});
