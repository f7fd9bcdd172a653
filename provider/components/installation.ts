import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { DEFAULT_NAMESPACE, LOAD_BALANCER_CLASS, SPEAKER_NAME } from "../model/contract.ts";
import { crds } from "../model/crds.ts";
import { speakerRbacRules } from "../model/rbac.ts";
import { childName, packageVersion, typeToken } from "./common.ts";
import { applyWithOf, nameOf, writeObject, type ApplyWith, type Written } from "./writer.ts";

/** Port of the speaker's `/metrics`, `/healthz` and `/readyz` endpoints. */
export const SPEAKER_METRICS_PORT = 7472;

/** UDP port of the speakers' direct liveness heartbeats to each other (host network). */
export const SPEAKER_HEARTBEAT_PORT = 7473;

/** Default speaker image repository; the tag defaults to the installed package's version. */
export const SPEAKER_IMAGE_REPOSITORY = "ghcr.io/l2lb/speaker";

/** Arguments of {@link Installation}. Every field is optional. */
export interface InstallationArgs {
  /** Namespace of the runtime (speaker DaemonSet, ServiceAccount, Leases). Default `l2lb-system`. */
  namespace?: string;
  /** Create the namespace. Set false when it is managed elsewhere. Default true. */
  createNamespace?: boolean;
  /** Install the `AddressPool` and `L2Advertisement` CustomResourceDefinitions. Default true. */
  installCrds?: boolean;
  /** Speaker image. Default `ghcr.io/l2lb/speaker:<version of this package>`. */
  image?: pulumi.Input<string>;
  /** Image pull policy. Default `IfNotPresent`. */
  imagePullPolicy?: pulumi.Input<string>;
  /** Image pull secrets, by name. */
  imagePullSecrets?: string[];
  /** Node selector of the speaker pods (restricts which nodes can announce at all). Default: every Linux node. */
  nodeSelector?: Record<string, string>;
  /**
   * Tolerations of the speaker pods. Default: tolerate the control-plane taints (so control-plane
   * nodes can announce too) and `NoExecute` for 30 s after a node becomes not-ready.
   */
  tolerations?: k8s.types.input.core.v1.Toleration[];
  /** Resource requests and limits of the speaker container. Default: 50m CPU / 64Mi requested, 256Mi memory limit. */
  resources?: k8s.types.input.core.v1.ResourceRequirements;
  /** Port of the speaker's metrics and health endpoints (host network). Default 7472. */
  metricsPort?: number;
  /** UDP port of the speakers' heartbeats to each other (host network). Default 7473. */
  heartbeatPort?: number;
  /**
   * Shared key authenticating the speakers' heartbeats (kept in a Secret, mounted as a file).
   * Without it heartbeats are not authenticated: anything on the node network could forge one.
   * Pass a secret, e.g. `config.requireSecret("heartbeatKey")`.
   */
  heartbeatKey?: pulumi.Input<string>;
  /** Interfaces the speaker may answer on (names or globs); default every eligible interface. */
  interfaces?: string[];
  /**
   * Also serve `type: LoadBalancer` Services that set no `loadBalancerClass`, as MetalLB and OpenELB
   * do: the in-cluster allocator gives them addresses (keeping an address a previous implementation
   * left in their status when a pool contains it). Leave it off when another load balancer
   * (k3s ServiceLB, a cloud controller) serves those. Default false: only Services of class
   * `l2lb.dev/layer2`.
   */
  defaultClass?: boolean;
  /** Log level of the speaker (`trace`, `debug`, `info`, `warn`, `error`). Default `info`. */
  logLevel?: "trace" | "debug" | "info" | "warn" | "error";
  /** Priority class of the speaker pods. Default `system-node-critical`. */
  priorityClassName?: string;
  /** Extra environment variables of the speaker container. */
  env?: k8s.types.input.core.v1.EnvVar[];
  /** Extra labels on every object of the installation. */
  labels?: Record<string, string>;
  /**
   * Do not wait for the DaemonSet rollout (`pulumi.com/skipAwait`). Default false: `pulumi up`
   * waits until every speaker is ready, so Services created afterwards are announced.
   */
  skipAwait?: boolean;
  /**
   * Which writer creates the objects: `"kubernetes-provider"` (default, `@pulumi/kubernetes`) or
   * `"server-side-apply"` (l2lb's own server-side apply, no Kubernetes provider plugin needed; see
   * `ApplyWith`). `AddressPool`, `L2Advertisement` and `Allocation` given this installation use
   * the same writer unless they say otherwise.
   */
  applyWith?: ApplyWith;
}

/**
 * The l2lb runtime in a cluster: namespace, CRDs, least-privilege RBAC, ServiceAccount and the
 * speaker DaemonSet (host network, only `NET_RAW`, probes and metrics on one port).
 *
 * l2lb serves only Services whose `spec.loadBalancerClass` is {@link LOAD_BALANCER_CLASS}, so it
 * coexists with k3s ServiceLB, MetalLB or a cloud controller that serve the others.
 */
