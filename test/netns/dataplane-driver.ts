// Runs a DataPlane inside a network namespace and exposes it over stdin/stdout, one JSON object
// per line: requests {id, op, args} -> {id, result} | {id, error}; events {event, payload}.
// Used by dataplane.test.ts, which cannot enter a namespace in-process.
import { createInterface } from "node:readline";
import { pino } from "pino";
import { Registry } from "prom-client";
import { DataPlane } from "../../runtime/dataplane/index.ts";

const registry = new Registry();
const dp = await DataPlane.open({
  logger: pino({ level: "silent" }),
  registry,
  gratuitous: { count: 2, intervalMs: 200 },
  ...(process.env.L2LB_SELECTION ? { interfaces: JSON.parse(process.env.L2LB_SELECTION) as string[] } : {}),
});
const send = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
dp.on("link", (e) => send({ event: "link", payload: e }));
dp.on("duplicate", (e) => send({ event: "duplicate", payload: e }));
dp.on("interfaces", () => send({ event: "interfaces", payload: dp.interfaces() }));

const ops: Record<string, (args: unknown) => unknown> = {
  setOwned: (a) => dp.setOwned(a as Parameters<DataPlane["setOwned"]>[0]),
  owned: () => dp.owned(),
  interfaces: () => dp.interfaces(),
  refresh: () => dp.refresh(),
  metrics: () => registry.metrics(),
  close: async () => {
    await dp.close();
    setImmediate(() => process.exit(0));
  },
};
send({ event: "ready", payload: dp.interfaces() });
for await (const line of createInterface({ input: process.stdin })) {
  const { id, op, args } = JSON.parse(line) as { id: number; op: string; args: unknown };
  try {
    send({ id, result: (await ops[op]!(args)) ?? null });
  } catch (err) {
    send({ id, error: (err as Error).message });
  }
}
await dp.close();
