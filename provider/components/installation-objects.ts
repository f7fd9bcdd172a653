// The Kubernetes objects of an l2lb installation, as plain data: namespace, CRDs, ServiceAccount,
// least-privilege RBAC, the heartbeat Secret (when a key is given) and the speaker DaemonSet. Pure
// (no Pulumi, no I/O): the `Installation` component writes exactly these objects, and
// `l2lb manifests` prints them as YAML for kubectl and GitOps users.
import { DEFAULT_NAMESPACE, SPEAKER_NAME } from "../core/model/contract.ts";
import { crds } from "../core/model/crds.ts";
import { speakerRbacRules } from "../core/model/rbac.ts";
import { speakerLeaseFlowSchema, type FlowSchemaObject } from "../core/model/flow-control.ts";

/** Port of the speaker's `/metrics`, `/healthz` and `/readyz` endpoints. */
export const SPEAKER_METRICS_PORT = 7472;

/** UDP port of the speakers' direct liveness heartbeats to each other (host network). */
export const SPEAKER_HEARTBEAT_PORT = 7473;

/** Default speaker image repository; the tag defaults to the installed package's version. */
export const SPEAKER_IMAGE_REPOSITORY = "ghcr.io/l2lb/speaker";

/** Where the speaker reads the heartbeat key when the Secret is mounted. */
const HEARTBEAT_KEY_DIR = "/etc/l2lb/heartbeat";

/** Labels of the speaker pods, which the DaemonSet selects on. */
const SPEAKER_LABELS = { "app.kubernetes.io/name": "l2lb", "app.kubernetes.io/component": "speaker" };

/** The default speaker image of a release: `ghcr.io/l2lb/speaker:<version>`. */
export function defaultSpeakerImage(version: string): string {
  return `${SPEAKER_IMAGE_REPOSITORY}:${version}`;
}

/**
 * What an installation is made of. `V` is the type of values a caller may pass unresolved (a
 * Pulumi program passes Inputs; `l2lb manifests` passes plain values only): they are placed in the
 * objects as given.
 */
export interface InstallationOptions<V = never> {
  /** Namespace of the runtime. Default `l2lb-system`. */
  namespace?: string;
  /** Create the namespace. Default true. */
  createNamespace?: boolean;
  /** Include the `AddressPool` and `L2Advertisement` CustomResourceDefinitions. Default true. */
  installCrds?: boolean;
  /** Speaker image (required: its default depends on the package version, see {@link defaultSpeakerImage}). */
  image: string | V;
  /** Image pull policy. Default `IfNotPresent`. */
  imagePullPolicy?: string | V;
  /** Image pull secrets, by name. */
  imagePullSecrets?: string[];
  /** Node selector of the speaker pods. Default every Linux node. */
  nodeSelector?: Record<string, string>;
  /** Tolerations of the speaker pods. Default the control-plane taints, and 30 s of `NoExecute` after a node fails. */
  tolerations?: Toleration[] | V;
  /** Resources of the speaker container. Default 50m CPU / 64Mi requested, 256Mi memory limit. */
  resources?: Record<string, unknown> | V;
  /** Port of the metrics and health endpoints (host network). Default 7472. */
  metricsPort?: number;
  /** UDP port of the heartbeats (host network). Default 7473. */
  heartbeatPort?: number;
  /** Key authenticating the heartbeats: kept in a Secret, mounted as a file. Default none. */
  heartbeatKey?: string | V;
  /** Interfaces the speaker may answer on (names or globs). Default every eligible interface. */
  interfaces?: string[];
  /** Also serve LoadBalancer Services without a `loadBalancerClass`. Default false. */
  defaultClass?: boolean;
  /** Log level of the speaker. Default `info`. */
  logLevel?: string;
  /** Priority class of the speaker pods. Default `system-node-critical`. */
  priorityClassName?: string;
  /** Extra environment variables of the speaker container. */
  env?: (EnvVar | V)[];
  /** Extra labels on every object. */
  labels?: Record<string, string>;
  /** `app.kubernetes.io/managed-by` of every object (e.g. `pulumi`). Default: no such label. */
  managedBy?: string;
  /** Annotate the DaemonSet `pulumi.com/skipAwait` (a Pulumi program does not wait for the rollout). */
  skipAwait?: boolean;
}

