import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { reuseConnections } from "./connection-reuse.ts";

/** A cluster with its own CA, like every kubeconfig and in-cluster config: the case the library builds an Agent for. */
function config(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: "c", server: "https://127.0.0.1:1", caData: Buffer.from("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n").toString("base64") }], users: [{ name: "u", token: "t" }], contexts: [{ name: "x", cluster: "c", user: "u" }], currentContext: "x" });
  return kc;
}

/** The dispatcher the client would use for one request (what applySecurityAuthentication sets). */
async function dispatcherOf(kc: k8s.KubeConfig): Promise<unknown> {
  let dispatcher: unknown;
  const context = { setHeaderParam: () => {}, setDispatcher: (d: unknown) => (dispatcher = d) };
  await kc.applySecurityAuthentication(context as unknown as Parameters<k8s.KubeConfig["applySecurityAuthentication"]>[0]);
  return dispatcher;
}

describe("connection reuse", () => {
  it("the library alone gives every request a new connection pool (the reason for the fix)", async () => {
    const kc = config();
    assert.notEqual(await dispatcherOf(kc), await dispatcherOf(kc));
  });
  it("every request of one cluster and user shares one pool", async () => {
    const kc = reuseConnections(config());
    const first = await dispatcherOf(kc);
    assert.ok(first !== undefined);
    assert.equal(await dispatcherOf(kc), first);
  });
});
