// GitOps: nothing is applied. A Kubernetes provider with `renderYamlToDirectory` writes every
// object as YAML, with the addresses already allocated — commit the directory and let Argo CD or
// Flux apply it. No cluster is contacted: the node subnets are given explicitly, and the
// allocation is checked against them.
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as l2lb from "l2lb";

const config = new pulumi.Config();
const render = new k8s.Provider("render", {
  renderYamlToDirectory: config.get("outputDirectory") ?? "manifests",
});
const opts = { provider: render };

const system = new l2lb.Installation("l2lb", {}, opts);
const pool = new l2lb.AddressPool("first-pool", { addresses: config.getObject<string[]>("addresses") ?? ["192.168.28.210-192.168.28.220"], installation: system }, opts);
const advertisement = new l2lb.L2Advertisement("example", { pools: [pool], installation: system }, opts);

const labels = { app: "nginx" };
new k8s.apps.v1.Deployment(
  "nginx",
  {
    metadata: { name: "nginx", namespace: "default", labels },
    spec: {
      replicas: 2,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: "nginx", image: "nginx:1.27", ports: [{ containerPort: 80 }] }] } },
    },
  },
  opts,
);

const web = new l2lb.SharedIpGroup("web", { services: ["default/nginx", "default/nginx-2"] }, opts);
const lb = new l2lb.Allocation(
  "lb",
  {
    pools: [pool],
    advertisements: [advertisement],
    sharedIpGroups: [web],
    installation: system,
    services: {
      nginx: { spec: { ports: [{ name: "http", port: 80 }, { name: "https", port: 443 }], selector: labels } },
      "nginx-2": { spec: { ports: [{ name: "http", port: 81, targetPort: 80 }], selector: labels } },
      admin: { spec: { ports: [{ name: "http", port: 8080, targetPort: 80 }], selector: labels } },
    },
    nodeSubnets: config.getObject<string[]>("nodeSubnets") ?? ["192.168.28.0/24"],
    // Nothing will write an EXTERNAL-IP into rendered manifests: never wait.
    waitSeconds: false,
  },
  opts,
);

export const assignments = lb.assignments;
export const subnetSource = lb.subnetSource;
