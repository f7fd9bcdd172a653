// End to end on the lab (test/lab/README.md): a real kube-apiserver with three kwok nodes
// (192.0.2.11-13, 2001:db8:1::11-13), the node and client network namespaces on one bridge, the
// Pulumi CLI with a local backend running test/e2e/program (every object written by the
// Kubernetes provider plugin), and one real
// `l2lb-speaker` (Kubernetes mode) per node namespace with the token of the Installation's
// ServiceAccount. Covers: preview --diff with concrete addresses, up landing exactly them,
// EXTERNAL-IP, a preview and a refresh right after up with no change, ARP and NDP answered with the
// elected node's MAC, a one-service move, a Service made with kubectl taking a planned address
// between preview and up (up plans around it), failover after
// SIGKILL of the owner's speaker, and destroy leaving nothing of the stack behind.
//
// Needs root, the lab tools (test/lab/build-tools.sh), arping, ndisc6 and the build (dist/); skips
// saying which is missing. Progress goes to stderr. L2LB_E2E_KEEP=1 keeps the scratch directory.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { elect } from "../../runtime/election/rank.ts";
import { assignmentsIn, movesIn, runCommand, type Run } from "./pulumi-stack.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const NODES = ["node-a", "node-b", "node-c"];
const SPECS = NODES.map((n, i) => `${n}=192.0.2.${11 + i},2001:db8:1::${11 + i}`);
const POOL = ["192.0.2.200-192.0.2.220", "2001:db8:1::200-2001:db8:1::220"];
const NET_ID = "e2e";
const t0 = Date.now();

function progress(text: string): void {
  const s = Math.round((Date.now() - t0) / 1000);
  process.stderr.write(`[e2e ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}] ${text}\n`);
}

const run = runCommand;

async function must(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(everyMs);
  }
}

async function unavailable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return "needs root (network namespaces, raw sockets)";
  const missing = (await must("bash", ["-c", `. "${root}scripts/env.sh" && . "${root}test/lab/tools.sh" && lab_tools_missing pulumi pulumi-kubernetes kubernetes etcd kwok`])).trim();
  if (missing) return `lab tools not built (${missing.replace(/\n/g, ", ")}); run test/lab/build-tools.sh`;
  for (const tool of ["ip", "arping", "ndisc6", "ping"]) {
    if ((await run("bash", ["-c", `command -v ${tool}`])).code !== 0) return `${tool} is not installed`;
  }
  if (!existsSync(join(root, "runtime/dataplane/native/build/Release/l2lb_packet.node"))) return "the speaker's packet addon is not built (npm run build)";
  return false;
}

const skip = await unavailable();

/** Newest modification time of the .ts files under `dir`. */
function newest(dir: string): number {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) max = Math.max(max, newest(p));
    else if (e.name.endsWith(".ts")) max = Math.max(max, statSync(p).mtimeMs);
  }
  return max;
}

