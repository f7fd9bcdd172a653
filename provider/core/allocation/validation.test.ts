import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planAllocation } from "./plan.ts";
import type { AllocationInput } from "./types.ts";
import { pool, problems, svc } from "./helpers.test.ts";

const base = [pool("first-pool", ["192.168.28.210-192.168.28.220"])];

/** [title, input, object, field, message pattern] — each must be reported, naming the object and the fix. */
const cases: [string, AllocationInput, string, string, RegExp][] = [
  ["overlap within a pool", { pools: [pool("p", ["10.0.0.0/24", "10.0.0.128/25"])], services: [] }, 'AddressPool "p"', "spec.addresses[1]", /overlaps its own spec\.addresses\[0\] \(10\.0\.0\.0\/24\).*shrink or remove/],
  ["overlap across pools", { pools: [pool("a", ["10.0.0.0/24"]), pool("b", ["10.0.0.255-10.0.1.5"])], services: [] }, 'AddressPool "b"', "spec.addresses[0]", /overlaps AddressPool "a" spec\.addresses\[0\]/],
  ["IPv6 overlap", { pools: [pool("a", ["2001:db8::/64"]), pool("b", ["2001:db8::5"])], services: [] }, 'AddressPool "b"', "spec.addresses[0]", /overlaps AddressPool "a"/],
  ["host bits in a CIDR", { pools: [pool("p", ["10.0.0.1/24"])], services: [] }, 'AddressPool "p"', "spec.addresses[0]", /host bits set; write the network as 10\.0\.0\.0\/24/],
  ["prefix too long", { pools: [pool("p", ["10.0.0.0/33"])], services: [] }, 'AddressPool "p"', "spec.addresses[0]", /invalid prefix length "33"/],
  ["start after end", { pools: [pool("p", ["10.0.0.9-10.0.0.1"])], services: [] }, 'AddressPool "p"', "spec.addresses[0]", /starts after it ends; write it as 10\.0\.0\.1-10\.0\.0\.9/],
  ["mixed-family range", { pools: [pool("p", ["10.0.0.1-2001:db8::1"])], services: [] }, 'AddressPool "p"', "spec.addresses[0]", /mixes IPv4 and IPv6.*split it/],
  ["not an address", { pools: [pool("p", ["10.0.0.256"])], services: [] }, 'AddressPool "p"', "spec.addresses[0]", /neither an address, a CIDR nor a first-last range/],
  ["no addresses", { pools: [pool("p", [])], services: [] }, 'AddressPool "p"', "spec.addresses", /has no addresses; list at least one/],
  ["addresses written as a string", { pools: [{ name: "p", spec: { addresses: "10.0.0.1" as unknown as string[] } }], services: [] }, 'AddressPool "p"', "spec.addresses", /is a single string; make it a list, e\.g\. addresses: \["10\.0\.0\.1"\]/],
  ["duplicate pool names", { pools: [pool("p", ["10.0.0.1"]), pool("p", ["10.0.0.2"])], services: [] }, 'AddressPool "p"', "metadata.name", /defined twice/],
  ["invalid pool name", { pools: [pool("First_Pool", ["10.0.0.1"])], services: [] }, 'AddressPool "First_Pool"', "metadata.name", /invalid name; use lowercase/],
  ["non-boolean flag", { pools: [{ name: "p", spec: { addresses: ["10.0.0.1"], autoAssign: "no" as unknown as boolean } }], services: [] }, 'AddressPool "p"', "spec.autoAssign", /write true or false/],
  ["negative priority", { pools: [pool("p", ["10.0.0.1"], { serviceAllocation: { priority: -1 } })], services: [] }, 'AddressPool "p"', "spec.serviceAllocation.priority", /whole number ≥ 0/],
  [
    "bad selector operator",
    { pools: [pool("p", ["10.0.0.1"], { serviceAllocation: { serviceSelectors: [{ matchExpressions: [{ key: "a", operator: "Is" as "In" }] }] } })], services: [] },
    'AddressPool "p"',
    "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator",
    /use In, NotIn, Exists or DoesNotExist/,
  ],
  [
    "In without values",
    { pools: [pool("p", ["10.0.0.1"], { serviceAllocation: { namespaceSelectors: [{ matchExpressions: [{ key: "a", operator: "In" }] }] } })], services: [] },
    'AddressPool "p"',
    "spec.serviceAllocation.namespaceSelectors[0].matchExpressions[0].values",
    /needs a non-empty list/,
  ],
  ["pool outside every node subnet", { pools: [pool("p", ["10.0.0.0/28"])], services: [], nodeSubnets: ["192.168.28.0/24"] }, 'AddressPool "p"', "spec.addresses[0]", /lies outside every node subnet \(the node subnets are 192\.168\.28\.0\/24\)/],
  ["pool crossing a node subnet's edge", { pools: [pool("p", ["192.168.28.250-192.168.29.5"])], services: [], nodeSubnets: ["192.168.28.0/24"] }, 'AddressPool "p"', "spec.addresses[0]", /lies outside every node subnet/],
  ["IPv6 range with only IPv4 subnets known", { pools: [pool("p", ["2001:db8::/120"])], services: [], nodeSubnets: ["192.168.28.0/24"] }, 'AddressPool "p"', "spec.addresses[0]", /no IPv6 node subnet is known/],
  ["bad node subnet", { pools: base, services: [], nodeSubnets: ["192.168.28.0/40"] }, 'Node subnet "192.168.28.0/40"', "nodeSubnets[0]", /invalid prefix length/],
  ["bad node address", { pools: base, services: [], nodeAddresses: ["node-a"] }, 'Node address "node-a"', "nodeAddresses[0]", /not an IPv4 or IPv6 address/],
  ["duplicate Service", { pools: base, services: [svc("default/a"), svc("default/a")] }, 'Service "default/a"', "metadata.name", /defined twice/],
  ["requested IP outside every pool", { pools: base, services: [svc("default/a", { loadBalancerIP: "10.1.1.1" })] }, 'Service "default/a"', "spec.loadBalancerIP", /requests 10\.1\.1\.1, which is in no address pool; request an address from a pool \("first-pool" \(192\.168\.28\.210-192\.168\.28\.220\)\)/],
  [
    "requested IP in a pinned pool that does not admit the Service",
    { pools: [pool("prod", ["10.0.0.0/24"], { serviceAllocation: { namespaces: ["prod"] } })], services: [svc("dev/a", { annotations: { "metallb.io/loadBalancerIPs": "10.0.0.7" } })] },
    'Service "dev/a"',
    'metadata.annotations["metallb.io/loadBalancerIPs"]',
    /pool "prod" serves only namespaces prod/,
  ],
  [
    "requested IP that is a subnet's broadcast address",
    { pools: [pool("p", ["192.168.28.200-192.168.28.255"])], services: [svc("default/a", { loadBalancerIP: "192.168.28.255" })], nodeSubnets: ["192.168.28.0/24"] },
    'Service "default/a"',
    "spec.loadBalancerIP",
    /cannot be handed out: it is the broadcast address of node subnet 192\.168\.28\.0\/24/,
  ],
  [
    "requested IP that is a node's address",
    { pools: base, services: [svc("default/a", { loadBalancerIP: "192.168.28.215" })], nodeAddresses: ["192.168.28.215"] },
    'Service "default/a"',
    "spec.loadBalancerIP",
    /it is a node's own address/,
  ],
  [
    "requested IP that is the first address of a CIDR",
    { pools: [pool("p", ["10.0.0.0/24"])], services: [svc("default/a", { loadBalancerIP: "10.0.0.0" })] },
    'Service "default/a"',
    "spec.loadBalancerIP",
    /first address of 10\.0\.0\.0\/24 in pool "p" \(set allowFirstLastIPs/,
  ],
  ["unknown pool (MetalLB)", { pools: base, services: [svc("default/a", { annotations: { "metallb.io/address-pool": "second-pool" } })] }, 'Service "default/a"', 'metadata.annotations["metallb.io/address-pool"]', /requests pool "second-pool", which does not exist; name one of the pools \("first-pool"\)/],
  ["unknown pool (OpenELB)", { pools: base, services: [svc("default/a", { annotations: { "eip.openelb.kubesphere.io/v1alpha2": "layer2-eip" } })] }, 'Service "default/a"', 'metadata.annotations["eip.openelb.kubesphere.io/v1alpha2"]', /requests pool "layer2-eip", which does not exist/],
  ["unknown pool (l2lb)", { pools: base, services: [svc("default/a", { annotations: { "l2lb.dev/requested-pool": "x" } })] }, 'Service "default/a"', 'metadata.annotations["l2lb.dev/requested-pool"]', /which does not exist/],
  [
    "requested pool that does not admit the Service",
    { pools: [pool("p", ["10.0.0.0/24"], { serviceAllocation: { serviceSelectors: [{ matchLabels: { tier: "gold" } }] } })], services: [svc("default/a", { annotations: { "metallb.io/address-pool": "p" } })] },
    'Service "default/a"',
    'metadata.annotations["metallb.io/address-pool"]',
    /the Service's labels match none of pool "p"'s serviceSelectors; widen/,
  ],
  [
    "requested IP and pool disagree",
    { pools: [...base, pool("other", ["10.0.0.0/24"])], services: [svc("default/a", { loadBalancerIP: "192.168.28.211", annotations: { "metallb.io/address-pool": "other" } })] },
    'Service "default/a"',
    "spec.loadBalancerIP",
    /is in pool "first-pool", and also pool "other"/,
  ],
  [
    "requested IPs in two pools",
    { pools: [pool("v4", ["10.0.0.0/24"]), pool("v6", ["2001:db8::/120"])], services: [svc("default/a", { ipFamilyPolicy: "RequireDualStack", annotations: { "metallb.io/loadBalancerIPs": "10.0.0.5,2001:db8::5" } })] },
    'Service "default/a"',
    'metadata.annotations["metallb.io/loadBalancerIPs"]',
    /from two pools \("v4" and "v6"\)/,
  ],
  ["annotation and spec disagree", { pools: base, services: [svc("default/a", { loadBalancerIP: "192.168.28.211", annotations: { "metallb.io/loadBalancerIPs": "192.168.28.212" } })] }, 'Service "default/a"', "spec.loadBalancerIP", /keep one of them/],
  ["two IPv4 addresses", { pools: base, services: [svc("default/a", { annotations: { "metallb.io/loadBalancerIPs": "192.168.28.211,192.168.28.212" } })] }, 'Service "default/a"', 'metadata.annotations["metallb.io/loadBalancerIPs"]', /two IPv4 addresses; a Service gets at most one address per family/],
  ["unparseable requested IP", { pools: base, services: [svc("default/a", { annotations: { "metallb.universe.tf/loadBalancerIPs": "192.168.28" } })] }, 'Service "default/a"', 'metadata.annotations["metallb.universe.tf/loadBalancerIPs"]', /"192\.168\.28" is not an IPv4 or IPv6 address/],
  ["IPv6 request on an IPv4 Service", { pools: [pool("p", ["2001:db8::/120"])], services: [svc("default/a", { loadBalancerIP: "2001:db8::5" })] }, 'Service "default/a"', "spec.loadBalancerIP", /requests an IPv6 address but is SingleStack IPv4/],
  ["RequireDualStack with one requested address", { pools: base, services: [svc("default/a", { ipFamilyPolicy: "RequireDualStack", loadBalancerIP: "192.168.28.211" })] }, 'Service "default/a"', "spec.loadBalancerIP", /RequireDualStack but requests only one address/],
  ["SingleStack with two families", { pools: base, services: [svc("default/a", { ipFamilies: ["IPv4", "IPv6"] })] }, 'Service "default/a"', "spec.ipFamilies", /lists two families but is SingleStack/],
  ["unknown family", { pools: base, services: [svc("default/a", { ipFamilies: ["IPv5" as "IPv4"] })] }, 'Service "default/a"', "spec.ipFamilies[0]", /use IPv4 or IPv6/],
  ["bad port", { pools: base, services: [svc("default/a", { ports: [{ port: 70000 }] })] }, 'Service "default/a"', "spec.ports[0].port", /whole number from 1 to 65535/],
  ["bad protocol", { pools: base, services: [svc("default/a", { ports: [{ port: 80, protocol: "HTTP" as "TCP" }] })] }, 'Service "default/a"', "spec.ports[0].protocol", /use TCP, UDP or SCTP/],
  ["bad traffic policy", { pools: base, services: [svc("default/a", { externalTrafficPolicy: "Global" as "Cluster" })] }, 'Service "default/a"', "spec.externalTrafficPolicy", /use Cluster or Local/],
  ["conflicting sharing keys", { pools: base, services: [svc("default/a", { annotations: { "metallb.io/allow-shared-ip": "x", "l2lb.dev/sharing-key": "y" } })] }, 'Service "default/a"', 'metadata.annotations["metallb.io/allow-shared-ip"]', /keep one of them/],
  ["group with an unknown member", { pools: base, services: [svc("default/a")], sharedIpGroups: [{ name: "g", services: ["default/a", "default/ghost"] }] }, 'SharedIpGroup "g"', "spec.services[1]", /"default\/ghost", which is not a known LoadBalancer Service; create the Service/],
  [
    "Service in two groups",
    { pools: base, services: [svc("default/a"), svc("default/b")], sharedIpGroups: [{ name: "g1", services: ["default/a"] }, { name: "g2", services: ["default/a", "default/b"] }] },
    'SharedIpGroup "g2"',
    "spec.services[0]",
    /already in SharedIpGroup "g1"/,
  ],
  [
    "group members with overlapping ports",
    { pools: base, services: [svc("default/a", { ports: [{ port: 80 }] }), svc("default/b", { ports: [{ port: 80 }, { port: 443 }] })], sharedIpGroups: [{ name: "web", services: ["default/a", "default/b"] }] },
    'SharedIpGroup "web"',
    "spec.services",
    /"default\/a" and "default\/b" on one address, but both use TCP\/80; change one port/,
  ],
  [
    "group members with incompatible traffic policies",
    {
      pools: base,
      services: [svc("default/a", { externalTrafficPolicy: "Local", selector: { app: "a" }, ports: [{ port: 80 }] }), svc("default/b", { ports: [{ port: 81 }] })],
      sharedIpGroups: [{ name: "web", services: ["default/a", "default/b"] }],
    },
    'SharedIpGroup "web"',
    "spec.services",
    /externalTrafficPolicy Local with selector \{app=a\}.*externalTrafficPolicy Cluster.*same traffic policy/,
  ],
  [
    "group and member requests disagree",
    { pools: base, services: [svc("default/a", { loadBalancerIP: "192.168.28.212" })], sharedIpGroups: [{ name: "g", services: ["default/a"], ip: "192.168.28.211" }] },
    'SharedIpGroup "g"',
    "spec.services",
    /requests 192\.168\.28\.211 \(spec\.ip\) but member Service "default\/a" requests 192\.168\.28\.212/,
  ],
  ["group IP outside every pool", { pools: base, services: [svc("default/a")], sharedIpGroups: [{ name: "g", services: ["default/a"], ip: "10.9.9.9" }] }, 'SharedIpGroup "g"', "spec.ip", /requests 10\.9\.9\.9, which is in no address pool/],
  ["group with an unknown pool", { pools: base, services: [svc("default/a")], sharedIpGroups: [{ name: "g", services: ["default/a"], pool: "nope" }] }, 'SharedIpGroup "g"', "spec.pool", /requests pool "nope", which does not exist/],
  ["empty group", { pools: base, services: [], sharedIpGroups: [{ name: "g", services: [] }] }, 'SharedIpGroup "g"', "spec.services", /lists no Services/],
];

describe("validation", () => {
  for (const [title, input, object, field, message] of cases) {
    it(title, () => {
      const found = problems(input);
      const hit = found.find((p) => p.object === object && p.field === field && message.test(p.message));
      assert.ok(hit, `no problem for ${object} ${field} matching ${message}; got:\n${found.map((p) => `${p.object} | ${p.field} | ${p.message}`).join("\n")}`);
      assert.ok(hit.message.includes(object.replace(/ #\d+$/, "")), `the message must name ${object}: ${hit.message}`);
      assert.match(hit.message, /[.;]/, "a sentence");
    });
  }
  it("reports every problem at once, in a stable order", () => {
    const input: AllocationInput = {
      pools: [pool("b", ["10.0.0.9-10.0.0.1"]), pool("a", ["10.0.0.1/24"])],
      services: [svc("default/x", { annotations: { "metallb.io/address-pool": "zzz" } })],
    };
    const one = problems(input);
    const two = problems({ ...input, pools: [...input.pools].reverse() });
    assert.equal(one.length, 3);
    assert.deepEqual(one, two);
  });
  it("accepts a valid configuration", () => {
    const r = planAllocationOk({ pools: base, services: [svc("default/a")], nodeSubnets: ["192.168.28.0/24"] });
    assert.equal(r, true);
  });
});

function planAllocationOk(input: AllocationInput): boolean {
  return planAllocation(input).ok;
}
