// Seed scenario 002: several Services on one address. nginx serves 80 and 443, nginx-2 serves 81,
// both on 192.168.28.211. The group's rules (no {protocol, port} overlap, compatible traffic
// policies) are checked at preview: a clash fails `pulumi preview` naming both Services.
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

const labels = { app: "nginx" };
const deployment = {
  metadata: { name: "nginx", namespace: "default", labels },
  spec: {
    replicas: 2,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: {
        containers: [{ name: "nginx", image: "nginx", ports: [{ containerPort: 80 }, { containerPort: 443 }] }],
      },
    },
  },
};
new k8s.apps.v1.Deployment("nginx", deployment);

const web = new l2lb.SharedIpGroup("web", {
  services: ["default/nginx", "default/nginx-2"],
  ip: config.get("sharedIp") ?? "192.168.28.211",
});

const lb = new l2lb.Allocation("lb", {
  pools: [pool],
  advertisements: [advertisement],
  sharedIpGroups: [web],
  installation: system,
  services: {
    nginx: {
      spec: {
        ports: [
          { name: "http", port: 80 },
          { name: "https", port: 443 },
        ],
        selector: labels,
      },
    },
    "nginx-2": { spec: { ports: [{ name: "http", port: 81, targetPort: 80 }], selector: labels } },
  },
  nodeSubnets: config.getObject<string[]>("nodeSubnets"),
  waitSeconds: wait === undefined ? undefined : wait === "false" ? false : Number(wait),
});

export const nginxIp = lb.ipFor("nginx");
export const nginx2Ip = lb.ipFor("nginx-2");
