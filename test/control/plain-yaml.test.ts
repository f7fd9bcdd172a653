// The plain-YAML install, without Pulumi: kubectl applies examples/plain-yaml/l2lb.yaml (what
// `l2lb manifests` prints) to the lab's real control plane; speakers run in the node namespaces
// with a token of the ServiceAccount that YAML created; a pool, its advertisement and a Service
// applied with kubectl get an EXTERNAL-IP that the client's ARP request finds; `kubectl delete -f`
// then leaves nothing of l2lb. Needs root and the lab tools; skips, saying why, without them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { arping, kubectl, labUnavailable, nodeMacs, root, run, startSpeaker, stopSpeaker, waitFor, type Lab, type SpeakerProcess } from "./harness.ts";

const skip = await labUnavailable();
const ID = "plainyaml";
const NODES = ["node-a", "node-b", "node-c"];
const INSTALL = join(root, "examples/plain-yaml/l2lb.yaml");
const EXAMPLE = join(root, "examples/plain-yaml/example.yaml");
const VIP = "192.0.2.200"; // the first address of the example's pool

/** The lab's control plane and network with nothing of l2lb in it (unlike harness.startLab, which installs the RBAC itself). */
async function startBareLab(): Promise<{ lab: Lab; kubeconfigFor: (ns: string, sa: string) => Promise<string> }> {
  const dir = `/tmp/l2lb-${ID}-lab`;
  const netDir = `/tmp/l2lb-net-${ID}`;
  const env = { ...process.env, L2LB_LAB_DIR: dir, L2LB_NET_ID: ID, L2LB_NET_DIR: netDir };
  const script = (name: string, ...args: string[]) => run("bash", [join(root, "test/lab", name), ...args], { env, timeoutMs: 300_000 });
  const down = async (): Promise<void> => {
    await script("network.sh", "down").catch(() => {});
    await script("cluster.sh", "down").catch(() => {});
  };
  await down(); // leftovers of an interrupted run
  try {
    await script("cluster.sh", "up", ...NODES);
    await script("network.sh", "up", ...NODES);
  } catch (err) {
    await down();
    throw err;
  }
  const adminPath = join(dir, "kubeconfig");
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(adminPath);
  const lab: Lab = {
    id: ID,
    dir,
    netDir,
    nodes: NODES,
    admin,
    adminPath,
    speakerKubeconfig: "", // set once the YAML has created the ServiceAccount
    apiPort: Number(readFileSync(join(dir, "apiserver.port"), "utf8").trim()),
    ns: (node) => `l2lb-${ID}-${node}`,
    clientNs: `l2lb-${ID}-client`,
    down,
  };
  // cluster.sh kubeconfig-for: a token of that ServiceAccount, in a kubeconfig whose path it prints last.
  const kubeconfigFor = async (ns: string, sa: string) => (await script("cluster.sh", "kubeconfig-for", ns, sa)).trim().split("\n").pop() as string;
  return { lab, kubeconfigFor };
}

