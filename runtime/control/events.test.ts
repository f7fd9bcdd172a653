import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import { pino } from "pino";
import { EventRecorder, MAX_QUEUED } from "./events.ts";
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
    assert.deepEqual(api.patched.map((p) => p.count), [3], "the two repeats queued behind the first write, folded into one patch");
  });

  it("remembers a bounded number of events, the least recently seen forgotten first", async () => {
    const api = new RecordingEvents();
    const r = new EventRecorder(api, "node-a", pino({ level: "silent" }));
    r.emit(svc("kept"), "Normal", "Announcing", "announcing 192.0.2.1");
    for (let i = 0; i < 12_000; i++) {
      r.emit(svc(`s-${i}`), "Normal", "IPAllocated", `assigned 2001:db8::${i.toString(16)}`);
      if (i % 1000 === 0) r.emit(svc("kept"), "Normal", "Announcing", "announcing 192.0.2.1");
      if (i % 500 === 499) await r.flush();
    }
    await r.flush();
    assert.equal(r.remembered, 5000);
    assert.equal(r.dropped, 0);
    assert.equal(api.created.length, 12_001, "every distinct event written once");
    assert.deepEqual(api.patched.map((p) => p.count), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], "the recently repeated one still aggregated");
    r.emit(svc("s-0"), "Normal", "IPAllocated", "assigned 2001:db8::0");
    await r.flush();
    assert.equal(api.created.length, 12_002, "a forgotten one is written anew");
  });

  it("queues at most MAX_QUEUED events, drops and counts the rest, and writes a repeat while queued once", async () => {
    const api = new SlowEvents();
    let dropped = 0;
    const r = new EventRecorder(api, "node-a", pino({ level: "silent" }), { onDropped: () => dropped++ });
    for (let i = 0; i < MAX_QUEUED + 500; i++) r.emit(svc(`s-${i}`), "Normal", "IPAllocated", `assigned 2001:db8::${i.toString(16)}`);
    for (let i = 0; i < 3; i++) r.emit(svc("s-900"), "Normal", "IPAllocated", "assigned 2001:db8::384");
    assert.equal(api.inFlight, 4, "four writes at a time");
    api.release();
    await r.flush();
    assert.equal(dropped, 500 - 4, "the four being written had left the queue");
    assert.equal(r.dropped, dropped);
    assert.equal(api.created.length, MAX_QUEUED + 4);
    assert.equal(api.created.find((e) => e.involvedObject.name === "s-900")?.count, 4, "the repeats folded into the queued event");
  });
});

/** Holds every write until released. */
class SlowEvents extends RecordingEvents {
  inFlight = 0;
  private released = false;
  private readonly waiting: (() => void)[] = [];
  release(): void {
    this.released = true;
    for (const w of this.waiting.splice(0)) w();
  }
  override async createEvent(namespace: string, body: k8s.CoreV1Event): Promise<void> {
    this.inFlight++;
    if (!this.released) await new Promise<void>((r) => this.waiting.push(r));
    await super.createEvent(namespace, body);
    this.inFlight--;
  }
}
