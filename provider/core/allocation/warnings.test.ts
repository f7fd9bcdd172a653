import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ips, plan, pool, svc } from "./helpers.test.ts";

describe("warnings", () => {
  it("a node's own address inside a pool is skipped with a warning naming the pool, the address and the fix", () => {
    const r = plan({
      pools: [pool("b", ["192.168.28.210-192.168.28.212"]), pool("a", ["2001:db8::/120"])],
      nodeAddresses: ["192.168.28.211", "2001:db8::5", "192.168.1.1"],
      nodeSubnets: ["192.168.28.210/24", "2001:db8::/64"],
      services: [svc("d/1")],
    });
    assert.deepEqual(ips(r, "d/1"), ["192.168.28.212"]);
    assert.deepEqual(r.warnings, [
      `AddressPool "a" lists 2001:db8::5 (in its range 2001:db8::/120), a node's own address, which is never handed out; remove it from the pool (split the range around it) so the pool lists only addresses Services may get.`,
      `AddressPool "b" lists 192.168.28.210 (in its range 192.168.28.210-192.168.28.212), a node's own address, which is never handed out; remove it from the pool (split the range around it) so the pool lists only addresses Services may get.`,
      `AddressPool "b" lists 192.168.28.211 (in its range 192.168.28.210-192.168.28.212), a node's own address, which is never handed out; remove it from the pool (split the range around it) so the pool lists only addresses Services may get.`,
    ]);
  });
  it("none when no node address lies in a pool", () => {
    const r = plan({ pools: [pool("p", ["10.0.0.1-10.0.0.9"])], nodeAddresses: ["10.0.1.1"], nodeSubnets: ["10.0.0.0/16"], services: [svc("d/1")] });
    assert.deepEqual(r.warnings, []);
  });
  it("warnings do not change the allocation", () => {
    const input = { pools: [pool("p", ["10.0.0.1-10.0.0.3"])], services: [svc("d/1"), svc("d/2")] };
    const warned = plan({ ...input, nodeAddresses: ["10.0.0.1"] });
    assert.equal(warned.warnings.length, 1);
    assert.deepEqual([ips(warned, "d/1"), ips(warned, "d/2")], [["10.0.0.2"], ["10.0.0.3"]]);
  });
});