describe("plain-YAML install with kubectl", { skip: skip ?? false, timeout: 600_000 }, () => {
  let lab: Lab;
  let kubeconfigFor: (ns: string, sa: string) => Promise<string>;
  const speakers: SpeakerProcess[] = [];

  before(async () => {
    ({ lab, kubeconfigFor } = await startBareLab());
  });

  after(async () => {
    for (const s of speakers) await stopSpeaker(s);
    await lab?.down();
  });

  it("kubectl apply -f l2lb.yaml creates the namespace, CRDs, RBAC, ServiceAccount and DaemonSet", async () => {
    const out = await kubectl(lab, "apply", "-f", INSTALL);
    for (const created of [
      "namespace/l2lb-system created",
      "customresourcedefinition.apiextensions.k8s.io/addresspools.l2lb.dev created",
      "customresourcedefinition.apiextensions.k8s.io/l2advertisements.l2lb.dev created",
      "serviceaccount/l2lb-speaker created",
      "clusterrole.rbac.authorization.k8s.io/l2lb-speaker created",
      "clusterrolebinding.rbac.authorization.k8s.io/l2lb-speaker created",
      "role.rbac.authorization.k8s.io/l2lb-speaker created",
      "rolebinding.rbac.authorization.k8s.io/l2lb-speaker created",
      "daemonset.apps/l2lb-speaker created",
    ]) {
      assert.ok(out.includes(created), `expected "${created}" in:\n${out}`);
    }
    await kubectl(lab, "wait", "--for=condition=Established", "--timeout=60s", "crd/addresspools.l2lb.dev", "crd/l2advertisements.l2lb.dev");
    // The DaemonSet's pods are admitted and scheduled on every node (the lab's kwok nodes only pretend to run them).
    const scheduled = await waitFor("the DaemonSet scheduled on every node", async () => {
      const n = (await kubectl(lab, "-n", "l2lb-system", "get", "ds", "l2lb-speaker", "-o", "jsonpath={.status.currentNumberScheduled}")).trim();
      return n === String(NODES.length) ? n : undefined;
    }, 60_000, 500);
    assert.equal(scheduled, String(NODES.length));
  });

  it("speakers with the YAML's ServiceAccount give the Service its EXTERNAL-IP, and the owner answers ARP", async () => {
    lab.speakerKubeconfig = await kubeconfigFor("l2lb-system", "l2lb-speaker");
    for (const node of NODES) speakers.push(startSpeaker(lab, node));
    await kubectl(lab, "apply", "-f", EXAMPLE);
    const external = await waitFor("EXTERNAL-IP of default/web", async () => {
      const line = (await kubectl(lab, "get", "svc", "web", "--no-headers")).trim();
      return line.includes(VIP) ? line : undefined;
    }, 60_000, 250).catch((err: Error) => {
      throw new Error(`${err.message}\nspeaker logs: ${speakers.map((s) => s.logPath).join(", ")}`);
    });
    assert.match(external, new RegExp(`^web\\s+LoadBalancer\\s+\\S+\\s+${VIP.replace(/\./g, "\\.")}\\s`));
    const announced = await waitFor("l2lb.dev/announced-by", async () => {
      const a = (await kubectl(lab, "get", "svc", "web", "-o", "jsonpath={.metadata.annotations.l2lb\\.dev/announced-by}")).trim();
      return a.startsWith(`${VIP}=`) ? a : undefined;
    }, 30_000, 250);
    const owner = /=([^/]+)\//.exec(announced)?.[1] as string;
    assert.ok(NODES.includes(owner), announced);
    const macs = await nodeMacs(lab);
    const replies = await waitFor(`ARP replies for ${VIP}`, async () => {
      const r = await arping(lab, VIP, 3);
      return r.length === 3 ? r : undefined;
    }, 30_000, 500);
    assert.deepEqual([...new Set(replies)], [macs.get(owner)], `only ${owner} answers`);
  });

  it("kubectl delete -f removes everything of l2lb", async () => {
    await kubectl(lab, "delete", "-f", EXAMPLE, "--wait=true", "--timeout=60s");
    assert.deepEqual(await arping(lab, VIP, 2), [], "no answer once the Service is gone");
    for (const s of speakers.splice(0)) await stopSpeaker(s);
    await kubectl(lab, "delete", "-f", INSTALL, "--wait=true", "--timeout=120s");
    // What the speakers published on the Nodes is not in the YAML: the README's removal step.
    await kubectl(lab, "annotate", "nodes", "--all", "l2lb.dev/subnets-");

    const absent = async (...what: string[]): Promise<boolean> => kubectl(lab, "get", ...what).then(() => false, () => true);
    for (const what of [["ns", "l2lb-system"], ["crd", "addresspools.l2lb.dev"], ["crd", "l2advertisements.l2lb.dev"], ["clusterrole", "l2lb-speaker"], ["clusterrolebinding", "l2lb-speaker"], ["svc", "web"]]) {
      assert.ok(await absent(...what), `${what.join(" ")} is still there`);
    }
    const labelled = await kubectl(lab, "get", "all,sa,secret,role,rolebinding,clusterrole,clusterrolebinding,lease", "-A", "-l", "app.kubernetes.io/part-of=l2lb", "-o", "name");
    assert.equal(labelled.trim(), "", "no object labelled part-of=l2lb");
    const crds = await kubectl(lab, "get", "crd", "-o", "name");
    assert.doesNotMatch(crds, /l2lb\.dev/);
    const nodes = JSON.parse(await kubectl(lab, "get", "nodes", "-o", "json")) as { items: { metadata: { name: string; annotations?: Record<string, string> } }[] };
    for (const n of nodes.items) assert.deepEqual(Object.keys(n.metadata.annotations ?? {}).filter((k) => k.startsWith("l2lb.dev/")), [], `${n.metadata.name} keeps no l2lb annotation`);
    const services = JSON.parse(await kubectl(lab, "get", "svc", "-A", "-o", "json")) as { items: { metadata: { annotations?: Record<string, string> } }[] };
    assert.ok(services.items.every((s) => !Object.keys(s.metadata.annotations ?? {}).some((k) => k.startsWith("l2lb.dev/"))), "no Service keeps an l2lb annotation");
  });
});
