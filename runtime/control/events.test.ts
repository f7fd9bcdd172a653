import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { EventRecorder } from "./events.ts";
import type { EventApi } from "./kube-api.ts";

class RecordingEvents implements EventApi {
  readonly created: k8s.CoreV1Event[] = [];
  readonly patched: { name: string; count: number }[] = [];
  async createEvent(_namespace: string, body: k8s.CoreV1Event): Promise<void> {
    this.created.push(body);
  }
  async patchEvent(_namespace: string, name: string, patch: { count: number }): Promise<void> {
    this.patched.push({ name, count: patch.count });
  }
}

const svc = (name: string) => ({ kind: "Service", apiVersion: "v1", namespace: "default", name, uid: `uid-${name}` });

describe("event recorder", () => {
  it("aggregates a repeated event into a count on the existing one", async () => {
    const api = new RecordingEvents();
    const r = new EventRecorder(api, "node-a", pino({ level: "silent" }));
    for (let i = 0; i < 3; i++) r.emit(svc("web"), "Warning", "AddressRefused", "192.0.2.1 is outside every pool");
    await r.flush();
    assert.equal(api.created.length, 1);
    assert.deepEqual(api.patched.map((p) => p.count), [2, 3]);
  });

  it("remembers a bounded number of events, the least recently seen forgotten first", async () => {
    const api = new RecordingEvents();
    const r = new EventRecorder(api, "node-a", pino({ level: "silent" }));
    r.emit(svc("kept"), "Normal", "Announcing", "announcing 192.0.2.1");
    for (let i = 0; i < 12_000; i++) {
      r.emit(svc(`s-${i}`), "Normal", "IPAllocated", `assigned 2001:db8::${i.toString(16)}`);
      if (i % 1000 === 0) r.emit(svc("kept"), "Normal", "Announcing", "announcing 192.0.2.1");
    }
    await r.flush();
    assert.equal(r.remembered, 5000);
    assert.equal(api.created.length, 12_001, "every distinct event written once");
    assert.equal(api.patched.length, 12, "the recently repeated one still aggregated");
    r.emit(svc("s-0"), "Normal", "IPAllocated", "assigned 2001:db8::0");
    await r.flush();
    assert.equal(api.created.length, 12_002, "a forgotten one is written anew");
  });
});
