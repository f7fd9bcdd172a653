// The informer and client against a small HTTP server that speaks the list and watch protocol:
// paged lists, watch events in order, bookmarks, 410 Gone (list again), other failures (reported
// once, then the owner restarts), and the API server's Status messages in errors.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { ApiError, KubeClient } from "./client.ts";
import { Informer } from "./informer.ts";

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion: string };
  spec?: { n: number };
}
/** What the server answers on `path` (requests on other paths, left over from an earlier test, hang). */
type Script = { path: string; list: Obj[][]; rv: string; watches: ((res: http.ServerResponse, query: URLSearchParams) => void)[]; requests: string[] };

const obj = (name: string, rv: number, n = 0): Obj => ({ metadata: { name, namespace: "ns", resourceVersion: String(rv) }, spec: { n } });
const line = (res: http.ServerResponse, type: string, object: unknown): boolean => res.write(`${JSON.stringify({ type, object })}\n`);

describe("kube informer and client", () => {
  let server: http.Server;
  let client: KubeClient;
  let script: Script;

  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname !== script.path && url.pathname !== "/status") return;
      script.requests.push(`${req.method} ${url.pathname}?${url.searchParams.toString()} ${req.headers.authorization ?? ""}`);
      if (url.pathname === "/status") {
        res.writeHead(409, { "content-type": "application/json" });
        res.end(JSON.stringify({ kind: "Status", code: 409, reason: "Conflict", message: 'Operation cannot be fulfilled on services "a": the object has been modified' }));
        return;
      }
      if (url.searchParams.get("watch") === "1") {
        const next = script.watches.shift();
        if (next === undefined) return; // hang: the test stops the informer
        res.writeHead(200, { "content-type": "application/json" });
        next(res, url.searchParams);
        return;
      }
      const page = Number(url.searchParams.get("continue") ?? 0);
      const pages = script.list;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ metadata: { resourceVersion: script.rv, ...(page + 1 < pages.length ? { continue: String(page + 1) } : {}) }, items: pages[page] ?? [] }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    client = new KubeClient({ server: `http://127.0.0.1:${port}`, insecureSkipTlsVerify: false, token: () => "t0ken", source: "test" });
  });
  after(() => {
    client.close();
    server.close();
  });

  const record = (inf: Informer<Obj>): string[] => {
    const seen: string[] = [];
    inf.on("add", (o) => seen.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`));
    inf.on("update", (o) => seen.push(`update ${o.metadata.name}@${o.metadata.resourceVersion}`));
    inf.on("delete", (o) => seen.push(`delete ${o.metadata.name}`));
    inf.on("error", (e) => seen.push(`error ${(e as ApiError).code}`));
    return seen;
  };
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(ok(), what);
  };

  it("lists every page, then applies watch events in order from the list's resourceVersion", async () => {
    let watchedFrom = "";
    script = {
      path: "/api/v1/things",
      list: [[obj("a", 1)], [obj("b", 2)]],
      rv: "5",
      requests: [],
      watches: [
        (res, q) => {
          watchedFrom = q.get("resourceVersion") ?? "";
          line(res, "MODIFIED", obj("a", 6, 1));
          line(res, "ADDED", obj("c", 7));
          line(res, "BOOKMARK", { metadata: { resourceVersion: "8" } });
          line(res, "DELETED", obj("b", 9));
          res.end();
        },
        (res, q) => {
          watchedFrom = q.get("resourceVersion") ?? "";
          line(res, "MODIFIED", obj("c", 10, 2));
        },
      ],
    };
    const inf = new Informer<Obj>(client, "/api/v1/things", { labelSelector: "x=y", transform: (o) => delete o.spec });
    const seen = record(inf);
    await inf.start();
    await until("the second watch's event", () => seen.includes("update c@10"));
    assert.deepEqual(seen, ["add a@1", "add b@2", "update a@6", "add c@7", "delete b", "update c@10"]);
    assert.equal(watchedFrom, "9", "a watch that ends cleanly opens again from the last resourceVersion seen, without a list");
    assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ["a", "c"]);
    assert.equal(inf.get("a", "ns")?.spec, undefined, "the transform ran before caching");
    assert.equal(script.requests.filter((r) => !r.includes("watch=1")).length, 2, "two list pages, no relist");
    assert.ok(script.requests.every((r) => r.includes("labelSelector=x%3Dy") && r.endsWith("Bearer t0ken")));
    await inf.stop();
  });

  it("lists again on 410 Gone, and reports what the relist changed", async () => {
    script = {
      path: "/api/v1/gone",
      list: [[obj("a", 1), obj("b", 2)]],
      rv: "3",
      requests: [],
      watches: [(res) => line(res, "ERROR", { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" }) && res.end()],
    };
    const inf = new Informer<Obj>(client, "/api/v1/gone");
    const seen = record(inf);
    await inf.start();
    script.list = [[obj("a", 1), obj("c", 20)]];
    script.rv = "21";
    await until("the relist", () => seen.includes("delete b"));
    assert.deepEqual(seen, ["add a@1", "add b@2", "add c@20", "delete b"]);
    await inf.stop();
  });

  it("reports any other watch failure once and stops, for its owner to restart", async () => {
    script = { path: "/api/v1/broken", list: [[obj("a", 1)]], rv: "2", requests: [], watches: [(res) => res.destroy()] };
    const inf = new Informer<Obj>(client, "/api/v1/broken");
    const seen = record(inf);
    await inf.start();
    await until("the error", () => seen.some((s) => s.startsWith("error")));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, ["add a@1", "error 0"]);
    assert.equal(script.requests.length, 2, "no retry of its own");
  });

  it("carries the API server's status code, reason and message in request errors", async () => {
    script = { path: "/status", list: [], rv: "1", requests: [], watches: [] };
    await assert.rejects(client.request("PATCH", "/status", { body: {} }), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.code, 409);
      assert.equal(err.reason, "Conflict");
      assert.match(err.message, /PATCH \/status: Operation cannot be fulfilled on services "a"/);
      return true;
    });
  });
});
