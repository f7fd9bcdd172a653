// Drives Pulumi's Node.js dynamic-provider host (`@pulumi/pulumi/cmd/dynamic-provider`, the very
// process the engine starts for `pulumi-nodejs:dynamic:*` resources) over gRPC, without an engine:
// the provider code crosses the same serialization and process boundary as in a real deployment.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const grpc = require("@grpc/grpc-js");
const providerGrpc = require("@pulumi/pulumi/proto/provider_grpc_pb");
const providerPb = require("@pulumi/pulumi/proto/provider_pb");
const structPb = require("google-protobuf/google/protobuf/struct_pb");

const HOST = require.resolve("@pulumi/pulumi/cmd/dynamic-provider/index.js");
export const URN = "urn:pulumi:test::l2lb::l2lb:index:Allocation$pulumi-nodejs:dynamic/l2lb:Allocation::lb-plan";

type Props = Record<string, unknown>;

export interface HostClient {
  configure(config: Record<string, string>): Promise<void>;
  check(olds: Props, news: Props): Promise<{ inputs: Props; failures: { property: string; reason: string }[] }>;
  diff(id: string, olds: Props, news: Props): Promise<{ changes: "none" | "some" | "unknown"; replaces: string[] }>;
  create(props: Props): Promise<{ id: string; properties: Props }>;
  update(id: string, olds: Props, news: Props): Promise<Props>;
  read(id: string, props: Props): Promise<{ id: string; properties: Props }>;
  delete(id: string, props: Props): Promise<void>;
  /** Everything the host wrote to stderr. */
  stderr(): string;
  close(): Promise<void>;
}

/** Starts the host in `cwd` (the program directory, as the engine does) and connects to it. */
export async function startDynamicHost(cwd: string): Promise<HostClient> {
  const child: ChildProcess = spawn(process.execPath, [HOST, "127.0.0.1:1"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0]!.trim();
      if (out.includes("\n") && /^\d+$/.test(line)) resolve(line);
    });
    child.once("exit", (code) => reject(new Error(`dynamic-provider host exited with ${code}: ${err}`)));
  });
  const client = new providerGrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = <T>(method: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) => client[method](req, (e: Error | null, res: T) => (e ? reject(e) : resolve(res))));
  // The wire has no `undefined`: absent keys are simply not sent.
  const struct = (p: Props): unknown => structPb.Struct.fromJavaScript(JSON.parse(JSON.stringify(p)));

  return {
    async configure(config) {
      const req = new providerPb.ConfigureRequest();
      req.setArgs(struct(config));
      await call("configure", req);
    },
    async check(olds, news) {
      const req = new providerPb.CheckRequest();
      req.setUrn(URN);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      const res = await call<{ getInputs(): { toJavaScript(): Props }; getFailuresList(): { getProperty(): string; getReason(): string }[] }>("check", req);
      return {
        inputs: res.getInputs().toJavaScript(),
        failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
      };
    },
    async diff(id, olds, news) {
      const req = new providerPb.DiffRequest();
      req.setId(id);
      req.setUrn(URN);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      const res = await call<{ getChanges(): number; getReplacesList(): string[] }>("diff", req);
      const kinds = providerPb.DiffResponse.DiffChanges;
      const changes = res.getChanges() === kinds.DIFF_SOME ? "some" : res.getChanges() === kinds.DIFF_NONE ? "none" : "unknown";
      return { changes, replaces: res.getReplacesList() };
    },
    async create(props) {
      const req = new providerPb.CreateRequest();
      req.setUrn(URN);
      req.setProperties(struct(props));
      const res = await call<{ getId(): string; getProperties(): { toJavaScript(): Props } }>("create", req);
      return { id: res.getId(), properties: res.getProperties().toJavaScript() };
    },
    async update(id, olds, news) {
      const req = new providerPb.UpdateRequest();
      req.setId(id);
      req.setUrn(URN);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      const res = await call<{ getProperties(): { toJavaScript(): Props } }>("update", req);
      return res.getProperties().toJavaScript();
    },
    async read(id, props) {
      const req = new providerPb.ReadRequest();
      req.setId(id);
      req.setUrn(URN);
      req.setProperties(struct(props));
      const res = await call<{ getId(): string; getProperties(): { toJavaScript(): Props } }>("read", req);
      return { id: res.getId(), properties: res.getProperties().toJavaScript() };
    },
    async delete(id, props) {
      const req = new providerPb.DeleteRequest();
      req.setId(id);
      req.setUrn(URN);
      req.setProperties(struct(props));
      await call("delete", req);
    },
    stderr: () => err,
    async close() {
      client.close();
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/** Path of a file next to this module. */
export function here(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}
