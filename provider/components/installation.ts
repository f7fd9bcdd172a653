import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import { DEFAULT_NAMESPACE, LOAD_BALANCER_CLASS } from "../core/model/contract.ts";
import { childName, packageVersion, typeToken } from "./common.ts";
import {
  defaultSpeakerImage,
  installationObjects,
  installationProblems,
  SPEAKER_HEARTBEAT_PORT,
  SPEAKER_IMAGE_REPOSITORY,
  SPEAKER_METRICS_PORT,
  type KubeObject,
} from "./installation-objects.ts";

/** A `@pulumi/kubernetes` resource class: `(name, args, opts)`. */
type ResourceClass = new (name: string, args: never, opts?: pulumi.CustomResourceOptions) => pulumi.CustomResource;

export { SPEAKER_HEARTBEAT_PORT, SPEAKER_IMAGE_REPOSITORY, SPEAKER_METRICS_PORT };

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
  /** The namespace object, when created here. */
  readonly namespaceResource?: k8s.core.v1.Namespace;
  /** The `AddressPool` and `L2Advertisement` CustomResourceDefinitions, when installed here (else empty). */
  readonly crds: k8s.apiextensions.v1.CustomResourceDefinition[];
  /** The speakers' ServiceAccount (`l2lb-speaker`). */
  readonly serviceAccount: k8s.core.v1.ServiceAccount;
  /** The speakers' cluster-wide rules (`SPEAKER_CLUSTER_RULES`). */
  readonly clusterRole: k8s.rbac.v1.ClusterRole;
  /** Binds {@link clusterRole} to {@link serviceAccount}. */
  readonly clusterRoleBinding: k8s.rbac.v1.ClusterRoleBinding;
  /** The speakers' rules in the runtime's namespace, their Leases (`SPEAKER_NAMESPACED_RULES`). */
  readonly role: k8s.rbac.v1.Role;
  /** Binds {@link role} to {@link serviceAccount}. */
  readonly roleBinding: k8s.rbac.v1.RoleBinding;
  /** The FlowSchema that gives the speakers' Lease renewals leader-election priority. */
  readonly leaseFlowSchema: k8s.flowcontrol.v1.FlowSchema;
  /** The speaker DaemonSet (`l2lb-speaker`); `pulumi up` waits for its rollout unless `skipAwait`. */
  readonly daemonSet: k8s.apps.v1.DaemonSet;
  /** Secret holding the heartbeat key, when one is given. */
  readonly heartbeatSecret?: k8s.core.v1.Secret;

  constructor(name: string, args: InstallationArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super(typeToken("Installation"), name, {}, opts);
    const problems = installationProblems(args);
    if (problems.length > 0) throw new pulumi.RunError(`Installation "${name}": ${problems.join(" ")}`);
    this.namespace = args.namespace ?? DEFAULT_NAMESPACE;
    this.loadBalancerClass = LOAD_BALANCER_CLASS;
    this.image = pulumi.output(args.image ?? defaultSpeakerImage(packageVersion()));
    const objects = installationObjects<unknown>({
      ...args,
      image: this.image,
      managedBy: "pulumi",
      ...(args.heartbeatKey !== undefined ? { heartbeatKey: pulumi.secret(args.heartbeatKey) } : {}),
    });
    // Each object as its `@pulumi/kubernetes` resource, named after the component; dependencies
    // follow the references between the objects (bindings after their subjects, the DaemonSet last).
    const write = <C extends ResourceClass>(cls: C, suffix: string, object: KubeObject, dependsOn: pulumi.Input<pulumi.Resource>[] = []): InstanceType<C> =>
      new cls(childName(name, suffix), object as never, { parent: this, dependsOn }) as InstanceType<C>;

    if (objects.namespace) this.namespaceResource = write(k8s.core.v1.Namespace, "namespace", objects.namespace);
    const inNamespace = this.namespaceResource ? [this.namespaceResource] : [];
    this.crds = objects.crds.map((crd) => write(k8s.apiextensions.v1.CustomResourceDefinition, (crd.spec as { names: { singular: string } }).names.singular, crd));
    this.serviceAccount = write(k8s.core.v1.ServiceAccount, "speaker", objects.serviceAccount, inNamespace);
    this.clusterRole = write(k8s.rbac.v1.ClusterRole, "speaker", objects.clusterRole);
    this.clusterRoleBinding = write(k8s.rbac.v1.ClusterRoleBinding, "speaker", objects.clusterRoleBinding, [this.clusterRole, this.serviceAccount]);
    this.role = write(k8s.rbac.v1.Role, "speaker", objects.role, inNamespace);
    this.roleBinding = write(k8s.rbac.v1.RoleBinding, "speaker", objects.roleBinding, [...inNamespace, this.role, this.serviceAccount]);
    this.leaseFlowSchema = write(k8s.flowcontrol.v1.FlowSchema, "leases", objects.leaseFlowSchema);
    if (objects.heartbeatSecret) this.heartbeatSecret = write(k8s.core.v1.Secret, "heartbeat", objects.heartbeatSecret, inNamespace);
    this.daemonSet = write(k8s.apps.v1.DaemonSet, "speaker", objects.daemonSet, [
      this.serviceAccount,
      this.roleBinding,
      this.clusterRoleBinding,
      ...this.crds,
      ...(this.heartbeatSecret ? [this.heartbeatSecret] : []),
    ]);

    this.registerOutputs({
      namespace: this.namespace,
      loadBalancerClass: this.loadBalancerClass,
      image: this.image,
      daemonSet: this.daemonSet.metadata.name,
    });
  }
}