/** A toleration of the speaker pods. */
export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/** An environment variable of the speaker container. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
}

/** A Kubernetes object as written to the cluster. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** The objects of an installation, by role; the Secret only with a heartbeat key, the namespace and CRDs only when asked for. */
export interface InstallationObjects {
  namespace?: KubeObject;
  crds: KubeObject[];
  serviceAccount: KubeObject;
  clusterRole: KubeObject;
  clusterRoleBinding: KubeObject;
  role: KubeObject;
  roleBinding: KubeObject;
  /** Gives the speakers' Lease renewals the API server's leader-election priority (see `model/flow-control.ts`). */
  leaseFlowSchema: KubeObject;
  heartbeatSecret?: KubeObject;
  daemonSet: KubeObject;
}

/** What is wrong with the options, one sentence per problem naming the field (empty when they are valid). */
export function installationProblems(options: Pick<InstallationOptions<unknown>, "metricsPort" | "heartbeatPort">): string[] {
  const port = options.metricsPort ?? SPEAKER_METRICS_PORT;
  const heartbeatPort = options.heartbeatPort ?? SPEAKER_HEARTBEAT_PORT;
  const problems: string[] = [];
  for (const [field, value] of [["metricsPort", port], ["heartbeatPort", heartbeatPort]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 65535) problems.push(`${field} must be an integer between 1 and 65535, not ${value}.`);
  }
  if (problems.length === 0 && port === heartbeatPort) problems.push(`metricsPort and heartbeatPort must differ (both are ${port}).`);
  return problems;
}

/** Every object of the installation. Assumes {@link installationProblems} found nothing. */
export function installationObjects<V = never>(options: InstallationOptions<V>): InstallationObjects {
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const labels = {
    "app.kubernetes.io/name": "l2lb",
    "app.kubernetes.io/part-of": "l2lb",
    ...(options.managedBy !== undefined ? { "app.kubernetes.io/managed-by": options.managedBy } : {}),
    ...options.labels,
  };
  const rules = speakerRbacRules();
  const rbac = "rbac.authorization.k8s.io/v1";
  const subjects = [{ kind: "ServiceAccount", name: SPEAKER_NAME, namespace }];
  const heartbeatSecret =
    options.heartbeatKey === undefined
      ? undefined
      : { apiVersion: "v1", kind: "Secret", metadata: { name: `${SPEAKER_NAME}-heartbeat`, namespace, labels }, stringData: { key: options.heartbeatKey } };
  return {
    ...((options.createNamespace ?? true) ? { namespace: { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels } } } : {}),
    crds: (options.installCrds ?? true) ? crds.map((crd) => ({ ...crd, metadata: { ...crd.metadata, labels } })) : [],
    serviceAccount: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: SPEAKER_NAME, namespace, labels } },
    clusterRole: { apiVersion: rbac, kind: "ClusterRole", metadata: { name: SPEAKER_NAME, labels }, rules: rules.cluster },
    clusterRoleBinding: {
      apiVersion: rbac,
      kind: "ClusterRoleBinding",
      metadata: { name: SPEAKER_NAME, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: SPEAKER_NAME },
      subjects,
    },
    role: { apiVersion: rbac, kind: "Role", metadata: { name: SPEAKER_NAME, namespace, labels }, rules: rules.namespaced },
    roleBinding: {
      apiVersion: rbac,
      kind: "RoleBinding",
      metadata: { name: SPEAKER_NAME, namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SPEAKER_NAME },
      subjects,
    },
    leaseFlowSchema: withLabels(speakerLeaseFlowSchema(namespace), labels),
    ...(heartbeatSecret ? { heartbeatSecret } : {}),
    daemonSet: speakerDaemonSet(options, namespace, labels, heartbeatSecret?.metadata.name),
  };
}

function withLabels(object: FlowSchemaObject, labels: Record<string, string>): KubeObject {
  return { ...object, metadata: { ...object.metadata, labels } };
}

