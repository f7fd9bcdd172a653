import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planToJson } from "./json.ts";
import { planAllocation } from "./plan.ts";
import { errorOf, ips, plan, pool, poolOf, stateOf, svc } from "./helpers.test.ts";
import type { ServiceRequest } from "./types.ts";

const seedPool = pool("first-pool", ["192.168.28.210-192.168.28.220"]);
const shareKey = { "metallb.universe.tf/allow-shared-ip": "192.168.28.211" };

describe("the seeds' scenarios", () => {
  it("MetalLB pool 192.168.28.210-220 with an nginx LoadBalancer", () => {
    const r = plan({ pools: [seedPool], services: [svc("default/nginx", { ports: [{ port: 80 }] })], nodeSubnets: ["192.168.28.0/24"] });
    assert.deepEqual(r.services["default/nginx"], { ips: ["192.168.28.210"], pool: "first-pool" });
    assert.deepEqual(planToJson(r).pools, { "first-pool": { size: "11", used: 1 } });
  });
  it("nginx (80, 443) and nginx-2 (81) share 192.168.28.211 via allow-shared-ip + loadBalancerIP", () => {
    const r = plan({
      pools: [seedPool],
      services: [
        svc("default/nginx", { annotations: shareKey, loadBalancerIP: "192.168.28.211", ports: [{ port: 80 }, { port: 443 }] }),
        svc("default/nginx-2", { annotations: shareKey, loadBalancerIP: "192.168.28.211", ports: [{ port: 81 }] }),
      ],
    });
    assert.deepEqual(ips(r, "default/nginx"), ["192.168.28.211"]);
    assert.deepEqual(ips(r, "default/nginx-2"), ["192.168.28.211"]);
    assert.equal(r.pools["first-pool"]?.used, 1);
  });
  it("without the sharing key the second Service is refused, naming the holder", () => {
    const r = plan({
      pools: [seedPool],
      services: [svc("default/nginx", { loadBalancerIP: "192.168.28.211", ports: [{ port: 80 }] }), svc("default/nginx-2", { loadBalancerIP: "192.168.28.211", ports: [{ port: 81 }] })],
    });
    assert.deepEqual(ips(r, "default/nginx"), ["192.168.28.211"]);
    assert.match(errorOf(r, "default/nginx-2"), /Service "default\/nginx-2" cannot get its requested address: 192\.168\.28\.211 is taken: it is used by Service "default\/nginx", and this Service has no sharing key; give the Services the same sharing key/);
  });
  it("OpenELB default Eip 192.168.0.91-100 with an annotated Service", () => {
    const eip = pool("eip-sample-pool", ["192.168.0.91-192.168.0.100"], { autoAssign: true });
    const r = plan({ pools: [eip], services: [svc("default/layer2-svc", { annotations: { "eip.openelb.kubesphere.io/v1alpha2": "eip-sample-pool", "lb.kubesphere.io/v1alpha1": "openelb" } })] });
    assert.deepEqual(r.services["default/layer2-svc"], { ips: ["192.168.0.91"], pool: "eip-sample-pool" });
    assert.equal(r.pools["eip-sample-pool"]?.size, 10n);
  });
});

describe("first-fit in a total order", () => {
  it("orders Services by namespace/name, not by input order", () => {
    const services = ["default/c", "default/a", "kube-system/b", "default/b"].map((k) => svc(k));
    const r = plan({ pools: [seedPool], services });
    assert.deepEqual(
      ["default/a", "default/b", "default/c", "kube-system/b"].map((k) => ips(r, k)[0]),
      ["192.168.28.210", "192.168.28.211", "192.168.28.212", "192.168.28.213"],
    );
  });
  it("fills plain pools by name and spills over when one is exhausted", () => {
    const r = plan({ pools: [pool("b-pool", ["10.0.1.1-10.0.1.5"]), pool("a-pool", ["10.0.0.1-10.0.0.2"])], services: ["x/1", "x/2", "x/3"].map((k) => svc(k)) });
    assert.deepEqual(["x/1", "x/2", "x/3"].map((k) => `${poolOf(r, k)} ${ips(r, k)[0]}`), ["a-pool 10.0.0.1", "a-pool 10.0.0.2", "b-pool 10.0.1.1"]);
  });
  it("reports exhaustion per Service and still plans the others", () => {
    const r = plan({ pools: [pool("tiny", ["10.0.0.1"])], services: [svc("default/a"), svc("default/b")] });
    assert.deepEqual(ips(r, "default/a"), ["10.0.0.1"]);
    assert.match(errorOf(r, "default/b"), /Service "default\/b" got no address: pool "tiny" has no free IPv4 address; add addresses to a pool/);
  });
  it("multi-range pools are used in address order, IPv4 and IPv6 mixed", () => {
    const r = plan({
      pools: [pool("mixed", ["10.0.0.9", "2001:db8::1-2001:db8::2", "10.0.0.3-10.0.0.4"])],
      services: [svc("d/a"), svc("d/b"), svc("d/c"), svc("d/six", { ipFamilies: ["IPv6"] })],
    });
    assert.deepEqual(["d/a", "d/b", "d/c", "d/six"].map((k) => ips(r, k)[0]), ["10.0.0.3", "10.0.0.4", "10.0.0.9", "2001:db8::1"]);
    assert.equal(r.pools.mixed?.size, 5n);
  });
});

