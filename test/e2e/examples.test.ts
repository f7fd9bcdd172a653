// Every example program deployed on the lab as a user deploys it: the examples exactly as written,
// their objects applied by the Kubernetes provider plugin and the
// lab's Pulumi engine, speakers in the node namespaces with the token of the ServiceAccount the
// program created. For each: `pulumi preview --diff` with concrete addresses, `up` landing them,
// ARP/NDP answered, a preview and a refresh right after `up` with no change at all, a one-Service
// move, and `destroy` leaving nothing of l2lb; basic again with the speakers started only after
// `up` (the preview stays empty when they publish their subnets). gitops-render is rendered twice (byte-identical
// files) and applied with kubectl; in-cluster serves a Service made with kubectl.
//
// Needs root and the lab tools including pulumi-resource-kubernetes (test/lab/build-tools.sh);
// skips saying which is missing. Progress goes to stderr.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { elect } from "../../runtime/election/rank.ts";
import {
  arping,
  kubectl,
  labUnavailable,
  nodeMacs,
  root,
  run,
  speakerCredentials,
  startLab,
  startSpeaker,
  stopSpeaker,
  waitFor,
  type Lab,
  type SpeakerProcess,
} from "../control/harness.ts";
import { assignmentsIn, movesIn, pulumiEnvironment, Stack } from "./pulumi-stack.ts";

const NODES = ["node-a", "node-b", "node-c"];
const POOL_V4 = "192.0.2.200-192.0.2.220";
const POOL_V6 = "2001:db8:1::200-2001:db8:1::220";
const t0 = Date.now();

function progress(text: string): void {
  const s = Math.round((Date.now() - t0) / 1000);
  process.stderr.write(`[examples ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}] ${text}\n`);
}

async function unavailable(): Promise<string | false> {
  const lab = await labUnavailable();
  if (lab) return lab;
  const missing = (await run("bash", ["-c", `. "${root}/scripts/env.sh" && . "${root}/test/lab/tools.sh" && lab_tools_missing pulumi pulumi-kubernetes`])).trim();
  return missing ? `lab tools not built (${missing.replace(/\n/g, ", ")}); run test/lab/build-tools.sh` : false;
}

const skip = await unavailable();

interface ServiceState {
  ingress: string[];
  annotations: Record<string, string>;
}

