// The DataPlane API as the control plane uses it, running in a network namespace (through
// dataplane-driver.ts), with a client namespace on the same bridge.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { EligibleInterface, OwnedBinding } from "../../runtime/dataplane/index.ts";
import { Lab, eventually, skipReason } from "./netns.ts";

const skip = await skipReason();
const DRIVER = fileURLToPath(new URL("./dataplane-driver.ts", import.meta.url));

describe("DataPlane API in a network namespace", { skip, timeout: 120_000 }, () => {
  const lab = new Lab("l2dp");
  let S = "", C = "";
  let mac = "", clientMac = "";
  let driver: ChildProcess | undefined;
  const events: Array<{ event: string; payload: unknown }> = [];
  const pending = new Map<number, (r: { result?: unknown; error?: string }) => void>();
  let nextId = 1;
  const call = <T>(op: string, args?: unknown): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, (r) => (r.error !== undefined ? reject(new Error(r.error)) : resolve(r.result as T)));
      driver!.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  const arping = async (ip: string): Promise<string[]> => {
    const { stdout } = await lab.exec(C, `arping -c 1 -w 1 -I eth0 ${ip}`, { allowFail: true });
    return [...stdout.matchAll(/reply from \S+ \[([0-9A-Fa-f:]+)\]/g)].map((m) => m[1]!.toLowerCase());
  };
  const gratuitousSent = async (ip: string): Promise<number> => {
    const text = await call<string>("metrics");
    return Number(new RegExp(`^l2lb_gratuitous_sent_total\\{ip="${ip.replace(/\./g, "\\.")}",protocol="\\w+"\\} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
  };

  before(async () => {
    try {
      const B = await lab.addBridge("b");
      S = await lab.addNamespace("s");
      C = await lab.addNamespace("c");
      await lab.attach(S, "eth0", B);
      await lab.attach(C, "eth0", B);
      await lab.exec(S, "ip addr add 192.0.2.1/24 dev eth0");
      await lab.exec(C, "ip addr add 192.0.2.2/24 dev eth0");
      // Decoys: a bridge with a member (the member must be skipped), and a default-excluded name.
      for (const cmd of [
        "link add br9 type bridge", "link add m9 type veth peer name veth9", "link set m9 master br9", "link add docker0 type bridge",
        "link set br9 up", "link set m9 up", "link set veth9 up", "link set docker0 up", "addr add 198.51.100.1/24 dev br9",
      ]) await lab.exec(S, `ip ${cmd}`);
      mac = await lab.mac(S, "eth0");
      clientMac = await lab.mac(C, "eth0");
      driver = lab.spawn(S, [process.execPath, DRIVER]);
      createInterface({ input: driver.stdout! }).on("line", (line) => {
        const m = JSON.parse(line) as { id?: number; event?: string; payload?: unknown; result?: unknown; error?: string };
        if (m.id !== undefined) pending.get(m.id)?.(m);
        else events.push({ event: m.event!, payload: m.payload });
      });
      let err = "";
      driver.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      assert.ok(await eventually(async () => events.some((e) => e.event === "ready"), 10_000), `driver did not start: ${err}`);
    } catch (e) {
      await lab.teardown();
      throw e;
    }
  });

  after(async () => {
    if (driver?.exitCode === null) await call("close").catch(() => undefined);
    await lab.teardown();
  });

  it("interfaces(): eligible links with MAC, index, state, addresses and subnets; members and excluded names left out", async () => {
    const list = await call<EligibleInterface[]>("interfaces");
    assert.deepEqual(list.map((i) => i.name).sort(), ["br9", "eth0"]);
    const eth0 = list.find((i) => i.name === "eth0")!;
    assert.equal(eth0.mac, mac);
    assert.equal(eth0.up, true);
    assert.ok(eth0.ifindex > 0);
    assert.deepEqual(eth0.addresses, [{ address: "192.0.2.1", prefixLength: 24 }]);
    assert.deepEqual(eth0.subnets, ["192.0.2.0/24"]);
  });

  it("setOwned(): binds by subnet, answers at once, and owned() reports where", async () => {
    await call("setOwned", [{ ip: "192.0.2.100" }, { ip: "198.51.100.100" }, { ip: "203.0.113.100" }]);
    assert.deepEqual(await call<OwnedBinding[]>("owned"), [
      { ip: "192.0.2.100", interface: "eth0" },
      { ip: "198.51.100.100", interface: "br9" },
      // On no selected subnet: every selected interface.
      { ip: "203.0.113.100", interface: "br9" },
      { ip: "203.0.113.100", interface: "eth0" },
    ]);
    assert.deepEqual(await arping("192.0.2.100"), [mac]);
    assert.deepEqual(await arping("198.51.100.100"), [], "bound to br9 only");
  });

  it("setOwned() with an unchanged address does not announce it again", async () => {
    await eventually(async () => (await gratuitousSent("192.0.2.100")) === 4, 2000); // 2 rounds × (request + reply)
    const before = await gratuitousSent("192.0.2.100");
    assert.equal(before, 4);
    await call("setOwned", [{ ip: "192.0.2.100" }, { ip: "198.51.100.100" }, { ip: "203.0.113.100" }]);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await gratuitousSent("192.0.2.100"), before);
  });

  it("OwnedAddress.interfaces restricts where an address is answered", async () => {
    await call("setOwned", [{ ip: "192.0.2.100", interfaces: ["br9"] }]);
    assert.deepEqual(await call<OwnedBinding[]>("owned"), [{ ip: "192.0.2.100", interface: "br9" }]);
    assert.deepEqual(await arping("192.0.2.100"), []);
  });

  it("invalid input throws and changes nothing", async () => {
    await call("setOwned", [{ ip: "192.0.2.100" }]);
    await assert.rejects(call("setOwned", [{ ip: "192.0.2.300" }]), /not an IP/);
    await assert.rejects(call("setOwned", [{ ip: "192.0.2.7" }, { ip: "192.0.2.7" }]), /twice/);
    await assert.rejects(call("setOwned", [{ ip: "192.0.2.7", gratuitous: { count: -1 } }]), /count/);
    assert.deepEqual(await call<OwnedBinding[]>("owned"), [{ ip: "192.0.2.100", interface: "eth0" }]);
  });

  it("a removed address is silent as soon as setOwned() returns", async () => {
    assert.deepEqual(await arping("192.0.2.100"), [mac]);
    await call("setOwned", []);
    assert.deepEqual(await call<OwnedBinding[]>("owned"), []);
    assert.deepEqual(await arping("192.0.2.100"), []);
  });

  it("periodic refresh after the burst; a changed schedule applies without a new burst", async () => {
    await call("setOwned", [{ ip: "192.0.2.120", gratuitous: { count: 1, intervalMs: 100, refreshSeconds: 0.25 } }]);
    // 1 burst round, then refresh rounds keep coming (2 frames each); no timing asserted.
    assert.ok(await eventually(async () => (await gratuitousSent("192.0.2.120")) >= 2 * 4, 10_000), `sent ${await gratuitousSent("192.0.2.120")}`);
    await call("setOwned", [{ ip: "192.0.2.120", gratuitous: { count: 1, intervalMs: 100, refreshSeconds: 0 } }]);
    const stopped = await gratuitousSent("192.0.2.120");
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(await gratuitousSent("192.0.2.120"), stopped, "refresh continued, or the change re-announced");
  });

  it("emits duplicate when another station claims an owned address", async () => {
    await call("setOwned", [{ ip: "192.0.2.100" }]);
    const hex = clientMac.replace(/:/g, "");
    await lab.exec(C, `python3 -c "import socket;s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW);s.bind(('eth0',0));m=bytes.fromhex('${hex}');ip=socket.inet_aton('192.0.2.100');s.send(b'\\xff'*6+m+b'\\x08\\x06'+bytes([0,1,8,0,6,4,0,1])+m+ip+b'\\x00'*6+ip)"`);
    const dup = await eventually(async () => events.find((e) => e.event === "duplicate"), 3000);
    assert.deepEqual(dup?.payload, { ip: "192.0.2.100", mac: clientMac, interface: "eth0", protocol: "arp" });
  });

  it("emits link on down and up, re-announces on up, and interfaces on address changes", async () => {
    const sent = await gratuitousSent("192.0.2.100");
    await lab.exec(S, "ip link set eth0 down");
    assert.ok(await eventually(async () => events.some((e) => e.event === "link" && JSON.stringify(e.payload) === JSON.stringify({ interface: "eth0", up: false })), 5000));
    await lab.exec(S, "ip link set eth0 up");
    assert.ok(await eventually(async () => events.some((e) => e.event === "link" && JSON.stringify(e.payload) === JSON.stringify({ interface: "eth0", up: true })), 5000));
    assert.ok(await eventually(async () => (await gratuitousSent("192.0.2.100")) > sent, 3000), "no announcement after link up");
    const n = events.filter((e) => e.event === "interfaces").length;
    await lab.exec(S, "ip addr add 192.0.2.9/24 dev eth0");
    assert.ok(await eventually(async () => events.filter((e) => e.event === "interfaces").length > n, 5000), "no interfaces event");
    const eth0 = (await call<EligibleInterface[]>("interfaces")).find((i) => i.name === "eth0")!;
    assert.ok(eth0.addresses.some((a) => a.address === "192.0.2.9"));
  });
});
