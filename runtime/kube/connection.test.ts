import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { stringify } from "yaml";
import { inClusterConnection, kubeconfigConnection, loadConnection } from "./connection.ts";

const dir = mkdtempSync(join(tmpdir(), "l2lb-kubeconfig-"));
const kubeconfig = (name: string, user: Record<string, unknown>, cluster: Record<string, unknown> = { server: "https://192.0.2.1:6443/" }): string => {
  const path = join(dir, name);
  writeFileSync(
    path,
    stringify({
      "current-context": "lab",
      contexts: [{ name: "other", context: { cluster: "x", user: "x" } }, { name: "lab", context: { cluster: "c", user: "u" } }],
      clusters: [{ name: "c", cluster }],
      users: [{ name: "u", user }],
    }),
  );
  return path;
};

describe("where the speaker finds its API server", () => {
  it("reads the current context: server, CA file relative to the kubeconfig, client certificate data, token", () => {
    writeFileSync(join(dir, "ca.crt"), "CA");
    const c = kubeconfigConnection(kubeconfig("a", { token: "abc", "client-certificate-data": Buffer.from("CERT").toString("base64"), "client-key-data": Buffer.from("KEY").toString("base64") }, { server: "https://192.0.2.1:6443/", "certificate-authority": "ca.crt" }));
    assert.equal(c.server, "https://192.0.2.1:6443");
    assert.equal(c.ca?.toString(), "CA");
    assert.equal(c.cert?.toString(), "CERT");
    assert.equal(c.key?.toString(), "KEY");
    assert.equal(c.token(), "abc");
    assert.equal(c.insecureSkipTlsVerify, false);
  });

  it("reads a token file (a rotated token is picked up when the file is read again)", () => {
    writeFileSync(join(dir, "token"), "first\n");
    const c = kubeconfigConnection(kubeconfig("b", { tokenFile: "token" }, { server: "https://192.0.2.1:6443", "insecure-skip-tls-verify": true }));
    assert.equal(c.token(), "first");
    assert.equal(c.insecureSkipTlsVerify, true);
  });

  it("refuses exec plugins, and a kubeconfig without a usable context, with the fix", () => {
    assert.throws(() => kubeconfigConnection(kubeconfig("c", { exec: { command: "aws" } })), /user u authenticates with an exec or auth-provider plugin.*give it a token/);
    const path = join(dir, "d");
    writeFileSync(path, stringify({ "current-context": "gone", contexts: [] }));
    assert.throws(() => kubeconfigConnection(path), /has no current context \(current-context: gone\): set one with `kubectl config use-context`/);
  });

  it("KUBECONFIG first, then ~/.kube/config, then the Pod's service account", () => {
    const a = kubeconfig("e", { token: "from-env" });
    assert.equal(loadConnection({ KUBECONFIG: `${join(dir, "missing")}:${a}` }).token(), "from-env");
    assert.throws(() => loadConnection({ KUBECONFIG: join(dir, "missing") }), /KUBECONFIG names .*missing, and no such file exists/);
    assert.throws(() => loadConnection({}, join(dir, "no-home")), /KUBERNETES_SERVICE_HOST\/PORT are not set/);
    const sa = mkdtempSync(join(tmpdir(), "l2lb-sa-"));
    writeFileSync(join(sa, "ca.crt"), "SA-CA");
    writeFileSync(join(sa, "token"), "sa-token");
    const c = inClusterConnection({ KUBERNETES_SERVICE_HOST: "2001:db8::1", KUBERNETES_SERVICE_PORT: "443" }, sa);
    assert.equal(c.server, "https://[2001:db8::1]:443");
    assert.equal(c.token(), "sa-token");
    assert.equal(c.ca?.toString(), "SA-CA");
  });
});
