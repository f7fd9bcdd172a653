// Standalone-mode configuration file and the metrics endpoint (no privileges needed).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import { parseStaticConfig } from "../speaker/static-mode.ts";
import { startHttpServer } from "../speaker/http-server.ts";
import { DataPlaneMetrics } from "./metrics.ts";

describe("static configuration", () => {
  it("reads interfaces and addresses, canonicalising and de-duplicating addresses", () => {
    assert.deepEqual(parseStaticConfig("interfaces: [eth0, 'can_reach:192.0.2.1']\naddresses: [192.0.2.10, '2001:DB8::10', 2001:db8::10]\n"), {
      interfaces: ["eth0", "can_reach:192.0.2.1"],
      addresses: ["192.0.2.10", "2001:db8::10"],
    });
    assert.deepEqual(parseStaticConfig('{"addresses": ["198.51.100.1"]}'), { addresses: ["198.51.100.1"] });
    assert.deepEqual(parseStaticConfig(""), { addresses: [] });
    assert.deepEqual(parseStaticConfig("addresses: []\ninterfaces: []\n"), { addresses: [] });
    assert.deepEqual(parseStaticConfig("addresses: [203.0.113.5]\ngratuitous: {count: 2, intervalMs: 200, refreshSeconds: 30}\n"), {
      addresses: ["203.0.113.5"],
      gratuitous: { count: 2, intervalMs: 200, refreshSeconds: 30 },
    });
  });

  it("rejects what it cannot honour, naming the field", () => {
    assert.throws(() => parseStaticConfig("addresses: [192.0.2.300]"), /addresses.*not an IPv4 or IPv6/);
    assert.throws(() => parseStaticConfig("addresses: 192.0.2.1"), /must be a list/);
    assert.throws(() => parseStaticConfig("addresses: [192.0.2.0/24]"), /not an IPv4 or IPv6/);
    assert.throws(() => parseStaticConfig("addresses: [1]"), /not a string/);
    assert.throws(() => parseStaticConfig("interfaces: eth0\naddresses: []"), /interfaces/);
    assert.throws(() => parseStaticConfig("interfaces: ['can_reach:x']\naddresses: []"), /not an IP/);
    assert.throws(() => parseStaticConfig("adresses: [192.0.2.1]"), /unknown field `adresses`/);
    assert.throws(() => parseStaticConfig("- 192.0.2.1"), /mapping/);
    assert.throws(() => parseStaticConfig("addresses: []\ngratuitous: {count: -1}"), /gratuitous.count/);
    assert.throws(() => parseStaticConfig("addresses: []\ngratuitous: {burst: 3}"), /gratuitous.burst/);
  });
});

describe("metrics endpoint", () => {
  it("serves the data plane counters on /metrics, 404 elsewhere, 405 for other methods", async () => {
    const registry = new Registry();
    const metrics = new DataPlaneMetrics(registry);
    const slot = metrics.slot("192.0.2.10", "arp");
    metrics.counters[slot * 4 + 1] = 7; // as the receive thread would
    const http = await startHttpServer({ port: 0, host: "127.0.0.1", registry, logger: pino({ level: "silent" }) });
    try {
      const base = `http://127.0.0.1:${http.port}`;
      const body = await (await fetch(`${base}/metrics`)).text();
      assert.match(body, /^l2lb_responses_sent_total\{ip="192\.0\.2\.10",protocol="arp"\} 7$/m);
      assert.match(body, /^l2lb_requests_received_total\{ip="192\.0\.2\.10",protocol="arp"\} 0$/m);
      // Deltas, not re-additions: a second scrape shows the same value.
      assert.match(await (await fetch(`${base}/metrics`)).text(), /^l2lb_responses_sent_total\{ip="192\.0\.2\.10",protocol="arp"\} 7$/m);
      metrics.counters[slot * 4 + 1] = 9;
      assert.match(await (await fetch(`${base}/metrics`)).text(), /^l2lb_responses_sent_total\{ip="192\.0\.2\.10",protocol="arp"\} 9$/m);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: "POST" })).status, 405);
    } finally {
      await http.close();
      metrics.close();
    }
  });

  it("counts across 32-bit wrap-around of the shared counters", async () => {
    const registry = new Registry();
    const metrics = new DataPlaneMetrics(registry);
    const slot = metrics.slot("2001:db8::1", "ndp");
    metrics.counters[slot * 4] = 0xfffffff0;
    await registry.metrics();
    metrics.counters[slot * 4] = 0x10; // wrapped: 0x20 more
    assert.match(await registry.metrics(), /^l2lb_requests_received_total\{ip="2001:db8::1",protocol="ndp"\} 4294967312$/m);
    metrics.close();
  });
});
