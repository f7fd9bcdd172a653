// `runtime/image/build.sh --push REF`: the image is built and pushed to the registry REF names —
// here a registry on loopback speaking the distribution API over plain HTTP (what podman needs to
// push and pull), then pulled back by its reference. Needs root and podman; skips, saying why,
// without them (as runtime/image/build.sh would fail).
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { root, run } from "./harness.ts";

const PODMAN_ROOT = process.env.L2LB_PODMAN_ROOT;
const PODMAN = [
  "--runtime", "runc", "--cgroup-manager", "cgroupfs",
  ...(PODMAN_ROOT ? ["--root", join(PODMAN_ROOT, "storage"), "--runroot", join(PODMAN_ROOT, "run")] : []),
];

async function skipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "needs root (rootful podman, as runtime/image/build.sh)";
  try {
    await run("podman", ["--version"]);
  } catch {
    return "podman not installed";
  }
  return undefined;
}
const skip = await skipReason();

/** A registry in memory: blobs by digest, manifests by `name:reference` (tag or digest). */
class Registry {
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, { type: string; body: Buffer }>();
  private readonly uploads = new Map<string, Buffer[]>();
  private server?: Server;

  async start(): Promise<number> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.handle(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return (this.server!.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://registry");
    const send = (status: number, headers: Record<string, string> = {}, content?: Buffer): void => {
      res.writeHead(status, { "Docker-Distribution-API-Version": "registry/2.0", "Content-Length": String(content?.length ?? 0), ...headers });
      res.end(req.method === "HEAD" ? undefined : content);
    };
    if (url.pathname === "/v2/") return send(200, { "Content-Type": "application/json" }, Buffer.from("{}"));
    const m = /^\/v2\/(.+)\/(blobs\/uploads\/([^/]*)|blobs\/([^/]+)|manifests\/([^/]+))$/.exec(url.pathname);
    if (!m) return send(404);
    const [, name, , upload, blob, reference] = m;
    if (upload !== undefined) return this.upload(req.method ?? "", name!, upload, url, body, send);
    if (blob !== undefined) {
      const b = this.blobs.get(blob);
      return b ? send(200, { "Docker-Content-Digest": blob, "Content-Type": "application/octet-stream" }, b) : send(404);
    }
    const key = `${name}:${reference}`;
    if (req.method === "PUT") {
      const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      const manifest = { type: req.headers["content-type"] ?? "application/vnd.oci.image.manifest.v1+json", body };
      this.manifests.set(key, manifest);
      this.manifests.set(`${name}:${digest}`, manifest);
      return send(201, { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest });
    }
    const stored = this.manifests.get(key);
    if (!stored) return send(404);
    return send(200, { "Content-Type": stored.type, "Docker-Content-Digest": `sha256:${createHash("sha256").update(stored.body).digest("hex")}` }, stored.body);
  }

  private upload(method: string, name: string, id: string, url: URL, body: Buffer, send: (status: number, headers?: Record<string, string>) => void): void {
    if (method === "POST") {
      const uuid = randomUUID();
      this.uploads.set(uuid, []);
      return send(202, { Location: `/v2/${name}/blobs/uploads/${uuid}`, Range: "0-0", "Docker-Upload-UUID": uuid });
    }
    const parts = this.uploads.get(id);
    if (!parts) return send(404);
    parts.push(body);
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (method === "PATCH") return send(202, { Location: `/v2/${name}/blobs/uploads/${id}`, Range: `0-${Math.max(size - 1, 0)}`, "Docker-Upload-UUID": id });
    const digest = url.searchParams.get("digest") ?? "";
    const content = Buffer.concat(parts);
    if (`sha256:${createHash("sha256").update(content).digest("hex")}` !== digest) return send(400);
    this.uploads.delete(id);
    this.blobs.set(digest, content);
    return send(201, { Location: `/v2/${name}/blobs/${digest}`, "Docker-Content-Digest": digest });
  }
}

describe("runtime/image/build.sh --push", { skip: skip ?? false, timeout: 1_200_000 }, () => {
  const registry = new Registry();
  let ref = "";

  before(async () => {
    ref = `127.0.0.1:${await registry.start()}/l2lb/speaker:pushed`;
  });
  after(async () => {
    if (ref) await run("podman", [...PODMAN, "rmi", "-f", ref]).catch(() => {});
    await registry.stop();
  });

  it("builds the image and pushes it to the registry its reference names", async () => {
    await run("bash", [join(root, "runtime/image/build.sh"), "--push", ref], { env: { ...process.env, L2LB_PUSH_FLAGS: "--tls-verify=false" }, timeoutMs: 1_100_000 });
    const manifest = registry.manifests.get("l2lb/speaker:pushed");
    assert.ok(manifest, `a manifest for l2lb/speaker:pushed; the registry holds ${[...registry.manifests.keys()].join(", ")}`);
    const { config, layers } = JSON.parse(manifest.body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [config.digest, ...layers.map((l) => l.digest)]) assert.ok(registry.blobs.has(d), `blob ${d} pushed`);
  });

  it("pulls back as the image that was built", async () => {
    const built = (await run("podman", [...PODMAN, "image", "inspect", "--format", "{{.Id}}", ref])).trim();
    await run("podman", [...PODMAN, "rmi", "-f", ref]);
    await run("podman", [...PODMAN, "pull", "-q", "--tls-verify=false", ref], { timeoutMs: 300_000 });
    const pulled = (await run("podman", [...PODMAN, "image", "inspect", "--format", "{{.Id}}", ref])).trim();
    assert.equal(pulled, built);
  });
});
