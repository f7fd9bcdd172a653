// The heartbeat key when none is configured: one per cluster, made by the first speaker that
// needs it and kept in a Secret of the install namespace that only the speakers may read
// (provider/core/model/rbac.ts). Every speaker reads the same key, so heartbeats are authenticated
// by default; a configured key (`L2LB_HEARTBEAT_KEY[_FILE]`, the Installation's `heartbeatKey`)
// takes precedence.
import { randomBytes } from "node:crypto";
import type * as k8s from "@kubernetes/client-node";
import { GENERATED_HEARTBEAT_KEY_SECRET } from "../../provider/core/model/contract.ts";

export interface SecretApi {
  readSecret(namespace: string, name: string): Promise<k8s.V1Secret>;
  createSecret(namespace: string, body: k8s.V1Secret): Promise<k8s.V1Secret>;
}

const statusOf = (err: unknown): unknown => (typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined);

function keyOf(secret: k8s.V1Secret, namespace: string): Buffer {
  const text = Buffer.from(secret.data?.key ?? "", "base64").toString("utf8").trim();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new Error(`Secret ${namespace}/${GENERATED_HEARTBEAT_KEY_SECRET} holds no heartbeat key (data.key must be 64 hex digits); delete it and the speakers make a new one`);
  }
  return Buffer.from(text, "utf8");
}

/** Reads the cluster's generated heartbeat key, creating it first if no speaker has yet. */
export async function generatedHeartbeatKey(api: SecretApi, namespace: string, random: (n: number) => Buffer = randomBytes): Promise<Buffer> {
  try {
    return keyOf(await api.readSecret(namespace, GENERATED_HEARTBEAT_KEY_SECRET), namespace);
  } catch (err) {
    if (statusOf(err) !== 404) throw explain(err, namespace);
  }
  const body: k8s.V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: GENERATED_HEARTBEAT_KEY_SECRET, namespace, labels: { "app.kubernetes.io/name": "l2lb" } },
    type: "Opaque",
    data: { key: Buffer.from(random(32).toString("hex")).toString("base64") },
  };
  try {
    return keyOf(await api.createSecret(namespace, body), namespace);
  } catch (err) {
    // Another speaker made it first: use that one.
    if (statusOf(err) === 409) return keyOf(await api.readSecret(namespace, GENERATED_HEARTBEAT_KEY_SECRET), namespace);
    throw explain(err, namespace);
  }
}

function explain(err: unknown, namespace: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (statusOf(err) === 403) {
    return new Error(
      `the speaker may not read or create the Secret ${namespace}/${GENERATED_HEARTBEAT_KEY_SECRET} for its heartbeat key (${message}); ` +
        "update the installation so its Role has the speaker's current rules, or configure a key (L2LB_HEARTBEAT_KEY_FILE, the Installation's heartbeatKey)",
    );
  }
  return new Error(`cannot read or create the heartbeat key Secret ${namespace}/${GENERATED_HEARTBEAT_KEY_SECRET}: ${message}`);
}
