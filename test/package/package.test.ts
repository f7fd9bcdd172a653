// The package as users get it: `npm pack` (whose prepack builds dist/ from a clean copy of the
// sources), `npm install ./l2lb-<version>.tgz` into a fresh program directory outside the
// repository, then that program — examples/basic, `Installation({ image })` — previewed with the
// lab's Pulumi CLI and Kubernetes provider plugin (as any Pulumi Kubernetes program is), and the
// package's `l2lb manifests` bin run from it. Needs the lab's Pulumi CLI and Kubernetes provider
// plugin (test/lab/build-tools.sh pulumi pulumi-kubernetes; test/lab/pulumi.sh installs the plugin)
// and a C toolchain for the native addon; skips, saying why, without them. npm resolves from its
// cache first (--prefer-offline).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const pkg = (await import(join(root, "package.json"), { with: { type: "json" } })).default as { version: string; devDependencies: Record<string, string> };
const TARBALL = `l2lb-${pkg.version}.tgz`;
const IMAGE = `registry.example.com/l2lb/speaker:${pkg.version}`;

interface Run {
  code: number;
  out: string;
}

/** Runs a command with scripts/env.sh (and `pre`, e.g. test/lab/pulumi.sh) sourced; never throws. */
function sh(script: string, cwd: string, env: NodeJS.ProcessEnv = {}, pre = ""): Promise<Run> {
  const full = `. "${root}scripts/env.sh" && ${pre ? `. "${pre}" >/dev/null && ` : ""}${script}`;
  return new Promise((resolve) =>
    execFile("bash", ["-c", full], { cwd, env: { ...process.env, ...env }, timeout: 600_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    ),
  );
}

async function skipReason(): Promise<string | undefined> {
  const pulumi = await sh("lab_pulumi_kubernetes_ready", root, {}, `${root}test/lab/pulumi.sh`);
  if (pulumi.code !== 0) return `the lab's Pulumi CLI or Kubernetes provider plugin is not ready (${pulumi.out.trim()})`;
  const toolchain = await sh("command -v make && command -v g++ && command -v python3", root);
  if (toolchain.code !== 0) return "no C toolchain (make, g++, python3) to build the native addon in prepack";
  return undefined;
}
const skip = await skipReason();

/** The package's sources as a checkout has them, without anything built. */
function copySources(to: string): void {
  for (const f of ["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "README.md"]) cpSync(join(root, f), join(to, f));
  for (const dir of ["provider", "runtime"]) {
    cpSync(join(root, dir), join(to, dir), { recursive: true, filter: (src) => !src.includes("/native/build") && !src.endsWith(".node") });
  }
}

describe("npm pack, npm install of the tarball, pulumi preview outside the repository", { skip: skip ?? false, timeout: 900_000 }, () => {
  const scratch = skip ? "" : mkdtempSync(join(tmpdir(), "l2lb-package-"));
  const source = join(scratch, "source");
  const program = join(scratch, "my-program");
  const pulumiEnv = { L2LB_PULUMI_DIR: join(scratch, "pulumi") };

  before(() => {
    mkdirSync(source);
    copySources(source);
    // The build's compiler and type definitions: the checkout's devDependencies.
    symlinkSync(join(root, "node_modules"), join(source, "node_modules"));
  });
  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it("npm pack builds dist/ (prepack) and packs only the compiled package", async () => {
    const r = await sh(`npm pack --pack-destination "${scratch}"`, source);
    assert.equal(r.code, 0, r.out);
    assert.ok(readdirSync(scratch).includes(TARBALL), r.out);
    const listed = await sh(`tar -tzf "${join(scratch, TARBALL)}"`, scratch);
    const files = listed.out.split("\n").filter((f) => f !== "").map((f) => f.replace(/^package\//, ""));
    for (const f of ["package.json", "README.md", "dist/provider/index.js", "dist/provider/index.d.ts", "dist/provider/cli/main.js", "dist/runtime/speaker/main.js", "dist/runtime/dataplane/native/l2lb_packet.node"]) {
      assert.ok(files.includes(f), `${f} is packed`);
    }
    assert.deepEqual(files.filter((f) => /\.test\.|(?<!\.d)\.ts$|^(provider|runtime|test|examples)\//.test(f)), [], "no sources, tests or examples");
    assert.deepEqual(files.filter((f) => f !== "package.json" && f.endsWith("package.json")), [], "one package.json");
  });

  it(`npm install ./${TARBALL} in a fresh program directory installs a copy with its dependencies`, async () => {
    mkdirSync(program);
    for (const f of ["index.ts", "Pulumi.yaml"]) cpSync(join(root, "examples/basic", f), join(program, f));
    writeFileSync(join(program, "package.json"), `${JSON.stringify({ name: "my-program", private: true, type: "module" }, null, 2)}\n`);
    cpSync(join(scratch, TARBALL), join(program, TARBALL));
    const peers = ["@pulumi/pulumi", "@pulumi/kubernetes"].map((p) => `${p}@${pkg.devDependencies[p]}`).join(" ");
    const r = await sh(`npm install --prefer-offline --no-audit --no-fund ${peers} ./${TARBALL}`, program);
    assert.equal(r.code, 0, r.out);
    assert.ok(lstatSync(join(program, "node_modules/l2lb")).isDirectory(), "a copy, not a link into the checkout");
    for (const dep of ["@kubernetes/client-node", "yaml", "pino", "prom-client"]) assert.ok(lstatSync(join(program, "node_modules", dep)).isDirectory(), dep);
  });

  it("the package's l2lb bin prints the plain-YAML install with the given image", async () => {
    const r = await sh(`npx --no-install l2lb manifests --image ${IMAGE}`, program);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, new RegExp(`^\\s+image: ${IMAGE.replace(/[./]/g, "\\$&")}$`, "m"));
    assert.match(r.out, /^kind: DaemonSet$/m);
  });

  it("pulumi preview of the program shows the speaker image and the Service's address", async () => {
    const pulumi = (args: string) => sh(`pulumi ${args} --non-interactive`, program, pulumiEnv, `${root}test/lab/pulumi.sh`);
    for (const args of [
      "stack init dev",
      `config set speakerImage ${IMAGE}`,
      "config set --path nodeSubnets[0] 192.168.28.0/24", // no cluster is contacted
    ]) {
      const r = await pulumi(args);
      assert.equal(r.code, 0, `pulumi ${args}: ${r.out}`);
    }
    const r = await pulumi("preview --diff");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /default\/nginx\s*: "192\.168\.28\.210"/);
    assert.ok(r.out.includes(IMAGE), `the DaemonSet runs ${IMAGE}:\n${r.out}`);
    assert.match(r.out, /\+ l2lb:index:Installation/);
  });
});