/** The objects in the order they are applied: namespace, CRDs, RBAC, Secret, DaemonSet. */
export function orderedObjects(objects: InstallationObjects): KubeObject[] {
  const { namespace, crds: definitions, serviceAccount, clusterRole, clusterRoleBinding, role, roleBinding, leaseFlowSchema, heartbeatSecret, daemonSet } = objects;
  return [
    ...(namespace ? [namespace] : []),
    ...definitions,
    serviceAccount,
    clusterRole,
    clusterRoleBinding,
    role,
    roleBinding,
    leaseFlowSchema,
    ...(heartbeatSecret ? [heartbeatSecret] : []),
    daemonSet,
  ];
}

function speakerDaemonSet<V>(options: InstallationOptions<V>, namespace: string, labels: Record<string, string>, secretName: string | undefined): KubeObject {
  const port = options.metricsPort ?? SPEAKER_METRICS_PORT;
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: {
      name: SPEAKER_NAME,
      namespace,
      labels: { ...labels, ...SPEAKER_LABELS },
      annotations: options.skipAwait ? { "pulumi.com/skipAwait": "true" } : {},
    },
    spec: {
      selector: { matchLabels: SPEAKER_LABELS },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: {
          labels: { ...labels, ...SPEAKER_LABELS },
          annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(port) },
        },
        spec: {
          serviceAccountName: SPEAKER_NAME,
          hostNetwork: true,
          dnsPolicy: "ClusterFirstWithHostNet",
          priorityClassName: options.priorityClassName ?? "system-node-critical",
          terminationGracePeriodSeconds: 10,
          nodeSelector: options.nodeSelector ?? { "kubernetes.io/os": "linux" },
          tolerations: options.tolerations ?? [
            { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" },
            { key: "node-role.kubernetes.io/master", operator: "Exists", effect: "NoSchedule" },
            { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 },
            { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 },
          ],
          imagePullSecrets: (options.imagePullSecrets ?? []).map((secret) => ({ name: secret })),
          volumes: [
            { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
            ...(secretName ? [{ name: "heartbeat-key", secret: { secretName, defaultMode: 0o400 } }] : []),
          ],
          containers: [speakerContainer(options, port, secretName !== undefined)],
        },
      },
    },
  };
}

function speakerContainer<V>(options: InstallationOptions<V>, port: number, keyed: boolean): Record<string, unknown> {
  const heartbeatPort = options.heartbeatPort ?? SPEAKER_HEARTBEAT_PORT;
  const probe = (path: string, periodSeconds: number, failureThreshold: number): Record<string, unknown> => ({
    httpGet: { path, port: "metrics" },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 2,
  });
  return {
    name: "speaker",
    image: options.image,
    imagePullPolicy: options.imagePullPolicy ?? "IfNotPresent",
    // The image's entrypoint is l2lb-speaker (Kubernetes mode).
    args: ["--metrics-port", String(port), ...(options.defaultClass === true ? ["--default-class"] : [])],
    env: [
      { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "L2LB_LOG_LEVEL", value: options.logLevel ?? "info" },
      { name: "L2LB_HEARTBEAT_PORT", value: String(heartbeatPort) },
      ...(options.interfaces?.length ? [{ name: "L2LB_INTERFACES", value: options.interfaces.join(",") }] : []),
      ...(keyed ? [{ name: "L2LB_HEARTBEAT_KEY_FILE", value: `${HEARTBEAT_KEY_DIR}/key` }] : []),
      ...(options.env ?? []),
    ],
    ports: [
      { name: "metrics", containerPort: port, protocol: "TCP" },
      { name: "heartbeat", containerPort: heartbeatPort, protocol: "UDP" },
    ],
    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, ...(keyed ? [{ name: "heartbeat-key", mountPath: HEARTBEAT_KEY_DIR, readOnly: true }] : [])],
    livenessProbe: probe("/healthz", 10, 3),
    readinessProbe: probe("/readyz", 5, 2),
    resources: options.resources ?? { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"], add: ["NET_RAW"] },
    },
  };
}
