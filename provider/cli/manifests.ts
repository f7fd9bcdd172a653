// `l2lb manifests`: the objects of the Pulumi `Installation` — namespace, CRDs, RBAC,
// ServiceAccount, heartbeat Secret and speaker DaemonSet — as plain YAML, for `kubectl apply -f`
// and GitOps tools. The objects come from the code the component uses (installation-objects.ts).
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { DEFAULT_NAMESPACE } from "../core/model/contract.ts";
import { defaultSpeakerImage, installationObjects, orderedObjects, type InstallationOptions } from "../components/installation-objects.ts";
import type { CommandResult } from "./plan.ts";

// The package's own package.json, by its name (from the sources and from dist/ alike).
const pkg = createRequire(import.meta.url)("l2lb/package.json") as { version: string };

export const MANIFESTS_USAGE = `Usage: l2lb manifests [--image <ref>] [--namespace <name>] [--default-class] [--heartbeat-key <key>]

Prints the l2lb runtime as multi-document YAML — namespace, the AddressPool and L2Advertisement
CRDs, ServiceAccount, RBAC, the heartbeat Secret (with --heartbeat-key) and the speaker DaemonSet —
the very objects the Pulumi Installation component creates. Apply it with kubectl apply -f, or
commit it for Argo CD or Flux; remove it with kubectl delete -f.

Options:
  --image <ref>          speaker image (default ${defaultSpeakerImage(pkg.version)})
  --namespace <name>     namespace of the runtime (default ${DEFAULT_NAMESPACE})
  --default-class        also serve LoadBalancer Services without a loadBalancerClass (as MetalLB does)
  --heartbeat-key <key>  key authenticating the speakers' heartbeats, e.g. "$(openssl rand -hex 32)"
  -h, --help             this text

Exit status: 0 when the YAML was printed, 2 on a usage error.`;

/** The command line of `l2lb manifests`, checked. */
export interface ManifestsFlags {
  /** Speaker image reference. */
  image: string;
  /** Namespace of the runtime. */
  namespace: string;
  /** Serve Services without a `loadBalancerClass`. */
  defaultClass: boolean;
  /** Heartbeat key, when given. */
  heartbeatKey?: string;
}

const OPTIONS = {
  image: { type: "string" },
  namespace: { type: "string" },
  "default-class": { type: "boolean" },
  "heartbeat-key": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** What each option's value should look like, as the fix of a bad or missing value. */
const EXAMPLES: Record<string, string> = {
  image: "pass the speaker image you pushed, e.g. --image registry.example.com/l2lb/speaker:" + pkg.version,
  namespace: "pass a namespace name of lowercase letters, digits and '-', e.g. --namespace l2lb-system",
  "heartbeat-key": 'pass a secret of your own, e.g. --heartbeat-key "$(openssl rand -hex 32)"',
};

// An image reference: [registry[:port]/]path[:tag][@sha256:digest], path components in lowercase.
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const IMAGE = new RegExp(`^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);
const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

function usageError(message: string): CommandResult {
  return { code: 2, stdout: "", stderr: `l2lb manifests: ${message}\n\nRun 'l2lb manifests --help' for the options.\n` };
}

/** Parses and checks the arguments: the flags, or one sentence naming the flag at fault and the fix. */
export function parseManifestsFlags(args: readonly string[]): ManifestsFlags | { help: true } | { error: string } {
  const { tokens } = parseArgs({ args: [...args], options: OPTIONS, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, string | boolean> = {};
  for (const token of tokens) {
    if (token.kind === "positional") return { error: `"${token.value}" is not an option; every value follows its flag, e.g. --image <ref>.` };
    if (token.kind !== "option") return { error: `a lone "--" is not an option; remove it.` };
    const option = OPTIONS[token.name as keyof typeof OPTIONS] as (typeof OPTIONS)[keyof typeof OPTIONS] | undefined;
    if (option === undefined) return { error: `there is no option ${token.rawName}; the options are --image, --namespace, --default-class and --heartbeat-key.` };
    if (token.name in values) return { error: `${token.rawName} is given twice; give it once.` };
    if (option.type === "boolean") {
      if (token.value !== undefined) return { error: `${token.rawName} takes no value (it is a switch); write ${token.rawName} alone.` };
      values[token.name] = true;
      continue;
    }
    if (token.value === undefined || token.value === "" || (token.inlineValue !== true && token.value.startsWith("-"))) {
      return { error: `${token.rawName} needs a value; ${EXAMPLES[token.name]}.` };
    }
    values[token.name] = token.value;
  }
  if (values.help === true) return { help: true };
  return checkedFlags(values);
}

function checkedFlags(values: Record<string, string | boolean>): ManifestsFlags | { error: string } {
  const image = (values.image as string | undefined) ?? defaultSpeakerImage(pkg.version);
  if (!IMAGE.test(image)) return { error: `--image "${image}" is not an image reference; ${EXAMPLES.image}.` };
  const namespace = (values.namespace as string | undefined) ?? DEFAULT_NAMESPACE;
  if (!DNS_LABEL.test(namespace)) return { error: `--namespace "${namespace}" is not a valid namespace name; ${EXAMPLES.namespace}.` };
  const key = values["heartbeat-key"] as string | undefined;
  if (key !== undefined && key.trim() !== key) {
    return { error: `--heartbeat-key starts or ends with whitespace, which the speakers would strip; ${EXAMPLES["heartbeat-key"]}.` };
  }
  return { image, namespace, defaultClass: values["default-class"] === true, ...(key !== undefined ? { heartbeatKey: key } : {}) };
}

/** The installation options the flags stand for. */
export function manifestsOptions(flags: ManifestsFlags): InstallationOptions {
  return {
    image: flags.image,
    namespace: flags.namespace,
    defaultClass: flags.defaultClass,
    ...(flags.heartbeatKey !== undefined ? { heartbeatKey: flags.heartbeatKey } : {}),
  };
}

/** The YAML of the installation the flags describe, one document per object, in the order kubectl should apply them. */
export function renderManifests(flags: ManifestsFlags): string {
  const documents = orderedObjects(installationObjects(manifestsOptions(flags))).map((o) => stringify(o, { lineWidth: 0 }));
  return `${header(flags)}${documents.join("---\n")}`;
}

function header(flags: ManifestsFlags): string {
  const command = [
    "l2lb manifests",
    ...(flags.image !== defaultSpeakerImage(pkg.version) ? [`--image ${flags.image}`] : []),
    ...(flags.namespace !== DEFAULT_NAMESPACE ? [`--namespace ${flags.namespace}`] : []),
    ...(flags.defaultClass ? ["--default-class"] : []),
    ...(flags.heartbeatKey !== undefined ? ["--heartbeat-key <key>"] : []),
  ].join(" ");
  return [
    `# The l2lb ${pkg.version} runtime: namespace, CRDs, ServiceAccount, RBAC${flags.heartbeatKey !== undefined ? ", heartbeat Secret" : ""} and the speaker DaemonSet.`,
    `# Generated by \`${command}\`: change the flags and regenerate rather than edit.`,
    `# Install: kubectl apply -f <this file>; then apply AddressPools and L2Advertisements. Remove: kubectl delete -f <this file>.`,
    "",
  ].join("\n");
}

/** `l2lb manifests [flags]`. */
export function manifestsCommand(args: readonly string[]): CommandResult {
  const parsed = parseManifestsFlags(args);
  if ("error" in parsed) return usageError(parsed.error);
  if ("help" in parsed) return { code: 0, stdout: `${MANIFESTS_USAGE}\n`, stderr: "" };
  return { code: 0, stdout: renderManifests(parsed), stderr: "" };
}
