// A small Node.js language host for the Pulumi engine, used in the lab where the official
// `pulumi-language-nodejs` binary cannot be built. test/lab/pulumi.sh puts it on PATH under that
// name. It serves the LanguageRuntime gRPC service with what `pulumi preview/up/destroy/refresh` of a
// Node.js project needs, and runs programs exactly as Pulumi does: a Node process on the SDK's own
// `@pulumi/pulumi/cmd/run` entry point (resolved from the program directory), handed the resource
// monitor and engine addresses, project, stack and config.
//
// Supported project runtime options: `typescript` (default true, as in Pulumi; with false, Node 24
// loads `.ts` entry points by itself), `tsconfig`, `nodeargs`. Not supported: plugin/package
// discovery (it reports none; plugins are loaded on first use), dependency installation (a no-op:
// the project's own setup installs them), debugger attachment, synchronous invokes.
//
// Invocation (by the engine): language-host.ts [-flags...] ENGINE_ADDRESS; prints its port on stdout.
import { createRequire } from "node:module";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { readFileSync } from "node:fs";

const sdkDir = join(createRequire(import.meta.url).resolve("@pulumi/pulumi/package.json"), "..");
// Everything from the SDK's own point of view, so the generated code and gRPC are the SDK's copies.
const require = createRequire(join(sdkDir, "package.json"));
/* eslint-disable @typescript-eslint/no-explicit-any -- generated protobuf/grpc modules have no typings here */
const grpc: any = require("@grpc/grpc-js");
const langproto: any = require("./proto/language_pb.js");
const langrpc: any = require("./proto/language_grpc_pb.js");
const plugproto: any = require("./proto/plugin_pb.js");
const emptyproto: any = require("google-protobuf/google/protobuf/empty_pb.js");
/* eslint-enable @typescript-eslint/no-explicit-any */

const sdkVersion = (JSON.parse(readFileSync(join(sdkDir, "package.json"), "utf8")) as { version: string }).version;
// The exit code with which cmd/run says "the user was already shown an actionable message".
const bailExitCode = 32;

const positional = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const engineAddress = positional[positional.length - 1] ?? "";
const running = new Set<ChildProcess>();

type Callback = (err: Error | null, resp?: unknown) => void;
type Call = { request: RunRequest };
interface RunRequest {
  getProject(): string;
  getStack(): string;
  getArgsList(): string[];
  getConfigMap(): { entries(): Iterable<[string, string]> } | undefined;
  getConfigsecretkeysList(): string[];
  getDryrun(): boolean;
  getParallel(): number;
  getMonitorAddress(): string;
  getOrganization(): string;
  getInfo(): ProgramInfo | undefined;
  getPwd(): string;
  getProgram(): string;
}
interface ProgramInfo {
  getRootDirectory(): string;
  getProgramDirectory(): string;
  getEntryPoint(): string;
  getOptions(): { toJavaScript(): Record<string, unknown> } | undefined;
}

function runProgram(req: RunRequest): Promise<{ error: string; bail: boolean }> {
  const info = req.getInfo();
  const programDir = info?.getProgramDirectory() || req.getPwd() || process.cwd();
  const entryPoint = info?.getEntryPoint() || req.getProgram() || ".";
  const options = info?.getOptions()?.toJavaScript() ?? {};
  let runPath: string;
  try {
    runPath = createRequire(join(programDir, "package.json")).resolve("@pulumi/pulumi/cmd/run");
  } catch (e) {
    return Promise.resolve({ error: `cannot find @pulumi/pulumi from ${programDir}: ${String(e)}`, bail: false });
  }
  const args: string[] = [];
  const add = (k: string, v: string | number | undefined): void => {
    if (v !== undefined && v !== "") args.push(`--${k}`, String(v));
  };
  add("monitor", req.getMonitorAddress());
  add("engine", engineAddress);
  add("organization", req.getOrganization());
  add("project", req.getProject());
  add("root-directory", info?.getRootDirectory());
  add("stack", req.getStack());
  add("pwd", programDir);
  if (req.getDryrun()) args.push("--dry-run");
  add("parallel", req.getParallel());
  const config: Record<string, string> = {};
  for (const [k, v] of req.getConfigMap()?.entries() ?? []) config[k] = v;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_CONFIG: JSON.stringify(config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(req.getConfigsecretkeysList() ?? []),
  };
  if (options["typescript"] !== false) env["PULUMI_NODEJS_TYPESCRIPT"] = "true";
  if (typeof options["tsconfig"] === "string") env["PULUMI_NODEJS_TSCONFIG_PATH"] = options["tsconfig"];
  const nodeArgs = typeof options["nodeargs"] === "string" ? options["nodeargs"].split(/\s+/).filter(Boolean) : [];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, runPath, ...args, entryPoint, ...req.getArgsList()], {
      cwd: programDir,
      env,
      stdio: ["ignore", "inherit", "inherit"],
    });
    running.add(child);
    child.on("error", (e) => {
      running.delete(child);
      resolve({ error: `could not run the program: ${e.message}`, bail: false });
    });
    child.on("exit", (code, signal) => {
      running.delete(child);
      if (code === 0) resolve({ error: "", bail: false });
      else if (code === bailExitCode) resolve({ error: "", bail: true });
      else resolve({ error: `Program exited with non-zero exit code: ${code ?? signal}`, bail: false });
    });
  });
}

const empty = (ctor: string) => (_call: unknown, cb: Callback): void => cb(null, new langproto[ctor]());

const service = {
  handshake: empty("LanguageHandshakeResponse"),
  getPluginInfo(_call: unknown, cb: Callback): void {
    const resp = new plugproto.PluginInfo();
    resp.setVersion(sdkVersion);
    cb(null, resp);
  },
  getRequiredPlugins(_call: unknown, cb: Callback): void {
    const resp = new langproto.GetRequiredPluginsResponse();
    resp.setPluginsList([]);
    cb(null, resp);
  },
  getRequiredPackages(_call: unknown, cb: Callback): void {
    const resp = new langproto.GetRequiredPackagesResponse();
    resp.setPackagesList([]);
    cb(null, resp);
  },
  getProgramDependencies: empty("GetProgramDependenciesResponse"),
  about(_call: unknown, cb: Callback): void {
    const resp = new langproto.AboutResponse();
    resp.setExecutable(process.execPath);
    resp.setVersion(process.version);
    cb(null, resp);
  },
  installDependencies(call: { end(): void }): void {
    call.end();
  },
  run(call: Call, cb: Callback): void {
    runProgram(call.request).then(({ error, bail }) => {
      const resp = new langproto.RunResponse();
      resp.setError(error);
      resp.setBail(bail);
      cb(null, resp);
    }, (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))));
  },
  cancel(_call: unknown, cb: Callback): void {
    for (const child of running) child.kill("SIGINT");
    cb(null, new emptyproto.Empty());
  },
};

const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
server.addService(langrpc.LanguageRuntimeService, service);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err: Error | null, port: number) => {
  if (err) {
    console.error(`language host: ${err.message}`);
    process.exit(1);
  }
  process.stdout.write(`${port}\n`);
});
const stop = (): void => {
  for (const child of running) child.kill("SIGTERM");
  server.forceShutdown();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
