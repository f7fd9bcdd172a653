// A Service created by a Helm chart in the same program gets its address through the chart's
// values: the allocation knows the Service by "<namespace>/<name>" (listed under `external`),
// and hands out its address annotations and l2lb's loadBalancerClass as Outputs.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as l2lb from "l2lb";

const config = new pulumi.Config();
const wait = config.get("waitSeconds");

const system = new l2lb.Installation("l2lb", { image: config.get("speakerImage") });
const pool = new l2lb.AddressPool("first-pool", {
  addresses: config.getObject<string[]>("addresses") ?? ["192.168.28.210-192.168.28.220"],
  installation: system,
});
const advertisement = new l2lb.L2Advertisement("example", { pools: [pool], installation: system });

const release = "echo";
const namespace = "default";
const lb = new l2lb.Allocation("lb", {
  pools: [pool],
  advertisements: [advertisement],
  installation: system,
  // What the allocator needs to know about the chart's Service: its ports (for sharing rules) and,
  // if any, its families, traffic policy and requested pool or address.
  external: { [`${namespace}/${release}`]: { ports: [{ port: 80 }] } },
  nodeSubnets: config.getObject<string[]>("nodeSubnets"),
  waitSeconds: wait === undefined ? undefined : wait === "false" ? false : Number(wait),
});

new k8s.helm.v4.Chart(release, {
  chart: "./chart",
  namespace,
  values: {
    service: {
      annotations: lb.annotationsFor(`${namespace}/${release}`),
      loadBalancerClass: lb.loadBalancerClass,
    },
  },
});

/** Known at preview: pass it to DNS records, firewall rules or other charts. */
export const echoIp = lb.ipFor(`${namespace}/${release}`);
