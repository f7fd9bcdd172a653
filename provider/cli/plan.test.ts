import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { planCommand } from "./plan.ts";
import { memoryIo } from "./testing.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const main = join(root, "provider/cli/main.ts");
const example = (f: string): string => join(root, "examples/plan", f);

function l2lb(args: string[], cwd = root): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { cwd, encoding: "utf8" });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}


describe("l2lb plan on the seeds' examples", () => {
  it("metallb-basic.yaml: nginx gets the first address of first-pool", () => {
    const r = l2lb(["plan", "-f", example("metallb-basic.yaml"), "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      services: { "default/nginx": { ips: ["192.168.28.210"], pool: "first-pool" } },
      pools: { "first-pool": { size: "11", used: 1 } },
    });
  });
  it("metallb-shared-ip.yaml: nginx and nginx-2 share 192.168.28.211", () => {
    const r = l2lb(["plan", "-f", example("metallb-shared-ip.yaml"), "-o", "json", "--node-subnet", "192.168.28.0/24"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      services: {
        "default/nginx": { ips: ["192.168.28.211"], pool: "first-pool" },
        "default/nginx-2": { ips: ["192.168.28.211"], pool: "first-pool" },
      },
      pools: { "first-pool": { size: "11", used: 1 } },
    });
  });
  it("openelb-eip.yaml: the annotated Service gets 192.168.0.91 from the default Eip", () => {
    const r = l2lb(["plan", "-f", example("openelb-eip.yaml")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^SERVICE\s+ADDRESSES\s+POOL\ndefault\/layer2-svc\s+192\.168\.0\.91\s+eip-sample-pool\n/);
    assert.match(r.stdout, /eip-sample-pool\s+10\s+1\s+9/);
    assert.equal(r.stderr, "");
  });
  it("--state shows what changes, in the table a reviewer reads", () => {
    const r = l2lb(["plan", "-f", example("metallb-shared-ip.yaml"), "--state", example("state.json")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /default\/nginx\s+192\.168\.28\.211\s+first-pool\s+moved from 192\.168\.28\.210: it now requests 192\.168\.28\.211\n/);
    assert.match(r.stdout, /default\/nginx-2\s+192\.168\.28\.211\s+first-pool\s+new\n/);
    assert.match(r.stdout, /1 new, 1 moved, 0 released, 0 unchanged\./);
  });
  it("the README's examples are what the command prints", () => {
    const readme = readFileSync(example("README.md"), "utf8");
    const blocks = [...readme.matchAll(/```console\n\$ (l2lb [^\n]+)\n([\s\S]*?)```/g)];
    assert.ok(blocks.length >= 4, "the README shows the commands and their output");
    for (const [, command, output] of blocks) {
      const r = l2lb(command!.split(/\s+/).slice(1), example(""));
      assert.equal(r.stdout + r.stderr, output, `output of: ${command}`);
    }
  });
});

describe("l2lb plan behaviour", () => {
  const pool = `apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [10.0.0.1-10.0.0.2]}\n`;
  const service = (name: string, extra = ""): string => `---\napiVersion: v1\nkind: Service\nmetadata: {name: ${name}${extra}}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n`;

  it("exits 0 and lists Services without an address with their error", () => {
    const r = planCommand(["-f", "m.yaml"], memoryIo({ "m.yaml": pool + service("a") + service("b") + service("c") }));
    assert.equal(r.code, 0);
    assert.match(r.stdout, /default\/c\s+<none>\s+-\n/);
    assert.match(r.stdout, /Services without an address:\n {2}default\/c: Service "default\/c" got no address: pool "p" has no free IPv4 address/);
    const json = JSON.parse(planCommand(["-f", "m.yaml", "-o", "json"], memoryIo({ "m.yaml": pool + service("a") + service("b") + service("c") })).stdout);
    assert.match(json.services["default/c"].error, /^Service "default\/c" got no address/);
  });
  it("exits 1 with every problem on stderr, naming the file, when a pool is invalid", () => {
    const overlapping = `---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: q}\nspec: {addresses: [10.0.0.2/32]}\n`;
    const r = planCommand(["-f", "m.yaml"], memoryIo({ "m.yaml": pool + overlapping + service("a", ", annotations: {metallb.io/address-pool: nope}") }));
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^l2lb plan: the configuration is invalid \(2 problems\):\n/);
    assert.match(r.stderr, /m\.yaml \(document 2\): AddressPool "q" spec\.addresses\[0\] \(10\.0\.0\.2\/32\) overlaps AddressPool "p" spec\.addresses\[0\]/);
    assert.match(r.stderr, /m\.yaml \(document 3\): Service "default\/a" requests pool "nope", which does not exist/, "the Services' problems are listed too");
  });
  it("exits 3 when a Service is invalid: it is refused, and every other Service is planned as if it were absent", () => {
    const bad = service("a", ", annotations: {metallb.io/address-pool: nope}");
    const files = { "m.yaml": pool + bad + service("b") + service("c") };
    const r = planCommand(["-f", "m.yaml"], memoryIo(files));
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^SERVICE\s+ADDRESSES\s+POOL\ndefault\/a\s+<none>\s+-\ndefault\/b\s+10\.0\.0\.1\s+p\ndefault\/c\s+10\.0\.0\.2\s+p\n/);
    assert.match(r.stdout, /Services without an address:\n {2}default\/a: Service "default\/a" requests pool "nope", which does not exist; name one of the pools \("p"\) or define it\.\n/);
    assert.equal(
      r.stderr,
      'l2lb plan: invalid Services get no address (1 problem); every other Service is planned:\n  - m.yaml (document 2): Service "default/a" requests pool "nope", which does not exist; name one of the pools ("p") or define it.\n',
    );
    const json = JSON.parse(planCommand(["-f", "m.yaml", "-o", "json"], memoryIo(files)).stdout);
    assert.deepEqual(json.services["default/a"], { error: 'Service "default/a" requests pool "nope", which does not exist; name one of the pools ("p") or define it.' });
    const without = JSON.parse(planCommand(["-f", "m.yaml", "-o", "json"], memoryIo({ "m.yaml": pool + service("b") + service("c") })).stdout);
    assert.deepEqual({ ...json.services, "default/a": undefined }, { ...without.services, "default/a": undefined });
    assert.deepEqual(json.pools, without.pools);
  });
  it("exits 3 when a SharedIpGroup is invalid: each member is refused, naming the group", () => {
    const group = `---\napiVersion: l2lb.dev/v1alpha1\nkind: SharedIpGroup\nmetadata: {name: web}\nspec: {services: [a, b]}\n`;
    const r = planCommand(["-f", "m.yaml", "-o", "json"], memoryIo({ "m.yaml": pool + service("a") + service("b") + service("c") + group }));
    assert.equal(r.code, 3);
    const services = JSON.parse(r.stdout).services;
    for (const member of ["a", "b"]) {
      assert.match(services[`default/${member}`].error, new RegExp(`^Service "default/${member}" is in SharedIpGroup "web", which is invalid: SharedIpGroup "web" puts Services "default/a" and "default/b" on one address, but both use TCP/80`));
    }
    assert.deepEqual(services["default/c"], { ips: ["10.0.0.1"], pool: "p" });
    assert.match(r.stderr, /m\.yaml \(document 5\): SharedIpGroup "web" puts Services/);
  });
  it("a refused Service that had an address is shown as released, with the reason", () => {
    const io = memoryIo({
      "m.yaml": pool + service("a", ", annotations: {metallb.io/address-pool: nope}") + service("b"),
      "s.json": '{"services": {"default/a": {"ips": ["10.0.0.1"], "pool": "p"}, "default/b": {"ips": ["10.0.0.2"], "pool": "p"}}}',
    });
    const r = planCommand(["-f", "m.yaml", "--state", "s.json"], io);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /default\/a\s+<none>\s+-\s+released 10\.0\.0\.1: Service "default\/a" requests pool "nope", which does not exist/);
    assert.match(r.stdout, /default\/b\s+10\.0\.0\.2\s+p\s+unchanged\n/);
    assert.match(r.stdout, /0 new, 0 moved, 1 released, 1 unchanged\./);
  });
  it("exits 1 on unreadable input and malformed YAML", () => {
    assert.equal(planCommand(["-f", "missing.yaml"], memoryIo({})).code, 1);
    const bad = planCommand(["-f", "m.yaml"], memoryIo({ "m.yaml": "a: [\n" }));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /m\.yaml is not valid YAML/);
  });
  it("exits 2 on usage errors", () => {
    assert.equal(planCommand([], memoryIo({})).code, 2);
    assert.equal(planCommand(["-f", "m.yaml", "-o", "yaml"], memoryIo({ "m.yaml": pool })).code, 2);
    assert.equal(planCommand(["--bogus"], memoryIo({})).code, 2);
    assert.equal(l2lb(["frobnicate"]).code, 2);
    const help = l2lb(["plan", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: l2lb plan -f/);
    assert.match(help.stdout, /Exit status:\n {2}0 {2}planned.*\n[\s\S]* {2}3 {2}some Services or SharedIpGroups are invalid/);
  });
  it("reads directories, several -f and stdin", () => {
    const io = memoryIo({ "dir/a.yaml": pool, "dir/sub/b.yaml": service("a").slice(4) }, service("b").slice(4));
    const r = planCommand(["-f", "dir", "-f", "-", "-o", "json"], io);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(JSON.parse(r.stdout).services), ["default/a", "default/b"]);
  });
  it("a state file written by -o json makes the next plan sticky and shows released Services", () => {
    const dir = mkdtempSync(join(tmpdir(), "l2lb-plan-"));
    const manifests = join(dir, "m.yaml");
    writeFileSync(manifests, pool + service("a") + service("b"));
    const first = l2lb(["plan", "-f", manifests, "-o", "json"]);
    const state = join(dir, "state.json");
    writeFileSync(state, first.stdout);
    writeFileSync(manifests, pool + service("b") + service("c"));
    const next = l2lb(["plan", "-f", manifests, "--state", state]);
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stdout, /default\/a\s+-\s+-\s+released 10\.0\.0\.1: the Service no longer exists/);
    assert.match(next.stdout, /default\/b\s+10\.0\.0\.2\s+p\s+unchanged/);
    assert.match(next.stdout, /default\/c\s+10\.0\.0\.1\s+p\s+new/);
  });
  it("rejects a state file that is not a plan", () => {
    const io = memoryIo({ "m.yaml": pool, "s.json": '{"services": {"default/a": {"ips": "10.0.0.1"}}}', "t.json": "nope" });
    const r = planCommand(["-f", "m.yaml", "--state", "s.json"], io);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /State file s\.json: entry "default\/a" needs "ips"/);
    assert.match(planCommand(["-f", "m.yaml", "--state", "t.json"], io).stderr, /State file t\.json is not JSON/);
  });
  it("warns about pools no L2Advertisement selects", () => {
    const adv = (spec: string): string => `---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: adv}\nspec: ${spec}\n`;
    const second = `---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: q, labels: {zone: a}}\nspec: {addresses: [10.0.1.1]}\n`;
    const run = (spec: string): string => planCommand(["-f", "m.yaml"], memoryIo({ "m.yaml": pool + second + adv(spec) })).stderr;
    assert.equal(run("{ipAddressPools: [p]}"), 'warning: pool "q" is selected by no L2Advertisement: its addresses are assigned but never announced; add it to an L2Advertisement\'s ipAddressPools.\n');
    assert.equal(run("{ipAddressPools: [p], ipAddressPoolSelectors: [{matchLabels: {zone: a}}]}"), "");
    assert.equal(run("{}"), "", "an advertisement without pools announces every pool");
    assert.equal(planCommand(["-f", "m.yaml"], memoryIo({ "m.yaml": pool + second })).stderr, "", "no advertisement in the manifests: nothing to check");
  });
  it("Node objects contribute node addresses and subnets", () => {
    const node = `---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  annotations: {l2lb.dev/subnets: '[{"interface":"eth0","cidr":"10.0.0.0/24","address":"10.0.0.1"}]'}\nstatus: {addresses: [{type: InternalIP, address: 10.0.0.1}]}\n`;
    const r = planCommand(["-f", "m.yaml", "-o", "json"], memoryIo({ "m.yaml": pool + node + service("a") }));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).services["default/a"].ips, ["10.0.0.2"]);
    const outside = planCommand(["-f", "m.yaml", "--node-subnet", "192.168.0.0/24"], memoryIo({ "m.yaml": pool }));
    assert.equal(outside.code, 1);
    assert.match(outside.stderr, /lies outside every node subnet/);
  });
  it("warns on stderr about a node's own address inside a pool, in either output format, exit status unchanged", () => {
    const node = `---\napiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: 10.0.0.1}]}\n`;
    const warning = `warning: AddressPool "p" lists 10.0.0.1 (in its range 10.0.0.1-10.0.0.2), a node's own address, which is never handed out; remove it from the pool (split the range around it) so the pool lists only addresses Services may get.\n`;
    const table = planCommand(["-f", "m.yaml"], memoryIo({ "m.yaml": pool + node + service("a") }));
    assert.equal(table.code, 0);
    assert.equal(table.stderr, warning);
    assert.match(table.stdout, /default\/a\s+10\.0\.0\.2\s+p/);
    const json = planCommand(["-f", "m.yaml", "-o", "json"], memoryIo({ "m.yaml": pool + node + service("a") }));
    assert.equal(json.stderr, warning);
    assert.deepEqual(JSON.parse(json.stdout).services["default/a"].ips, ["10.0.0.2"], "stdout is the JSON document alone");
    const refused = planCommand(["-f", "m.yaml"], memoryIo({ "m.yaml": pool + node + service("a", ", annotations: {metallb.io/address-pool: nope}") }));
    assert.equal(refused.code, 3);
    assert.ok(refused.stderr.startsWith(warning), refused.stderr);
  });
});