describe("every example, deployed with the Kubernetes provider on the lab", { skip, timeout: 2_400_000 }, () => {
  const scratch = skip ? "" : mkdtempSync(join(tmpdir(), "l2lb-examples-e2e-"));
  let lab: Lab;
  let env: NodeJS.ProcessEnv;
  let macs: Map<string, string>;
  let speakers: SpeakerProcess[] = [];

  before(async () => {
    lab = await startLab("ex", NODES, { install: false });
    macs = await nodeMacs(lab);
    env = await pulumiEnvironment({ ...process.env, L2LB_PULUMI_DIR: join(scratch, "pulumi") });
    progress(`lab up (${NODES.join(", ")}); scratch ${scratch}`);
  });

  after(async () => {
    await stopSpeakers();
    await lab?.down();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** The speakers as the installed DaemonSet runs them: its ServiceAccount's token and its container's args. */
  async function startSpeakers(): Promise<void> {
    await stopSpeakers();
    await speakerCredentials(lab);
    const ds = JSON.parse(
      await waitFor("the installation's speaker DaemonSet", () => kubectl(lab, "-n", "l2lb-system", "get", "daemonset", "l2lb-speaker", "-o", "json"), 120_000, 500),
    ) as { spec: { template: { spec: { containers: { args?: string[] }[] } } } };
    const args = ds.spec.template.spec.containers[0]?.args ?? [];
    speakers = NODES.map((n) => startSpeaker(lab, n, {}, { args }));
  }

  async function stopSpeakers(): Promise<void> {
    await Promise.all(speakers.map((s) => stopSpeaker(s, "SIGTERM")));
    speakers = [];
  }

  async function services(namespace = "default"): Promise<Record<string, ServiceState>> {
    const list = JSON.parse(await kubectl(lab, "get", "svc", "-n", namespace, "-o", "json")) as {
      items: { metadata: { name: string; annotations?: Record<string, string> }; status?: { loadBalancer?: { ingress?: { ip: string }[] } } }[];
    };
    return Object.fromEntries(list.items.map((s) => [s.metadata.name, { ingress: (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip), annotations: s.metadata.annotations ?? {} }]));
  }

  /** Each address answered (ARP for IPv4, NDP for IPv6) by the node the election ranks first, and nobody else. */
  async function answeredByOwner(ips: string[]): Promise<void> {
    for (const ip of ips) {
      const owner = elect(NODES, ip)!;
      const replies = await waitFor(`${ip.includes(":") ? "NDP" : "ARP"} answers for ${ip}`, async () => {
        const r = ip.includes(":") ? await neighbourSolicitation(ip) : await arping(lab, ip, 2);
        return r.length >= (ip.includes(":") ? 1 : 2) ? r : undefined;
      }, 20_000, 200);
      assert.deepEqual([...new Set(replies)], [macs.get(owner)], `${ip} answered by ${owner}`);
    }
  }

  /** The target link-layer addresses one neighbour solicitation from the client returns. */
  async function neighbourSolicitation(ip: string): Promise<string[]> {
    const out = await run("ip", ["netns", "exec", lab.clientNs, "ndisc6", "-1", "-r", "2", "-w", "500", ip, "eth0"]).catch(() => "");
    return [...out.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g)].map((m) => m[1]!.toLowerCase());
  }

  /** `up` with the speakers started as soon as the program has created their ServiceAccount. */
  async function upWithSpeakers(stack: Stack): Promise<string> {
    const up = stack.pulumi("up", "--yes", "--skip-preview");
    await startSpeakers();
    const r = await up;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return r.stdout;
  }

  async function expectNoChanges(stack: Stack, when: string): Promise<void> {
    const preview = await stack.pulumi("preview", "--diff", "--expect-no-changes");
    assert.equal(preview.code, 0, `the preview ${when} is not empty:\n${preview.stdout}${preview.stderr}`);
    const refresh = await stack.pulumi("refresh", "--yes", "--expect-no-changes");
    assert.equal(refresh.code, 0, `the refresh ${when} changed the state:\n${refresh.stdout}${refresh.stderr}`);
  }

  async function destroyLeavesNothing(stack: Stack): Promise<void> {
    await stopSpeakers();
    const r = await stack.pulumi("destroy", "--yes");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const left = (await kubectl(lab, "get", "ns,crd,clusterrole,flowschema", "-o", "name")).split("\n").filter((l) => /l2lb/.test(l));
    assert.deepEqual(left, [], "nothing of l2lb is left");
    const annotated = Object.entries(await services()).filter(([, s]) => Object.keys(s.annotations).some((k) => k.startsWith("l2lb.dev/")));
    assert.deepEqual(annotated, [], "no Service keeps an l2lb annotation");
  }

  /** Runs a stack's scenario; if it fails, stops the speakers and destroys the stack so the next scenario starts clean. */
  async function scenario(stack: Stack, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      await stopSpeakers();
      await stack.pulumi("destroy", "--yes");
      throw err;
    }
  }

  /**
   * The common life of a program with an Allocation: preview shows the addresses; up lands them,
   * answered by the elected nodes; preview and refresh right after find nothing; `move` changes
   * config so that exactly one Service (or one shared group) moves; destroy leaves nothing.
   */
  async function lifecycle(example: string, config: Record<string, string | string[]>, move: { config: Record<string, string | string[]>; moved: string[] }): Promise<void> {
    const stack = new Stack(join(root, "examples", example), join(scratch, example), env);
    await stack.init("lab", { "kubernetes:kubeconfig": lab.adminPath, ...config });
    await scenario(stack, () => lifecycleSteps(stack, example, move));
  }

  async function lifecycleSteps(stack: Stack, example: string, move: { config: Record<string, string | string[]>; moved: string[] }): Promise<void> {
    const preview = await stack.pulumi("preview", "--diff");
    assert.equal(preview.code, 0, preview.stdout + preview.stderr);
    const planned = assignmentsIn(preview.stdout);
    assert.ok(Object.keys(planned).length > 0, `the preview shows addresses:\n${preview.stdout}`);
    assert.match(preview.stdout, /\+ kubernetes:apps\/v1:DaemonSet/, "the Kubernetes provider writes the objects");
    progress(`${example}: preview ${JSON.stringify(planned)}`);

    const upText = await upWithSpeakers(stack);
    progress(`${example}: up ${/Duration: .*/.exec(upText)?.[0] ?? ""}`);
    const live = await services();
    for (const [key, ips] of Object.entries(planned)) {
      const name = key.split("/")[1]!;
      assert.deepEqual(live[name]?.ingress, ips.split(","), `${key}: EXTERNAL-IP is what the preview showed`);
    }
    await answeredByOwner(Object.values(planned).flatMap((ips) => ips.split(",")));
    await expectNoChanges(stack, "right after up");
    progress(`${example}: preview and refresh after up: no changes`);

    await stack.configure(move.config);
    const movePreview = await stack.pulumi("preview", "--diff");
    assert.equal(movePreview.code, 0, movePreview.stdout + movePreview.stderr);
    const moves = movesIn(movePreview.stdout);
    assert.deepEqual(moves.map((m) => m.split(" ")[0]).sort(), [...move.moved].sort(), `only ${move.moved.join(", ")} move:\n${movePreview.stdout}`);
    const target = assignmentsIn(movePreview.stdout);
    const r = await stack.pulumi("up", "--yes", "--skip-preview");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const after = await services();
    for (const key of move.moved) assert.deepEqual(after[key.split("/")[1]!]?.ingress, target[key]!.split(","), `${key} moved`);
    for (const key of Object.keys(planned).filter((k) => !move.moved.includes(k))) assert.deepEqual(after[key.split("/")[1]!]?.ingress, planned[key]!.split(","), `${key} stays`);
    await answeredByOwner(move.moved.flatMap((k) => target[k]!.split(",")));
    await expectNoChanges(stack, "after the move");
    progress(`${example}: moved ${moves.join("; ")}`);

    await destroyLeavesNothing(stack);
    progress(`${example}: destroyed, nothing left`);
  }

  test("basic (seed 000): nginx gets the previewed address; pinning it elsewhere moves it", async () => {
    await lifecycle("basic", { addresses: [POOL_V4] }, { config: { nginxIps: ["192.0.2.219"] }, moved: ["default/nginx"] });
  });

  test("basic with the speakers started only after up: the preview stays empty before and after they publish their subnets", async () => {
    const stack = new Stack(join(root, "examples", "basic"), join(scratch, "basic-late"), env);
    // waitSeconds=false: up does not wait for an EXTERNAL-IP, so it can finish with no speaker running.
    await stack.init("late", { "kubernetes:kubeconfig": lab.adminPath, addresses: [POOL_V4], waitSeconds: "false" });
    // As on a cluster where no speaker ever ran: the Nodes carry no published subnets yet.
    await kubectl(lab, "annotate", "nodes", "--all", "l2lb.dev/subnets-");
    await scenario(stack, async () => {
      const planned = assignmentsIn(await stack.must("preview", "--diff"));
      await stack.must("up", "--yes", "--skip-preview");
      const before = await stack.pulumi("preview", "--diff", "--expect-no-changes");
      assert.equal(before.code, 0, `the preview after up, no speaker yet, is not empty:\n${before.stdout}${before.stderr}`);
      await startSpeakers();
      const ip = planned["default/nginx"]!;
      await waitFor("nginx's EXTERNAL-IP", async () => ((await services()).nginx?.ingress[0] === ip ? true : undefined), 30_000, 200);
      await waitFor("every node's published subnets", async () => {
        const nodes = JSON.parse(await kubectl(lab, "get", "nodes", "-o", "json")) as { items: { metadata: { annotations?: Record<string, string> } }[] };
        return nodes.items.every((n) => n.metadata.annotations?.["l2lb.dev/subnets"]) ? true : undefined;
      }, 30_000, 200);
      const after = await stack.pulumi("preview", "--diff", "--expect-no-changes");
      assert.equal(after.code, 0, `the preview after the speakers published their subnets is not empty:\n${after.stdout}${after.stderr}`);
      progress(`basic, speakers after up: ${ip}; preview empty before and after the speakers published their subnets`);
      await destroyLeavesNothing(stack);
    });
  });

  test("shared-ip (seed 002): nginx and nginx-2 share one address and move together", async () => {
    await lifecycle("shared-ip", { addresses: [POOL_V4], sharedIp: "192.0.2.211" }, { config: { sharedIp: "192.0.2.215" }, moved: ["default/nginx", "default/nginx-2"] });
  });

  test("dual-stack: one address per family, answered over ARP and NDP; a narrower pool moves one Service", async () => {
    // web takes .200 and ::200, web-v6 ::201: dropping ::201 from the pool moves web-v6 alone.
    await lifecycle("dual-stack", { addresses: [POOL_V4, POOL_V6] }, { config: { addresses: [POOL_V4, "2001:db8:1::200", "2001:db8:1::202-2001:db8:1::220"] }, moved: ["default/web-v6"] });
  });

  test("helm-chart: the chart's Service (from a local chart directory) gets its address through the values", async () => {
    await lifecycle("helm-chart", { addresses: [POOL_V4] }, { config: { addresses: ["192.0.2.201-192.0.2.220"] }, moved: ["default/echo"] });
  });

  test("in-cluster: the runtime with defaultClass; a Service made with kubectl gets an address and is answered", async () => {
    const stack = new Stack(join(root, "examples", "in-cluster"), join(scratch, "in-cluster"), env);
    await stack.init("lab", { "kubernetes:kubeconfig": lab.adminPath, addresses: [POOL_V4], eipAddresses: ["198.51.100.10-198.51.100.20"] });
    await scenario(stack, async () => {
      const preview = await stack.pulumi("preview", "--diff");
      assert.equal(preview.code, 0, preview.stdout + preview.stderr);
      await upWithSpeakers(stack);
      await kubectl(lab, "apply", "-f", join(root, "examples/kubectl/metallb-nginx.yaml"));
      const ip = await waitFor("nginx's EXTERNAL-IP", async () => (await services("metallb-basic")).nginx?.ingress[0], 30_000, 200);
      assert.equal(ip, "192.0.2.200", "the first address of the first pool, as MetalLB's walkthrough shows");
      await answeredByOwner([ip]);
      await expectNoChanges(stack, "after up and a kubectl-made Service");
      progress(`in-cluster: metallb-basic/nginx got ${ip}; preview and refresh: no changes`);
      await kubectl(lab, "delete", "-f", join(root, "examples/kubectl/metallb-nginx.yaml"), "--wait=true");
      await destroyLeavesNothing(stack);
    });
  });

  test("gitops-render: two runs render byte-identical files; kubectl applies them and the Services get the rendered addresses", async () => {
    const rendered: Map<string, string>[] = [];
    for (const copy of ["render-a", "render-b"]) {
      const stack = new Stack(join(root, "examples", "gitops-render"), join(scratch, copy), env);
      await stack.init(copy, { addresses: [POOL_V4], nodeSubnets: ["192.0.2.0/24"] });
      await stack.must("up", "--yes");
      rendered.push(filesUnder(join(stack.dir, "manifests")));
    }
    const [a, b] = rendered as [Map<string, string>, Map<string, string>];
    assert.ok(a.size > 5, `files rendered: ${[...a.keys()].join(", ")}`);
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [file, text] of a) assert.equal(b.get(file), text, `${file} is byte-identical`);
    const dir = join(scratch, "render-a", "manifests");
    await kubectl(lab, "apply", "-f", join(dir, "0-crd"));
    await kubectl(lab, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s");
    // As the example's README says: CRDs, then Namespaces, then the rest (kubectl applies a
    // directory's files in name order; Argo CD and Flux order by kind themselves).
    const namespaces = readdirSync(join(dir, "1-manifest")).filter((f) => f.startsWith("v1-namespace-"));
    assert.ok(namespaces.length > 0, "a Namespace is rendered");
    for (const f of namespaces) await kubectl(lab, "apply", "-f", join(dir, "1-manifest", f));
    await kubectl(lab, "apply", "-f", join(dir, "1-manifest"));
    await startSpeakers();
    const annotated = Object.entries(await services()).filter(([, s]) => s.annotations["l2lb.dev/load-balancer-ips"]);
    assert.deepEqual(annotated.map(([n]) => n).sort(), ["admin", "nginx", "nginx-2"]);
    for (const [name, s] of annotated) {
      const want = s.annotations["l2lb.dev/load-balancer-ips"]!.split(",");
      await waitFor(`${name}'s EXTERNAL-IP`, async () => ((await services())[name]?.ingress.join(",") === want.join(",") ? true : undefined), 30_000, 200);
      await answeredByOwner(want);
    }
    progress(`gitops-render: ${a.size} files byte-identical across two runs; applied; ${annotated.map(([n, s]) => `${n}=${s.annotations["l2lb.dev/load-balancer-ips"]}`).join(" ")}`);
    await stopSpeakers();
    await kubectl(lab, "delete", "-f", join(dir, "1-manifest"), "--wait=true");
    await kubectl(lab, "delete", "-f", join(dir, "0-crd"), "--wait=true");
  });
});

/** Every file under `dir`, by relative path, with its text (sorted by path). */
function filesUnder(dir: string): Map<string, string> {
  const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
  return new Map(files.map((f) => [relative(dir, f), readFileSync(f, "utf8")]));
}

