// `kubectl apply` of a LoadBalancer Service → its EXTERNAL-IP, one Service at a time: from the
// moment kubectl starts to the moment a watch sees status.loadBalancer.ingress.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { ANNOTATIONS } from "../../provider/core/model/contract.ts";
import { root, run, waitFor, type Lab } from "../control/harness.ts";
import { nowMs } from "./client-watch.ts";
import { serviceManifest, type BenchService } from "./workload.ts";

async function kubectlPath(): Promise<string> {
  return (await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && echo "$L2LB_KUBERNETES_BIN/kubectl"`])).trim();
}

function apply(kubectl: string, kubeconfig: string, file: string): Promise<void> {
  return new Promise((resolve, reject) => execFile(kubectl, ["--kubeconfig", kubeconfig, "apply", "-f", file], (err) => (err ? reject(err) : resolve())));
}

/**
 * An informer (not started) recording when each Service ("namespace/name") was first seen with an
 * EXTERNAL-IP (`seenAt`), and with l2lb's assignment annotation (`assignedAt`).
 */
export function watchExternalIps(lab: Lab): { seenAt: Map<string, number>; assignedAt: Map<string, number>; informer: k8s.Informer<k8s.V1Service> } {
  const core = lab.admin.makeApiClient(k8s.CoreV1Api);
  const seenAt = new Map<string, number>();
  const assignedAt = new Map<string, number>();
  const informer = k8s.makeInformer(lab.admin, "/api/v1/services", () => core.listServiceForAllNamespaces());
  const onService = (s: k8s.V1Service): void => {
    const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
    if ((s.status?.loadBalancer?.ingress ?? []).length > 0 && !seenAt.has(key)) seenAt.set(key, nowMs());
    if (s.metadata?.annotations?.[ANNOTATIONS.assignedIps] !== undefined && !assignedAt.has(key)) assignedAt.set(key, nowMs());
  };
  informer.on("add", onService);
  informer.on("update", onService);
  return { seenAt, assignedAt, informer };
}

/** Milliseconds from `kubectl apply` to EXTERNAL-IP for each Service (undefined: none within `timeoutMs`). */
export async function applyToExternalIp(lab: Lab, services: BenchService[], timeoutMs = 30_000): Promise<(number | undefined)[]> {
  const { seenAt, informer } = watchExternalIps(lab);
  await informer.start();
  const kubectl = await kubectlPath();
  const dir = mkdtempSync(join(tmpdir(), "l2lb-apply-"));
  const out: (number | undefined)[] = [];
  try {
    for (const s of services) {
      const file = join(dir, `${s.name}.json`);
      writeFileSync(file, JSON.stringify(serviceManifest(s)));
      const key = `${s.namespace}/${s.name}`;
      const t0 = nowMs();
      await apply(kubectl, lab.adminPath, file);
      const at = await waitFor(`${key} EXTERNAL-IP`, () => seenAt.get(key), timeoutMs, 5).catch(() => undefined);
      out.push(at === undefined ? undefined : at - t0);
    }
  } finally {
    await informer.stop();
  }
  return out;
}
