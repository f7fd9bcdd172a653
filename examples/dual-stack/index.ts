// A dual-stack cluster: one pool holding an IPv4 and an IPv6 range. A RequireDualStack Service
// gets one address of each family (answered over ARP and NDP); a single-stack IPv6 Service gets
// one IPv6 address. The cluster must be dual-stack (service CIDRs of both families).
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as l2lb from "l2lb";

const config = new pulumi.Config();
const wait = config.get("waitSeconds");

const system = new l2lb.Installation("l2lb", { image: config.get("speakerImage") });
const pool = new l2lb.AddressPool("dual", {
  addresses: config.getObject<string[]>("addresses") ?? ["192.168.28.210-192.168.28.220", "fd00:28::210-fd00:28::220"],
  installation: system,
});
const advertisement = new l2lb.L2Advertisement("dual", { pools: [pool], installation: system });

const labels = { app: "web" };
new k8s.apps.v1.Deployment("web", {
  metadata: { name: "web", namespace: "default", labels },
  spec: {
    replicas: 2,
    selector: { matchLabels: labels },
    template: {
      metadata: { labels },
      spec: { containers: [{ name: "web", image: "nginx", ports: [{ containerPort: 80 }] }] },
    },
  },
});

const lb = new l2lb.Allocation("lb", {
  pools: [pool],
  advertisements: [advertisement],
  installation: system,
  services: {
    web: {
      spec: {
        ipFamilyPolicy: "RequireDualStack",
        ipFamilies: ["IPv4", "IPv6"],
        ports: [{ name: "http", port: 80 }],
        selector: labels,
      },
    },
    "web-v6": {
      spec: {
        ipFamilyPolicy: "SingleStack",
        ipFamilies: ["IPv6"],
        ports: [{ name: "http", port: 80 }],
        selector: labels,
      },
    },
  },
  nodeSubnets: config.getObject<string[]>("nodeSubnets"),
  waitSeconds: wait === undefined ? undefined : wait === "false" ? false : Number(wait),
});

/** Both addresses of the dual-stack Service, IPv4 first (its primary family). */
export const webIps = lb.ipsFor("web");
export const webV6Ip = lb.ipFor("web-v6");