describe("pools", () => {
  it("pinned pools (serviceAllocation) come before plain ones, by priority, unset priority last", () => {
    const pools = [
      pool("aaa-plain", ["10.0.0.1-10.0.0.9"]),
      pool("pinned-unset", ["10.0.1.1-10.0.1.9"], { serviceAllocation: { namespaces: ["prod"] } }),
      pool("pinned-2", ["10.0.2.1-10.0.2.9"], { serviceAllocation: { priority: 2, namespaces: ["prod"] } }),
      pool("pinned-1", ["10.0.3.1"], { serviceAllocation: { priority: 1, namespaces: ["prod"] } }),
    ];
    const r = plan({ pools, services: [svc("prod/a"), svc("prod/b"), svc("prod/c"), svc("dev/d")] });
    assert.equal(poolOf(r, "prod/a"), "pinned-1");
    assert.equal(poolOf(r, "prod/b"), "pinned-2");
    assert.equal(poolOf(r, "prod/c"), "pinned-2");
    assert.equal(poolOf(r, "dev/d"), "aaa-plain", "a pinned pool never serves a non-matching Service");
  });
  it("a pinned pool with only a priority serves everyone, before plain pools", () => {
    const r = plan({ pools: [pool("a", ["10.0.0.1"]), pool("z", ["10.0.9.1"], { serviceAllocation: { priority: 5 } })], services: [svc("x/a")] });
    assert.equal(poolOf(r, "x/a"), "z");
  });
  it("namespace AND service selectors must both match", () => {
    const gold = pool("gold", ["10.0.0.1-10.0.0.5"], {
      serviceAllocation: { namespaceSelectors: [{ matchLabels: { team: "web" } }], serviceSelectors: [{ matchExpressions: [{ key: "tier", operator: "In", values: ["gold"] }] }] },
    });
    const plain = pool("plain", ["10.0.1.1-10.0.1.5"]);
    const r = plan({
      pools: [gold, plain],
      namespaceLabels: { shop: { team: "web" }, ops: { team: "ops" } },
      services: [svc("shop/gold", { labels: { tier: "gold" } }), svc("shop/silver", { labels: { tier: "silver" } }), svc("ops/gold", { labels: { tier: "gold" } })],
    });
    assert.equal(poolOf(r, "shop/gold"), "gold");
    assert.equal(poolOf(r, "shop/silver"), "plain");
    assert.equal(poolOf(r, "ops/gold"), "plain");
  });
  it("a Service without a namespace is in default, for keys and pools alike", () => {
    const p = pool("p", ["10.0.0.1"], { serviceAllocation: { namespaces: ["default"] } });
    const r = plan({ pools: [p], services: [{ namespace: "", name: "a" }] });
    assert.deepEqual(r.services, { "default/a": { ips: ["10.0.0.1"], pool: "p" } });
  });
  it("namespace selectors see kubernetes.io/metadata.name", () => {
    const p = pool("p", ["10.0.0.1"], { serviceAllocation: { namespaceSelectors: [{ matchLabels: { "kubernetes.io/metadata.name": "edge" } }] } });
    const r = plan({ pools: [p], services: [svc("edge/a"), svc("core/b")] });
    assert.equal(poolOf(r, "edge/a"), "p");
    assert.match(errorOf(r, "core/b"), /no auto-assigning pool serves it/);
  });
  it("autoAssign: false pools serve only explicit requests", () => {
    const pools = [pool("cheap", ["10.0.0.1"]), pool("expensive", ["203.0.113.1-203.0.113.2"], { autoAssign: false })];
    const r = plan({
      pools,
      services: [svc("d/a"), svc("d/b"), svc("d/by-pool", { annotations: { "metallb.io/address-pool": "expensive" } }), svc("d/by-ip", { loadBalancerIP: "203.0.113.2" })],
    });
    assert.equal(poolOf(r, "d/a"), "cheap");
    assert.match(errorOf(r, "d/b"), /pool "cheap" has no free IPv4 address/);
    assert.deepEqual(ips(r, "d/by-pool"), ["203.0.113.1"]);
    assert.deepEqual(ips(r, "d/by-ip"), ["203.0.113.2"]);
  });
  it("avoidBuggyIPs skips every .0 and .255, and sizes count exactly", () => {
    const r = plan({ pools: [pool("p", ["10.0.0.254-10.0.1.2"], { avoidBuggyIPs: true })], services: ["d/1", "d/2", "d/3"].map((k) => svc(k)) });
    assert.deepEqual(["d/1", "d/2", "d/3"].map((k) => ips(r, k)[0]), ["10.0.0.254", "10.0.1.1", "10.0.1.2"]);
    assert.equal(r.pools.p?.size, 3n);
    const big = plan({ pools: [pool("p", ["10.0.0.0/8"], { avoidBuggyIPs: true })], services: [] });
    assert.equal(big.pools.p?.size, (1n << 24n) - 2n * 65536n);
  });
  const ends: [string, boolean, string[], bigint][] = [
    ["10.0.0.0/30", false, ["10.0.0.1", "10.0.0.2"], 2n],
    ["10.0.0.0/30", true, ["10.0.0.0", "10.0.0.1"], 4n],
    ["10.0.0.0/31", false, ["10.0.0.0", "10.0.0.1"], 2n],
    ["10.0.0.7/32", false, ["10.0.0.7"], 1n],
    ["10.0.0.0-10.0.0.3", false, ["10.0.0.0", "10.0.0.1"], 4n],
    ["2001:db8::/126", false, ["2001:db8::1", "2001:db8::2"], 2n],
    ["2001:db8::/127", false, ["2001:db8::", "2001:db8::1"], 2n],
    ["2001:db8::/64", false, ["2001:db8::1", "2001:db8::2"], (1n << 64n) - 2n - 128n], // and the RFC 2526 subnet anycast addresses
  ];
  for (const [range, allow, expected, size] of ends) {
    it(`CIDR ends: ${range}${allow ? " with allowFirstLastIPs" : ""}`, () => {
      const fam = range.includes(":") ? (["IPv6"] as const) : (["IPv4"] as const);
      const r = plan({ pools: [pool("p", [range], allow ? { allowFirstLastIPs: true } : {})], services: ["d/1", "d/2"].map((k) => svc(k, { ipFamilies: [...fam] })) });
      const got = ["d/1", "d/2"].map((k) => r.services[k]).flatMap((o) => (o && "ips" in o ? o.ips : []));
      assert.deepEqual(got, expected.slice(0, got.length));
      assert.equal(got.length, Math.min(2, expected.length));
      assert.equal(r.pools.p?.size, size);
    });
  }
  it("never hands out a node subnet's network or broadcast address or a node's own address", () => {
    const r = plan({
      pools: [pool("p", ["192.168.1.254-192.168.1.255", "192.168.2.0-192.168.2.2"])],
      nodeSubnets: ["192.168.1.0/24", "192.168.2.10/24"],
      nodeAddresses: ["192.168.2.1"],
      services: ["d/1", "d/2", "d/3"].map((k) => svc(k)),
    });
    assert.deepEqual(["d/1", "d/2"].map((k) => ips(r, k)[0]), ["192.168.1.254", "192.168.2.2"]);
    assert.match(errorOf(r, "d/3"), /no free IPv4 address/);
    assert.equal(r.pools.p?.size, 2n, "5 addresses minus .1.255 (broadcast), .2.0 (network) and the node's .2.1");
  });
  it("the address a node subnet was written with is a node address", () => {
    const r = plan({ pools: [pool("p", ["192.168.2.10-192.168.2.11"])], nodeSubnets: ["192.168.2.10/24"], services: [svc("d/1")] });
    assert.deepEqual(ips(r, "d/1"), ["192.168.2.11"]);
  });
  it("never hands out the reserved subnet anycast addresses of a /64 (RFC 2526), and sizes count them out", () => {
    const r = plan({
      pools: [pool("p", ["2001:db8::fdff:ffff:ffff:ff7f-2001:db8::fdff:ffff:ffff:ffff", "2001:db8:0:1:fdff:ffff:ffff:ffc0/122"])],
      services: ["d/1", "d/2"].map((k) => svc(k, { ipFamilies: ["IPv6"] })),
    });
    assert.deepEqual(ips(r, "d/1"), ["2001:db8::fdff:ffff:ffff:ff7f"]);
    assert.match(errorOf(r, "d/2"), /pool "p" has no free IPv6 address/);
    assert.equal(r.pools.p?.size, 1n);
    assert.equal(plan({ pools: [pool("p", ["2001:db8::/48"])], services: [] }).pools.p?.size, (1n << 80n) - 2n - 65536n * 128n);
    const requested = planAllocation({
      pools: [pool("p", ["2001:db8::/64"])],
      services: [svc("d/1", { ipFamilies: ["IPv6"], annotations: { "metallb.io/loadBalancerIPs": "2001:db8::fdff:ffff:ffff:ff80" } })],
    });
    assert.ok(!requested.ok);
    assert.match(requested.problems[0]?.message ?? "", /reserved subnet anycast address.*RFC 2526/);
  });
  it("IPv6 node subnets exclude the Subnet-Router anycast address", () => {
    const r = plan({ pools: [pool("p", ["2001:db8::-2001:db8::1"])], nodeSubnets: ["2001:db8::/64"], services: [svc("d/1", { ipFamilies: ["IPv6"] })] });
    assert.deepEqual(ips(r, "d/1"), ["2001:db8::1"]);
  });
});

