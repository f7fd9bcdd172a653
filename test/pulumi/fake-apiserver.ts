// A minimal Kubernetes API server for tests: serves `GET /api/v1/nodes` from a list, so the
// provider's real `@kubernetes/client-node` path (kubeconfig, HTTP, JSON) runs end to end.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeApiServer {
  /** Kubeconfig (YAML) pointing at the server, with a bearer token. */
  kubeconfig: string;
  /** Requests seen, as `METHOD path`. */
  requests: string[];
  /** Replaces the Nodes served. */
  setNodes(nodes: unknown[]): void;
  close(): Promise<void>;
}

export async function startFakeApiServer(nodes: unknown[] = [], token = "test-token"): Promise<FakeApiServer> {
  let current = nodes;
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message: "Unauthorized", code: 401 }));
      return;
    }
    if (req.method === "GET" && req.url?.startsWith("/api/v1/nodes")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "NodeList", apiVersion: "v1", metadata: { resourceVersion: "1" }, items: current }));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message: "not found", code: 404 }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const kubeconfig = [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: http://127.0.0.1:${port}`,
    "    insecure-skip-tls-verify: true",
    "users:",
    "- name: tester",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: fake",
    "  context:",
    "    cluster: fake",
    "    user: tester",
    "current-context: fake",
    "",
  ].join("\n");
  return {
    kubeconfig,
    requests,
    setNodes(next) {
      current = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A Node object with addresses and, optionally, the subnets its speaker published. */
export function node(name: string, address: string, subnets?: { interface: string; cidr: string; address: string }[]): unknown {
  return {
    metadata: { name, annotations: subnets ? { "l2lb.dev/subnets": JSON.stringify(subnets) } : {} },
    status: { addresses: [{ type: "InternalIP", address }, { type: "Hostname", address: name }] },
  };
}
