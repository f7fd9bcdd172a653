// An IPv6-only cluster: the nodes have no IPv4 address and their Nodes only an IPv6 InternalIP,
// so the speakers' heartbeats travel over IPv6. After SIGKILL of the owner's speaker the next node
// must answer on the quick path (heartbeats silent and a renewal missed, about a second), not after
// the Lease expires (5 s), which is all a speaker could do without hearing its peers.
// Skips, saying why, without root, the lab tools or the data plane addon.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { ANNOTATIONS, LOAD_BALANCER_CLASS } from "../../provider/core/model/contract.ts";
import { elect } from "../../runtime/election/rank.ts";
import { LEASE_ANNOTATIONS } from "../../runtime/control/lease.ts";
import { applyPool, kubectl, labUnavailable, nodeMacs, run, startLab, startSpeaker, speakerObjects, stopSpeaker, waitFor, waitForMembers, type Lab, type SpeakerProcess } from "./harness.ts";

const NODES = ["node-a", "node-b", "node-c"];
const v6Of = (i: number): string => `2001:db8:1::${11 + i}`;
const skip = await labUnavailable();

/** The MAC answering a neighbour solicitation for `ip` from the client, or undefined. */
async function ndpAnswer(lab: Lab, ip: string, waitMs = 200): Promise<string | undefined> {
  const text = await run("ip", ["netns", "exec", lab.clientNs, "ndisc6", "-n", "-r", "1", "-w", String(waitMs), ip, "eth0"]).catch((e: Error) => e.message);
  return /Target link-layer address:\s*([0-9A-Fa-f:]{17})/.exec(text)?.[1]?.toLowerCase();
}

describe("speakers on an IPv6-only network", { skip: skip ?? false, timeout: 300_000 }, () => {
  let lab: Lab;
  let macs: Map<string, string>;
  const speakers = new Map<string, SpeakerProcess>();

  before(async () => {
    lab = await startLab("v6only", NODES);
    macs = await nodeMacs(lab);
    for (const [i, node] of NODES.entries()) {
      const addresses = [{ type: "InternalIP", address: v6Of(i) }, { type: "Hostname", address: node }];
      await kubectl(lab, "patch", "node", node, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status: { addresses } }));
      await run("ip", ["-n", lab.ns(node), "-4", "addr", "flush", "dev", "eth0"]);
    }
    await applyPool(lab.admin, "v6", { addresses: ["2001:db8:1::200/124"] });
    await applyPool(lab.admin, "all", {}, "advertisement");
    for (const n of NODES) speakers.set(n, startSpeaker(lab, n));
    await waitForMembers(lab, 3);
  });

  after(async () => {
    for (const s of speakers.values()) await stopSpeaker(s);
    if (lab) await lab.down();
  });

  it("publishes IPv6 heartbeat endpoints and fails over on the quick path after SIGKILL", async (t) => {
    const members = await speakerObjects(lab, "member");
    const endpoints = members.map((l) => l.metadata?.annotations?.[LEASE_ANNOTATIONS.heartbeat]).sort();
    assert.deepEqual(endpoints, NODES.map((_, i) => `[${v6Of(i)}]:7473`));

    const ip = "2001:db8:1::201";
    const owner = elect(NODES, ip) as string;
    const next = elect(NODES.filter((n) => n !== owner), ip) as string;
    const core = lab.admin.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedService({
      namespace: "default",
      body: {
        metadata: { name: "web6", annotations: { [ANNOTATIONS.assignedIps]: ip } },
        spec: { type: "LoadBalancer", loadBalancerClass: LOAD_BALANCER_CLASS, ipFamilies: ["IPv6"], ipFamilyPolicy: "SingleStack", ports: [{ port: 80, protocol: "TCP" }] },
      },
    });
    await waitFor(`${ip} answered by ${owner}`, async () => ((await ndpAnswer(lab, ip)) === macs.get(owner) ? true : undefined), 30_000);
    // Peers have heard each other for a while: the quick path needs heartbeats heard before.
    await new Promise((r) => setTimeout(r, 3000));

    const killedAt = performance.now();
    (speakers.get(owner) as SpeakerProcess).child.kill("SIGKILL");
    await waitFor(`${ip} answered by ${next}`, async () => ((await ndpAnswer(lab, ip, 100)) === macs.get(next) ? true : undefined), 15_000, 50);
    const tookMs = performance.now() - killedAt;
    t.diagnostic(`IPv6-only: ${ip} answered by ${next} ${tookMs.toFixed(0)} ms after SIGKILL of ${owner}'s speaker`);
    // The Lease expires 5 s after its last renewal; answering well before that took the heartbeats.
    assert.ok(tookMs < 4000, `took ${tookMs.toFixed(0)} ms: the slow path (Lease expiry), so the heartbeats over IPv6 were not heard`);
  });
});