describe("requests", () => {
  const spellings: [string, Partial<ServiceRequest>][] = [
    ["metallb.io/loadBalancerIPs", { annotations: { "metallb.io/loadBalancerIPs": "192.168.28.215" } }],
    ["metallb.universe.tf/loadBalancerIPs", { annotations: { "metallb.universe.tf/loadBalancerIPs": "192.168.28.215" } }],
    ["spec.loadBalancerIP", { loadBalancerIP: "192.168.28.215" }],
    ["eip.openelb.kubesphere.io/v1alpha1", { annotations: { "eip.openelb.kubesphere.io/v1alpha1": "192.168.28.215" } }],
    ["l2lb.dev/requested-ips", { annotations: { "l2lb.dev/requested-ips": "192.168.28.215" } }],
    ["annotation and spec agreeing", { loadBalancerIP: "192.168.28.215", annotations: { "metallb.io/loadBalancerIPs": "192.168.28.215" } }],
  ];
  for (const [name, extra] of spellings) {
    it(`honours ${name}`, () => {
      const r = plan({ pools: [seedPool], services: [svc("default/a"), svc("default/b", extra)] });
      assert.deepEqual(ips(r, "default/b"), ["192.168.28.215"]);
      assert.deepEqual(ips(r, "default/a"), ["192.168.28.210"]);
    });
  }
  const poolSpellings = ["metallb.io/address-pool", "metallb.universe.tf/address-pool", "eip.openelb.kubesphere.io/v1alpha2", "l2lb.dev/requested-pool"];
  for (const a of poolSpellings) {
    it(`honours ${a}`, () => {
      const r = plan({ pools: [pool("a", ["10.0.0.1"]), pool("b", ["10.0.1.1"])], services: [svc("d/x", { annotations: { [a]: "b" } })] });
      assert.equal(poolOf(r, "d/x"), "b");
    });
  }
  it("an explicit IPv6 request on a dual-stack Service", () => {
    const r = plan({
      pools: [pool("p", ["10.0.0.0/24", "2001:db8::/120"])],
      services: [svc("d/x", { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv6", "IPv4"], annotations: { "metallb.io/loadBalancerIPs": "10.0.0.9, 2001:db8::9" } })],
    });
    assert.deepEqual(ips(r, "d/x"), ["2001:db8::9", "10.0.0.9"]);
  });
});

describe("sharing (MetalLB's rules)", () => {
  const share = (key: string | undefined, extra: Partial<ServiceRequest> = {}): Partial<ServiceRequest> => ({
    ...extra,
    loadBalancerIP: "192.168.28.211",
    ...(key === undefined ? {} : { annotations: { "metallb.io/allow-shared-ip": key } }),
  });
  const cases: [string, Partial<ServiceRequest>, Partial<ServiceRequest>, RegExp | undefined][] = [
    ["same key, distinct ports", share("k", { ports: [{ port: 80 }] }), share("k", { ports: [{ port: 81 }] }), undefined],
    ["TCP/53 and UDP/53 do not clash", share("k", { ports: [{ port: 53, protocol: "TCP" }] }), share("k", { ports: [{ port: 53, protocol: "UDP" }] }), undefined],
    ["same key, same port", share("k", { ports: [{ port: 80 }] }), share("k", { ports: [{ port: 80 }, { port: 8080 }] }), /which also uses TCP\/80/],
    ["different keys", share("k1", { ports: [{ port: 80 }] }), share("k2", { ports: [{ port: 81 }] }), /with sharing key "k1", not "k2"/],
    ["holder without a key", share(undefined, { ports: [{ port: 80 }] }), share("k", { ports: [{ port: 81 }] }), /which has no sharing key/],
    ["newcomer without a key", share("k", { ports: [{ port: 80 }] }), share(undefined, { ports: [{ port: 81 }] }), /this Service has no sharing key/],
    ["Cluster with Cluster, different selectors", share("k", { selector: { app: "a" }, ports: [{ port: 80 }] }), share("k", { selector: { app: "b" }, ports: [{ port: 81 }] }), undefined],
    [
      "Local with Local, same selector",
      share("k", { externalTrafficPolicy: "Local", selector: { app: "a" }, ports: [{ port: 80 }] }),
      share("k", { externalTrafficPolicy: "Local", selector: { app: "a" }, ports: [{ port: 81 }] }),
      undefined,
    ],
    [
      "Local with Local, different selectors",
      share("k", { externalTrafficPolicy: "Local", selector: { app: "a" }, ports: [{ port: 80 }] }),
      share("k", { externalTrafficPolicy: "Local", selector: { app: "b" }, ports: [{ port: 81 }] }),
      /externalTrafficPolicy Local with selector \{app=a\}, but this Service has externalTrafficPolicy Local with selector \{app=b\}/,
    ],
    ["Local with Cluster", share("k", { externalTrafficPolicy: "Local", selector: { app: "a" }, ports: [{ port: 80 }] }), share("k", { selector: { app: "a" }, ports: [{ port: 81 }] }), /externalTrafficPolicy Local.*externalTrafficPolicy Cluster/],
  ];
  for (const [title, first, second, refusal] of cases) {
    it(title, () => {
      const r = plan({ pools: [seedPool], services: [svc("default/a", first), svc("default/b", second)] });
      assert.deepEqual(ips(r, "default/a"), ["192.168.28.211"]);
      if (refusal === undefined) assert.deepEqual(ips(r, "default/b"), ["192.168.28.211"]);
      else assert.match(errorOf(r, "default/b"), refusal);
    });
  }
  it("Services with one sharing key and no requested address land on one address", () => {
    const k = { annotations: { "l2lb.dev/sharing-key": "dns" } };
    const r = plan({
      pools: [seedPool],
      services: [svc("d/dns-tcp", { ...k, ports: [{ port: 53, protocol: "TCP" }] }), svc("d/dns-udp", { ...k, ports: [{ port: 53, protocol: "UDP" }] }), svc("d/other")],
    });
    assert.deepEqual(ips(r, "d/dns-tcp"), ips(r, "d/dns-udp"));
    assert.notDeepEqual(ips(r, "d/other"), ips(r, "d/dns-tcp"));
    assert.equal(r.pools["first-pool"]?.used, 2);
  });
  it("the current holder wins over a newcomer that sorts first", () => {
    const first = plan({ pools: [seedPool], services: [svc("default/zz", { loadBalancerIP: "192.168.28.211" })] });
    const r = plan({ pools: [seedPool], services: [svc("default/zz", { loadBalancerIP: "192.168.28.211" }), svc("default/aa", { loadBalancerIP: "192.168.28.211" })], previous: stateOf(first) });
    assert.deepEqual(ips(r, "default/zz"), ["192.168.28.211"]);
    assert.match(errorOf(r, "default/aa"), /used by Service "default\/zz"/);
  });
  it("a sole user may change its sharing key in place", () => {
    const before = plan({ pools: [seedPool], services: [svc("d/a"), svc("d/b", { annotations: { "metallb.io/allow-shared-ip": "old" } })] });
    const r = plan({ pools: [seedPool], services: [svc("d/a"), svc("d/b", { annotations: { "metallb.io/allow-shared-ip": "new" } })], previous: stateOf(before) });
    assert.deepEqual(ips(r, "d/b"), ips(before, "d/b"));
    assert.equal(r.changes.find((c) => c.service === "d/b")?.kind, "unchanged");
  });
  it("previous co-holders that can no longer share: the first by name keeps the address", () => {
    const k = { "metallb.io/allow-shared-ip": "k" };
    const before = plan({ pools: [seedPool], services: [svc("d/a", { annotations: k, ports: [{ port: 80 }] }), svc("d/b", { annotations: k, ports: [{ port: 81 }] })] });
    assert.deepEqual(ips(before, "d/a"), ips(before, "d/b"));
    const r = plan({ pools: [seedPool], services: [svc("d/a", { annotations: k, ports: [{ port: 80 }] }), svc("d/b", { annotations: k, ports: [{ port: 80 }] })], previous: stateOf(before) });
    assert.deepEqual(ips(r, "d/a"), ips(before, "d/a"));
    const moved = r.changes.find((c) => c.service === "d/b");
    assert.equal(moved?.kind, "moved");
    assert.match(moved?.reason ?? "", /can no longer be shared: it is used by Service "d\/a", which also uses TCP\/80/);
  });
});

describe("dual-stack", () => {
  const v4 = pool("a-v4", ["10.0.0.1-10.0.0.9"]);
  const dual = pool("b-dual", ["10.0.1.1-10.0.1.9", "2001:db8::1-2001:db8::9"]);
  it("RequireDualStack takes both families from one pool, skipping single-family pools", () => {
    const r = plan({ pools: [v4, dual], services: [svc("d/x", { ipFamilyPolicy: "RequireDualStack" })] });
    assert.deepEqual(r.services["d/x"], { ips: ["10.0.1.1", "2001:db8::1"], pool: "b-dual" });
  });
  it("RequireDualStack fails without a dual-stack pool", () => {
    const r = plan({ pools: [v4, pool("c-v6", ["2001:db8::/120"])], services: [svc("d/x", { ipFamilyPolicy: "RequireDualStack" })] });
    assert.match(errorOf(r, "d/x"), /pool "a-v4" has no IPv6 range; pool "c-v6" has no IPv4 range/);
  });
  it("PreferDualStack takes both when the first pool has both, one otherwise", () => {
    assert.deepEqual(plan({ pools: [dual], services: [svc("d/x", { ipFamilyPolicy: "PreferDualStack" })] }).services["d/x"], { ips: ["10.0.1.1", "2001:db8::1"], pool: "b-dual" });
    assert.deepEqual(plan({ pools: [v4, dual], services: [svc("d/x", { ipFamilyPolicy: "PreferDualStack" })] }).services["d/x"], { ips: ["10.0.0.1"], pool: "a-v4" });
  });
  it("PreferDualStack with IPv6 first takes its primary family first: the IPv4-only pool that sorts first is passed over", () => {
    const r = plan({ pools: [v4, dual], services: [svc("d/x", { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv6", "IPv4"] })] });
    assert.deepEqual(r.services["d/x"], { ips: ["2001:db8::1", "10.0.1.1"], pool: "b-dual" });
    const v6only = plan({ pools: [v4, pool("c-v6", ["2001:db8:1::1-2001:db8:1::9"])], services: [svc("d/x", { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv6"] })] });
    assert.deepEqual(v6only.services["d/x"], { ips: ["2001:db8:1::1"], pool: "c-v6" });
  });
  it("PreferDualStack falls back to the other family only when no pool has a free address of the primary one", () => {
    const r = plan({ pools: [v4], services: [svc("d/x", { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv6", "IPv4"] })] });
    assert.deepEqual(r.services["d/x"], { ips: ["10.0.0.1"], pool: "a-v4" });
    const full = plan({
      pools: [v4, pool("c-v6", ["2001:db8:1::1"])],
      services: [svc("d/a", { ipFamilies: ["IPv6"] }), svc("d/x", { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv6", "IPv4"] })],
    });
    assert.deepEqual(full.services["d/x"], { ips: ["10.0.0.1"], pool: "a-v4" });
  });
  it("SingleStack IPv6 takes only an IPv6 address; addresses follow ipFamilies order", () => {
    assert.deepEqual(ips(plan({ pools: [dual], services: [svc("d/x", { ipFamilies: ["IPv6"] })] }), "d/x"), ["2001:db8::1"]);
    assert.deepEqual(ips(plan({ pools: [dual], services: [svc("d/x", { ipFamilies: ["IPv6", "IPv4"], ipFamilyPolicy: "RequireDualStack" })] }), "d/x"), ["2001:db8::1", "10.0.1.1"]);
  });
  it("at most one address per family", () => {
    const r = plan({ pools: [pool("p", ["10.0.0.0/24", "10.1.0.0/24", "2001:db8::/120"])], services: [svc("d/x", { ipFamilyPolicy: "RequireDualStack" })] });
    assert.equal(ips(r, "d/x").length, 2);
  });
  it("a Service that becomes dual-stack keeps its IPv4 address and gains an IPv6 one", () => {
    const before = plan({ pools: [dual], services: [svc("d/a"), svc("d/x")] });
    const x = ips(before, "d/x");
    const r = plan({ pools: [dual], services: [svc("d/a"), svc("d/x", { ipFamilyPolicy: "RequireDualStack" })], previous: stateOf(before) });
    assert.deepEqual(ips(r, "d/x"), [x[0], "2001:db8::1"]);
    const c = r.changes.find((ch) => ch.service === "d/x");
    assert.equal(c?.kind, "moved");
    assert.match(c?.reason ?? "", /now requires an IPv6 address too/);
  });
  it("a Service that becomes single-stack keeps the address of its family", () => {
    const before = plan({ pools: [dual], services: [svc("d/x", { ipFamilyPolicy: "RequireDualStack" })] });
    const r = plan({ pools: [dual], services: [svc("d/x")], previous: stateOf(before) });
    assert.deepEqual(ips(r, "d/x"), ["10.0.1.1"]);
    assert.match(r.changes[0]?.reason ?? "", /2001:db8::1 released: it no longer takes IPv6 addresses/);
  });
});

describe("shared-IP groups", () => {
  it("members land on one address; the group can name it or its pool", () => {
    const services = [svc("web/http", { ports: [{ port: 80 }] }), svc("web/https", { ports: [{ port: 443 }] }), svc("web/other", { ports: [{ port: 80 }] })];
    const r = plan({ pools: [seedPool], services, sharedIpGroups: [{ name: "web", services: ["web/http", "web/https"] }] });
    assert.deepEqual(ips(r, "web/http"), ips(r, "web/https"));
    assert.notDeepEqual(ips(r, "web/other"), ips(r, "web/http"));
    const pinned = plan({ pools: [seedPool, pool("z", ["10.0.0.1"])], services, sharedIpGroups: [{ name: "web", services: ["web/http", "web/https"], ip: "192.168.28.220" }] });
    assert.deepEqual(ips(pinned, "web/https"), ["192.168.28.220"]);
    const byPool = plan({ pools: [seedPool, pool("z", ["10.0.0.1"])], services, sharedIpGroups: [{ name: "web", services: ["web/http", "web/https"], pool: "z" }] });
    assert.deepEqual(ips(byPool, "web/http"), ["10.0.0.1"]);
  });
  it("needs no sharing key, and outsiders cannot join it even with one", () => {
    const k = { "metallb.io/allow-shared-ip": "k" };
    const input = (outsider: string): Parameters<typeof plan>[0] => ({
      pools: [seedPool],
      services: [svc("d/a", { annotations: k, ports: [{ port: 80 }] }), svc("d/b", { ports: [{ port: 81 }] }), svc(outsider, { annotations: k, ports: [{ port: 82 }], loadBalancerIP: "192.168.28.215" })],
      sharedIpGroups: [{ name: "g", services: ["d/a", "d/b"], ip: "192.168.28.215" }],
    });
    const r = plan(input("x/c"));
    assert.deepEqual(ips(r, "d/a"), ["192.168.28.215"]);
    assert.deepEqual(ips(r, "d/b"), ["192.168.28.215"]);
    assert.match(errorOf(r, "x/c"), /used by SharedIpGroup "g", and a shared-IP group's address is reserved for its members/);
    // Between two new requests the one whose key sorts first ("a/c" < "group:g") wins.
    const other = plan(input("a/c"));
    assert.deepEqual(ips(other, "a/c"), ["192.168.28.215"]);
    assert.match(errorOf(other, "d/a"), /^Service "d\/a" is in SharedIpGroup "g", which has no address: SharedIpGroup "g" cannot get its requested address: 192\.168\.28\.215 is taken: it is used by Service "a\/c"/);
  });
  it("mixed families: each member gets the addresses of its own families", () => {
    const dual = pool("dual", ["10.0.0.1-10.0.0.5", "2001:db8::1-2001:db8::5"]);
    const r = plan({
      pools: [dual],
      services: [svc("d/v4", { ports: [{ port: 80 }] }), svc("d/v6", { ipFamilies: ["IPv6"], ports: [{ port: 81 }] }), svc("d/both", { ipFamilyPolicy: "RequireDualStack", ports: [{ port: 82 }] })],
      sharedIpGroups: [{ name: "g", services: ["d/v4", "d/v6", "d/both"] }],
    });
    assert.deepEqual(ips(r, "d/v4"), ["10.0.0.1"]);
    assert.deepEqual(ips(r, "d/v6"), ["2001:db8::1"]);
    assert.deepEqual(ips(r, "d/both"), ["10.0.0.1", "2001:db8::1"]);
  });
  it("keeps a member's previous address when a group is formed", () => {
    const before = plan({ pools: [seedPool], services: [svc("d/a", { ports: [{ port: 80 }] }), svc("d/b", { ports: [{ port: 81 }] })] });
    const r = plan({ pools: [seedPool], services: [svc("d/a", { ports: [{ port: 80 }] }), svc("d/b", { ports: [{ port: 81 }] })], sharedIpGroups: [{ name: "g", services: ["d/a", "d/b"] }], previous: stateOf(before) });
    assert.deepEqual(ips(r, "d/b"), ips(before, "d/a"));
    const c = r.changes.find((ch) => ch.service === "d/b");
    assert.equal(c?.kind, "moved");
    assert.match(c?.reason ?? "", /joined SharedIpGroup "g", which uses 192\.168\.28\.210/);
  });
});

describe("stability and changes", () => {
  const services = ["d/a", "d/b", "d/c", "d/d"].map((k) => svc(k));
  it("removing a Service moves nobody and releases its address", () => {
    const before = plan({ pools: [seedPool], services });
    const r = plan({ pools: [seedPool], services: services.filter((s) => s.name !== "b"), previous: stateOf(before) });
    for (const k of ["d/a", "d/c", "d/d"]) assert.deepEqual(ips(r, k), ips(before, k));
    assert.deepEqual(r.changes.find((c) => c.service === "d/b"), { service: "d/b", kind: "released", from: ips(before, "d/b"), reason: "the Service no longer exists" });
  });
  it("adding a Service that sorts first moves nobody; it takes the free address", () => {
    const before = plan({ pools: [seedPool], services });
    const r = plan({ pools: [seedPool], services: [svc("a/first"), ...services], previous: stateOf(before) });
    for (const s of services) assert.deepEqual(ips(r, `d/${s.name}`), ips(before, `d/${s.name}`));
    assert.deepEqual(ips(r, "a/first"), ["192.168.28.214"]);
    assert.deepEqual(r.changes.map((c) => c.kind), ["new", "unchanged", "unchanged", "unchanged", "unchanged"]);
  });
  it("refills a released gap before going further", () => {
    const before = plan({ pools: [seedPool], services });
    const mid = plan({ pools: [seedPool], services: services.filter((s) => s.name !== "b"), previous: stateOf(before) });
    const r = plan({ pools: [seedPool], services: [...services.filter((s) => s.name !== "b"), svc("z/new")], previous: stateOf(mid) });
    assert.deepEqual(ips(r, "z/new"), ips(before, "d/b"));
  });
  const invalidations: [string, (p: typeof seedPool) => Parameters<typeof plan>[0], RegExp][] = [
    ["the pool shrank", () => ({ pools: [pool("first-pool", ["192.168.28.212-192.168.28.220"])], services }), /192\.168\.28\.210 is no longer in any pool/],
    ["the address became a node's", (p) => ({ pools: [p], services, nodeAddresses: ["192.168.28.210"] }), /can no longer be used: it is a node's own address/],
    ["the pool stopped serving the namespace", () => ({ pools: [pool("first-pool", ["192.168.28.210-192.168.28.220"], { serviceAllocation: { namespaces: ["x"] } }), pool("other", ["10.0.0.1-10.0.0.9"])], services }), /pool "first-pool" no longer serves it: pool "first-pool" serves only namespaces x/],
    ["the Service now requests another address", (p) => ({ pools: [p], services: [svc("d/a", { loadBalancerIP: "192.168.28.219" }), ...services.slice(1)] }), /it now requests 192\.168\.28\.219/],
    ["the Service now requests another pool", (p) => ({ pools: [p, pool("b", ["10.0.0.1"])], services: [svc("d/a", { annotations: { "metallb.io/address-pool": "b" } }), ...services.slice(1)] }), /it now requests pool "b"/],
    ["the pool stopped auto-assigning", () => ({ pools: [pool("first-pool", ["192.168.28.210-192.168.28.220"], { autoAssign: false }), pool("other", ["10.0.0.1-10.0.0.9"])], services }), /does not auto-assign and the Service no longer requests it/],
  ];
  for (const [title, make, reason] of invalidations) {
    it(`moves a Service when ${title}, with the reason`, () => {
      const before = plan({ pools: [seedPool], services });
      const r = plan({ ...make(seedPool), previous: stateOf(before) });
      const c = r.changes.find((ch) => ch.service === "d/a");
      assert.equal(c?.kind, "moved", JSON.stringify(c));
      assert.deepEqual(c?.from, ["192.168.28.210"]);
      assert.match(c?.reason ?? "", reason);
      assert.notDeepEqual(ips(r, "d/a"), ["192.168.28.210"]);
    });
  }
  it("a Service that loses its address is released with the error", () => {
    const before = plan({ pools: [seedPool], services: [svc("d/a")] });
    const r = plan({ pools: [pool("first-pool", ["192.168.28.212"]), pool("z", ["10.0.0.1"], { autoAssign: false })], services: [svc("d/a"), svc("d/0")], previous: stateOf(before) });
    const c = r.changes.find((ch) => ch.service === "d/a");
    assert.equal(c?.kind, "released");
    assert.match(c?.reason ?? "", /192\.168\.28\.210 is no longer in any pool/);
  });
  it("a renamed pool keeps the address", () => {
    const before = plan({ pools: [seedPool], services: [svc("d/a")] });
    const r = plan({ pools: [pool("renamed", ["192.168.28.210-192.168.28.220"])], services: [svc("d/a")], previous: stateOf(before) });
    assert.deepEqual(r.services["d/a"], { ips: ["192.168.28.210"], pool: "renamed" });
    assert.equal(r.changes[0]?.kind, "unchanged");
  });
  it("previous addresses written non-canonically count as unchanged", () => {
    const r = plan({ pools: [pool("p", ["2001:db8::/120"])], services: [svc("d/a", { ipFamilies: ["IPv6"] })], previous: { "d/a": { ips: ["2001:DB8:0::5"], pool: "p" } } });
    assert.deepEqual(ips(r, "d/a"), ["2001:db8::5"]);
    assert.equal(r.changes[0]?.kind, "unchanged");
  });
  it("a malformed previous entry is replaced, with the reason", () => {
    const r = plan({ pools: [seedPool], services: [svc("d/a")], previous: { "d/a": { ips: ["banana"], pool: "first-pool" } } });
    assert.deepEqual(ips(r, "d/a"), ["192.168.28.210"]);
    assert.match(r.changes[0]?.reason ?? "", /the previous address "banana" is not an address/);
  });
});
