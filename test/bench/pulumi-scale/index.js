// The program of test/bench/pulumi-scale.bench.ts (plain JavaScript ESM, outside the repository
// typecheck; `l2lb` resolves through node_modules as in users' programs): the runtime, one pool
// (an IPv4 /25 and an IPv6 /112 inside the lab nodes' subnets 192.0.2.0/24 and 2001:db8:1::/64),
// one advertisement and `services` LoadBalancer Services through one Allocation — the first
// `ipv4` of them single-stack IPv4, the rest single-stack IPv6. No NodePorts (the lab's NodePort
// range holds 2,768), no waiting for EXTERNAL-IP (no speaker runs).
// Config: services (number, required), ipv4 (number, default 100).
import * as pulumi from "@pulumi/pulumi";
import * as l2lb from "l2lb";

const config = new pulumi.Config();
const count = config.requireNumber("services");
const ipv4 = config.getNumber("ipv4") ?? 100;

const system = new l2lb.Installation("l2lb");
const pool = new l2lb.AddressPool("bench", { addresses: ["192.0.2.128/25", "2001:db8:1::1:0/112"], installation: system });
const advertisement = new l2lb.L2Advertisement("bench", { pools: [pool], installation: system });

const services = {};
for (let i = 0; i < count; i++) {
  const family = i < ipv4 ? "IPv4" : "IPv6";
  services[`svc-${String(i).padStart(5, "0")}`] = {
    spec: {
      ports: [{ name: "http", port: 80 }],
      selector: { app: "bench" },
      ipFamilies: [family],
      ipFamilyPolicy: "SingleStack",
      allocateLoadBalancerNodePorts: false,
    },
  };
}

const lb = new l2lb.Allocation("lb", { pools: [pool], advertisements: [advertisement], installation: system, services, waitSeconds: false });

export const subnetSource = lb.subnetSource;
export const poolUsage = lb.poolUsage;
