// The end-to-end program (plain JavaScript ESM, outside the repository typecheck; `l2lb` resolves
// through node_modules as in users' programs). Seeds 000 and 002 on documentation addresses, plus a
// dual-stack Service and an existing Service patched in place:
//   nginx + nginx-2   one shared address (SharedIpGroup "web"), ports 80/443 and 81
//   api               its own address; config `apiIps` pins it (the one-service move)
//   dual              RequireDualStack: one IPv4 and one IPv6 address
//   default/legacy    created outside the program; patched (annotations, class, type) and
//                     restored on destroy
//   late...           config `late` (list of names): more Services with their own address (the
//                     race with an address taken in the cluster between preview and up)
// Config: addresses (list, required: the lab's VIP ranges), apiIps (list), late (list). Every
// object is written by the default writer, the Kubernetes provider.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as l2lb from "l2lb";

const config = new pulumi.Config();

const system = new l2lb.Installation("l2lb");
const pool = new l2lb.AddressPool("first-pool", { addresses: config.requireObject("addresses"), installation: system });
const advertisement = new l2lb.L2Advertisement("example", { pools: [pool], installation: system });

const labels = { app: "nginx" };
new k8s.apps.v1.Deployment("nginx", {
  metadata: { name: "nginx", namespace: "default", labels },
  spec: {
    replicas: 2,
    selector: { matchLabels: labels },
    template: { metadata: { labels }, spec: { containers: [{ name: "nginx", image: "nginx", ports: [{ containerPort: 80 }] }] } },
  },
});

const web = new l2lb.SharedIpGroup("web", { services: ["default/nginx", "default/nginx-2"] });
const lb = new l2lb.Allocation("lb", {
  pools: [pool],
  advertisements: [advertisement],
  sharedIpGroups: [web],
  installation: system,
  services: {
    nginx: { spec: { ports: [{ name: "http", port: 80 }, { name: "https", port: 443 }], selector: labels } },
    "nginx-2": { spec: { ports: [{ name: "http", port: 81, targetPort: 80 }], selector: labels } },
    api: { spec: { ports: [{ name: "http", port: 8080 }], selector: labels }, ips: config.getObject("apiIps") },
    dual: { spec: { ports: [{ name: "http", port: 80 }], selector: labels, ipFamilies: ["IPv4", "IPv6"], ipFamilyPolicy: "RequireDualStack" } },
    ...Object.fromEntries((config.getObject("late") ?? []).map((name) => [name, { spec: { ports: [{ name: "http", port: 80 }], selector: labels } }])),
  },
  existing: { "default/legacy": { ports: [{ port: 9000 }] } },
});

export const assignments = lb.assignments;
export const subnetSource = lb.subnetSource;
