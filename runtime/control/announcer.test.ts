import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { Plan } from "../election/plan.ts";
import { Announcer } from "./announcer.ts";
import { controlMetrics } from "./metrics.ts";
import { decideOwnership, type Owned } from "./ownership.ts";
import { FakeDataPlane, TestClock } from "./testing.ts";

const SELF = "node-a";
const IPS = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"];

/** A plan electing `mine` to this node and the rest to node-b, on eth0 and eth1. */
function planOf(mine: readonly string[]): Plan {
  const addresses = IPS.map((ip) => ({ ip, owner: { node: mine.includes(ip) ? SELF : "node-b", interfaces: ["eth0", "eth1"] } }));
  return { addresses } as unknown as Plan;
}

function announcer(): { a: Announcer; dataPlane: FakeDataPlane } {
  const clock = new TestClock();
  const dataPlane = new FakeDataPlane(clock, "192.0.2.7");
  const a = new Announcer({
    node: SELF,
    dataPlane,
    clock,
    logger: pino({ level: "silent" }),
    metrics: controlMetrics(new Registry(), () => 0),
    events: { emit: () => {} },
    servicesOf: () => [],
    onOwnedChanged: () => {},
  });
  return { a, dataPlane };
}

const round = fc.record({
  plan: fc.constantFrom(...[[], [IPS[0]], [IPS[0], IPS[1]], IPS].map((m) => planOf(m as string[]))),
  apiHealthy: fc.boolean(),
  isolated: fc.boolean(),
  settled: fc.boolean(),
  claimed: fc.subarray(IPS),
  recheck: fc.boolean(),
  link: fc.option(fc.record({ name: fc.constantFrom("eth0", "eth1"), up: fc.boolean() })),
});

const ownedList = (m: ReadonlyMap<string, Owned>): [string, string[]][] => [...m].map(([ip, o]) => [ip, o.interfaces]);

describe("announcer", () => {
  it("decides in every round what ownership.ts decides from scratch, steady rounds included", () => {
    // Plans are reused between rounds (as the controller reuses its plan object), so steady rounds happen.
    fc.assert(
      fc.property(fc.array(round, { minLength: 1, maxLength: 25 }), (rounds) => {
        const { a } = announcer();
        const linksDown = new Set<string>();
        for (const r of rounds) {
          if (r.link !== null) {
            a.linkChanged(r.link.name, r.link.up);
            if (r.link.up) linksDown.delete(r.link.name);
            else linksDown.add(r.link.name);
          }
          const peerClaims = new Map(r.claimed.map((ip) => [ip, ["node-b"]]));
          const input = { plan: r.plan, apiHealthy: r.apiHealthy, isolated: r.isolated, settled: r.settled, peerClaims, recheck: r.recheck };
          const expected = decideOwnership({ self: SELF, previous: a.current(), linksDown, ...input });
          a.announce(input);
          assert.deepEqual(ownedList(a.current()), ownedList(expected.owned));
          assert.deepEqual(a.waiting, expected.waiting);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("a steady round reads nothing of the plan; a link change, a new plan or a recheck decide again", () => {
    const { a, dataPlane } = announcer();
    let reads = 0;
    const inner = planOf(IPS);
    const plan = new Proxy(inner, { get: (t, k, r) => (k === "addresses" && reads++, Reflect.get(t, k, r)) });
    const input = { plan, apiHealthy: true, isolated: false, settled: true, peerClaims: new Map<string, string[]>() };
    a.announce(input); // gains all four
    a.announce(input); // keeps them: complete
    assert.equal(a.current().size, 4);
    assert.ok(a.answersAll(plan));
    const before = reads;
    for (let i = 0; i < 10; i++) a.announce(input);
    assert.equal(reads, before, "ten steady rounds read the plan's addresses");
    assert.equal(dataPlane.history.length, 1, "the data plane got the owned set once");

    a.linkChanged("eth0", false);
    assert.ok(!a.answersAll(plan));
    a.announce(input);
    assert.ok(reads > before, "a link change decides again");
    assert.deepEqual(a.current().get(IPS[0] as string)?.interfaces, ["eth1"]);

    const afterLink = reads;
    a.announce({ ...input, recheck: true });
    assert.ok(reads > afterLink, "a recheck decides again");
    const other = planOf([IPS[0] as string]);
    a.announce({ ...input, plan: other });
    assert.deepEqual([...a.current().keys()], [IPS[0]]);
  });
});
