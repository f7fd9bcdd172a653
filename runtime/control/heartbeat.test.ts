// Heartbeats over both address families on loopback (no root): an IPv6-only cluster keeps the
// quick failover path, and the default endpoint serves IPv4 and IPv6 peers on one port; and their pace.
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { describe, it } from "node:test";
import { Heartbeat, type HeartbeatMessage, type HeartbeatOptions } from "./heartbeat.ts";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `done()` holds (a loaded machine may deliver beats late), or 10 s have passed; the assertions after it say what was missing. */
async function until(done: () => boolean): Promise<void> {
  for (const start = Date.now(); !done() && Date.now() - start < 10_000; ) await sleep(20);
}

function endpoint(node: string, bindAddress?: string): { hb: Heartbeat; got: HeartbeatMessage[]; from: string[] } {
  const o: HeartbeatOptions = { node, incarnation: `i-${node}`, port: 0, intervalMs: 20, key: Buffer.from("k") };
  const hb = new Heartbeat(bindAddress === undefined ? o : { ...o, bindAddress });
  const got: HeartbeatMessage[] = [];
  const from: string[] = [];
  hb.on("message", (m, rinfo) => {
    got.push(m);
    from.push(rinfo.address);
  });
  return { hb, got, from };
}

describe("heartbeats over IPv6", () => {
  it("two endpoints on ::1 exchange beats both ways", async () => {
    const a = endpoint("a", "::1");
    const b = endpoint("b", "::1");
    await a.hb.start();
    await b.hb.start();
    assert.equal(a.hb.localPort(4), undefined, "bound to ::1: IPv6 only");
    a.hb.setPeers([{ node: "b", host: "::1", port: b.hb.localPort(6) as number }]);
    b.hb.setPeers([{ node: "a", host: "::1", port: a.hb.localPort(6) as number }]);
    a.hb.setClaims(["2001:db8::10"]);
    await until(() => a.got.length >= 3 && b.got.length >= 3);
    await a.hb.stop(false);
    await b.hb.stop(false);
    assert.ok(b.got.length >= 3, `b heard ${b.got.length}`);
    assert.ok(a.got.length >= 3, `a heard ${a.got.length}`);
    assert.deepEqual(b.got[0]?.claims, ["2001:db8::10"]);
    assert.ok(b.got.every((m) => m.node === "a") && b.from.every((x) => x === "::1"));
  });

  it("the default endpoint listens on both families on one port and sends to each peer on its family", async () => {
    const dual = endpoint("dual");
    const v4 = endpoint("v4", "127.0.0.1");
    const v6 = endpoint("v6", "::1");
    await dual.hb.start();
    await v4.hb.start();
    await v6.hb.start();
    const port = dual.hb.localPort(4) as number;
    assert.equal(dual.hb.localPort(6), port, "one port for both families");
    dual.hb.setPeers([
      { node: "v4", host: "127.0.0.1", port: v4.hb.localPort(4) as number },
      // A peer published as an IPv4-mapped address is reached over IPv4.
      { node: "v4m", host: "::ffff:127.0.0.1", port: v4.hb.localPort(4) as number },
      { node: "v6", host: "::1", port: v6.hb.localPort(6) as number },
    ]);
    v4.hb.setPeers([{ node: "dual", host: "127.0.0.1", port }]);
    v6.hb.setPeers([{ node: "dual", host: "::1", port }]);
    const heard = (e: { got: HeartbeatMessage[] }, node: string): number => e.got.filter((m) => m.node === node).length;
    await until(() => heard(dual, "v4") > 0 && heard(dual, "v6") > 0 && heard(v4, "dual") >= 3 && heard(v6, "dual") >= 3);
    for (const e of [dual, v4, v6]) await e.hb.stop(false);
    assert.ok(dual.got.some((m) => m.node === "v4") && dual.got.some((m) => m.node === "v6"), `dual heard ${[...new Set(dual.got.map((m) => m.node))].join()}`);
    assert.ok(dual.from.includes("127.0.0.1") && dual.from.includes("::1"));
    assert.ok(v4.got.filter((m) => m.node === "dual").length >= 3, "v4 hears dual");
    assert.ok(v6.got.filter((m) => m.node === "dual").length >= 3, "v6 hears dual");
  });
});

describe("heartbeats of a node answering 10,000 addresses (ring)", () => {
  it("stay small: plain ones carry no claims, an answer only the claims its query asked about", async () => {
    const claims = Array.from({ length: 10_000 }, (_, i) => `2001:db8:1::${i.toString(16)}`);
    const holder = new Heartbeat({ node: "holder", incarnation: "i-h", port: 0, intervalMs: 20, key: Buffer.from("k"), bindAddress: "127.0.0.1", claimsOnRequest: true });
    const asker = endpoint("asker", "127.0.0.1");
    const monitor = createSocket("udp4");
    const sizes: number[] = [];
    monitor.on("message", (buf) => sizes.push(buf.length));
    await new Promise<void>((r) => monitor.bind(0, "127.0.0.1", () => r()));
    await holder.start();
    await asker.hb.start();
    const wanted = [claims[17]!, claims[9001]!, "2001:db8:2::1"];
    asker.hb.setInterest(new Set(wanted));
    holder.setClaims(claims);
    holder.setPeers([{ node: "monitor", host: "127.0.0.1", port: monitor.address().port }]);
    asker.hb.setPeers([{ node: "holder", host: "127.0.0.1", port: holder.localPort(4) as number, query: true }]);
    await until(() => asker.got.filter((m) => m.answer !== undefined).length >= 3 && sizes.length >= 3);
    await holder.stop(false);
    await asker.hb.stop(false);
    monitor.close();
    const answers = asker.got.filter((m) => m.answer !== undefined);
    assert.ok(answers.length >= 3, `${answers.length} answers`);
    for (const a of answers) {
      assert.ok(a.claims!.includes(wanted[0]!) && a.claims!.includes(wanted[1]!) && !a.claims!.includes(wanted[2]!), `answer claims ${a.claims?.join()}`);
      assert.ok(a.claims!.length < 20 && a.claimsCut === undefined);
    }
    assert.ok(sizes.length >= 3 && Math.max(...sizes) < 400, `plain heartbeats of ${sizes.join(", ")} bytes`);
  });
});

describe("heartbeat pace", () => {
  it("a slowed endpoint sends that many times less often, and back to its interval sends one at once", async () => {
    const a = endpoint("a", "127.0.0.1");
    const b = endpoint("b", "127.0.0.1");
    await a.hb.start();
    await b.hb.start();
    a.hb.setPeers([{ node: "b", host: "127.0.0.1", port: b.hb.localPort(4) as number }]);
    a.hb.setPace(10);
    const slowFrom = a.hb.sent;
    await sleep(1000);
    const slow = a.hb.sent - slowFrom;
    const before = a.hb.sent;
    a.hb.setPace(1);
    const atOnce = a.hb.sent - before;
    const fastFrom = performance.now();
    await until(() => a.hb.sent - before >= 21);
    const fastMs = performance.now() - fastFrom;
    await a.hb.stop(false);
    await b.hb.stop(false);
    // 20 ms × 10: at most 5 in a second (timers only ever fire late); 50 at the interval.
    assert.ok(slow <= 5, `${slow} sent in a second at a tenth of the pace`);
    assert.equal(atOnce, 1, "one sent at once when the pace is restored");
    assert.ok(fastMs < 2000, `20 more took ${Math.round(fastMs)} ms (at a tenth of the pace: 4 s)`);
    assert.ok(b.got.length >= 10);
  });
});
