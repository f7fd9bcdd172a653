// A byte relay between a TCP address and a UNIX socket, so a process inside a lab network namespace
// reaches the loopback-only kube-apiserver of the root namespace at the very same 127.0.0.1:PORT:
//
//   root namespace:  node relay.ts unix:/lab/api.sock tcp:127.0.0.1:6443      (listen → connect)
//   node namespace:  node relay.ts tcp:127.0.0.1:6443 unix:/lab/api.sock      (listen → connect)
//
// TLS passes through untouched. Prints "listening" on stdout once ready; exits on SIGTERM/SIGINT.
import { createServer, connect } from "node:net";
import { rmSync } from "node:fs";

type Endpoint = { path: string } | { host: string; port: number };

function parse(spec: string): Endpoint {
  if (spec.startsWith("unix:")) return { path: spec.slice(5) };
  const m = /^tcp:(.+):(\d+)$/.exec(spec);
  if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`bad endpoint ${spec} (unix:PATH or tcp:HOST:PORT)`);
  return { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}

const [listenSpec, connectSpec] = process.argv.slice(2);
if (listenSpec === undefined || connectSpec === undefined) {
  console.error("usage: relay.ts LISTEN CONNECT   (each unix:PATH or tcp:HOST:PORT)");
  process.exit(2);
}
const listenAt = parse(listenSpec);
const connectTo = parse(connectSpec);

const server = createServer((client) => {
  const upstream = connect(connectTo);
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
  client.on("close", close);
  upstream.on("close", close);
});

if ("path" in listenAt) rmSync(listenAt.path, { force: true });
server.listen(listenAt, () => {
  process.stdout.write("listening\n");
});
const stop = (): void => {
  server.close();
  if ("path" in listenAt) rmSync(listenAt.path, { force: true });
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
