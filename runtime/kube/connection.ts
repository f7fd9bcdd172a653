// Where the speaker's API server is and how it authenticates, found as kubectl and client-go
// find it: the file(s) in KUBECONFIG, else ~/.kube/config, else the Pod's service account.
// Supported credentials: bearer tokens (inline or a file, re-read so rotated tokens are used),
// client certificates, and the cluster's CA. Exec and auth-provider plugins are refused with a
// sentence naming the fix: a speaker runs in the cluster, with its service account.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { parse } from "yaml";

export interface Connection {
  /** The API server's URL, without a trailing slash. */
  readonly server: string;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly insecureSkipTlsVerify: boolean;
  /** The bearer token to send now (undefined: none). */
  token(): string | undefined;
  /** Where this came from, for error messages. */
  readonly source: string;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** How long a token read from a file is used before the file is read again (projected tokens rotate). */
const TOKEN_REREAD_MS = 60_000;

/** A token kept in a file, read again at most once a minute. */
function tokenFile(path: string): () => string {
  let value = "";
  let readAt = -Infinity;
  return () => {
    const now = Date.now();
    if (now - readAt >= TOKEN_REREAD_MS) {
      value = readFileSync(path, "utf8").trim();
      readAt = now;
    }
    return value;
  };
}

/** The Pod's service account: the API server's in-cluster address, CA and (rotated) token. */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): Connection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error("No kubeconfig was found (KUBECONFIG, ~/.kube/config) and KUBERNETES_SERVICE_HOST/PORT are not set: run the speaker in a Pod, or point KUBECONFIG at a kubeconfig file.");
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return { server, ca: readFileSync(join(dir, "ca.crt")), insecureSkipTlsVerify: false, token: tokenFile(join(dir, "token")), source: "the Pod's service account" };
}

interface NamedEntry<T> {
  name?: string;
  cluster?: T;
  user?: T;
  context?: T;
}
interface KubeconfigFile {
  "current-context"?: string;
  contexts?: NamedEntry<{ cluster?: string; user?: string }>[];
  clusters?: NamedEntry<Record<string, unknown>>[];
  users?: NamedEntry<Record<string, unknown>>[];
}

/** Inline base64 data, or the file it names (relative to the kubeconfig's folder). */
function material(entry: Record<string, unknown>, field: string, base: string): Buffer | undefined {
  const data = entry[`${field}-data`];
  if (typeof data === "string" && data !== "") return Buffer.from(data, "base64");
  const file = entry[field];
  if (typeof file === "string" && file !== "") return readFileSync(isAbsolute(file) ? file : join(base, file));
  return undefined;
}

/** The current context of one kubeconfig file. */
export function kubeconfigConnection(path: string): Connection {
  const doc = (parse(readFileSync(path, "utf8")) ?? {}) as KubeconfigFile;
  const base = dirname(path);
  const contextName = doc["current-context"];
  const context = doc.contexts?.find((c) => c.name === contextName)?.context;
  if (context === undefined) throw new Error(`The kubeconfig ${path} has no current context (current-context: ${contextName ?? "unset"}): set one with \`kubectl config use-context\`.`);
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (cluster === undefined || typeof cluster.server !== "string") throw new Error(`The kubeconfig ${path}: context ${contextName} names cluster ${context.cluster ?? "(none)"}, which has no server.`);
  const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
  if (user.exec !== undefined || user["auth-provider"] !== undefined) {
    throw new Error(`The kubeconfig ${path}: user ${context.user} authenticates with an exec or auth-provider plugin, which the speaker does not run; give it a token, a token file or a client certificate.`);
  }
  const token = typeof user.token === "string" && user.token !== "" ? user.token : undefined;
  const file = typeof user.tokenFile === "string" && user.tokenFile !== "" ? user.tokenFile : undefined;
  const fromFile = file === undefined ? undefined : tokenFile(isAbsolute(file) ? file : join(base, file));
  const cert = material(user, "client-certificate", base);
  const key = material(user, "client-key", base);
  const ca = material(cluster, "certificate-authority", base);
  return {
    server: cluster.server.replace(/\/+$/, ""),
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
    token: () => token ?? fromFile?.(),
    source: path,
  };
}

/** KUBECONFIG (its first existing file), else ~/.kube/config, else the Pod's service account. */
export function loadConnection(env: NodeJS.ProcessEnv = process.env, home = homedir()): Connection {
  const candidates = env.KUBECONFIG ? env.KUBECONFIG.split(":").filter((p) => p !== "") : [join(home, ".kube", "config")];
  const file = candidates.find((p) => existsSync(p));
  if (env.KUBECONFIG && file === undefined) throw new Error(`KUBECONFIG names ${env.KUBECONFIG}, and no such file exists: fix the path or unset KUBECONFIG to use the Pod's service account.`);
  return file !== undefined ? kubeconfigConnection(file) : inClusterConnection(env);
}
