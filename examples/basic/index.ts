// Seed scenario 000: one pool, one L2 advertisement, nginx behind a LoadBalancer Service.
// `pulumi preview --diff` shows the address nginx will get before anything exists.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as l2lb from "l2lb";

const config = new pulumi.Config();
const wait = config.get("waitSeconds");

// The runtime: CRDs, RBAC and the speaker DaemonSet in l2lb-system.
const system = new l2lb.Installation("l2lb", { image: config.get("speakerImage") });

const pool = new l2lb.AddressPool("first-pool", {
  addresses: config.getObject<string[]>("addresses") ?? ["192.168.28.210-192.168.28.220"],
  installation: system,
});
const advertisement = new l2lb.L2Advertisement("example", { pools: [pool], installation: system });

const labels = { app: "nginx" };
const deployment = {
  metadata: { name: "nginx", namespace: "default", labels },
  spec: {
    replicas: 2,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: { containers: [{ name: "nginx", image: "nginx", ports: [{ containerPort: 80 }] }] },
    },
  },
};
new k8s.apps.v1.Deployment("nginx", deployment);

const lb = new l2lb.Allocation("lb", {
  pools: [pool],
  advertisements: [advertisement],
  installation: system,
  services: {
    nginx: {
      spec: { ports: [{ name: "http", port: 80 }], selector: labels },
      // Pin the address (optional); changing it moves the Service, and the preview shows the move.
      ips: config.getObject<string[]>("nginxIps"),
    },
  },
  nodeSubnets: config.getObject<string[]>("nodeSubnets"),
  waitSeconds: wait === undefined ? undefined : wait === "false" ? false : Number(wait),
});

export const nginxIp = lb.ipFor("nginx");
export const subnetSource = lb.subnetSource;
