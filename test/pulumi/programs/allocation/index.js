// Plain JavaScript (ESM) so the repository's typecheck, which cannot resolve the package by name
// from here, leaves it alone; programs resolve `l2lb` through node_modules like users' do.
// Seeds 000 and 002 as the allocation resource sees them: the pool 192.168.28.210-220, nginx on
// 80/443 and nginx-2 on 81 sharing one address, and a third Service. Config moves things:
//   nginxIps   pin nginx-3 to an address (a move shows in preview --diff)
//   sharedIp   the shared address (default 192.168.28.211)
//   lateService  adds a Service whose port comes from a resource not created yet (unknown at preview)
//   providerModule  another specifier for the same implementation: the serialized provider text
//               changes, as it does with every library release
//   kubeconfigInput pass the kubeconfig as the resource's (secret) input instead of stack config
//   advertiseNodes  matchLabels of the advertisement's node selector (default: every node)
//   nodeSubnets explicit subnets (default: read the Nodes' published subnets through the stack's
//               kubernetes:kubeconfig)
import * as pulumi from "@pulumi/pulumi";
import { AllocationProvider, AllocationResource } from "l2lb";

const config = new pulumi.Config();
const pin = config.getObject("nginx3Ips");
// A resource whose output is unknown until it is created: the allocation must not guess.
const late = config.getBoolean("lateService")
  ? new pulumi.dynamic.Resource(
      {
        async create() {
          return { id: "late", outs: { port: 9090 } };
        },
      },
      "late-port",
      { port: undefined },
    )
  : undefined;
const lateServices = late
  ? [{ namespace: "default", name: "late", ports: [{ port: late.port }] }]
  : [];

const plan = new AllocationResource("lb-plan", {
  identity: "lb",
  pools: [{ name: "first-pool", spec: { addresses: ["192.168.28.210-192.168.28.220"] } }],
  services: [
    { namespace: "default", name: "nginx", ports: [{ port: 80 }, { port: 443 }], selector: { app: "nginx" } },
    { namespace: "default", name: "nginx-2", ports: [{ port: 81 }], selector: { app: "nginx" } },
    {
      namespace: "default",
      name: "nginx-3",
      ports: [{ port: 8080 }],
      annotations: pin ? { "l2lb.dev/requested-ips": pin.join(",") } : {},
    },
    ...lateServices,
  ],
  sharedIpGroups: [{ name: "web", services: ["default/nginx", "default/nginx-2"], ip: config.get("sharedIp") ?? "192.168.28.211" }],
  advertisements: [
    {
      name: "example",
      spec: {
        ipAddressPools: ["first-pool"],
        ...(config.getObject("advertiseNodes") ? { nodeSelectors: [{ matchLabels: config.getObject("advertiseNodes") }] } : {}),
      },
    },
  ],
  nodeSubnets: config.getObject("nodeSubnets"),
  kubeconfig: config.get("kubeconfigInput"),
}, {}, new AllocationProvider(config.get("providerModule")));

export const assignments = plan.assignments;
export const subnetSource = plan.subnetSource;
