// The platform half of a cluster where Services are made with kubectl, Helm or operators: the
// runtime with `defaultClass` (every `type: LoadBalancer` Service without a loadBalancerClass is
// served, as MetalLB and OpenELB do), MetalLB's first-pool and OpenELB's eip-sample-pool, and one
// advertisement. The in-cluster allocator then gives each Service its address; the manifests of
// examples/kubectl are the blog posts' Services.
import * as pulumi from "@pulumi/pulumi";
import * as l2lb from "l2lb";

const config = new pulumi.Config();

const system = new l2lb.Installation("l2lb", { image: config.get("speakerImage"), defaultClass: true });

const firstPool = new l2lb.AddressPool("first-pool", {
  addresses: config.getObject<string[]>("addresses") ?? ["192.168.28.210-192.168.28.220"],
  installation: system,
});
// Only for Services that name it (eip.openelb.kubesphere.io/v1alpha2: eip-sample-pool).
const eipPool = new l2lb.AddressPool("eip-sample-pool", {
  addresses: config.getObject<string[]>("eipAddresses") ?? ["192.168.0.91-192.168.0.100"],
  autoAssign: false,
  installation: system,
});
new l2lb.L2Advertisement("example", { pools: [firstPool, eipPool], installation: system });

export const pools = [firstPool.poolName, eipPool.poolName];
