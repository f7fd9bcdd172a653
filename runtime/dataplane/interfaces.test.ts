import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { globToRegExp, ineligibility, parseIpAddr, selectLinks, validateSelection } from "./interfaces.ts";

// Shape of `ip -j -d addr show` (iproute2 6.x), trimmed.
const link = (ifindex: number, ifname: string, extra: Record<string, unknown> = {}, addrs: Array<[string, string, number, string?]> = []) => ({
  ifindex, ifname, flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], link_type: "ether", address: `02:00:00:00:00:${ifindex.toString(16).padStart(2, "0")}`,
  addr_info: addrs.map(([family, local, prefixlen, scope]) => ({ family, local, prefixlen, scope: scope ?? "global" })),
  ...extra,
});
const TABLE = JSON.stringify([
  { ifindex: 1, ifname: "lo", flags: ["LOOPBACK", "UP", "LOWER_UP"], link_type: "loopback", address: "00:00:00:00:00:00", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }] },
  link(2, "eth0", {}, [["inet", "192.0.2.1", 24], ["inet6", "2001:db8::1", 64], ["inet6", "fe80::1", 64, "link"]]),
  link(3, "eth0.100@eth0", { linkinfo: { info_kind: "vlan" } }, [["inet", "198.51.100.1", 24]]),
  link(4, "eth1", { master: "bond0" }),
  link(5, "bond0", { linkinfo: { info_kind: "bond" } }, [["inet", "203.0.113.1", 24]]),
  link(6, "docker0", { linkinfo: { info_kind: "bridge" } }, [["inet", "172.17.0.1", 16]]),
  link(7, "veth1234@if2", { master: "docker0", linkinfo: { info_kind: "veth" } }),
  link(8, "cali12345", {}),
  link(9, "ifb0", { flags: ["BROADCAST", "NOARP"] }),
  link(10, "eth2", { flags: ["BROADCAST", "MULTICAST", "UP"] }),
  link(11, "wg0", { link_type: "none", address: undefined }),
  link(12, "kube-ipvs0", {}),
]);

describe("interfaces", () => {
  const links = parseIpAddr(TABLE);
  const names = (sel?: string[], routes = new Map<string, string | undefined>()): string[] => selectLinks(links, sel, routes).map((l) => l.name);

  it("parses ip -j output: names without @peer, global addresses, subnets, up = UP and LOWER_UP", () => {
    const eth0 = links.find((l) => l.name === "eth0")!;
    assert.deepEqual(eth0.addresses, [{ address: "192.0.2.1", prefixLength: 24 }, { address: "2001:db8::1", prefixLength: 64 }]);
    assert.deepEqual(eth0.subnets, ["192.0.2.0/24", "2001:db8::/64"]);
    assert.equal(eth0.up, true);
    assert.ok(links.some((l) => l.name === "eth0.100"));
    assert.equal(links.find((l) => l.name === "eth2")!.up, false);
  });

  it("never selects loopback, NOARP, enslaved or non-Ethernet links", () => {
    assert.equal(ineligibility(links.find((l) => l.name === "lo")!), "loopback");
    assert.equal(ineligibility(links.find((l) => l.name === "ifb0")!), "NOARP");
    assert.equal(ineligibility(links.find((l) => l.name === "eth1")!), "enslaved to bond0");
    assert.match(ineligibility(links.find((l) => l.name === "wg0")!)!, /link type/);
    assert.deepEqual(names(["eth1", "lo", "ifb0"]), []);
  });

  it("default: every eligible link minus the default exclusions", () => {
    assert.deepEqual(names(), ["eth0", "eth0.100", "bond0", "eth2"]);
  });

  it("exact names select even default-excluded links; globs do not", () => {
    assert.deepEqual(names(["docker0"]), ["docker0"]);
    assert.deepEqual(names(["*"]), ["eth0", "eth0.100", "bond0", "eth2"]);
    assert.deepEqual(names(["eth*"]), ["eth0", "eth0.100", "eth2"]);
    assert.deepEqual(names(["eth?"]), ["eth0", "eth2"]);
    assert.deepEqual(names(["eth[02]"]), ["eth0", "eth2"]);
    assert.deepEqual(names(["eth*", "!eth0*"]), ["eth2"]);
  });

  it("can_reach:<ip> selects the link the route leaves through", () => {
    assert.deepEqual(names(["can_reach:203.0.113.50"], new Map([["203.0.113.50", "bond0"]])), ["bond0"]);
    assert.deepEqual(names(["can_reach:203.0.113.50"], new Map([["203.0.113.50", undefined]])), []);
  });

  it("validates selections", () => {
    assert.throws(() => validateSelection(["can_reach:nonsense"]), /not an IP/);
    assert.throws(() => validateSelection([""]));
    assert.throws(() => validateSelection(["!"]));
    validateSelection(["eth0", "en*", "can_reach:2001:db8::1", "!docker*"]);
  });

  it("globs are anchored and literal otherwise", () => {
    assert.ok(globToRegExp("eth0.100").test("eth0.100"));
    assert.ok(!globToRegExp("eth0.100").test("eth0x100"));
    assert.ok(!globToRegExp("eth").test("eth0"));
  });
});
