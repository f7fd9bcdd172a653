import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import { GENERATED_HEARTBEAT_KEY_SECRET } from "../../provider/core/model/contract.ts";
import { generatedHeartbeatKey, type SecretApi } from "./heartbeat-key.ts";
import { httpError } from "./testing.ts";

/** Secrets in memory; `beforeCreate` runs inside create (another speaker racing, a refusal). */
class FakeSecrets implements SecretApi {
  readonly store = new Map<string, k8s.V1Secret>();
  creates = 0;
  beforeCreate: (() => void) | undefined;
  refuse: number | undefined;
  async readSecret(namespace: string, name: string): Promise<k8s.V1Secret> {
    if (this.refuse !== undefined) throw httpError(this.refuse);
    const s = this.store.get(`${namespace}/${name}`);
    if (s === undefined) throw httpError(404);
    return structuredClone(s);
  }
  async createSecret(namespace: string, body: k8s.V1Secret): Promise<k8s.V1Secret> {
    this.creates++;
    this.beforeCreate?.();
    const k = `${namespace}/${body.metadata?.name ?? ""}`;
    if (this.store.has(k)) throw httpError(409);
    this.store.set(k, structuredClone(body));
    return structuredClone(body);
  }
}

const bytes = (b: number) => (n: number) => Buffer.alloc(n, b);
const hex = (b: number) => Buffer.alloc(32, b).toString("hex");

describe("generated heartbeat key", () => {
  it("the first speaker creates it, 32 random bytes as hex; the others read the same", async () => {
    const api = new FakeSecrets();
    const first = await generatedHeartbeatKey(api, "l2lb-system", bytes(0xab));
    assert.equal(first.toString(), hex(0xab));
    const stored = api.store.get(`l2lb-system/${GENERATED_HEARTBEAT_KEY_SECRET}`);
    assert.equal(Buffer.from(stored?.data?.key ?? "", "base64").toString(), hex(0xab));
    const second = await generatedHeartbeatKey(api, "l2lb-system", bytes(0xcd));
    assert.deepEqual(second, first);
    assert.equal(api.creates, 1);
  });

  it("losing the race to create it, uses the winner's key", async () => {
    const api = new FakeSecrets();
    api.beforeCreate = () => {
      api.beforeCreate = undefined;
      api.store.set(`l2lb-system/${GENERATED_HEARTBEAT_KEY_SECRET}`, { data: { key: Buffer.from(hex(0x11)).toString("base64") } });
    };
    assert.equal((await generatedHeartbeatKey(api, "l2lb-system", bytes(0x22))).toString(), hex(0x11));
  });

  it("says what to do when the Role does not allow it, or the Secret holds no key", async () => {
    const api = new FakeSecrets();
    api.refuse = 403;
    await assert.rejects(generatedHeartbeatKey(api, "l2lb-system"), /may not read or create the Secret l2lb-system\/l2lb-heartbeat-key .*update the installation/);
    api.refuse = undefined;
    api.store.set(`l2lb-system/${GENERATED_HEARTBEAT_KEY_SECRET}`, { data: { key: Buffer.from("short").toString("base64") } });
    await assert.rejects(generatedHeartbeatKey(api, "l2lb-system"), /holds no heartbeat key .*delete it/);
  });
});