export class Installation extends pulumi.ComponentResource {
  /** Namespace of the runtime. */
  readonly namespace: string;
  /** `spec.loadBalancerClass` of the Services this installation serves. */
  readonly loadBalancerClass: string;
  /** The speaker image. */
  readonly image: pulumi.Output<string>;
  /** How this installation's objects are written (inherited by the components given it). */
  readonly applyWith: ApplyWith;
  /** The namespace object, when created here. */
  readonly namespaceResource?: Written<k8s.core.v1.Namespace>;
  /** The CustomResourceDefinitions, when installed here. */
  readonly crds: Written<k8s.apiextensions.v1.CustomResourceDefinition>[];
  readonly serviceAccount: Written<k8s.core.v1.ServiceAccount>;
  readonly clusterRole: Written<k8s.rbac.v1.ClusterRole>;
  readonly clusterRoleBinding: Written<k8s.rbac.v1.ClusterRoleBinding>;
  readonly role: Written<k8s.rbac.v1.Role>;
  readonly roleBinding: Written<k8s.rbac.v1.RoleBinding>;
  readonly daemonSet: Written<k8s.apps.v1.DaemonSet>;
  /** Secret holding the heartbeat key, when one is given. */
  readonly heartbeatSecret?: Written<k8s.core.v1.Secret>;