describe("l2lb end to end on the lab", { skip, timeout: 900_000 }, () => {
  const scratch = skip ? "" : mkdtempSync(join(tmpdir(), "l2lb-e2e-"));
  const labDir = join(scratch, "lab");
  const program = join(scratch, "program");
  const labEnv: NodeJS.ProcessEnv = { ...process.env, L2LB_LAB_DIR: labDir, L2LB_NET_ID: NET_ID, L2LB_NET_DIR: join(scratch, "net"), L2LB_PULUMI_DIR: join(scratch, "pulumi") };
  let env: NodeJS.ProcessEnv = {};
  const speakers = new Map<string, ChildProcess>();
  const macs = new Map<string, string>();
  let cluster = false;
  let network = false;
  let previewed: Record<string, string> = {};

  const kubectl = async (...args: string[]): Promise<string> => must(join(env.L2LB_KUBERNETES_BIN ?? "", "kubectl"), ["--kubeconfig", join(labDir, "kubeconfig"), ...args], { env });
  const pulumi = (...args: string[]): Promise<Run> => run("pulumi", [...args, "--non-interactive"], { env, cwd: program, timeoutMs: 300_000 });
  const ns = (node: string): string => `l2lb-${NET_ID}-${node}`;
  const client = `l2lb-${NET_ID}-client`;
  const nodeOf = (mac: string): string => [...macs].find(([, m]) => m === mac)?.[0] ?? `unknown MAC ${mac}`;
  const alive = (): string[] => NODES.filter((n) => speakers.has(n));

  /** MACs that answered `count` ARP requests for `ip` from the client. */
  async function arping(ip: string, count = 2): Promise<string[]> {
    const r = await run("ip", ["netns", "exec", client, "arping", "-c", String(count), "-w", String(count + 1), "-I", "eth0", ip], { timeoutMs: 15_000 });
    return [...r.stdout.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1]!.toLowerCase());
  }

  /** The target link-layer address a neighbour solicitation for `ip` returns, or undefined. */
  async function ndisc(ip: string): Promise<string | undefined> {
    const r = await run("ip", ["netns", "exec", client, "ndisc6", "-1", "-r", "3", "-w", "500", ip, "eth0"], { timeoutMs: 15_000 });
    return /Target link-layer address: ([0-9A-Fa-f:]{17})/.exec(r.stdout)?.[1]?.toLowerCase();
  }

  async function services(): Promise<Record<string, { type: string; ingress: string[]; annotations: Record<string, string>; cls?: string }>> {
    const list = JSON.parse(await kubectl("get", "svc", "-n", "default", "-o", "json")) as {
      items: { metadata: { name: string; annotations?: Record<string, string> }; spec: { type: string; loadBalancerClass?: string }; status?: { loadBalancer?: { ingress?: { ip: string }[] } } }[];
    };
    const out: Awaited<ReturnType<typeof services>> = {};
    for (const s of list.items) {
      out[s.metadata.name] = { type: s.spec.type, ingress: (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip), annotations: s.metadata.annotations ?? {}, cls: s.spec.loadBalancerClass };
    }
    return out;
  }

  function startSpeaker(node: string, kubeconfig: string): void {
    const log = openSync(join(scratch, `speaker-${node}.log`), "a");
    // `ip netns exec` (what test/lab/network.sh exec runs) execs node: the child is the speaker itself.
    const child = spawn("ip", ["netns", "exec", ns(node), process.execPath, join(root, "runtime/speaker/main.ts"), "--metrics-host", "127.0.0.1"], {
      env: { PATH: process.env.PATH ?? "", NODE_NAME: node, POD_NAMESPACE: "l2lb-system", KUBECONFIG: kubeconfig, L2LB_INTERFACES: "eth0" },
      stdio: ["ignore", log, log],
    });
    speakers.set(node, child);
  }

  async function stopSpeaker(node: string, signal: NodeJS.Signals): Promise<void> {
    const child = speakers.get(node);
    if (!child) return;
    speakers.delete(node);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    if ((await Promise.race([exited, sleep(5000).then(() => "timeout")])) === "timeout") {
      child.kill("SIGKILL");
      await exited;
    }
  }

  before(async () => {
    progress(`scratch ${scratch}`);
    // The program imports the package by name: dist/ must be as new as every source under provider/.
    const built = join(root, "dist/provider/index.js");
    if (!existsSync(built) || newest(join(root, "provider")) > statSync(built).mtimeMs) {
      progress("building dist/ (tsc)");
      await must(join(root, "node_modules/.bin/tsc"), ["-p", join(root, "tsconfig.build.json")], { timeoutMs: 300_000 });
    }
    await run("bash", [join(root, "test/lab/network.sh"), "down"], { env: labEnv }); // leftovers of an interrupted run
    progress("cluster.sh up: etcd, kube-apiserver, controller-manager, scheduler, kwok with 3 nodes");
    cluster = true;
    await must("bash", [join(root, "test/lab/cluster.sh"), "up", ...SPECS], { env: labEnv, timeoutMs: 300_000 });
    progress("network.sh up: bridge, node namespaces, client 192.0.2.100");
    network = true;
    await must("bash", [join(root, "test/lab/network.sh"), "up", ...SPECS], { env: labEnv, timeoutMs: 120_000 });
    for (const n of NODES) {
      const j = JSON.parse(await must("ip", ["-n", ns(n), "-j", "link", "show", "eth0"])) as { address: string }[];
      macs.set(n, j[0]!.address.toLowerCase());
    }
    const exported = await must("bash", ["-c", `. "${root}test/lab/pulumi.sh" >/dev/null && env -0`], { env: labEnv });
    env = {};
    for (const kv of exported.split("\0")) {
      const i = kv.indexOf("=");
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    cpSync(join(root, "test/e2e/program"), program, { recursive: true });
    mkdirSync(join(program, "node_modules"));
    symlinkSync(root, join(program, "node_modules", "l2lb"));
    for (const scope of ["@pulumi", "@kubernetes"]) symlinkSync(join(root, "node_modules", scope), join(program, "node_modules", scope));
    await must("pulumi", ["stack", "init", "lab", "--non-interactive"], { env, cwd: program });
    await must("pulumi", ["config", "set", "kubernetes:kubeconfig", join(labDir, "kubeconfig")], { env, cwd: program });
    for (const [i, range] of POOL.entries()) await must("pulumi", ["config", "set", "--path", `addresses[${i}]`, range], { env, cwd: program });
    // A Service made by someone else, before the program runs; the program patches it in place.
    await kubectl("create", "service", "clusterip", "legacy", "--tcp=9000:9000");
    await kubectl("annotate", "service", "legacy", "team=ops");
  });

  after(async () => {
    for (const n of [...speakers.keys()]) await stopSpeaker(n, "SIGTERM");
    if (network) await run("bash", [join(root, "test/lab/network.sh"), "down"], { env: labEnv });
    if (cluster) await run("bash", [join(root, "test/lab/cluster.sh"), "down"], { env: labEnv });
    if (scratch && process.env.L2LB_E2E_KEEP !== "1") rmSync(scratch, { recursive: true, force: true });
    progress("lab down");
  });

  test("pulumi preview --diff shows every concrete address before anything exists", async () => {
    const r = await pulumi("preview", "--diff");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    previewed = assignmentsIn(r.stdout);
    progress(`preview: ${JSON.stringify(previewed)}`);
    assert.deepEqual(Object.keys(previewed).sort(), ["default/api", "default/dual", "default/legacy", "default/nginx", "default/nginx-2"]);
    assert.equal(previewed["default/nginx"], previewed["default/nginx-2"], "the web group shares one address");
    const [v4, v6] = previewed["default/dual"]!.split(",");
    assert.match(v4 ?? "", /^192\.0\.2\.2[0-2]\d$/);
    assert.match(v6 ?? "", /^2001:db8:1::2[0-2][0-9a-f]$/);
    for (const key of ["default/api", "default/legacy", "default/nginx"]) assert.match(previewed[key]!, /^192\.0\.2\.2[0-2]\d$/, key);
    assert.equal(new Set(["default/api", "default/dual", "default/legacy", "default/nginx"].map((k) => previewed[k])).size, 4, "distinct addresses otherwise");
    assert.match(r.stdout, /\+ kubernetes:apps\/v1:DaemonSet/, "objects are written by the Kubernetes provider");
  });

  test("pulumi up, with the speakers started once the Installation's RBAC exists, lands exactly the preview", async () => {
    const up = pulumi("up", "--yes");
    // The speakers need the ServiceAccount and its bindings, which `up` creates; the Services then wait for them.
    const kubeconfig = await waitFor("the speaker's RoleBinding", async () => {
      if ((await run(join(env.L2LB_KUBERNETES_BIN ?? "", "kubectl"), ["--kubeconfig", join(labDir, "kubeconfig"), "-n", "l2lb-system", "get", "rolebinding", "l2lb-speaker"])).code !== 0) return undefined;
      return (await must("bash", [join(root, "test/lab/cluster.sh"), "kubeconfig-for", "l2lb-system", "l2lb-speaker"], { env: labEnv })).trim().split("\n").pop();
    }, 120_000, 500);
    for (const n of NODES) startSpeaker(n, kubeconfig!);
    progress(`speakers started in ${NODES.map(ns).join(", ")} as l2lb-system/l2lb-speaker`);
    const r = await up;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    progress(`up: ${/Resources:\s*\n\s*(.*)/.exec(r.stdout)?.[1] ?? "?"} ${/Duration: .*/.exec(r.stdout)?.[0] ?? ""}`);
    const out = JSON.parse((await pulumi("stack", "output", "--json")).stdout) as { assignments: Record<string, string> };
    assert.deepEqual(out.assignments, previewed);
  });

  test("right after up, pulumi preview and pulumi refresh find nothing to change", async () => {
    const preview = await pulumi("preview", "--diff", "--expect-no-changes");
    assert.equal(preview.code, 0, `preview after up is not empty:\n${preview.stdout}${preview.stderr}`);
    const refresh = await pulumi("refresh", "--yes", "--expect-no-changes");
    assert.equal(refresh.code, 0, `refresh after up changed the state:\n${refresh.stdout}${refresh.stderr}`);
    const again = await pulumi("preview", "--diff", "--expect-no-changes");
    assert.equal(again.code, 0, `preview after refresh is not empty:\n${again.stdout}${again.stderr}`);
    progress(`preview, refresh, preview after up: no changes`);
  });

  test("kubectl get svc shows every EXTERNAL-IP, and the existing Service is patched in place", async () => {
    const table = await kubectl("get", "svc", "-o", "wide");
    process.stderr.write(table.replace(/^/gm, "    "));
    const svcs = await services();
    for (const [key, ips] of Object.entries(previewed)) {
      const name = key.slice("default/".length);
      assert.deepEqual(svcs[name]?.ingress, ips.split(","), name);
      assert.equal(svcs[name]?.cls, "l2lb.dev/layer2", name);
      assert.match(table, new RegExp(`^${name}\\s+LoadBalancer\\s+\\S+\\s+${ips.replace(/\./g, "\\.")}\\s`, "m"), `${name} row`);
    }
    assert.equal(svcs.legacy?.annotations.team, "ops", "the owner's annotation stays");
    assert.equal(svcs.legacy?.annotations["l2lb.dev/load-balancer-ips"], previewed["default/legacy"]);
  });

  test("ARP and NDP are answered from the client with the MAC of the elected node's eth0", async () => {
    for (const [key, ips] of Object.entries(previewed)) {
      for (const ip of ips.split(",")) {
        const owner = elect(NODES, ip)!;
        const want = macs.get(owner)!;
        const ann = await waitFor(`announced-by of ${key}`, async () => {
          const a = (await services())[key.slice(8)]?.annotations["l2lb.dev/announced-by"] ?? "";
          return a.includes(`${ip}=`) ? a : undefined;
        }, 15_000);
        assert.match(ann, new RegExp(`${ip.replace(/\./g, "\\.")}=${owner}/eth0`), key);
        if (ip.includes(":")) {
          const mac = await waitFor(`NDP answer for ${ip}`, () => ndisc(ip), 10_000);
          assert.equal(mac, want, `NDP ${ip}: ${nodeOf(mac)} answered, ${owner} was elected`);
          progress(`ndisc6 ${ip} -> ${mac} (${owner})`);
        } else {
          const replies = await waitFor(`ARP answers for ${ip}`, async () => {
            const r = await arping(ip, 2);
            return r.length >= 2 ? r : undefined;
          }, 10_000);
          assert.deepEqual([...new Set(replies)], [want], `ARP ${ip}: ${replies.map(nodeOf).join(",")} answered, ${owner} was elected`);
          progress(`arping ${ip} -> ${want} (${owner})`);
        }
      }
    }
  });

  test("pinning one Service elsewhere moves only that Service", async () => {
    const before = previewed["default/api"]!;
    const used = new Set(Object.values(previewed).flatMap((v) => v.split(",")));
    let target = "";
    for (let i = 220; i >= 200 && !target; i--) if (!used.has(`192.0.2.${i}`)) target = `192.0.2.${i}`;
    await must("pulumi", ["config", "set", "--path", "apiIps[0]", target], { env, cwd: program });
    const preview = await pulumi("preview", "--diff");
    assert.equal(preview.code, 0, preview.stdout + preview.stderr);
    // The move shows in the allocation's diff and again in the stack outputs' diff.
    const moves = movesIn(preview.stdout);
    progress(`preview after pinning api to ${target}: ${moves.join("; ")}`);
    assert.deepEqual(moves, [`default/api ${before} => ${target}`]);
    const steps = [...preview.stdout.matchAll(/^\s*(~|\+-) ?((?:pulumi-nodejs:dynamic|kubernetes:)\S+): \((update|replace)\)\s*\n\s*\[id=[^\]]*\]\s*\n\s*\[urn=[^\]]*::([^\]]+)\]/gm)].map((m) => `${m[3]} ${m[2]} ${m[4]}`).sort();
    // The Kubernetes provider replaces a ConfigMap whose data changes (its default): the record.
    assert.deepEqual(steps, ["replace kubernetes:core/v1:ConfigMap lb-record", "update kubernetes:core/v1:Service lb-api", "update pulumi-nodejs:dynamic/l2lb:Allocation lb-plan"], preview.stdout);
    const up = await pulumi("up", "--yes");
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const svcs = await services();
    assert.deepEqual(svcs.api?.ingress, [target]);
    for (const key of ["nginx", "nginx-2", "dual", "legacy"]) assert.deepEqual(svcs[key]?.ingress, previewed[`default/${key}`]!.split(","), `${key} unchanged`);
    const owner = elect(NODES, target)!;
    const replies = await waitFor(`ARP answers for ${target}`, async () => {
      const r = await arping(target, 2);
      return r.length >= 2 ? r : undefined;
    }, 15_000);
    assert.deepEqual([...new Set(replies)], [macs.get(owner)]);
    await waitFor(`silence for ${before}`, async () => ((await arping(before, 1)).length === 0 ? true : undefined), 10_000);
    progress(`api moved ${before} -> ${target}, answered by ${owner}; ${before} is silent`);
    previewed["default/api"] = target;
  });

  test("a Service made with kubectl takes the address a preview planned: up plans again and gives the stack Service another", async () => {
    await must("pulumi", ["config", "set", "--path", "late[0]", "late"], { env, cwd: program });
    const preview = await pulumi("preview", "--diff");
    assert.equal(preview.code, 0, preview.stdout + preview.stderr);
    const planned = assignmentsIn(preview.stdout)["default/late"] ?? "";
    assert.match(planned, /^192\.0\.2\.2[0-2]\d$/, preview.stdout);
    // Between preview and up, a Service made with kubectl asks the in-cluster allocator for exactly that address.
    const manifest = join(scratch, "walk-in.json");
    writeFileSync(manifest, JSON.stringify({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "walk-in", namespace: "default", annotations: { "l2lb.dev/requested-ips": planned } },
      spec: { type: "LoadBalancer", loadBalancerClass: "l2lb.dev/layer2", ports: [{ port: 80 }], selector: { app: "nginx" } },
    }));
    await kubectl("create", "-f", manifest);
    await waitFor(`the in-cluster assignment of ${planned} to default/walk-in`, async () => ((await services())["walk-in"]?.annotations["l2lb.dev/load-balancer-ips"] === planned ? true : undefined), 30_000);
    // `up` checks the allocation again before writing: it sees the address taken and plans around it.
    const up = await pulumi("up", "--yes");
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const out = JSON.parse((await pulumi("stack", "output", "--json")).stdout) as { assignments: Record<string, string> };
    const late = out.assignments["default/late"] ?? "";
    assert.match(late, /^192\.0\.2\.2[0-2]\d$/);
    assert.notEqual(late, planned, "up gave the stack Service the address kubectl took");
    assert.ok(!Object.values(previewed).includes(late), `late got ${late}, already in use`);
    const svcs = await waitFor("both EXTERNAL-IPs", async () => {
      const now = await services();
      return now.late?.ingress[0] === late && now["walk-in"]?.ingress[0] === planned ? now : undefined;
    }, 30_000);
    for (const key of ["api", "nginx", "nginx-2", "dual", "legacy"]) assert.deepEqual(svcs[key]?.ingress, previewed[`default/${key}`]!.split(","), `${key} unchanged`);
    progress(`kubectl took ${planned} after the preview; up gave late ${late}, walk-in keeps ${planned}`);
    previewed["default/late"] = late;
    await kubectl("delete", "svc", "walk-in");
  });

  test("after SIGKILL of the owner's speaker, the client's neighbour entry moves to the next node's MAC", async () => {
    const ip = previewed["default/nginx"]!;
    const owner = elect(alive(), ip)!;
    const next = elect(alive().filter((n) => n !== owner), ip)!;
    // A neighbour entry in the client, as a router or peer would hold (ping makes the kernel resolve it).
    await run("ip", ["netns", "exec", client, "ping", "-c", "1", "-W", "1", ip]);
    const neigh = async (): Promise<string | undefined> => /lladdr ([0-9a-f:]{17})/.exec((await must("ip", ["-n", client, "neigh", "show", ip])))?.[1];
    assert.equal(await waitFor("a neighbour entry", neigh, 5_000), macs.get(owner));
    const killed = Date.now();
    await stopSpeaker(owner, "SIGKILL");
    const moved = await waitFor("the neighbour entry to move", async () => {
      const mac = await neigh();
      return mac !== undefined && mac !== macs.get(owner) ? mac : undefined;
    }, 20_000, 50);
    const seconds = (Date.now() - killed) / 1000;
    progress(`failover: ${ip} ${owner} -> ${nodeOf(moved)} in ${seconds.toFixed(2)} s after SIGKILL (neighbour entry corrected by the new owner's gratuitous ARP)`);
    assert.equal(moved, macs.get(next), `moved to ${nodeOf(moved)}, expected ${next}`);
    assert.ok(seconds < 10, `failover took ${seconds} s`);
    const replies = await arping(ip, 2);
    assert.deepEqual([...new Set(replies)], [macs.get(next)]);
    const ann = await waitFor("announced-by the new owner", async () => {
      const a = (await services()).nginx?.annotations["l2lb.dev/announced-by"] ?? "";
      return a.includes(`=${next}/`) ? a : undefined;
    }, 15_000);
    assert.equal(ann, `${ip}=${next}/eth0`);
  });

  test("pulumi destroy leaves nothing of the stack: no l2lb objects, no annotations, the existing Service restored", async () => {
    const r = await pulumi("destroy", "--yes");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    progress(`destroy: ${/Duration: .*/.exec(r.stdout)?.[0] ?? ""}`);
    const gone = async (...args: string[]): Promise<boolean> => (await run(join(env.L2LB_KUBERNETES_BIN ?? "", "kubectl"), ["--kubeconfig", join(labDir, "kubeconfig"), "get", ...args])).code !== 0;
    for (const obj of [["ns", "l2lb-system"], ["crd", "addresspools.l2lb.dev"], ["crd", "l2advertisements.l2lb.dev"], ["clusterrole", "l2lb-speaker"], ["clusterrolebinding", "l2lb-speaker"], ["deploy", "nginx"], ["svc", "nginx"], ["svc", "nginx-2"], ["svc", "api"], ["svc", "dual"], ["svc", "late"]]) {
      assert.ok(await gone(...obj), `${obj.join(" ")} is still there`);
    }
    // Everything the stack wrote on the existing Service is gone; type and class are back.
    const stackKeys = (a: Record<string, string>): string[] => Object.keys(a).filter((k) => k.startsWith("pulumi.com/") || k === "l2lb.dev/load-balancer-ips" || k === "l2lb.dev/address-pool");
    const legacy = await waitFor("the existing Service restored", async () => {
      const s = (await services()).legacy;
      return s && s.type === "ClusterIP" && stackKeys(s.annotations).length === 0 && s.ingress.length === 0 ? s : undefined;
    }, 20_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; legacy is now ${JSON.stringify((await services()).legacy)}`);
    });
    assert.equal(legacy.annotations.team, "ops");
    assert.equal(legacy.cls, undefined);
    const resources = (await pulumi("stack", "export")).stdout;
    assert.equal((JSON.parse(resources) as { deployment: { resources?: unknown[] } }).deployment.resources?.length ?? 0, 0, "the stack holds no resources");
  });

  test("no l2lb annotation at all is left on the existing Service: its announcer removed l2lb.dev/announced-by when it left l2lb", async () => {
    const s = await waitFor("legacy without l2lb annotations", async () => {
      const svc = (await services()).legacy;
      return svc && !Object.keys(svc.annotations).some((k) => k.startsWith("l2lb.dev/")) ? svc : undefined;
    }, 10_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; annotations now ${JSON.stringify((await services()).legacy?.annotations)}`);
    });
    assert.deepEqual(s.annotations, { team: "ops" });
  });
});
