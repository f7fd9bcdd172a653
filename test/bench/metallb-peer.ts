// MetalLB in layer-2 mode on the lab, as its manifests describe it, from the binaries and manifests
// test/lab/build-tools.sh builds and copies (`build-tools.sh metallb`):
//  - its CRDs from config/crd/bases (applied directly: the kustomization adds a conversion webhook),
//    and from config/manifests/metallb-native.yaml its namespace, ServiceAccounts, RBAC, the
//    excludel2 ConfigMap, the controller Deployment and the speaker DaemonSet — not the webhook's
//    Service, Secret and ValidatingWebhookConfiguration (the controller runs --webhook-mode=disabled);
//  - kwok plays the DaemonSet's Pods on the three nodes (host network: podIP = the node's address),
//    which is what memberlist needs to find the peers and each speaker needs to read its own Pod;
//  - one real speaker per node namespace with the DaemonSet's settings (memberlist bound to the
//    node's address, labels app=metallb,component=speaker, the key the controller put in the
//    `memberlist` Secret as a file), and the controller once, each with its own ServiceAccount's token.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { kubectl, root, run, waitFor, type Lab, type SpeakerProcess } from "../control/harness.ts";
import { expectRunning, SpeakerFleet, spawnInNode, stopAll, type Implementation } from "./implementation.ts";

const NS = "metallb-system";
const INSTALLED_KINDS = new Set(["Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Deployment", "DaemonSet"]);

/** Where build-tools.sh put MetalLB, or why it is not there. */
export async function metallbTools(): Promise<{ bin: string; config: string } | { missing: string }> {
  const out = await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && echo "$L2LB_METALLB_BIN" && echo "$L2LB_METALLB_CONFIG" && echo "$METALLB_VERSION"`]);
  const [bin, config, version] = out.trim().split("\n") as [string, string, string];
  const needed = [join(bin, "speaker"), join(bin, "controller"), join(config, "manifests/metallb-native.yaml")];
  return needed.every((f) => existsSync(f)) ? { bin, config } : { missing: `MetalLB ${version} not built (run test/lab/build-tools.sh metallb)` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export class MetallbPeer extends SpeakerFleet implements Implementation {
  readonly name = "MetalLB";
  private controller: SpeakerProcess | undefined;
  private readonly podOf = new Map<string, string>();
  private readonly dir: string;
  private speakerConfig = "";

  private readonly lab: Lab;
  private readonly tools: { bin: string; config: string };
  private readonly nodeAddress: (node: string) => string;

  constructor(lab: Lab, tools: { bin: string; config: string }, nodeAddress: (node: string) => string) {
    super();
    this.lab = lab;
    this.tools = tools;
    this.nodeAddress = nodeAddress;
    this.dir = join(lab.dir, "metallb");
  }

  async start(): Promise<void> {
    mkdirSync(join(this.dir, "memberlist"), { recursive: true });
    await kubectl(this.lab, "apply", "--server-side", "-f", join(this.tools.config, "crd/bases"));
    await kubectl(this.lab, "wait", "--for=condition=Established", "--timeout=60s", "-f", join(this.tools.config, "crd/bases"));
    await kubectl(this.lab, "apply", "-f", this.nativeManifests());
    await this.findSpeakerPods();
    await this.startController();
    await kubectl(this.lab, "apply", "-f", join(root, "test/bench/metallb-pools.yaml"));
    this.speakerConfig = (await run("bash", [join(root, "test/lab/cluster.sh"), "kubeconfig-for", NS, "speaker"], { env: this.labEnv() })).trim().split("\n").pop() as string;
    for (const n of this.lab.nodes) this.launch(n);
    for (const s of this.speakers.values()) await expectRunning(s, 3000);
  }

  private labEnv(): NodeJS.ProcessEnv {
    return { ...process.env, L2LB_LAB_DIR: this.lab.dir, L2LB_NET_ID: this.lab.id, L2LB_NET_DIR: this.lab.netDir };
  }

  /** The objects of metallb-native.yaml this lab uses, unchanged, in one file. */
  private nativeManifests(): string {
    const docs = parseAllDocuments(readFileSync(join(this.tools.config, "manifests/metallb-native.yaml"), "utf8"))
      .map((d) => d.toJS() as k8s.KubernetesObject | null)
      .filter((o): o is k8s.KubernetesObject => !!o && INSTALLED_KINDS.has(o.kind ?? ""));
    const file = join(this.dir, "metallb-native-lab.json");
    writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
    return file;
  }

  /** kwok's Pods of the speaker DaemonSet, one per node, Running with the node's address. */
  private async findSpeakerPods(): Promise<void> {
    const core = this.lab.admin.makeApiClient(k8s.CoreV1Api);
    await waitFor("MetalLB speaker pods on every node", async () => {
      const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: "app=metallb,component=speaker" })).items;
      const ready = pods.filter((p) => p.status?.podIP && p.status.podIP === this.nodeAddress(p.spec?.nodeName ?? ""));
      if (ready.length < this.lab.nodes.length) return undefined;
      for (const p of ready) this.podOf.set(p.spec?.nodeName as string, p.metadata?.name as string);
      return true;
    }, 90_000, 500);
  }

  private async startController(): Promise<void> {
    const cfg = (await run("bash", [join(root, "test/lab/cluster.sh"), "kubeconfig-for", NS, "controller"], { env: this.labEnv() })).trim().split("\n").pop() as string;
    const argv = [join(this.tools.bin, "controller"), `--kubeconfig=${cfg}`, `--namespace=${NS}`, "--webhook-mode=disabled", "--ml-secret-name=memberlist", "--deployment=controller", `--port=${await freePort()}`, "--log-level=info"];
    this.controller = spawnInNode(this.lab, undefined, "metallb-controller", argv, { PATH: process.env.PATH ?? "" });
    await expectRunning(this.controller, 1000);
    const core = this.lab.admin.makeApiClient(k8s.CoreV1Api);
    const secret = await waitFor("the memberlist Secret", async () => (await core.readNamespacedSecret({ name: "memberlist", namespace: NS })).data?.secretkey, 60_000, 250);
    writeFileSync(join(this.dir, "memberlist/secretkey"), Buffer.from(secret, "base64"), { mode: 0o600 });
  }

  protected launch(node: string): SpeakerProcess {
    const argv = [
      join(this.tools.bin, "speaker"),
      `--kubeconfig=${this.speakerConfig}`,
      `--namespace=${NS}`,
      `--node-name=${node}`,
      `--pod-name=${this.podOf.get(node)}`,
      "--host=127.0.0.1",
      "--port=7472",
      `--ml-bindaddr=${this.nodeAddress(node)}`,
      "--ml-labels=app=metallb,component=speaker",
      `--ml-secret-key-path=${join(this.dir, "memberlist")}`,
      "--log-level=info",
    ];
    const s = spawnInNode(this.lab, node, `metallb-speaker-${node}`, argv, { PATH: process.env.PATH ?? "" });
    this.speakers.set(node, s);
    return s;
  }

  async stop(): Promise<void> {
    await stopAll(this.speakers.values());
    if (this.controller) await stopAll([this.controller]);
    await kubectl(this.lab, "delete", "--ignore-not-found", "-f", join(root, "test/bench/metallb-pools.yaml")).catch(() => "");
  }
}