  constructor(name: string, args: InstallationArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super(typeToken("Installation"), name, {}, opts);
    const namespace = args.namespace ?? DEFAULT_NAMESPACE;
    const port = args.metricsPort ?? SPEAKER_METRICS_PORT;
    const heartbeatPort = args.heartbeatPort ?? SPEAKER_HEARTBEAT_PORT;
    for (const [field, value] of [["metricsPort", port], ["heartbeatPort", heartbeatPort]] as const) {
      if (!Number.isInteger(value) || value < 1 || value > 65535) {
        throw new pulumi.RunError(`Installation "${name}": ${field} must be an integer between 1 and 65535, not ${value}.`);
      }
    }
    if (port === heartbeatPort) throw new pulumi.RunError(`Installation "${name}": metricsPort and heartbeatPort must differ (both are ${port}).`);
    this.namespace = namespace;
    this.loadBalancerClass = LOAD_BALANCER_CLASS;
    this.image = pulumi.output(args.image ?? `${SPEAKER_IMAGE_REPOSITORY}:${packageVersion()}`);
    const w = (this.applyWith = applyWithOf("Installation", name, args.applyWith));

    const labels = {
      "app.kubernetes.io/name": "l2lb",
      "app.kubernetes.io/part-of": "l2lb",
      "app.kubernetes.io/managed-by": "pulumi",
      ...args.labels,
    };
    const speakerLabels = { "app.kubernetes.io/name": "l2lb", "app.kubernetes.io/component": "speaker" };
    const parent = { parent: this };

    if (args.createNamespace ?? true) {
      this.namespaceResource = writeObject(w, k8s.core.v1.Namespace, { apiVersion: "v1", kind: "Namespace" }, childName(name, "namespace"), { metadata: { name: namespace, labels } }, parent);
    }
    const nsDeps = this.namespaceResource ? { dependsOn: [this.namespaceResource] } : {};

    this.crds =
      args.installCrds ?? true
        ? crds.map(
            (crd) =>
              writeObject(
                w,
                k8s.apiextensions.v1.CustomResourceDefinition,
                { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition" },
                childName(name, crd.spec.names.singular),
                { ...crd, metadata: { ...crd.metadata, labels } } as k8s.apiextensions.v1.CustomResourceDefinitionArgs,
                parent,
              ),
          )
        : [];

    this.serviceAccount = writeObject(
      w,
      k8s.core.v1.ServiceAccount,
      { apiVersion: "v1", kind: "ServiceAccount" },
      childName(name, "speaker"),
      { metadata: { name: SPEAKER_NAME, namespace, labels } },
      { ...parent, ...nsDeps },
    );
    const rules = speakerRbacRules();
    const rbac = "rbac.authorization.k8s.io/v1";
    this.clusterRole = writeObject(w, k8s.rbac.v1.ClusterRole, { apiVersion: rbac, kind: "ClusterRole" }, childName(name, "speaker"), { metadata: { name: SPEAKER_NAME, labels }, rules: rules.cluster }, parent);
    this.clusterRoleBinding = writeObject(
      w,
      k8s.rbac.v1.ClusterRoleBinding,
      { apiVersion: rbac, kind: "ClusterRoleBinding" },
      childName(name, "speaker"),
      {
        metadata: { name: SPEAKER_NAME, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: nameOf(this.clusterRole) },
        subjects: [{ kind: "ServiceAccount", name: nameOf(this.serviceAccount), namespace }],
      },
      parent,
    );
    this.role = writeObject(
      w,
      k8s.rbac.v1.Role,
      { apiVersion: rbac, kind: "Role" },
      childName(name, "speaker"),
      { metadata: { name: SPEAKER_NAME, namespace, labels }, rules: rules.namespaced },
      { ...parent, ...nsDeps },
    );
    this.roleBinding = writeObject(
      w,
      k8s.rbac.v1.RoleBinding,
      { apiVersion: rbac, kind: "RoleBinding" },
      childName(name, "speaker"),
      {
        metadata: { name: SPEAKER_NAME, namespace, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: nameOf(this.role) },
        subjects: [{ kind: "ServiceAccount", name: nameOf(this.serviceAccount), namespace }],
      },
      { ...parent, ...nsDeps },
    );

    const keyFile = "/etc/l2lb/heartbeat/key";
    if (args.heartbeatKey !== undefined) {
      this.heartbeatSecret = writeObject(
        w,
        k8s.core.v1.Secret,
        { apiVersion: "v1", kind: "Secret" },
        childName(name, "heartbeat"),
        { metadata: { name: `${SPEAKER_NAME}-heartbeat`, namespace, labels }, stringData: { key: pulumi.secret(args.heartbeatKey) } },
        { ...parent, ...nsDeps },
      );
    }

    const probe = (path: string, periodSeconds: number, failureThreshold: number): k8s.types.input.core.v1.Probe => ({
      httpGet: { path, port: "metrics" },
      periodSeconds,
      failureThreshold,
      timeoutSeconds: 2,
    });
    this.daemonSet = writeObject(
      w,
      k8s.apps.v1.DaemonSet,
      { apiVersion: "apps/v1", kind: "DaemonSet" },
      childName(name, "speaker"),
      {
        metadata: {
          name: SPEAKER_NAME,
          namespace,
          labels: { ...labels, ...speakerLabels },
          annotations: args.skipAwait ? { "pulumi.com/skipAwait": "true" } : {},
        },
        spec: {
          selector: { matchLabels: speakerLabels },
          updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
          template: {
            metadata: {
              labels: { ...labels, ...speakerLabels },
              annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(port) },
            },
            spec: {
              serviceAccountName: nameOf(this.serviceAccount),
              hostNetwork: true,
              dnsPolicy: "ClusterFirstWithHostNet",
              priorityClassName: args.priorityClassName ?? "system-node-critical",
              terminationGracePeriodSeconds: 10,
              nodeSelector: args.nodeSelector ?? { "kubernetes.io/os": "linux" },
              tolerations: args.tolerations ?? [
                { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" },
                { key: "node-role.kubernetes.io/master", operator: "Exists", effect: "NoSchedule" },
                { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 },
                { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 },
              ],
              imagePullSecrets: (args.imagePullSecrets ?? []).map((secret) => ({ name: secret })),
              volumes: [
                { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
                ...(this.heartbeatSecret ? [{ name: "heartbeat-key", secret: { secretName: nameOf(this.heartbeatSecret), defaultMode: 0o400 } }] : []),
              ],
              containers: [
                {
                  name: "speaker",
                  image: this.image,
                  imagePullPolicy: args.imagePullPolicy ?? "IfNotPresent",
                  // The image's entrypoint is l2lb-speaker (Kubernetes mode).
                  args: ["--metrics-port", String(port), ...(args.defaultClass === true ? ["--default-class"] : [])],
                  env: [
                    { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                    { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                    { name: "L2LB_LOG_LEVEL", value: args.logLevel ?? "info" },
                    { name: "L2LB_HEARTBEAT_PORT", value: String(heartbeatPort) },
                    ...(args.interfaces?.length ? [{ name: "L2LB_INTERFACES", value: args.interfaces.join(",") }] : []),
                    ...(this.heartbeatSecret ? [{ name: "L2LB_HEARTBEAT_KEY_FILE", value: keyFile }] : []),
                    ...(args.env ?? []),
                  ],
                  ports: [
                    { name: "metrics", containerPort: port, protocol: "TCP" },
                    { name: "heartbeat", containerPort: heartbeatPort, protocol: "UDP" },
                  ],
                  volumeMounts: [
                    { name: "tmp", mountPath: "/tmp" },
                    ...(this.heartbeatSecret ? [{ name: "heartbeat-key", mountPath: "/etc/l2lb/heartbeat", readOnly: true }] : []),
                  ],
                  livenessProbe: probe("/healthz", 10, 3),
                  readinessProbe: probe("/readyz", 5, 2),
                  resources: args.resources ?? { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ["ALL"], add: ["NET_RAW"] },
                  },
                },
              ],
            },
          },
        },
      },
      { ...parent, dependsOn: [this.roleBinding, this.clusterRoleBinding, ...this.crds, ...(this.heartbeatSecret ? [this.heartbeatSecret] : [])] },
    );

    this.registerOutputs({
      namespace: this.namespace,
      loadBalancerClass: this.loadBalancerClass,
      image: this.image,
      daemonSet: nameOf(this.daemonSet),
    });
  }
}
