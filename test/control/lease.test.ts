// The speaker's Lease on a real API server, with the speaker ServiceAccount's own permissions:
// graceful release deletes it even while a renewal is under way or before this process has
// written it, and never deletes a live lease of another holder.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import pino from "pino";
import { kubeApi } from "../../runtime/control/kube-api.ts";
import { LeaseKeeper, leaseName } from "../../runtime/control/lease.ts";
import { KubeClient } from "../../runtime/kube/client.ts";
import { kubeconfigConnection } from "../../runtime/kube/connection.ts";
import { DEFAULT_NAMESPACE } from "../../provider/core/model/contract.ts";
import { labUnavailable, sleep, startLab, type Lab } from "./harness.ts";

const skip = await labUnavailable();

describe("speaker lease on a real API server", { skip: skip ?? false, timeout: 300_000 }, () => {
  let lab: Lab;
  let leases: k8s.CoordinationV1Api;
  let speaker: KubeClient;
  const logger = pino({ level: "silent" });

  before(async () => {
    lab = await startLab("lease", ["node-a"]);
    leases = lab.admin.makeApiClient(k8s.CoordinationV1Api);
    speaker = new KubeClient(kubeconfigConnection(lab.speakerKubeconfig));
  });
  after(async () => {
    speaker?.close();
    await lab?.down();
  });

  const keeper = (node: string, holder: string): LeaseKeeper =>
    new LeaseKeeper({ api: kubeApi(speaker), namespace: DEFAULT_NAMESPACE, node, holder, incarnation: holder, heartbeatEndpoint: undefined, renewIntervalMs: 50, durationSeconds: 5, logger });
  const exists = async (node: string): Promise<boolean> => {
    try {
      await leases.readNamespacedLease({ name: leaseName(node), namespace: DEFAULT_NAMESPACE });
      return true;
    } catch {
      return false;
    }
  };
  const leaseOf = (node: string, holder: string, renewedAgoMs: number): k8s.V1Lease => ({
    metadata: { name: leaseName(node), namespace: DEFAULT_NAMESPACE },
    spec: { holderIdentity: holder, leaseDurationSeconds: 5, renewTime: new k8s.V1MicroTime(Date.now() - renewedAgoMs) },
  });

  it("release while renewals are under way leaves no lease behind, now or later", async () => {
    for (let round = 0; round < 5; round++) {
      const k = keeper("node-r", `renewing-${round}`);
      k.start();
      await sleep(120 + round * 17);
      void k.renewNow();
      await k.release();
      assert.equal(await exists("node-r"), false, `round ${round}: deleted`);
      await sleep(300);
      assert.equal(await exists("node-r"), false, `round ${round}: not re-created by a renewal that was in flight`);
    }
  });

  it("a process still starting deletes the expired lease its predecessor left", async () => {
    await leases.createNamespacedLease({ namespace: DEFAULT_NAMESPACE, body: leaseOf("node-s", "killed-process", 60_000) });
    await keeper("node-s", "new-process").release();
    assert.equal(await exists("node-s"), false);
  });

  it("a live lease of another holder is left alone", async () => {
    await leases.createNamespacedLease({ namespace: DEFAULT_NAMESPACE, body: leaseOf("node-l", "live-process", 0) });
    await keeper("node-l", "new-process").release();
    assert.equal(await exists("node-l"), true);
  });
});
