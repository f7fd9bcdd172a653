import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { readManifests } from "./index.ts";

const read = (text: string) => readManifests([{ source: "test.yaml", text }]);

describe("manifests", () => {
  it("reads MetalLB IPAddressPool, L2Advertisement and a LoadBalancer Service (seed: metallb-basic)", () => {
    const set = readManifests([{ source: "metallb-basic.yaml", text: readFileSync(new URL("../../../examples/plan/metallb-basic.yaml", import.meta.url), "utf8") }]);
    assert.deepEqual(set.problems, []);
    assert.deepEqual(set.pools, [{ name: "first-pool", spec: { addresses: ["192.168.28.210-192.168.28.220"] } }]);
    assert.deepEqual(set.advertisements, [{ name: "example", spec: { ipAddressPools: ["first-pool"] } }]);
    assert.deepEqual(set.services, [{ namespace: "default", name: "nginx", ports: [{ port: 80 }], selector: { app: "nginx" } }]);
  });
  it("reads OpenELB Eips: the default one auto-assigns, its interface becomes an advertisement", () => {
    const set = read(`
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: eip-sample-pool
  annotations:
    eip.openelb.kubesphere.io/is-default-eip: "true"
spec:
  address: 192.168.0.91-192.168.0.100
  protocol: layer2
  interface: eth0
---
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: other
spec:
  address: 192.168.1.0/24
  protocol: layer2
  interface: can_reach:192.168.1.1
---
apiVersion: network.kubesphere.io/v1alpha2
kind: Eip
metadata:
  name: off
spec:
  address: 192.168.2.5
  disable: true
`);
    assert.deepEqual(set.problems, []);
    assert.deepEqual(set.pools, [
      { name: "eip-sample-pool", spec: { addresses: ["192.168.0.91-192.168.0.100"], autoAssign: true } },
      { name: "other", spec: { addresses: ["192.168.1.0/24"], autoAssign: false } },
      { name: "off", spec: { addresses: ["192.168.2.5"], autoAssign: false } },
    ]);
    assert.deepEqual(set.advertisements.map((a) => a.spec), [
      { ipAddressPools: ["eip-sample-pool"], interfaces: ["eth0"] },
      { ipAddressPools: ["other"], interfaces: ["can_reach:192.168.1.1"] },
    ]);
    assert.ok(set.warnings.some((w) => /Eip "off" is disabled/.test(w)));
    assert.ok(set.warnings.some((w) => /Eip "off" sets no protocol \(OpenELB's default is bgp\); l2lb announces it with layer 2/.test(w)));
    assert.ok(!set.warnings.some((w) => /Eip "eip-sample-pool"/.test(w)), "a layer2 Eip draws no warning");
  });
  it("reads our own kinds", () => {
    const set = read(`
apiVersion: l2lb.dev/v1alpha1
kind: AddressPool
metadata: {name: lan, labels: {zone: a}}
spec:
  addresses: [192.0.2.0/28, "2001:db8::/120"]
  allowFirstLastIPs: true
  serviceAllocation: {priority: 1, namespaces: [web]}
---
apiVersion: l2lb.dev/v1alpha1
kind: L2Advertisement
metadata: {name: lan}
spec: {ipAddressPools: [lan], interfaces: ["eth*"]}
---
apiVersion: l2lb.dev/v1alpha1
kind: SharedIpGroup
metadata: {name: web}
spec: {services: [web/http, web/https], ip: 192.0.2.5, pool: lan}
`);
    assert.deepEqual(set.problems, []);
    assert.deepEqual(set.pools, [
      { name: "lan", labels: { zone: "a" }, spec: { addresses: ["192.0.2.0/28", "2001:db8::/120"], allowFirstLastIPs: true, serviceAllocation: { priority: 1, namespaces: ["web"] } } },
    ]);
    assert.deepEqual(set.advertisements, [{ name: "lan", spec: { ipAddressPools: ["lan"], interfaces: ["eth*"] } }]);
    assert.deepEqual(set.sharedIpGroups, [{ name: "web", services: ["web/http", "web/https"], ip: "192.0.2.5", pool: "lan" }]);
    assert.deepEqual(set.origins['AddressPool "lan"'], ["test.yaml (document 1)"]);
  });
  it("reads Services: families, ports, policy, selector, annotations; skips non-LoadBalancer and foreign classes", () => {
    const set = read(`
apiVersion: v1
kind: Service
metadata:
  name: dual
  namespace: web
  labels: {tier: gold}
  annotations: {metallb.io/allow-shared-ip: "k", metallb.io/loadBalancerIPs: "192.0.2.5,2001:db8::5"}
spec:
  type: LoadBalancer
  ipFamilyPolicy: RequireDualStack
  ipFamilies: [IPv6, IPv4]
  externalTrafficPolicy: Local
  selector: {app: web}
  ports:
  - {port: 53, protocol: UDP}
  - {port: "80"}
---
apiVersion: v1
kind: Service
metadata: {name: internal}
spec: {type: ClusterIP, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: cilium}
spec: {type: LoadBalancer, loadBalancerClass: io.cilium/l2-announcer}
---
apiVersion: v1
kind: Service
metadata: {name: ours}
spec: {type: LoadBalancer, loadBalancerClass: l2lb.dev/layer2}
`);
    assert.deepEqual(set.services, [
      {
        namespace: "web",
        name: "dual",
        labels: { tier: "gold" },
        annotations: { "metallb.io/allow-shared-ip": "k", "metallb.io/loadBalancerIPs": "192.0.2.5,2001:db8::5" },
        ipFamilies: ["IPv6", "IPv4"],
        ipFamilyPolicy: "RequireDualStack",
        ports: [{ port: 53, protocol: "UDP" }, { port: 80 }],
        externalTrafficPolicy: "Local",
        selector: { app: "web" },
      },
      { namespace: "default", name: "ours" },
    ]);
    assert.ok(set.warnings.some((w) => /Service "default\/cilium" has loadBalancerClass io\.cilium\/l2-announcer/.test(w)));
  });
  it("reads Namespaces, Nodes (addresses and published subnets) and Lists", () => {
    const set = read(`
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: web, labels: {team: a}}
- apiVersion: v1
  kind: Node
  metadata:
    name: n1
    annotations:
      l2lb.dev/subnets: '[{"interface":"eth0","cidr":"192.168.28.0/24","address":"192.168.28.11"}]'
  status:
    addresses:
    - {type: InternalIP, address: 192.168.28.11}
    - {type: Hostname, address: n1}
    - {type: ExternalIP, address: 203.0.113.7}
`);
    assert.deepEqual(set.problems, []);
    assert.deepEqual(set.namespaceLabels, { web: { team: "a" } });
    assert.deepEqual(set.nodeSubnets, ["192.168.28.0/24"]);
    assert.deepEqual(set.nodeAddresses, ["192.168.28.11", "203.0.113.7", "192.168.28.11"]);
  });
  it("reads MetalLB's legacy ConfigMap", () => {
    const set = read(`
apiVersion: v1
kind: ConfigMap
metadata: {namespace: metallb-system, name: config}
data:
  config: |
    address-pools:
    - name: default
      protocol: layer2
      addresses:
      - 192.168.31.210-192.168.31.220
      avoid-buggy-ips: true
`);
    assert.deepEqual(set.pools, [{ name: "default", spec: { addresses: ["192.168.31.210-192.168.31.220"], avoidBuggyIPs: true } }]);
    assert.ok(set.warnings.some((w) => /deprecated/.test(w)));
  });
  it("reports malformed documents with the file and the fix", () => {
    const bad = read("apiVersion: v1\nkind: Service\nmetadata: {name: x\n");
    assert.equal(bad.problems.length, 1);
    assert.match(bad.problems[0]!.message, /^test\.yaml is not valid YAML.*fix the syntax\.$/);
    const noName = read("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nspec: {addresses: [10.0.0.1]}\n");
    assert.match(noName.problems[0]!.message, /IPAddressPool in test\.yaml has no metadata\.name; give it a name\./);
    const badNode = read(`apiVersion: v1\nkind: Node\nmetadata: {name: n1, annotations: {l2lb.dev/subnets: "eth0"}}\n`);
    assert.match(badNode.problems[0]!.message, /Node "n1" has an annotation l2lb\.dev\/subnets that is not a JSON list/);
    const scalar = read("just a string\n");
    assert.match(scalar.problems[0]!.message, /is not a Kubernetes object/);
  });
  it("lets a MetalLB pool opt in to CIDR ends with an annotation", () => {
    const set = read(`apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, annotations: {l2lb.dev/allow-first-last-ips: "true"}}\nspec: {addresses: [10.0.0.0/30], autoAssign: false, avoidBuggyIPs: true}\n`);
    assert.deepEqual(set.pools, [{ name: "p", spec: { addresses: ["10.0.0.0/30"], autoAssign: false, avoidBuggyIPs: true, allowFirstLastIPs: true } }]);
  });
});
