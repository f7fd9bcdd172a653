// Runs a Pulumi program under `pulumi.runtime.setMocks` and prints, as JSON, every resource it
// registers (type, name, parent type, inputs). The allocation resource is answered by the real
// provider logic (check, then create), with Nodes that have published nothing, so the Services
// carry the addresses a real run would give them.
//
// Usage: node test/pulumi/mock-run.ts <program-dir> [config-json]
// The program's node_modules must resolve @pulumi/pulumi to the same copy as this script (the
// tests symlink the repository's).
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as engine from "../../provider/dynamic/engine.ts";

const [programDir, configJson] = process.argv.slice(2);
if (!programDir) throw new Error("usage: mock-run.ts <program-dir> [config-json]");
process.chdir(programDir);
const project = "example";
const config: Record<string, string> = {};
for (const [k, v] of Object.entries(JSON.parse(configJson ?? "{}") as Record<string, unknown>)) {
  config[k.includes(":") ? k : `${project}:${k}`] = typeof v === "string" ? v : JSON.stringify(v);
}
process.env["PULUMI_CONFIG"] = JSON.stringify(config);

interface Row {
  type: string;
  name: string;
  inputs: unknown;
}
const rows: Row[] = [];
let last = Date.now();

await pulumi.runtime.setMocks(
  {
    async newResource(args) {
      last = Date.now();
      rows.push({ type: args.type, name: args.name, inputs: args.inputs });
      if (args.type === "pulumi-nodejs:dynamic/l2lb:Allocation") {
        const checked = await engine.check({}, args.inputs, {}, async () => ({ nodes: 3, publishing: 0, subnets: [], addresses: [] }));
        if (checked.failures?.length) throw new Error(JSON.stringify(checked.failures));
        const created = engine.create(checked.inputs);
        return { id: created.id, state: created.outs };
      }
      return { id: `${args.name}-id`, state: args.inputs };
    },
    call: (args) => args.inputs,
  },
  project,
  "mock",
  false,
);

await import(pathToFileURL(join(process.cwd(), "index.ts")).href);
// Registrations finish asynchronously (inputs are Outputs); wait until they stop.
while (Date.now() - last < 1500) await new Promise((r) => setTimeout(r, 200));

rows.sort((a, b) => (a.type + "\0" + a.name).localeCompare(b.type + "\0" + b.name));
for (const row of rows) {
  const inputs = row.inputs as Record<string, unknown>;
  // The serialized provider text is engine-independent but not part of what is rendered.
  if (inputs && typeof inputs === "object" && "__provider" in inputs) inputs.__provider = "<serialized provider>";
}
process.stdout.write(JSON.stringify(rows, null, 2) + "\n");
